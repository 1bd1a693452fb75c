"""convergence_vae / convergence_nn workflows: metrics across saved epochs -> csv/json + PNG + a verdict."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from . import plots
from .convergence import latent_shift, loss_change, neighbor_overlap, select_epochs, volume_pair_metrics
from .rundir import WEIGHTS, epochs_with, load_z, read_losses
from .volumes import VolumeMaker

MakerFor = Callable[[int], VolumeMaker]  # epoch -> volume maker of that epoch's weights


def _need_two(epochs: list[int], saved: list[int], workdir) -> None:
    """Convergence compares epochs: fewer than two selected is a usage error, not a verdict."""
    if len(epochs) < 2:
        from ..errors import TomoDrgnInputError
        raise TomoDrgnInputError(f"only {len(epochs)} epoch(s) selected to compare (saved: "
                                 f"{', '.join(map(str, saved)) or 'none'})", path=workdir,
                                 fix="lower --epoch-interval, or train with a smaller --checkpoint interval")


def _verdict(checks: dict) -> str:
    failed = [k for k, (ok, _) in checks.items() if ok is False]
    detail = "; ".join(f"{k} {v}" for k, (_, v) in checks.items())
    return f"{'CONVERGED' if not failed else 'NOT CONVERGED'}: {detail}" + \
        (f" (failing: {', '.join(failed)})" if failed else "")


def convergence_vae(workdir, out_dir, final: int | None = None, interval: int = 5, n_vols: int = 5,
                    maker_for: MakerFor | None = None, skip_umap: bool = False, seed: int = 0,
                    shift_tol: float = 0.2, cc_tol: float = 0.95, loss_tol: float = 0.02, log=print) -> dict:
    """Latent shifts and neighbour overlap between successive selected epochs, volumes of the same
    ``n_vols`` particles (k-means representatives of the final epoch) at each epoch, their CC/FSC between
    epochs, UMAP (or PCA) of the selected epochs, the loss curve, and a verdict."""
    from .latent import cluster_kmeans, run_pca, run_umap

    workdir, out = Path(workdir), Path(out_dir)
    epochs = select_epochs(epochs_with(workdir), interval, final)
    _need_two(epochs, epochs_with(workdir), workdir)
    out.mkdir(parents=True, exist_ok=True)
    zs = {e: load_z(workdir, e) for e in epochs}
    final = epochs[-1]
    losses = read_losses(workdir)
    if losses is not None:
        plots.loss_curve(losses, out / "loss.png")
    rows = []
    for a, b in zip(epochs[:-1], epochs[1:]):
        rows.append({"epoch_from": a, "epoch_to": b, "latent_shift": latent_shift(zs[a], zs[b]),
                     "neighbor_overlap": neighbor_overlap(zs[a], zs[b])})
    if n_vols > len(zs[final]):
        log(f"--final-maxima {n_vols} > {len(zs[final])} particles: comparing all {len(zs[final])}")
    km = cluster_kmeans(zs[final], n_vols, seed=seed)  # clamps to the particle count
    shown = epochs[-4:]
    emb = {e: (run_pca(zs[e]).coords[:, :2] if skip_umap or zs[e].shape[1] < 2 else run_umap(zs[e], seed)[0])
           for e in shown}
    plots.panels([(emb[e], f"epoch {e}") for e in shown], out / ("pca_epochs.png" if skip_umap else "umap_epochs.png"),
                 km.labels, "PC1" if skip_umap else "UMAP1", "PC2" if skip_umap else "UMAP2")
    if maker_for is not None:
        prev = None
        for e in epochs:
            maker = maker_for(e)
            vols = maker(zs[e][km.centers_ind])
            maker.save(vols, out / f"vols.{e}")
            if prev is not None:
                r = next(r for r in rows if r["epoch_to"] == e)
                m = [volume_pair_metrics(p, v, maker.pixel_size) for p, v in zip(prev, vols)]
                r["vol_cc_mean"] = float(np.mean([x["cc"] for x in m]))
                r["vol_fsc_0.5_A_mean"] = float(np.mean([x["fsc_0.5_A"] for x in m]))
            prev = vols
    _write_rows(out / "convergence.csv", rows)
    if rows:
        x = [r["epoch_to"] for r in rows]
        plots.lines(x, {"latent shift": [r["latent_shift"] for r in rows],
                        "1 - neighbour overlap": [1 - r["neighbor_overlap"] for r in rows]},
                    out / "latent_shifts.png", "epoch", "change vs previous selected epoch", "latent convergence")
        if "vol_cc_mean" in rows[-1]:
            plots.lines(x, {"mean CC": [r["vol_cc_mean"] for r in rows]}, out / "volume_cc.png", "epoch",
                        "CC vs previous selected epoch", f"{len(km.centers_ind)} volumes", hlines=(cc_tol,))
            plots.lines(x, {"FSC=0.5": [r["vol_fsc_0.5_A_mean"] for r in rows]}, out / "volume_fsc.png", "epoch",
                        "resolution (A)", "FSC vs previous selected epoch")
    last = rows[-1] if rows else {}
    lc = loss_change(losses, interval)
    checks = {"latent shift": (last.get("latent_shift", np.inf) < shift_tol if rows else False,
                               f"{last.get('latent_shift', float('nan')):.3f} (needs < {shift_tol})"),
              "loss change": (None if lc is None else lc < loss_tol,
                              "n/a" if lc is None else f"{100 * lc:.2f}% (needs < {100 * loss_tol:g}%)")}
    if "vol_cc_mean" in last:
        checks["volume CC"] = (last["vol_cc_mean"] > cc_tol, f"{last['vol_cc_mean']:.3f} (needs > {cc_tol})")
    verdict = _verdict(checks)
    summary = {"epochs": epochs, "pairs": rows, "particles": km.centers_ind.tolist(), "loss_change": lc,
               "verdict": verdict}
    (out / "convergence.json").write_text(json.dumps(summary, indent=1))
    (out / "verdict.txt").write_text(verdict + "\n")
    log(verdict)
    return summary


def convergence_nn(workdir, out_dir, interval: int = 1, max_epoch: int | None = None,
                   maker_for: MakerFor | None = None, ref_vol: np.ndarray | None = None,
                   cc_tol: float = 0.99, loss_tol: float = 0.01, log=print, ref_pixel_size: float | None = None,
                   ref_path=None) -> dict:
    """FSC/CC between successive saved homogeneous reconstructions (reconstruct.{e}.mrc, or generated
    from weights.{e}.pkl), optionally against a reference map (of the same box and, when ``ref_pixel_size``
    is given, the same pixel size), the loss curve, and a verdict."""
    from ..io import read_volume

    workdir, out = Path(workdir), Path(out_dir)
    pattern = r"reconstruct\.(\d+)\.mrc" if epochs_with(workdir, r"reconstruct\.(\d+)\.mrc") else WEIGHTS
    epochs = select_epochs(epochs_with(workdir, pattern), interval, max_epoch)
    _need_two(epochs, epochs_with(workdir, pattern), workdir)
    out.mkdir(parents=True, exist_ok=True)

    def volume(e):
        mrc = workdir / f"reconstruct.{e}.mrc"
        if mrc.is_file():
            return read_volume(mrc)
        maker = maker_for(e)
        return maker(np.zeros((1, 0)))[0], maker.pixel_size

    vols = {e: volume(e) for e in epochs}
    shape = vols[epochs[-1]][0].shape if epochs else None
    if ref_vol is not None and shape is not None:
        from ..errors import TomoDrgnInputError
        px = vols[epochs[-1]][1]
        if ref_vol.shape != shape:
            raise TomoDrgnInputError(f"reference map has box {ref_vol.shape} but the reconstructions have {shape}",
                                     path=ref_path, fix="give a reference map of the training box (resample it first)")
        # MRC headers carry float32 voxel sizes; a 0 means "not set" and cannot be checked
        if ref_pixel_size and px and not np.isclose(ref_pixel_size, px, rtol=2e-3):
            raise TomoDrgnInputError(f"reference map is at {ref_pixel_size:g} A/px, the reconstructions at {px:g} A/px "
                                     "(same box, different scale: the comparison would be meaningless)", path=ref_path,
                                     fix=f"resample the reference to {px:g} A/px and box {shape[0]}")
    rows, curves = [], {}
    for a, b in zip(epochs[:-1], epochs[1:]):
        m = volume_pair_metrics(vols[a][0], vols[b][0], vols[b][1])
        curves[f"{a}->{b}"] = (m["freqs"] / vols[b][1], m["fsc"])
        rows.append({"epoch_from": a, "epoch_to": b, "cc": m["cc"], "fsc_0.5_A": m["fsc_0.5_A"],
                     "fsc_0.143_A": m["fsc_0.143_A"]})
    first = {"epoch_to": epochs[0]} if epochs else {}  # the first epoch has no pair row of its own
    if ref_vol is not None and epochs:
        for r in rows + [first]:
            e = r["epoch_to"]
            m = volume_pair_metrics(vols[e][0], ref_vol, vols[e][1])
            r.update({"ref_cc": m["cc"], "ref_fsc_0.5_A": m["fsc_0.5_A"]})
    _write_rows(out / "convergence.csv", rows)
    if curves:
        plots.lines(None, curves, out / "fsc_epochs.png", "spatial frequency (1/A)", "FSC",
                    "FSC between successive epochs", hlines=(0.5, 0.143))
        x = [r["epoch_to"] for r in rows]
        plots.lines(x, {"FSC=0.5": [r["fsc_0.5_A"] for r in rows], "FSC=0.143": [r["fsc_0.143_A"] for r in rows]},
                    out / "resolution_epochs.png", "epoch", "resolution (A)", "vs previous epoch")
        plots.lines(x, {"CC": [r["cc"] for r in rows]}, out / "cc_epochs.png", "epoch", "map CC vs previous epoch",
                    hlines=(cc_tol,))
    losses = read_losses(workdir)
    if losses is not None:
        plots.loss_curve(losses, out / "loss.png")
    lc = loss_change(losses, max(1, interval))
    last = rows[-1] if rows else {}
    checks = {"map CC": (last["cc"] > cc_tol if rows else False,
                         f"{last.get('cc', float('nan')):.4f} (needs > {cc_tol})"),
              "loss change": (None if lc is None else lc < loss_tol,
                              "n/a" if lc is None else f"{100 * lc:.2f}% (needs < {100 * loss_tol:g}%)")}
    verdict = _verdict(checks)
    if ref_vol is not None and rows:
        # agreement with the reference is not convergence (a run can settle on a poor map), but it is what the user
        # asked about: reported beside the verdict, and plotted per epoch
        verdict += (f". Against the reference map: CC {last['ref_cc']:.3f}, {_fsc_text(last['ref_fsc_0.5_A'], 0.5)} "
                    f"(epoch {last['epoch_to']})")
        if verdict.startswith("CONVERGED") and last["ref_cc"] < last["cc"] - REF_CC_GAP:
            # the default cosine learning rate nearly stops the last epochs: successive maps agree whether or not
            # the map is right, so a stable map far from the reference must not read as a plain success
            verdict += (f"; but CC vs reference only {last['ref_cc']:.2f}: the map is stable, not necessarily "
                        "right")
        ref_rows = sorted(([r["epoch_to"], r["ref_cc"]] for r in rows + [first]))
        plots.lines([e for e, _ in ref_rows], {"CC": [c for _, c in ref_rows]}, out / "reference_cc_epochs.png",
                    "epoch", "map CC vs reference", "agreement with the reference map")
    summary = {"epochs": epochs, "pairs": rows, "loss_change": lc, "verdict": verdict}
    (out / "convergence.json").write_text(json.dumps(summary, indent=1))
    (out / "verdict.txt").write_text(verdict + "\n")
    log(verdict)
    return summary


REF_CC_GAP = 0.2  # CC vs the reference this far below the successive-epoch CC earns the verdict a caveat


def _fsc_text(res_A: float, threshold: float) -> str:
    """'FSC 0.5 at 12.3 A', or that the curve never reaches the threshold (resolution_at gives inf then)."""
    return f"FSC {threshold:g} at {res_A:.1f} A" if np.isfinite(res_A) else f"FSC never reaches {threshold:g}"


def _write_rows(path, rows: list[dict]) -> None:
    import pandas as pd
    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.6g")
