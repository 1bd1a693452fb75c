"""Does the data confirm the decoder's map of a selection? Back-project the selected particles' images (the
weighted back-projection with half sets, reconstruct/_backproject.py) and compare with the decoder's volume at
the selection's mean z, and with the decoder's volume at the unselected particles' mean z.

The comparison that carries the verdict is the selection's back-projection against the two decoder maps: a real
class matches its own decoder map better (cc_vs_decoder > cc_vs_rest, the margin positive in both half sets), a
random selection matches both alike (margin ~0; the random control measures that on a random selection of the
same size). The unselected particles' own back-projection is reported too (``rest``), but a map with more mass
or more particles correlates better with everything, so rest-vs-selection CCs of different maps are not compared.
Every FSC and CC uses one soft mask (metrics.soft_mask of the mean of the normalised maps compared).

Layout of ``out``: summary.json, fsc.png, fsc_curves.csv, backprojection.mrc, backprojection_half1/2.mrc,
rest_backprojection.mrc (+ half1/2), decoder_selection.mrc, decoder_rest.mrc, selection.txt (z rows selected).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError
from .metrics import fsc, map_cc, resolution_at, soft_mask
from .rundir import write_json

THRESHOLDS = (0.5, 0.143)


class LazyImages:
    """The images of a ParticleSet's table rows, read chunk by chunk as the back-projection asks for them
    (a selection of 10k particles x 41 tilts is several GB in memory at once)."""

    def __init__(self, ps):
        self.ps = ps
        self.shape = (len(ps.table), ps.box, ps.box)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, sl):
        return self.ps.images(np.arange(self.shape[0])[sl])


def backproject_particles(ps, star_rows, invert_data: bool, device: str = "cpu", halves: bool = True):
    """(full, half1, half2) Wiener back-projection of the particles at ``star_rows`` of ParticleSet ``ps``."""
    from ..reconstruct import backproject

    sub = ps.subset(np.asarray(star_rows, np.int64))
    return backproject(LazyImages(sub), sub.table, invert_data=invert_data, ctf=ps.has_ctf, dose_weight=True,
                       tilt_weight=True, device=str(device), halves=halves)


def _normalised(v):
    v = np.asarray(v, np.float64)
    return (v - v.mean()) / max(v.std(), 1e-30)


def _compare(a, b, mask, apix) -> dict:
    freq, curve = fsc(a, b, mask)
    return {"cc": map_cc(a, b, mask), "resolution_A": {f"{t:g}": resolution_at(freq, curve, t, apix) for t in THRESHOLDS},
            "curve": [float(v) for v in curve], "freq": freq}


def validate_selection(run, selected, maker, out_dir, device="cpu", random_control: bool = True, seed: int = 0,
                       particles=None, datadir=None, log=print) -> dict:
    """``run``: analysis/runs.py TrainedRun; ``selected``: z rows of the selection; ``maker``: VolumeMaker of the
    run's decoder (volumes at latent points). Writes the files in this module's docstring; returns the summary."""
    from ..io import write_volume
    from . import plots

    n = len(run.z)
    sel = np.unique(np.asarray(selected, np.int64))
    rest = np.setdiff1d(np.arange(n), sel)
    if len(sel) < 2 or len(rest) < 2:
        raise TomoDrgnInputError(f"the selection holds {len(sel)} of {n} particles: the check needs at least 2 "
                                 "selected and 2 unselected (half sets, and the rest to compare with)",
                                 fix="select a class or subset, not all or almost none of the particles")
    ps = run.particles(particles, datadir)
    invert = bool((run.config.get("dataset") or {}).get("invert_data", True))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "selection.txt", sel, fmt="%d")
    log(f"back-projecting {len(sel)} selected and {len(rest)} other particles")
    bp_sel = backproject_particles(ps, run.star_rows[sel], invert, device)
    bp_rest = backproject_particles(ps, run.star_rows[rest], invert, device)
    z_sel, z_rest = run.z[sel].mean(0), run.z[rest].mean(0)
    dec_sel, dec_rest = maker(np.stack([z_sel, z_rest]))
    if dec_sel.shape != bp_sel[0].shape:
        raise TomoDrgnInputError(f"decoder volumes of box {dec_sel.shape[-1]}, images of box {bp_sel[0].shape[-1]}",
                                 fix="generate the decoder's volumes at the training box (no --downsample)")
    apix = ps.pixel_size
    mask = soft_mask(sum(_normalised(v) for v in (dec_sel, dec_rest, bp_sel[0], bp_rest[0])) / 4)

    half = _compare(bp_sel[1], bp_sel[2], mask, apix)
    own = _compare(bp_sel[0], dec_sel, mask, apix)
    other = _compare(bp_sel[0], dec_rest, mask, apix)
    margins = [map_cc(h, dec_sel, mask) - map_cc(h, dec_rest, mask) for h in bp_sel[1:]]
    rest_half = _compare(bp_rest[1], bp_rest[2], mask, apix)
    summary = {
        "run": str(run.workdir), "epoch": run.epoch, "n_particles": n, "n_selected": int(len(sel)),
        "n_rest": int(len(rest)), "pixel_size": apix, "box": int(dec_sel.shape[-1]),
        "z_selection_mean": z_sel.tolist(), "z_rest_mean": z_rest.tolist(),
        "fsc_half": _public(half), "fsc_vs_decoder": _public(own), "cc_vs_decoder": own["cc"],
        "fsc_vs_rest": _public(other), "cc_vs_rest": other["cc"],
        "cc_margin": own["cc"] - other["cc"], "cc_margin_halves": margins,
        "rest": {"fsc_half": _public(rest_half), "cc_vs_decoder": map_cc(bp_rest[0], dec_rest, mask),
                 "cc_vs_selection_decoder": map_cc(bp_rest[0], dec_sel, mask)},
        "resolutions": {"half_maps_0.143_A": half["resolution_A"]["0.143"],
                        "vs_decoder_0.5_A": own["resolution_A"]["0.5"],
                        "vs_decoder_0.143_A": own["resolution_A"]["0.143"]},
        "frequency_per_A": (half["freq"] / apix).tolist(), "random_control": None,
    }
    if random_control:
        summary["random_control"] = _random_control(run, ps, len(sel), maker, invert, device, mask, seed)
    summary["statement"] = _statement(summary)
    for name, vol in (("backprojection", bp_sel[0]), ("backprojection_half1", bp_sel[1]),
                      ("backprojection_half2", bp_sel[2]), ("rest_backprojection", bp_rest[0]),
                      ("rest_backprojection_half1", bp_rest[1]), ("rest_backprojection_half2", bp_rest[2]),
                      ("decoder_selection", dec_sel), ("decoder_rest", dec_rest)):
        write_volume(out / f"{name}.mrc", vol, apix)
    curves = {"selection: half-map FSC": (half["freq"], half["curve"]),
              "selection map vs its decoder map": (own["freq"], own["curve"]),
              "selection map vs the rest's decoder map": (other["freq"], other["curve"]),
              "rest: half-map FSC": (rest_half["freq"], rest_half["curve"])}
    _write_curves(out / "fsc_curves.csv", half["freq"] / apix, curves)
    plots.fsc_curves(curves, out / "fsc.png", apix, f"{len(sel)} selected particles of {n}")
    write_json(out / "summary.json", summary)
    return summary


def _public(res: dict) -> dict:
    return {"resolution_A": res["resolution_A"], "curve": res["curve"], "cc": res["cc"]}


def _random_control(run, ps, size, maker, invert, device, mask, seed) -> dict:
    """The same margin for a random selection of the same size (seeded): what 'no class' looks like here."""
    rng = np.random.default_rng(seed)
    n = len(run.z)
    pick = np.sort(rng.choice(n, size=size, replace=False))
    others = np.setdiff1d(np.arange(n), pick)
    bp = backproject_particles(ps, run.star_rows[pick], invert, device, halves=False)
    dec_pick, dec_others = maker(np.stack([run.z[pick].mean(0), run.z[others].mean(0)]))
    own, other = map_cc(bp, dec_pick, mask), map_cc(bp, dec_others, mask)
    return {"n": int(size), "seed": seed, "cc_vs_decoder": own, "cc_vs_rest": other, "cc_margin": own - other}


def _statement(s: dict) -> str:
    h1, h2 = s["cc_margin_halves"]
    text = (f"selection map vs its decoder map CC {s['cc_vs_decoder']:.4f}, vs the rest's decoder map "
            f"{s['cc_vs_rest']:.4f}: margin {s['cc_margin']:+.4f} (half sets {h1:+.4f}, {h2:+.4f})")
    if s["random_control"] is not None:
        text += f"; a random selection of the same size: margin {s['random_control']['cc_margin']:+.4f}"
    r = s["resolutions"]
    return text + (f"; half-map FSC 0.143 at {r['half_maps_0.143_A']:.3g} A, map vs decoder FSC 0.5 at "
                   f"{r['vs_decoder_0.5_A']:.3g} A")


def _write_curves(path, freq_A, curves: dict) -> None:
    import pandas as pd
    cols = {"frequency_per_A": freq_A}
    cols.update({label: curve for label, (_, curve) in curves.items()})
    pd.DataFrame(cols).to_csv(path, index=False, float_format="%.5g")
