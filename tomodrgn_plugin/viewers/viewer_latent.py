"""Latent-space and training viewers: PCA/UMAP scatter coloured by k-means class, class sizes, loss curve.

The same figures are written as PNGs by the core (analyze.<epoch>/, the training folder); this viewer shows
them interactively, and volumes open in Scipion's own viewers (ChimeraX when installed)."""
import os

import numpy as np
from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, Viewer

from ..constants import TRAIN_DIR
from ..protocols import ProtTomoDrgnAnalyze, ProtTomoDrgnTrainHomogeneous, ProtTomoDrgnTrainVAE


def latent_figure(particles_csv: str):
    """Matplotlib figure: PC1/PC2 and UMAP coloured by k-means class + class sizes."""
    import matplotlib.pyplot as plt
    import pandas as pd

    t = pd.read_csv(particles_csv)
    panels = [("PC1", "PC2")] + ([("UMAP1", "UMAP2")] if "UMAP1" in t and t["UMAP1"].notna().all() else [])
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5 * (len(panels) + 1), 4.5))
    for ax, (a, b) in zip(axes, panels):
        sc = ax.scatter(t[a], t[b], c=t["cluster"], cmap="tab20", s=6)
        ax.set_xlabel(a)
        ax.set_ylabel(b)
    fig.colorbar(sc, ax=axes[len(panels) - 1], label="k-means class (0-based)")
    sizes = np.bincount(t["cluster"].to_numpy())
    axes[-1].bar(np.arange(1, len(sizes) + 1), sizes)
    axes[-1].set_xlabel("class (as in Scipion, 1-based)")
    axes[-1].set_ylabel("particles")
    fig.tight_layout()
    return fig


def loss_figure(losses_csv: str):
    import matplotlib.pyplot as plt
    import pandas as pd

    t = pd.read_csv(losses_csv)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(t["epoch"], t["loss"], "o-", label="loss")
    ax.plot(t["epoch"], t["mse"], "s--", label="reconstruction error")
    ax.set_xlabel("epoch")
    ax.legend()
    fig.tight_layout()
    return fig


class TomoDrgnLatentViewer(Viewer):
    """Latent space (analyze) or loss curve (train) in a matplotlib window."""
    _label = "tomoDRGN latent space / training curves"
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]
    _targets = [ProtTomoDrgnAnalyze, ProtTomoDrgnTrainVAE, ProtTomoDrgnTrainHomogeneous]

    def _visualize(self, obj, **kwargs):
        import matplotlib.pyplot as plt

        prot = self.protocol
        if isinstance(prot, ProtTomoDrgnAnalyze):
            fig = latent_figure(os.path.join(prot._outDir(), "particles.csv"))
        else:
            fig = loss_figure(prot._getExtraPath(TRAIN_DIR, "losses.csv"))
        plt.show(block=False)
        return [fig]
