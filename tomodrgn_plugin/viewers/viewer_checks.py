"""Viewers of the result checks (automatic number of classes, compare runs, validate selection, spatial
statistics): the core's own figures (the PNGs it wrote, so the GUI shows exactly what the files hold) with the
run's numbers above them. FSC curves are also outputs (SetOfFSCs) that Scipion's FSC viewer opens."""
import os

from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, Viewer

from ..protocols import (ProtTomoDrgnAnalyze, ProtTomoDrgnCompareRuns, ProtTomoDrgnSpatialStats,
                         ProtTomoDrgnValidateSelection)


def png_figure(paths, lines=()):
    """One matplotlib figure showing the PNGs side by side (missing ones left out), ``lines`` of text on top."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    images = [mpimg.imread(p) for p in paths if os.path.isfile(p)]
    if not images:
        raise FileNotFoundError(f"none of {', '.join(map(str, paths))} exists: has the protocol finished?")
    width = sum(im.shape[1] / im.shape[0] for im in images)
    fig, axes = plt.subplots(1, len(images), figsize=(min(20.0, 4.5 * width), 4.5 + 0.2 * len(lines)),
                             gridspec_kw={"width_ratios": [im.shape[1] / im.shape[0] for im in images]},
                             squeeze=False)
    for ax, im in zip(axes[0], images):
        ax.imshow(im)
        ax.axis("off")
    if lines:
        fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout()
    return fig


def k_selection_figure(analyze_prot):
    out = analyze_prot._outDir()
    return png_figure([os.path.join(out, "k_selection.png")], analyze_prot.summary()[:2])


def compare_figure(prot):
    out = prot._outDir()
    return png_figure([os.path.join(out, "confusion.png"), os.path.join(out, "fsc.png")], prot.summary()[:1])


def validate_figure(prot):
    return png_figure([os.path.join(prot._outDir(), "fsc.png")], _wrap(prot.summary()))


def spatial_figure(prot):
    out = prot._outDir()
    return png_figure([os.path.join(out, n) for n in ("composition.png", "nn_same_class.png",
                                                      "nn_between_classes.png")], prot.summary())


def _wrap(lines, width=140):
    import textwrap
    return [w for line in lines for w in textwrap.wrap(line, width)]


class _PngViewer(Viewer):
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]
    figure = None

    def _visualize(self, obj, **kwargs):
        import matplotlib.pyplot as plt

        fig = type(self).figure(self.protocol)
        plt.show(block=False)
        return [fig]


class TomoDrgnKSelectionViewer(_PngViewer):
    """How the number of classes was chosen (silhouette, Davies-Bouldin, BIC against k)."""
    _label = "tomoDRGN number of classes"
    _targets = [ProtTomoDrgnAnalyze]
    figure = staticmethod(k_selection_figure)


class TomoDrgnCompareViewer(_PngViewer):
    """Confusion matrix of the two runs' classes and the FSC of matched class volumes."""
    _label = "tomoDRGN run comparison"
    _targets = [ProtTomoDrgnCompareRuns]
    figure = staticmethod(compare_figure)


class TomoDrgnValidateViewer(_PngViewer):
    """Half-map FSC of the selection's back-projection and its FSC with the decoder maps."""
    _label = "tomoDRGN selection validation"
    _targets = [ProtTomoDrgnValidateSelection]
    figure = staticmethod(validate_figure)


class TomoDrgnSpatialViewer(_PngViewer):
    """Class composition per tomogram and nearest-neighbour distances against shuffled labels."""
    _label = "tomoDRGN spatial statistics"
    _targets = [ProtTomoDrgnSpatialStats]
    figure = staticmethod(spatial_figure)
