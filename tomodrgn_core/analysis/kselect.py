"""How many classes? k-means and full-covariance Gaussian mixtures over a range of k, scored three ways.

The rule (``select_k``):
  1. Scores per k on the latent means' leading principal components (at most 10: a full-covariance mixture in
     128 dimensions has more parameters than a dataset has particles, and BIC would then always say k = 1):
     k-means silhouette (higher is better), k-means Davies-Bouldin index (lower is better), and the BIC of a
     full-covariance Gaussian mixture (lower is better; k = 1 included as the "one population" model).
  2. No structure, k = 1, when the best silhouette is below 0.25 (Kaufman & Rousseeuw's "no substantial
     structure") or the single Gaussian has the lowest BIC (a low-dimensional Gaussian blob can reach a
     silhouette of 0.3-0.5 when cut in two; BIC sees that one component explains it).
  3. Otherwise each criterion votes for its best k >= 2; k is the value at least two of the three agree on,
     else the silhouette's (it judges separation without assuming Gaussian clusters). Ties go to the smaller k.
  4. With the encoder's posterior standard deviations (a VAE run's z.N.train.npz logvar), the classes must also be
     resolved: the two nearest k-means centres at least 2 posterior sd apart (along the line joining them; median
     over particles). A VAE whose latent space carries no information (one class: the means crowd within their
     own uncertainty) still has skewed clouds that k-means splits with a fair silhouette; measured on a one-class
     simulated run (200 particles, 20 epochs), the nearest centres were 0.42 posterior sd apart, on four two-class
     runs 25-71. If the k of step 3 is not resolved, the best-silhouette resolved k below it is taken, else
     k = 1 ("not resolved").
  The best silhouette also grades the structure (Kaufman & Rousseeuw 1990): < 0.25 none, 0.25-0.5 weak (may be
  artificial: a continuum cut into pieces), 0.5-0.7 reasonable, >= 0.7 strong.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError

DEFAULT_K_RANGE = (2, 12)
NO_STRUCTURE = 0.25  # best silhouette below this: no cluster structure (Kaufman & Rousseeuw 1990)
GRADES = ((0.7, "strong"), (0.5, "reasonable"), (NO_STRUCTURE, "weak"), (-1.0, "none"))
MAX_PCS = 10
RESOLVED = 2.0  # nearest class centres at least this many posterior standard deviations apart
SILHOUETTE_SAMPLE = 5000  # silhouette is O(n^2): scored on this many particles (seeded) for large sets


@dataclass
class KSelection:
    k: int
    table: pd.DataFrame  # one row per k: k, silhouette, davies_bouldin, inertia, bic (k = 1: bic only)
                         # [, centre_gap_posterior_sd: nearest k-means centres apart, in posterior sd]
    votes: dict          # criterion -> its best k >= 2
    best_silhouette: float
    structure: str       # none | weak | reasonable | strong
    reason: str          # one sentence: how k was chosen
    n_pcs: int

    def as_dict(self) -> dict:
        return {"k": self.k, "structure": self.structure, "best_silhouette": self.best_silhouette,
                "votes": self.votes, "reason": self.reason, "n_pcs": self.n_pcs,
                "k_range": [int(self.table["k"].iloc[1]), int(self.table["k"].iloc[-1])]}


def check_k_range(k_range, n: int, explicit: bool, where=None) -> tuple[int, int]:
    """(k_min, k_max) with 2 <= k_min <= k_max <= n - 1 (a silhouette needs at least one particle more than
    clusters). The default range shrinks to small sets; a range the user typed is checked, not clamped."""
    lo, hi = (int(v) for v in (k_range if k_range is not None else DEFAULT_K_RANGE))
    if n < 3:
        raise TomoDrgnInputError(f"{n} particles: automatic k needs at least 3", path=where,
                                 fix="give --ksample 1 (or more particles)")
    if not explicit:
        return min(lo, n - 1), min(hi, n - 1)
    if lo < 1 or hi < max(lo, 2):
        raise TomoDrgnInputError(f"--k-range {lo} {hi}: give the smallest and largest k, 2 <= min <= max "
                                 "(k = 1 is always tested)", path=where, fix="e.g. --k-range 2 12")
    if hi > n - 1:
        raise TomoDrgnInputError(f"--k-range {lo} {hi}: at most {n - 1} clusters for {n} particles", path=where,
                                 fix=f"--k-range {max(2, lo)} {n - 1}")
    return max(2, lo), hi


def score_k(x: np.ndarray, ks, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Silhouette, Davies-Bouldin and inertia of k-means, and full-covariance GMM BIC, per k (k = 1: BIC); and
    the k-means centres per k."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import davies_bouldin_score, silhouette_score
    from sklearn.mixture import GaussianMixture

    n = len(x)
    sample = SILHOUETTE_SAMPLE if n > SILHOUETTE_SAMPLE else None
    rows = [{"k": 1, "silhouette": np.nan, "davies_bouldin": np.nan,
             "inertia": float(((x - x.mean(0)) ** 2).sum()),
             "bic": float(GaussianMixture(1, covariance_type="full", random_state=seed).fit(x).bic(x))}]
    centres = {}
    for k in ks:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        centres[int(k)] = km.cluster_centers_
        gmm = GaussianMixture(k, covariance_type="full", n_init=2, random_state=seed).fit(x)
        distinct = len(np.unique(km.labels_)) > 1
        rows.append({"k": int(k),
                     "silhouette": float(silhouette_score(x, km.labels_, sample_size=sample, random_state=seed))
                     if distinct else np.nan,
                     "davies_bouldin": float(davies_bouldin_score(x, km.labels_)) if distinct else np.nan,
                     "inertia": float(km.inertia_), "bic": float(gmm.bic(x))})
    return pd.DataFrame(rows), centres


def centre_gap(centres: np.ndarray, posterior_sd: np.ndarray) -> float:
    """Distance between the two nearest ``centres`` (k, zdim) in units of the posterior sd (N, zdim) along the line
    joining them (median over particles)."""
    best = np.inf
    for a in range(len(centres)):
        for b in range(a + 1, len(centres)):
            d = centres[a] - centres[b]
            gap = float(np.linalg.norm(d))
            if gap == 0:
                return 0.0
            sd = np.median(np.sqrt((posterior_sd ** 2 * (d / gap) ** 2).sum(1)))
            best = min(best, gap / max(sd, 1e-30))
    return best


def grade(silhouette: float) -> str:
    return next(name for lim, name in GRADES if silhouette >= lim) if np.isfinite(silhouette) else "none"


def select_k(z: np.ndarray, k_range=None, seed: int = 0, explicit: bool = False, where=None,
             logvar: np.ndarray | None = None) -> KSelection:
    """Choose the number of classes of latent means ``z`` (N, zdim) by the rule in this module's docstring;
    ``logvar`` (N, zdim): the encoder's posterior log-variances (step 4; None: steps 1-3 only)."""
    from .latent import run_pca

    z = np.asarray(z, dtype=np.float64)
    lo, hi = check_k_range(k_range, len(z), explicit, where)
    pca = run_pca(z)
    n_pcs = min(MAX_PCS, pca.coords.shape[1])
    table, centres = score_k(pca.coords[:, :n_pcs], range(lo, hi + 1), seed)
    gaps = None
    if logvar is not None:
        sd = np.exp(0.5 * np.asarray(logvar, np.float64))
        gaps = {k: centre_gap(c @ pca.components[:n_pcs], sd) for k, c in centres.items()}  # back in z space
        table["centre_gap_posterior_sd"] = [np.nan] + [gaps[int(k)] for k in table["k"].iloc[1:]]
    multi = table[table["k"] >= 2]
    sil, db, bic = multi["silhouette"].to_numpy(), multi["davies_bouldin"].to_numpy(), multi["bic"].to_numpy()
    ks = multi["k"].to_numpy()
    if not np.isfinite(sil).any():  # every k-means run collapsed (identical points)
        return KSelection(1, table, {}, float("nan"), "none", "all latent points coincide: k = 1", n_pcs)
    votes = {"silhouette": int(ks[np.nanargmax(sil)]), "davies_bouldin": int(ks[np.nanargmin(db)]),
             "bic": int(ks[np.argmin(bic)])}
    best = float(np.nanmax(sil))
    bic_one = table["bic"].iloc[0] <= bic.min()
    if best < NO_STRUCTURE or bic_one:
        why = [f"best silhouette {best:.2f} < {NO_STRUCTURE}"] if best < NO_STRUCTURE else []
        why += ["a single Gaussian has the lowest BIC"] if bic_one else []
        return KSelection(1, table, votes, best, "none", "no cluster structure found (" + "; ".join(why) + "): k = 1",
                          n_pcs)
    counts = pd.Series(list(votes.values())).value_counts()
    agreed = sorted(int(k) for k, c in counts.items() if c >= 2)
    k = agreed[0] if agreed else votes["silhouette"]
    how = (f"{int(counts[k])} of 3 criteria agree" if agreed else "criteria disagree, the silhouette decides")
    reason = (f"k = {k}: {how} (votes: silhouette {votes['silhouette']}, Davies-Bouldin {votes['davies_bouldin']}, "
              f"BIC {votes['bic']}); best silhouette {best:.2f}, {grade(best)} structure")
    if gaps is not None and gaps[k] < RESOLVED:
        resolved = [(s_, int(k_)) for k_, s_ in zip(ks, sil) if k_ < k and gaps[int(k_)] >= RESOLVED and np.isfinite(s_)]
        if not resolved:
            return KSelection(1, table, votes, best, "none",
                              f"no cluster structure resolved: the nearest of the {k} class centres are "
                              f"{gaps[k]:.2f} posterior standard deviations apart (< {RESOLVED:g}), the encoder "
                              "cannot tell these particles apart: k = 1", n_pcs)
        k_new = max(resolved)[1]
        reason = (f"k = {k_new}: the criteria's k = {k} has class centres {gaps[k]:.2f} posterior standard "
                  f"deviations apart (< {RESOLVED:g}); k = {k_new} is the best-silhouette k below it that is "
                  f"resolved ({gaps[k_new]:.1f}); its silhouette {max(resolved)[0]:.2f}")
        return KSelection(k_new, table, votes, best, grade(max(resolved)[0]), reason, n_pcs)
    elif gaps is not None:
        reason += f"; nearest centres {gaps[k]:.1f} posterior sd apart"
    return KSelection(k, table, votes, best, grade(best), reason, n_pcs)


def write_k_selection(sel: KSelection, out_dir) -> dict:
    """k_selection.csv (the scores per k), k_selection.json (the choice and why) and k_selection.png."""
    from . import plots
    from .rundir import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sel.table.to_csv(out / "k_selection.csv", index=False, float_format="%.6g", na_rep="")
    write_json(out / "k_selection.json", sel.as_dict())
    plots.k_selection(sel.table, sel.k, out / "k_selection.png", sel.reason)
    return sel.as_dict()
