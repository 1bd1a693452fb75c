from setuptools import find_packages, setup

# Two Pythons (README "Set-up"): the plugin (tomodrgn_plugin) loads in Scipion's own Python, 3.8 and up, without
# torch; the core (tomodrgn_core) runs in a Python >= 3.10 of its own, made by `scipion3 installb tomodrgn` from
# the "core" extra below, or in Scipion's Python itself when that holds the core (`pip install -e ".[core]"`).
# Lower bounds: the oldest releases known to install together on Python 3.8-3.12 (without them pip backtracks
# into source releases that do not build, e.g. biopython 1.7x); upper bounds only where something breaks.
SCIPION = ["scipion-pyworkflow>=3.11.2", "scipion-em>=3.11.1", "scipion-em-tomo>=3.11.3", "scipion-app>=3.8.0",
           "numpy>=1.24", "pyyaml>=6.0", "mrcfile>=1.4.3"]
CORE = ["torch>=2.0", "numpy>=1.24", "pandas>=2.0", "mrcfile>=1.4.3", "starfile>=0.5.0", "scikit-learn>=1.3",
        "umap-learn>=0.5.4", "matplotlib>=3.7", "pyyaml>=6.0"]

setup(
    name="scipion-em-tomodrgn",
    version="0.1.0",
    description="Scipion plugin for tomoDRGN: heterogeneous cryo-ET reconstruction with a bundled PyTorch core",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.8",
    packages=find_packages(include=["tomodrgn_core", "tomodrgn_core.*", "tomodrgn_plugin", "tomodrgn_plugin.*"]),
    include_package_data=True,
    package_data={"tomodrgn_plugin": ["protocols.conf", "*.png"]},
    install_requires=SCIPION,
    # torch is not pinned: GPU machines install their CUDA build (installb: TOMODRGN_TORCH, README)
    extras_require={"core": CORE,
                    # the other plugins whose boxes the tests chain with ours (installed without their programs)
                    "test": ["pytest", "scipion-em-reliontomo>=4.0.5", "scipion-em-imod>=3.9.1",
                             "scipion-em-dynamo>=3.5.3", "scipion-em-warp>=3.6.2"]},
    entry_points={
        "pyworkflow.plugin": ["tomodrgn_plugin = tomodrgn_plugin"],  # name must be the module name,
        "console_scripts": ["tomodrgn = tomodrgn_core.cli:main"],
    },
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Bio-Informatics"],
)
