"""Linux /proc readings used for memory figures and decisions."""
from __future__ import annotations


def proc_kib(path: str, key: str) -> int | None:
    """The 'Key:  N kB' field of a /proc file (e.g. VmHWM in /proc/self/status, MemAvailable in /proc/meminfo),
    or None where the file or the field does not exist (not Linux)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
