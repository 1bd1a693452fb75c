"""Scipion plugin for tomoDRGN. The deep-learning core (tomodrgn_core) is bundled: nothing to install
besides this package, no conda environment. Protocols call the core as ``python -m tomodrgn_core``."""
import os
import sys

import pwem

from .constants import TOMODRGN_PYTHON

_logo = ""
_references = ["Powell2024", "Zhong2021"]
__version__ = "0.1.0"


class Plugin(pwem.Plugin):
    _url = "https://github.com/scipion-em/scipion-em-tomodrgn"
    @classmethod
    def _defineVariables(cls):
        # the python that runs the core: the one Scipion runs protocols with, unless overridden
        cls._defineVar(TOMODRGN_PYTHON, os.environ.get("SCIPION_PYTHON", sys.executable))

    @classmethod
    def getPython(cls) -> str:
        return cls.getVar(TOMODRGN_PYTHON) or sys.executable

    @classmethod
    def getProgram(cls, command: str) -> str:
        """Arguments prefix for ``runJob(Plugin.getPython(), ...)``: the core CLI command."""
        return f"-m tomodrgn_core {command}"

    @classmethod
    def defineBinaries(cls, env):
        pass  # the core is a python package installed with the plugin
