"""Do two runs agree? Cluster both runs' latent means on their common particles, match the classes (Hungarian
algorithm on the confusion matrix), and compare the matched classes' volumes by FSC.

Layout of ``out``:
  summary.json  ari, agreement (fraction of particles whose run-B class is the match of their run-A class),
                confusion (rows: run-A classes, columns: run-B classes, as labelled), matches, fsc (per matched
                pair: resolutions at FSC 0.5 / 0.143 in A and the curve), k_a, k_b, n_particles
  confusion.png confusion.csv matched_classes.csv fsc.png fsc_curves.csv
  particles.csv (star_row_a, z_row_a, z_row_b, label_a, label_b, label_b_matched: B's class in A's numbering, -1
                unmatched) labels_a.pkl labels_b.pkl
  vols_a/vol_{i:03d}.mrc (run A's class i) vols_b/vol_{i:03d}.mrc (the run-B class matched to A's class i)
  [k_selection_a/ k_selection_b/] with --ksample auto
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from .metrics import adjusted_rand_index, masked_fsc, resolution_at
from .rundir import write_json, write_pickle

THRESHOLDS = (0.5, 0.143)


@dataclass
class Matching:
    classes_a: np.ndarray   # labels of run A, in confusion row order
    classes_b: np.ndarray   # labels of run B, in confusion column order
    confusion: np.ndarray   # (ka, kb) particle counts
    pairs: list             # [(label_a, label_b, n_both)], one per matched pair, by label_a
    ari: float
    agreement: float        # matched particles / all

    def b_in_a(self, labels_b: np.ndarray) -> np.ndarray:
        """Run B's labels renamed to their matched run-A class (-1: a B class left unmatched)."""
        lookup = {b: a for a, b, _ in self.pairs}
        return np.array([lookup.get(int(v), -1) for v in self.classes_b])[np.searchsorted(self.classes_b, labels_b)]


def match_labels(labels_a, labels_b) -> Matching:
    """Hungarian matching of two labellings of the same particles (one-to-one; with different numbers of
    classes the extra ones stay unmatched)."""
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(labels_a, np.int64), np.asarray(labels_b, np.int64)
    if a.shape != b.shape:
        raise ValueError(f"{len(a)} and {len(b)} labels: the same particles are needed")
    ca, ia = np.unique(a, return_inverse=True)
    cb, ib = np.unique(b, return_inverse=True)
    cm = np.zeros((len(ca), len(cb)), np.int64)
    np.add.at(cm, (ia, ib), 1)
    rows, cols = linear_sum_assignment(-cm)
    order = np.argsort(rows)
    pairs = [(int(ca[rows[i]]), int(cb[cols[i]]), int(cm[rows[i], cols[i]])) for i in order]
    matched = sum(p[2] for p in pairs)
    return Matching(ca, cb, cm, pairs, adjusted_rand_index(a, b), float(matched / max(len(a), 1)))


def common_particles(run_a, run_b, star_a=None, star_b=None, datadir=None) -> tuple[np.ndarray, np.ndarray]:
    """(rows of z_a, rows of z_b) of the particles both runs hold, in run A's order. Runs on the same STAR are
    matched by STAR row; runs on different STARs (a downsampled copy, a re-export) by particle name."""
    same = (star_a is None and star_b is None and run_a.star is not None and run_b.star is not None
            and Path(run_a.star).resolve() == Path(run_b.star).resolve())
    if same:
        key_a, key_b = run_a.star_rows, run_b.star_rows
    else:
        key_a, key_b = run_a.particle_ids(star_a, datadir), run_b.particle_ids(star_b, datadir)
    _, ia, ib = np.intersect1d(key_a, key_b, return_indices=True)
    order = np.argsort(ia)
    ia, ib = ia[order], ib[order]
    if len(ia) < 3:
        raise TomoDrgnInputError(f"the two runs share {len(ia)} particles (run A {len(key_a)}, run B {len(key_b)})",
                                 path=run_b.workdir,
                                 fix="compare runs trained on the same particles (different seeds, or overlapping "
                                     "--ind subsets)")
    return ia, ib


def _labels(z, ksample, k_range, seed, folder: Path, log, tag: str, logvar=None):
    """(Clusters, k selection dict or None) of one run."""
    from .kselect import select_k, write_k_selection
    from .latent import cluster_kmeans

    sel = None
    if ksample == "auto":
        s = select_k(z, k_range, seed, explicit=k_range is not None, logvar=logvar)
        sel = write_k_selection(s, folder / f"k_selection_{tag}")
        log(f"run {tag.upper()}: {s.reason}")
        ksample = s.k
    elif ksample > len(z):
        raise TomoDrgnInputError(f"--ksample {ksample}: more clusters than the {len(z)} common particles",
                                 fix=f"--ksample 1..{len(z)}")
    return cluster_kmeans(z, ksample, seed=seed), sel


def compare_runs(run_a, run_b, out_dir, ksample="auto", k_range=None, seed: int = 0, makers=None, log=print,
                 star_a=None, star_b=None, datadir=None) -> dict:
    """Compare two trained runs (analysis/runs.py TrainedRun); ``makers`` (VolumeMaker of A, of B) for the FSCs
    of matched class volumes (None: no volumes). Writes the files in this module's docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ia, ib = common_particles(run_a, run_b, star_a, star_b, datadir)
    za, zb = run_a.z[ia], run_b.z[ib]
    lv = lambda run, rows: None if run.logvar is None else run.logvar[rows]  # noqa: E731
    cl_a, sel_a = _labels(za, ksample, k_range, seed, out, log, "a", lv(run_a, ia))
    cl_b, sel_b = _labels(zb, ksample, k_range, seed, out, log, "b", lv(run_b, ib))
    m = match_labels(cl_a.labels, cl_b.labels)
    b_matched = m.b_in_a(cl_b.labels)
    write_pickle(out / "labels_a.pkl", cl_a.labels)
    write_pickle(out / "labels_b.pkl", cl_b.labels)
    pd.DataFrame({"star_row_a": run_a.star_rows[ia], "z_row_a": ia, "z_row_b": ib, "label_a": cl_a.labels,
                  "label_b": cl_b.labels, "label_b_matched": b_matched}).to_csv(out / "particles.csv", index=False)
    _confusion_outputs(m, out)

    sizes_a, sizes_b = np.bincount(cl_a.labels, minlength=len(cl_a.centers)), np.bincount(cl_b.labels,
                                                                                           minlength=len(cl_b.centers))
    rows = [{"class_a": a, "class_b": b, "n_a": int(sizes_a[a]), "n_b": int(sizes_b[b]), "n_both": n}
            for a, b, n in m.pairs]
    fsc_out, freq_A = [], None
    if makers is not None:
        fsc_out, freq_A = _matched_fscs(m, cl_a, cl_b, makers, out, rows)
    pd.DataFrame(rows).to_csv(out / "matched_classes.csv", index=False, float_format="%.4g")
    summary = {"run_a": str(run_a.workdir), "epoch_a": run_a.epoch, "run_b": str(run_b.workdir),
               "epoch_b": run_b.epoch, "n_particles": int(len(ia)), "n_particles_a": int(len(run_a.z)),
               "n_particles_b": int(len(run_b.z)), "k_a": int(len(cl_a.centers)), "k_b": int(len(cl_b.centers)),
               "ari": m.ari, "agreement": m.agreement, "confusion": m.confusion.tolist(),
               "confusion_labels_a": m.classes_a.tolist(), "confusion_labels_b": m.classes_b.tolist(),
               "matches": rows, "fsc": fsc_out, "fsc_frequency_per_A": freq_A,
               "k_selection": {"a": sel_a, "b": sel_b} if ksample == "auto" else None}
    write_json(out / "summary.json", summary)
    return summary


def _confusion_outputs(m: Matching, out: Path) -> None:
    """confusion.csv as counted; confusion.png with run B's columns in matched order (matches on the diagonal)."""
    from . import plots

    header = "rows: run A classes " + " ".join(map(str, m.classes_a)) + "; columns: run B classes " + \
        " ".join(map(str, m.classes_b))
    np.savetxt(out / "confusion.csv", m.confusion, fmt="%d", delimiter=",", header=header)
    matched_b = [b for _, b, _ in m.pairs]
    order_b = [int(np.flatnonzero(m.classes_b == b)[0]) for b in matched_b] + \
              [j for j, b in enumerate(m.classes_b) if b not in matched_b]
    rows_a = [int(np.flatnonzero(m.classes_a == a)[0]) for a, _, _ in m.pairs] + \
             [i for i, a in enumerate(m.classes_a) if a not in [p[0] for p in m.pairs]]
    plots.confusion(m.confusion[np.ix_(rows_a, order_b)], None, out / "confusion.png",
                    f"ARI {m.ari:.2f}, {100 * m.agreement:.0f}% of particles keep their class",
                    xlabel="run B class", ylabel="run A class", row_labels=m.classes_a[rows_a],
                    col_labels=m.classes_b[order_b])


def _matched_fscs(m: Matching, cl_a, cl_b, makers, out: Path, rows: list):
    """Class volumes of both runs at their k-means centres (the particle nearest each centre, as analyze), and
    the masked FSC of each matched pair. Fills ``rows`` with the resolutions."""
    from . import plots

    maker_a, maker_b = makers
    apix = maker_a.pixel_size
    if not np.isclose(apix, maker_b.pixel_size, rtol=1e-3):
        raise TomoDrgnInputError(f"the runs' volumes have pixel sizes {apix:g} and {maker_b.pixel_size:g} A",
                                 fix="compare runs trained at the same pixel size (or give --downsample so both match)")
    a_of = [a for a, _, _ in m.pairs]
    b_of = [b for _, b, _ in m.pairs]
    vols_a, vols_b = maker_a(cl_a.centers[a_of]), maker_b(cl_b.centers[b_of])
    if vols_a.shape != vols_b.shape:
        raise TomoDrgnInputError(f"the runs' volumes have boxes {vols_a.shape[-1]} and {vols_b.shape[-1]}",
                                 fix="give -d/--downsample with a box both runs reach")
    for i, (a, b) in enumerate(zip(a_of, b_of)):  # vols_a/vol_{a}: run A's class a; vols_b/vol_{a}: its match
        maker_a.save(vols_a[i:i + 1], out / "vols_a", start=a)
        maker_b.save(vols_b[i:i + 1], out / "vols_b", start=a)
    curves, table, res = {}, {}, []
    freq = None
    for i, (a, b, n) in enumerate(m.pairs):
        freq, curve = masked_fsc(vols_a[i], vols_b[i])
        r = {f"{t:g}": resolution_at(freq, curve, t, apix) for t in THRESHOLDS}
        rows[i].update({f"resolution_A_at_{t:g}": r[f"{t:g}"] for t in THRESHOLDS})
        res.append({"class_a": a, "class_b": b, "resolution_A": r, "curve": [float(v) for v in curve]})
        curves[f"A{a} / B{b} ({r['0.5']:.3g} Å at 0.5)"] = (freq, curve)
        table[f"fsc_A{a}_B{b}"] = curve
    freq_A = (freq / apix).tolist()
    pd.DataFrame({"frequency_per_A": freq_A, **table}).to_csv(out / "fsc_curves.csv", index=False,
                                                              float_format="%.5g")
    plots.fsc_curves(curves, out / "fsc.png", apix, "matched class volumes, run A vs run B")
    return res, freq_A
