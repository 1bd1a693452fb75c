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
    cluster = t["cluster"].astype(int)
    classes = sorted(set(cluster))
    cmap = plt.get_cmap("tab20")
    color = {k: cmap(k % 20) for k in classes}  # one colour per class, the same in every panel
    fig, axes = plt.subplots(1, max(len(panels), 1) + 1, figsize=(5 * (max(len(panels), 1) + 1), 4.5))
    for ax, (a, b) in zip(axes, panels):
        for k in classes:
            ax.scatter(t[a][cluster == k], t[b][cluster == k], color=color[k], s=6, label=f"class {k + 1}")
        ax.set_xlabel(label(a))
        ax.set_ylabel(label(b))
    if not panels:  # a one-dimensional latent space: PC1 per class
        for k in classes:
            axes[0].hist(t["PC1"][cluster == k], bins=40, alpha=0.6, color=color[k], label=f"class {k + 1}")
        axes[0].set_xlabel(label("PC1"))
        axes[0].set_ylabel("particles")
    if len(classes) <= 20:  # classes numbered as Scipion shows them (1-based)
        axes[0].legend(markerscale=2, fontsize="small", ncol=1 + len(classes) // 8)
    sizes = np.bincount(cluster, minlength=max(classes) + 1)
    axes[-1].bar([k + 1 for k in classes], [sizes[k] for k in classes], color=[color[k] for k in classes])
    axes[-1].set_xticks([k + 1 for k in classes])
    axes[-1].set_xlabel("class (as in Scipion)")
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


def create_subset_protocol(project, analyze_prot, class_ids=None, rows=None) -> ProtTomoDrgnSubsetExport:
    """A 'tomoDRGN subset export' saved in the project (not launched), pre-filled with the analyze run's
    labelled particles and the selection: classes (1-based, as Scipion shows them) or STAR rows (a lasso region,
    viewers/selection.py), which it writes to a file beside the analysis. The user reviews and runs it, as with
    the subsets Scipion's own viewers create."""
    if rows is not None:
        folder = analyze_prot._getExtraPath("selections")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"lasso_{len(os.listdir(folder)) + 1}.txt")
        np.savetxt(path, sorted(int(r) for r in rows), fmt="%d")
        prot = project.newProtocol(ProtTomoDrgnSubsetExport, selectBy=1, indices=os.path.abspath(path),
                                   objLabel=f"tomoDRGN subset: {len(rows)} particles from a region")
    else:
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

    SELECT = ["classes", "a region of the PCA plane", "a region of the UMAP plane"]

    def _defineParams(self, form):
        form.addSection(label="Latent space")
        form.addParam("displayLatent", params.LabelParam, label="Show PCA/UMAP coloured by class")
        form.addParam("selectBy", params.EnumParam, choices=self.SELECT, default=0, label="Select particles by",
                      help="classes: the k-means classes below; a region: draw it with the mouse (lasso) on the "
                           "scatter that 'Draw the region' opens")
        form.addParam("classesToKeep", params.StringParam, default="1", label="Classes to keep",
                      condition="selectBy == 0", help="class numbers as shown (1-based), e.g. '1 4 7'")
        form.addParam("drawRegion", params.LabelParam, condition="selectBy != 0", label="Draw the region")
        form.addParam("createSubset", params.LabelParam, label="Create the subset export protocol")

    def _getVisualizeDict(self):
        return {"displayLatent": self._showLatent, "drawRegion": self._drawRegion, "createSubset": self._createSubset}

    def _particlesCsv(self):
        return os.path.join(self.protocol._outDir(), "particles.csv")

    def _drawRegion(self, param=None):
        """A scatter of the chosen plane with a lasso: the region drawn is kept for 'Create the subset'."""
        import matplotlib.pyplot as plt
        from matplotlib.widgets import LassoSelector
        from .selection import PLANES

        plane = "PCA" if self.selectBy.get() == 1 else "UMAP"
        t = read_csv_columns(self._particlesCsv())
        x, y = PLANES[plane]
        if x not in t:
            return [self.errorMessage(f"This analysis has no {plane} plane (run analyze with it).")]
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(t[x], t[y], c=t["cluster"], cmap="tab20", s=6)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title("draw around the particles to keep")

        def keep(vertices):
            self._region = (plane, vertices)
            ax.set_title(f"{len(vertices)}-point region kept: now 'Create the subset export protocol'")
            fig.canvas.draw_idle()

        fig._lasso = LassoSelector(ax, keep)  # referenced by the figure, or it is garbage-collected
        plt.show(block=False)
        return [fig]

    def _showLatent(self, param=None):
        import matplotlib.pyplot as plt

        fig = latent_figure(os.path.join(self.protocol._outDir(), "particles.csv"))
        plt.show(block=False)
        return [fig]

    def _createSubset(self, param=None):
        if self.selectBy.get() == 0:
            prot = create_subset_protocol(self.getProject(), self.protocol,
                                          class_ids=self.classesToKeep.get().replace(",", " ").split())
        else:
            from .selection import rows_in_region
            region = getattr(self, "_region", None)
            if region is None:
                return [self.errorMessage("Draw the region first ('Draw the region').")]
            rows = rows_in_region(self._particlesCsv(), region[1], region[0])
            if not rows:
                return [self.errorMessage("The region holds no particles: draw it again.")]
            prot = create_subset_protocol(self.getProject(), self.protocol, rows=rows)
        return [self.infoMessage(f"Created '{prot.getObjLabel()}': open it in the project and run it.",
                                 title="tomoDRGN subset export")]
