"""A Jupyter notebook beside analyze's outputs (the reference tomoDRGN writes one too): look at the latent
space, pick particles by cluster or by region, and write them with filter_star, without retyping paths."""
from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = "tomoDRGN_viz+filt.ipynb"

_SETUP = '''\
import json
import pickle
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import mrcfile
import numpy as np
import pandas as pd

PARTICLES_STAR = {star!r}  # the particles the run was trained on
FILTER_ARGS = {filter_args!r}
KMEANS = {kmeans!r}
particles = pd.read_csv("particles.csv")  # one row per trained particle, z order (run from this folder)
# select STAR particles by "star_row", never by "index" (the z row): they differ for a run trained with --ind
summary = json.loads(Path("summary.json").read_text())
print(f"{{len(particles)}} particles, zdim {{summary['zdim']}}, k-means cluster sizes {{summary['kmeans_sizes']}}")'''

_PLOT = '''\
spaces = [(x, y) for x, y in (("PC1", "PC2"), ("UMAP1", "UMAP2")) if x in particles and y in particles]
if spaces:
    fig, axes = plt.subplots(1, len(spaces), figsize=(5.5 * len(spaces), 4.5), squeeze=False)
    for ax, (x, y) in zip(axes[0], spaces):
        dots = ax.scatter(particles[x], particles[y], c=particles["cluster"], cmap="tab20", s=4)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    fig.colorbar(dots, ax=axes[0].tolist(), label="k-means cluster")
else:  # zdim 1: one PC
    plt.hist(particles["PC1"], bins=50)
    plt.xlabel("PC1")
plt.show()'''

_SELECT = '''\
KEEP_CLUSTERS = [0]  # the k-means clusters to keep (colours above)
selected = particles["cluster"].isin(KEEP_CLUSTERS)
# or a region of the plot instead, e.g.: selected = (particles["PC1"] > 0) & (particles["PC2"] < 1)
ind = particles.loc[selected, "star_row"].to_numpy(np.int64)  # particles of PARTICLES_STAR, 0-based
print(f"{len(ind)} of {len(particles)} particles selected")'''

_EXPORT = '''\
with open("selected_ind.pkl", "wb") as f:
    pickle.dump(ind, f)
command = [sys.executable, "-m", "tomodrgn_core", "filter_star", PARTICLES_STAR, *FILTER_ARGS,
           "--ind", "selected_ind.pkl", "-o", "selected_particles.star", "--overwrite"]
RUN_FILTER = False  # True: write selected_particles.star (same format as the input) now
if RUN_FILTER:
    subprocess.run(command, check=True)
else:
    print("tomodrgn " + " ".join(command[3:]))'''

_VOLUMES = '''\
vols = sorted(Path(KMEANS).glob("vol_*.mrc"))[:10]
if vols:  # projections of the k-means centre volumes
    fig, axes = plt.subplots(1, len(vols), figsize=(2.2 * len(vols), 2.4), squeeze=False)
    for ax, path in zip(axes[0], vols):
        with mrcfile.open(path, permissive=True) as m:
            ax.imshow(m.data.sum(0), cmap="gray")
        ax.set_title(path.stem)
        ax.axis("off")
    plt.show()'''


def _cell(kind: str, text: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def write_notebook(folder, epoch: int, kmeans_dir: str, particles_star: str, source_software: str | None = None,
                   datadir: str | None = None, subset: bool = False) -> Path:
    """Write ``folder``/tomoDRGN_viz+filt.ipynb (nbformat 4.4) for analyze's outputs in ``folder``.
    ``subset``: the run was trained on a --ind subset of ``particles_star`` (said in the notebook; the
    selection uses particles.csv's star_row either way)."""
    filter_args = (["--source-software", source_software] if source_software else []) + \
                  (["--datadir", str(datadir)] if datadir else [])
    cells = [
        _cell("markdown", f"# tomoDRGN: latent space of epoch {epoch}\n"
                          "Run the cells in order, from this folder: plots, a particle selection, and the "
                          "selection written as a STAR file for RELION / Dynamo / Scipion."),
        _cell("code", _SETUP.format(star=str(particles_star), filter_args=filter_args, kmeans=kmeans_dir)),
        _cell("markdown", "## The latent space, coloured by k-means cluster"),
        _cell("code", _PLOT),
        _cell("markdown", "## Pick particles: by cluster, or by a region of the plot" + (
            "\nThis run was trained on a subset (`--ind`) of the STAR file: `star_row` is each particle's row in "
            "the full STAR file, which `filter_star` below reads." if subset else "")),
        _cell("code", _SELECT),
        _cell("markdown", "## Write the selection (`filter_star`: same format as the input STAR)"),
        _cell("code", _EXPORT),
        _cell("markdown", "## Volumes at the k-means centres"),
        _cell("code", _VOLUMES),
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"},
                                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 4}
    path = Path(folder) / NOTEBOOK
    path.write_text(json.dumps(nb, indent=1))
    return path
