from setuptools import find_packages, setup

setup(
    name="scipion-em-tomodrgn",
    version="0.1.0",
    description="Scipion plugin for tomoDRGN: heterogeneous cryo-ET reconstruction with a bundled PyTorch core",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tomodrgn_core", "tomodrgn_core.*", "tomodrgn_plugin", "tomodrgn_plugin.*"]),
    include_package_data=True,
    package_data={"tomodrgn_plugin": ["protocols.conf", "*.png"]},
    # torch is NOT pinned here: GPU clusters install their own CUDA build first.
    install_requires=[
        "torch>=2.0", "numpy", "pandas", "mrcfile", "starfile", "scikit-learn", "umap-learn",
        "matplotlib", "pyyaml",
        "scipion-pyworkflow", "scipion-em", "scipion-em-tomo", "scipion-app",
    ],
    extras_require={"test": ["pytest", "scipion-em-reliontomo"]},
    entry_points={
        "pyworkflow.plugin": ["tomodrgn_plugin = tomodrgn_plugin"],  # name must be the module name,
        "console_scripts": ["tomodrgn = tomodrgn_core.cli:main"],
    },
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Bio-Informatics"],
)
