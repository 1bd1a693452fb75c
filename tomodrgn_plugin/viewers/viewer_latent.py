"""Latent-space and training viewers: PCA/UMAP scatter coloured by k-means class, class sizes, loss curve.

The same figures are written as PNGs by the core (analyze.<epoch>/, the training folder); this viewer shows
them interactively, and volumes open in Scipion's own viewers (ChimeraX when installed)."""
import os

import numpy as np
from pyworkflow.protocol import params
from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, ProtocolViewer, Viewer

from ..constants import TRAIN_DIR
from ..convert import read_csv_columns
from ..protocols import (ProtTomoDrgnAnalyze, ProtTomoDrgnSubsetExport, ProtTomoDrgnTrainHomogeneous,
                         ProtTomoDrgnTrainVAE)


def latent_figure(particles_csv: str):
    """Matplotlib figure: PC1/PC2 and UMAP coloured by k-means class + class sizes."""
    import matplotlib.pyplot as plt

    t = read_csv_columns(particles_csv)
    variance = os.path.join(os.path.dirname(particles_csv), "pca_explained_variance.csv")
    pct = read_csv_columns(variance)["explained_variance_ratio"] * 100 if os.path.exists(variance) else []

    def label(name):  # "PC1 (34.2%)" as in analyze's own plots
        i = int(name[2:]) - 1 if name.startswith("PC") else len(pct)
        return f"{name} ({pct[i]:.1f}%)" if i < len(pct) else name

    panels = [(a, b) for a, b in (("PC1", "PC2"), ("UMAP1", "UMAP2"))
              if a in t and b in t and np.isfinite(t[a]).all()]
    fig, axes = plt.subplots(1, max(len(panels), 1) + 1, figsize=(5 * (max(len(panels), 1) + 1), 4.5))
    for ax, (a, b) in zip(axes, panels):
        sc = ax.scatter(t[a], t[b], c=t["cluster"], cmap="tab20", s=6)
        ax.set_xlabel(label(a))
        ax.set_ylabel(label(b))
    if panels:
        fig.colorbar(sc, ax=axes[len(panels) - 1], label="k-means class (0-based)")
    else:  # a one-dimensional latent space: PC1 per class
        for k in sorted(set(t["cluster"].astype(int))):
            axes[0].hist(t["PC1"][t["cluster"] == k], bins=40, alpha=0.6, label=f"class {k + 1}")
        axes[0].set_xlabel(label("PC1"))
        axes[0].set_ylabel("particles")
        axes[0].legend()
    sizes = np.bincount(t["cluster"].astype(int))
    axes[-1].bar(np.arange(1, len(sizes) + 1), sizes)
    axes[-1].set_xlabel("class (as in Scipion, 1-based)")
    axes[-1].set_ylabel("particles")
    fig.tight_layout()
    return fig


def loss_figure(losses_csv: str):
    import matplotlib.pyplot as plt

    t = read_csv_columns(losses_csv)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(t["epoch"], t["loss"], "o-", label="loss")
    ax.plot(t["epoch"], t["mse"], "s--", label="reconstruction error")
    ax.set_xlabel("epoch")
    ax.legend()
    fig.tight_layout()
    return fig


def create_subset_protocol(project, analyze_prot, class_ids) -> ProtTomoDrgnSubsetExport:
    """A 'tomoDRGN subset export' saved in the project (not launched), pre-filled with the analyze run's
    labelled particles and the chosen classes (1-based, as Scipion shows them): the user reviews and runs it."""
    ids = " ".join(str(int(c)) for c in class_ids)
    prot = project.newProtocol(ProtTomoDrgnSubsetExport, classIds=ids, objLabel=f"tomoDRGN subset: classes {ids}")
    prot.inputParticles.set(analyze_prot)
    prot.inputParticles.setExtended("outputParticles")
    project.saveProtocol(prot)
    return prot


class TomoDrgnTrainingViewer(Viewer):
    """Loss curve of a training run in a matplotlib window."""
    _label = "tomoDRGN training curves"
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]
    _targets = [ProtTomoDrgnTrainVAE, ProtTomoDrgnTrainHomogeneous]

    def _visualize(self, obj, **kwargs):
        import matplotlib.pyplot as plt

        fig = loss_figure(self.protocol._getExtraPath(TRAIN_DIR, "losses.csv"))
        plt.show(block=False)
        return [fig]


class TomoDrgnLatentViewer(ProtocolViewer):
    """Latent space of an analyze run (PCA/UMAP by class, class sizes); pick classes to create a
    pre-filled subset export protocol."""
    _label = "tomoDRGN latent space"
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]
    _targets = [ProtTomoDrgnAnalyze]

    def _defineParams(self, form):
        form.addSection(label="Latent space")
        form.addParam("displayLatent", params.LabelParam, label="Show PCA/UMAP coloured by class")
        form.addParam("classesToKeep", params.StringParam, default="1", label="Classes to keep",
                      help="class numbers as shown (1-based), e.g. '1 4 7'")
        form.addParam("createSubset", params.LabelParam, label="Create the subset export protocol")

    def _getVisualizeDict(self):
        return {"displayLatent": self._showLatent, "createSubset": self._createSubset}

    def _showLatent(self, param=None):
        import matplotlib.pyplot as plt

        fig = latent_figure(os.path.join(self.protocol._outDir(), "particles.csv"))
        plt.show(block=False)
        return [fig]

    def _createSubset(self, param=None):
        ids = self.classesToKeep.get().replace(",", " ").split()
        prot = create_subset_protocol(self.getProject(), self.protocol, ids)
        return [self.infoMessage(f"Created '{prot.getObjLabel()}': open it in the project and run it.",
                                 title="tomoDRGN subset export")]
