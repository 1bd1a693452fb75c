"""PNG plots with matplotlib's Agg canvas only (no pyplot: no GUI backend, no global state)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(w: float = 5.0, h: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _colors(labels: np.ndarray):
    from matplotlib import colormaps
    k = int(labels.max()) + 1 if len(labels) else 1
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return cmap(labels % cmap.N)


def pc_labels(ratio, dims=(1, 2)) -> list[str]:
    """Axis labels 'PC1 (34.2%)' from the explained variance ratios (PCs past ``ratio`` get no percentage)."""
    ratio = np.atleast_1d(ratio)
    return [f"PC{d} ({100 * ratio[d - 1]:.1f}%)" if d <= len(ratio) else f"PC{d}" for d in dims]


def scatter(xy: np.ndarray, path, labels: np.ndarray | None = None, centers: np.ndarray | None = None,
            xlabel: str = "", ylabel: str = "", title: str = "") -> Path:
    """2D scatter coloured by cluster; 1D input becomes a histogram (stacked by cluster)."""
    fig = _figure()
    ax = fig.add_subplot()
    xy = np.asarray(xy)
    if xy.ndim == 1 or xy.shape[1] == 1:
        x = xy.reshape(-1)
        if labels is None:
            ax.hist(x, bins=50, color="0.3")
        else:
            ks = np.unique(labels)
            ax.hist([x[labels == k] for k in ks], bins=50, stacked=True, color=_colors(ks), label=[str(k) for k in ks])
        ax.set_ylabel("particles")
        if centers is not None:
            for c in np.asarray(centers).reshape(-1):
                ax.axvline(c, color="k", lw=0.8)
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6, c="0.3" if labels is None else _colors(labels), linewidths=0)
        if centers is not None:
            c = np.asarray(centers)
            ax.scatter(c[:, 0], c[:, 1], s=30, c="k", marker="x")
            for i, (cx, cy) in enumerate(c[:, :2]):
                ax.annotate(str(i), (cx, cy), fontsize=7)
        ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _save(fig, path)


def hexbin(xy: np.ndarray, path, xlabel: str = "", ylabel: str = "", title: str = "") -> Path:
    """Particle density (hexbin) in 2D; a histogram in 1D."""
    xy = np.asarray(xy)
    if xy.ndim == 1 or xy.shape[1] == 1:
        return scatter(xy, path, xlabel=xlabel, title=title)
    fig = _figure()
    ax = fig.add_subplot()
    hb = ax.hexbin(xy[:, 0], xy[:, 1], gridsize=30, cmap="viridis", mincnt=1)
    fig.colorbar(hb, ax=ax, label="particles")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


def bars(values, path, xlabel: str = "", ylabel: str = "", title: str = "", labels=None) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    values = np.asarray(values, dtype=float)
    x = np.arange(len(values)) if labels is None else np.asarray(labels)
    ax.bar(x, values, color="tab:blue")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


def lines(x, ys: dict, path, xlabel: str = "", ylabel: str = "", title: str = "", hlines=(), logy: bool = False) -> Path:
    """One line per entry of ``ys`` (label -> values) against ``x``."""
    fig = _figure()
    ax = fig.add_subplot()
    for label, y in ys.items():
        ax.plot(x if not isinstance(y, tuple) else y[0], y if not isinstance(y, tuple) else y[1], label=str(label),
                marker="." if len(np.atleast_1d(x)) < 30 else None)
    for h in hlines:
        ax.axhline(h, color="0.5", ls="--", lw=0.8)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(ys) > 1:
        ax.legend(fontsize=7)
    return _save(fig, path)


def loss_curve(losses: dict, path) -> Path:
    """Loss and MSE on a linear axis (their fall is what matters); the VAE's KLD, on another scale, beside them."""
    epoch = np.asarray(losses["epoch"])
    kld = np.asarray(losses.get("kld", []), dtype=float)
    vae = kld.size and np.any(kld != 0)
    fig = _figure(9.0 if vae else 5.0, 4.0)
    ax = fig.add_subplot(1, 2 if vae else 1, 1)
    marker = "." if len(epoch) < 30 else None
    ax.plot(epoch, losses["loss"], label="loss (minimised)", marker=marker)
    if vae:  # in train_nn the MSE is the loss itself
        ax.plot(epoch, losses["mse"], label="reconstruction MSE", ls="--", marker=marker)
        ax.legend(fontsize=7)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per particle")
    ax.set_title("training loss")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if vae:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(epoch, kld, color="tab:green", marker=marker)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("KL divergence (nats, unweighted)")
        ax2.set_title("latent KLD")
        ax2.xaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path)


def confusion(matrix: np.ndarray, labels, path, title: str = "") -> Path:
    """Counts of true classes (rows) per cluster (columns), written in the cells; empty rows/columns left out
    (k-means with 20 clusters against 2 true classes is 2 rows, not 20)."""
    m, labels = np.asarray(matrix), np.asarray(labels)
    rows, cols = np.flatnonzero(m.sum(1)), np.flatnonzero(m.sum(0))
    m = m[np.ix_(rows, cols)]
    fig = _figure(max(4.0, 1.0 + 0.45 * len(cols)), max(3.0, 1.2 + 0.45 * len(rows)))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues", vmin=0, aspect="auto")
    fig.colorbar(im, ax=ax, label="particles")
    ax.set_xticks(range(len(cols)), [str(v) for v in labels[cols]], fontsize=7)
    ax.set_yticks(range(len(rows)), [str(v) for v in labels[rows]], fontsize=7)
    if m.size <= 900:
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * max(1, m.max()) else "black")
    ax.set_xlabel("cluster")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(fig, path)


def volume_slices(vols: np.ndarray, path, title: str = "") -> Path:
    """Central z-slices of up to 10 volumes side by side: a quick look without a 3D viewer."""
    vols = np.asarray(vols)[:10]
    fig = _figure(1.6 * len(vols) + 0.4, 2.0)
    for i, v in enumerate(vols):
        ax = fig.add_subplot(1, len(vols), i + 1)
        ax.imshow(v.sum(axis=0), cmap="gray")
        ax.set_title(str(i), fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def panels(items: list, path, labels: np.ndarray | None = None, xlabel: str = "", ylabel: str = "") -> Path:
    """Several 2D scatters side by side: ``items`` = [(xy, title), ...] (e.g. UMAP of selected epochs)."""
    n = max(1, len(items))
    fig = _figure(3.0 * n + 0.4, 3.2)
    for i, (xy, title) in enumerate(items):
        ax = fig.add_subplot(1, n, i + 1)
        xy = np.asarray(xy)
        y = xy[:, 1] if xy.ndim == 2 and xy.shape[1] > 1 else np.zeros(len(xy))
        ax.scatter(xy[:, 0] if xy.ndim == 2 else xy, y, s=3, linewidths=0,
                   c="0.3" if labels is None else _colors(labels))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        if i == 0:
            ax.set_ylabel(ylabel)
    return _save(fig, path)
