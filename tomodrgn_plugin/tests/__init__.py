"""The plugin's Scipion tests. ``python -m scipion tests tomodrgn_plugin.tests`` runs every module here
(``load_tests``), and ``scipion tests --run --grep tomodrgn_plugin`` finds them too (Scipion's discovery calls the
same hook). The modules import nothing of the core: what they check in the core runs in the core's own Python
(``_core.py``), so they run in a Scipion Python without torch too."""
import fnmatch
import pkgutil


def load_tests(loader, standard_tests, pattern):
    for info in pkgutil.iter_modules(__path__):
        if fnmatch.fnmatch(info.name + ".py", pattern or "test*.py"):
            standard_tests.addTests(loader.loadTestsFromName(f"{__name__}.{info.name}"))
    return standard_tests
