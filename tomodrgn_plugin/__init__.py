"""Scipion plugin for tomoDRGN. The deep-learning core (tomodrgn_core, bundled in this package) runs in a Python
of its own: the protocols call ``<core python> -m tomodrgn_core <command>`` and read back plain files (STAR, CSV,
JSON, npz). This package loads in Scipion's Python (3.8 and up) without torch: never import torch or the core's
numerical modules here (tomodrgn_core.runfiles and tomodrgn_core.errors are pure and 3.8-safe).

Which Python runs the core (``Plugin.getPython``): TOMODRGN_PYTHON if set; else the one ``scipion3 installb
tomodrgn`` made in TOMODRGN_HOME; else Scipion's own Python when it can hold the core (one environment)."""
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys

import pwem

from .constants import TOMODRGN_BASE_PYTHON, TOMODRGN_HOME, TOMODRGN_PYTHON, TOMODRGN_TORCH

_logo = ""
_references = ["Powell2024", "Zhong2021"]
__version__ = "0.1.0"
CORE_MIN_PYTHON = (3, 10)
CORE_PACKAGE = "tomodrgn"
VENV_PYTHON = os.path.join("venv", "bin", "python")
INSTALLED_FLAG = os.path.join("venv", "tomodrgn-core-installed")


class Plugin(pwem.Plugin):
    _url = "https://github.com/scipion-em/scipion-em-tomodrgn"
    _homeVar = TOMODRGN_HOME

    @classmethod
    def _defineVariables(cls):
        cls._defineEmVar(TOMODRGN_HOME, f"{CORE_PACKAGE}-{__version__}",
                         description="folder of the core's own Python (made by scipion3 installb tomodrgn)")
        cls._defineVar(TOMODRGN_PYTHON, "", description="the Python that runs the core; empty: the installb one, "
                                                        "else Scipion's own if it holds torch")
        cls._defineVar(TOMODRGN_BASE_PYTHON, "", description="a Python >= 3.10 that installb makes the core's venv "
                                                             "with; empty: python3.12/3.11/3.10 on the PATH, else conda")
        cls._defineVar(TOMODRGN_TORCH, "torch", description="pip arguments that install torch into the core's venv, "
                                                            "e.g. 'torch --index-url https://download.pytorch.org/"
                                                            "whl/cpu' for the CPU build")

    @classmethod
    def getPython(cls) -> str:
        """The Python that runs the core."""
        if cls.getVar(TOMODRGN_PYTHON):
            return cls.getVar(TOMODRGN_PYTHON)
        own = cls.getHome(VENV_PYTHON)
        if own and os.path.exists(cls.getHome(INSTALLED_FLAG)):
            return own
        return sys.executable

    @classmethod
    def scipionHoldsCore(cls) -> bool:
        """Scipion's own Python can run the core (one environment, as the demo and tests install it)."""
        return sys.version_info >= CORE_MIN_PYTHON and importlib.util.find_spec("torch") is not None

    @classmethod
    def getProgram(cls, command: str) -> str:
        """Arguments for ``runJob(Plugin.getPython(), ...)``: the core CLI command."""
        return f"-m tomodrgn_core {command}"

    @classmethod
    def getCoreEnviron(cls, base=None) -> dict:
        """The environment of a core command (``base``, default os.environ): Scipion's own PYTHONPATH/PYTHONHOME
        would put Scipion's packages (another Python, another numpy) before the core's: left out unless the core
        runs in Scipion's Python."""
        env = dict(os.environ if base is None else base)
        if os.path.realpath(cls.getPython()) != os.path.realpath(sys.executable):
            for var in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
                env.pop(var, None)
        return env

    @classmethod
    def validateInstallation(cls):
        python = cls.getPython()
        if python == sys.executable and not cls.scipionHoldsCore():
            return [f"tomoDRGN's core needs its own Python (>= 3.10 with torch): run 'scipion3 installb {CORE_PACKAGE}' "
                    f"(or set {TOMODRGN_PYTHON} to a Python that has this package's 'core' extra)."]
        if not os.path.exists(python):
            return [f"{TOMODRGN_PYTHON} = {python} does not exist: fix it, or run 'scipion3 installb {CORE_PACKAGE}'."]
        return []

    @classmethod
    def defineBinaries(cls, env):
        """``scipion3 installb tomodrgn``: a venv in TOMODRGN_HOME with torch (TOMODRGN_TORCH), the core's
        requirements (this package's 'core' extra) and the core itself (a link to the installed tomodrgn_core, so
        the plugin and the core are always the same version)."""
        commands = " && ".join(core_install_commands(cls.getVar(TOMODRGN_BASE_PYTHON), cls.getVar(TOMODRGN_TORCH),
                                                     cls.getHome()))
        env.addPackage(CORE_PACKAGE, version=__version__, tar="void.tgz", commands=[(commands, INSTALLED_FLAG)],
                       neededProgs=[], default=not cls.scipionHoldsCore())


def core_requirements() -> list:
    """The 'core' extra of the installed distribution, torch left out (installed first, as TOMODRGN_TORCH says)."""
    from importlib.metadata import requires
    out = []
    for req in requires("scipion-em-tomodrgn") or []:
        spec, _, marker = req.partition(";")
        if "extra" in marker and "core" in marker and not spec.strip().startswith("torch"):
            out.append(spec.strip().replace(" ", ""))
    return out


def base_python(configured: str = "") -> str:
    """A Python >= 3.10 to make the core's venv with (empty: none found, conda will make one). Candidates are
    run, not just found: a pyenv shim exists for every version but runs only the selected ones."""
    if configured:
        return configured
    for name in ("python3.11", "python3.12", "python3.10", "python3.13"):
        path = shutil.which(name)
        if path and subprocess.run([path, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 10))"],
                                   capture_output=True).returncode == 0:
            return path
    return ""


def core_install_commands(configured_base: str, torch_args: str, home: str) -> list:
    """Shell commands, run in ``home``, that build the core's venv (see Plugin.defineBinaries)."""
    core_dir = os.path.dirname(importlib.util.find_spec("tomodrgn_core").origin)
    base = base_python(configured_base)
    cmds = []
    if not base:  # no Python >= 3.10 on this machine: conda gives one (Scipion's CONDA_ACTIVATION_CMD)
        cmds.append(f"{Plugin.getCondaActivationCmd()} conda create -y -p ./base-python python=3.11")
        base = "./base-python/bin/python"
    pip = f"{VENV_PYTHON} -m pip install"
    cmds += [f"rm -rf venv core && {shlex.quote(base)} -m venv venv",
             f"{VENV_PYTHON} -m pip install -q --upgrade pip",
             f"{pip} {torch_args}",
             f"{pip} {' '.join(shlex.quote(r) for r in core_requirements())}",
             f"mkdir -p core && ln -s {shlex.quote(core_dir)} core/tomodrgn_core",
             # the venv finds the core through a .pth file naming the folder that holds only the link
             f"{VENV_PYTHON} -c \"import os, site; open(os.path.join(site.getsitepackages()[0], "
             f"'tomodrgn_core.pth'), 'w').write(os.path.abspath('core') + chr(10))\"",
             f"{VENV_PYTHON} -m tomodrgn_core --version",
             f"touch {INSTALLED_FLAG}"]
    return cmds
