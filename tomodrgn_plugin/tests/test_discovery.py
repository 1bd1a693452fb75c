"""`python -m scipion tests tomodrgn_plugin.tests` (how Scipion users run a plugin's tests) and Scipion's own
discovery (`scipion tests --run --grep tomodrgn_plugin`) must both find every test of this package."""
import ast
import os
import unittest
from pathlib import Path

import tomodrgn_plugin.tests as package


def flat(suite) -> set:
    out = set()
    for test in suite:
        out |= flat(test) if isinstance(test, unittest.TestSuite) else {test.id()}
    return out


class TestDiscovery(unittest.TestCase):
    def test_package_name_and_discovery_run_every_test(self):
        here = Path(package.__file__).parent
        written = set()  # every test method in the files, read without importing them
        for path in here.glob("test*.py"):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    written |= {f"tomodrgn_plugin.tests.{path.stem}.{node.name}.{f.name}" for f in node.body
                                if isinstance(f, ast.FunctionDef) and f.name.startswith("test")}
        self.assertIn("tomodrgn_plugin.tests.test_discovery.TestDiscovery."
                      "test_package_name_and_discovery_run_every_test", written)
        by_name = flat(unittest.TestLoader().loadTestsFromName("tomodrgn_plugin.tests"))
        self.assertEqual(by_name, written)
        # as pyworkflow/apps/pw_run_tests.py discovers a plugin's tests (top level: the folder above the plugin)
        top = os.path.dirname(os.path.dirname(here))
        discovered = flat(unittest.TestLoader().discover(str(here), pattern="test*.py", top_level_dir=top))
        self.assertEqual(discovered, written)
