"""How a protocol hands its GPUs to the core: Scipion's own GPU parameters, parsed the way Scipion parses them."""
import os

import pyworkflow.utils as pwutils
from pyworkflow.protocol import params


def gpu_ids(prot) -> list:
    """The protocol's GPU IDs ('0-3', '0 1' and '0,1' all work, as everywhere in Scipion); [] for CPU."""
    if not prot.getAttributeValue(params.USE_GPU, True):
        return []
    return pwutils.getListFromRangeString(str(prot.getAttributeValue(params.GPU_LIST, "0")))


def core_env_and_device(prot, multi: bool = False, require: bool = True) -> tuple:
    """(environment, device arguments) for a core command.

    ``require``: a GPU run asks for ``--device cuda``, so a machine without one fails with the core's one-line
    error instead of training on the CPU unnoticed (analysis, light work, uses a GPU only if there is one).
    Under a queue, the queue system sets CUDA_VISIBLE_DEVICES to the GPUs it allocated (Scipion renumbers the
    IDs for it): that setting is kept, not overwritten."""
    env = pwutils.Environ(os.environ)
    gpus = gpu_ids(prot)
    if not gpus:
        return env, ["--device", "cpu"]
    if not prot.useQueue():
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    return env, ["--device", "cuda" if require else "auto"] + (["--multigpu"] if multi and len(gpus) > 1 else [])
