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
    """Colour-blind-safe colour per label (analysis/palette.py: the same as the ChimeraX map-back)."""
    from .palette import class_rgba
    return class_rgba(labels)


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


def confusion(matrix: np.ndarray, labels, path, title: str = "", xlabel: str = "cluster", ylabel: str = "true class",
              row_labels=None, col_labels=None) -> Path:
    """Counts of true classes (rows) per cluster (columns), written in the cells; empty rows/columns left out
    (k-means with 20 clusters against 2 true classes is 2 rows, not 20). ``labels`` name both axes' classes, or
    ``row_labels`` / ``col_labels`` each (two runs' classes)."""
    m = np.asarray(matrix)
    row_labels = np.asarray(labels if row_labels is None else row_labels)
    col_labels = np.asarray(labels if col_labels is None else col_labels)
    rows, cols = np.flatnonzero(m.sum(1)), np.flatnonzero(m.sum(0))
    m = m[np.ix_(rows, cols)]
    fig = _figure(max(4.0, 1.0 + 0.45 * len(cols)), max(3.0, 1.2 + 0.45 * len(rows)))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues", vmin=0, aspect="auto")
    fig.colorbar(im, ax=ax, label="particles")
    ax.set_xticks(range(len(cols)), [str(v) for v in col_labels[cols]], fontsize=7)
    ax.set_yticks(range(len(rows)), [str(v) for v in row_labels[rows]], fontsize=7)
    if m.size <= 900:
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * max(1, m.max()) else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
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


def k_selection(table, chosen: int, path, note: str = "") -> Path:
    """Silhouette, Davies-Bouldin and BIC against k, the chosen k marked (k = 1 is a vertical line when chosen)."""
    import textwrap

    from .palette import LINE_COLORS

    fig = _figure(11.0, 3.8)
    k = np.asarray(table["k"])
    panels = [("silhouette", "k-means silhouette (higher: better separated)", k >= 2),
              ("davies_bouldin", "k-means Davies-Bouldin (lower: better)", k >= 2),
              ("bic", "Gaussian mixture BIC (lower: better)", k >= 1)]
    for i, (col, label, rows) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        y = np.asarray(table[col], dtype=float)
        ax.plot(k[rows], y[rows], marker="o", color=LINE_COLORS[i], label=label.split(" (")[0])
        ax.axvline(chosen, color="0.2", ls="--", lw=1.0, label=f"chosen k = {chosen}")
        sel = rows & (k == chosen)
        if sel.any():
            ax.plot(k[sel], y[sel], marker="*", ms=14, color="0.2", ls="none")
        ax.set_xlabel("number of classes k")
        ax.set_ylabel(label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7)
    if note:
        fig.suptitle("\n".join(textwrap.wrap(note, 150)), fontsize=8)
    return _save(fig, path)


def fsc_curves(curves: dict, path, pixel_size: float, title: str = "", thresholds=(0.5, 0.143)) -> Path:
    """FSC curves (label -> (frequency 1/px, fsc)) against spatial frequency in 1/A, with the resolution in A on a
    second axis and the threshold lines labelled."""
    from .palette import LINE_COLORS, LINE_STYLES

    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot()
    for i, (label, (freq, fsc)) in enumerate(curves.items()):
        ax.plot(np.asarray(freq) / pixel_size, fsc, label=str(label), color=LINE_COLORS[i % len(LINE_COLORS)],
                ls=LINE_STYLES[i % len(LINE_STYLES)], lw=1.5)
    for t in thresholds:
        ax.axhline(t, color="0.5", ls=":", lw=0.8)
        ax.annotate(f"FSC {t:g}", (0.0, t), xycoords=("axes fraction", "data"), fontsize=7, color="0.4",
                    xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("spatial frequency (1/Å)")
    ax.set_ylabel("Fourier shell correlation")
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.05)
    ax.set_xlim(0, 0.5 / pixel_size)
    top = ax.secondary_xaxis("top", functions=(lambda f: 1 / np.maximum(f, 1e-9), lambda r: 1 / np.maximum(r, 1e-9)))
    top.set_xlabel("resolution (Å)")
    ticks = 1 / np.linspace(0.1, 0.5, 5) * pixel_size
    top.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def stacked_bars(counts: np.ndarray, groups, classes, path, xlabel: str = "", ylabel: str = "",
                 title: str = "") -> Path:
    """Bars per group (rows of ``counts``), stacked by class (columns), class colours as everywhere."""
    from .palette import class_hex

    counts = np.asarray(counts, dtype=float)
    fig = _figure(max(5.0, 1.2 + 0.35 * len(groups)), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    bottom = np.zeros(len(groups))
    for j, c in enumerate(classes):
        ax.bar(x, counts[:, j], bottom=bottom, color=class_hex(j, len(classes)), label=f"class {c}",
               edgecolor="white", lw=0.5)
        bottom += counts[:, j]
    ax.set_xticks(x, [str(g) for g in groups], rotation=45 if len(groups) > 6 else 0, ha="right"
                  if len(groups) > 6 else "center", fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _save(fig, path)


def overlaid_histograms(groups: dict, path, xlabel: str = "", ylabel: str = "particles", title: str = "",
                        bins: int = 30, colors: dict | None = None) -> Path:
    """Step histograms of several value sets (label -> values) on common bins (NaNs dropped)."""
    from .palette import LINE_COLORS, LINE_STYLES

    fig = _figure(5.5, 4.0)
    ax = fig.add_subplot()
    finite = [np.asarray(v, float)[np.isfinite(v)] for v in groups.values()]
    allv = np.concatenate(finite) if finite else np.zeros(0)
    edges = np.histogram_bin_edges(allv, bins=bins) if len(allv) else bins
    for i, ((label, _), v) in enumerate(zip(groups.items(), finite)):
        ax.hist(v, bins=edges, histtype="step", lw=1.6, label=f"{label} (n={len(v)})",
                color=(colors or {}).get(label, LINE_COLORS[i % len(LINE_COLORS)]),
                ls=LINE_STYLES[i % len(LINE_STYLES)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def heatmap(matrix: np.ndarray, row_labels, col_labels, path, xlabel: str = "", ylabel: str = "",
            colorbar: str = "", title: str = "") -> Path:
    """A matrix of values (NaN blank) with each cell's value written in it; viridis (colour-blind safe)."""
    m = np.asarray(matrix, float)
    fig = _figure(max(4.0, 1.5 + 0.5 * m.shape[1]), max(3.2, 1.2 + 0.45 * m.shape[0]))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(m), cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label=colorbar)
    ax.set_xticks(range(m.shape[1]), [str(v) for v in col_labels], fontsize=7)
    ax.set_yticks(range(m.shape[0]), [str(v) for v in row_labels], fontsize=7)
    if m.size <= 400:
        finite = m[np.isfinite(m)]
        mid = 0.5 * (finite.min() + finite.max()) if finite.size else 0.0
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.4g}", ha="center", va="center", fontsize=7, color="white" if v < mid else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def observed_vs_shuffled(panels: list, path, xlabel: str) -> Path:
    """One panel per class: histogram (density) of the observed distances in the class colour against the pooled
    shuffled ones (grey), medians as vertical lines. ``panels``: [(title, observed, shuffled, colour)]."""
    n = max(1, len(panels))
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig = _figure(3.4 * cols + 0.4, 3.0 * rows + 0.3)
    for i, (title, obs, shuf, color) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        obs = np.asarray(obs, float)[np.isfinite(obs)]
        shuf = np.asarray(shuf, float)[np.isfinite(shuf)]
        both = np.concatenate([obs, shuf])
        edges = np.histogram_bin_edges(both, bins=30) if both.size else 10
        if shuf.size:
            ax.hist(shuf, bins=edges, density=True, color="0.75", label="labels shuffled")
            ax.axvline(np.median(shuf), color="0.4", ls="--", lw=1)
        if obs.size:
            ax.hist(obs, bins=edges, density=True, histtype="step", lw=2, color=color, label="observed")
            ax.axvline(np.median(obs), color=color, lw=1.5)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        if i % cols == 0:
            ax.set_ylabel("density (1/Å)", fontsize=8)
        ax.legend(fontsize=7)
    return _save(fig, path)
