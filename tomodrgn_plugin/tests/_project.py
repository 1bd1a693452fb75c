"""Test helpers for sets built in a test: a saved run that stands in for the protocol that would have made them,
and registering them as that run's outputs, finished, as the GUI shows a finished run's outputs."""
from pathlib import Path


def stand_in_run(test, label=None):
    """(protocol, its folder): a saved EMProtocol run of ``test``'s project, its folder made."""
    from pwem.protocols import EMProtocol
    prot = test.newProtocol(EMProtocol, **({"objLabel": label} if label else {}))
    test.saveProtocol(prot)
    path = Path(test.proj.path) / prot._getPath()
    path.mkdir(parents=True, exist_ok=True)
    return prot, path


def finish_run(test, prot, **outputs):
    """Register ``outputs`` as the stand-in run's, finished."""
    prot._defineOutputs(**outputs)
    prot.setStatus("finished")
    test.proj._storeProtocol(prot)
    return prot
