"""Latent trajectories: straight lines along principal components and shortest paths through a kNN graph."""
from __future__ import annotations

import numpy as np

from ..errors import TomoDrgnInputError
from .latent import PCAResult


def check_pcs(z_shape, pcs, path=None, flag: str = "--dim") -> None:
    """One-line error if a requested 1-based PC does not exist: z of shape (N, zdim) has min(N, zdim) PCs."""
    n, zdim = z_shape
    k = min(n, zdim)
    bad = [p for p in pcs if not 1 <= p <= k]
    if bad:
        why = f"zdim is {zdim}" + (f" and there are only {n} particles" if n < zdim else "")
        raise TomoDrgnInputError(f"{flag} {bad[0]}: no such principal component ({why})", path=path,
                                 fix=f"{flag} 1..{k}")


def pc_traversal(pca: PCAResult, dim: int, n: int = 10, lim: tuple[float, float] = (5.0, 95.0),
                 use_percentile_spacing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(z points (n, zdim), PC values (n,)) along PC ``dim`` (1-based) between the ``lim`` percentiles of
    the particles' PC values; other PCs at 0 (the mean). Percentile spacing follows the data density."""
    if not 1 <= dim <= pca.coords.shape[1]:
        raise TomoDrgnInputError(f"PC {dim} does not exist (1..{pca.coords.shape[1]})",
                                 fix="choose --dim within the latent dimension")
    x = pca.coords[:, dim - 1]
    if use_percentile_spacing:
        vals = np.percentile(x, np.linspace(lim[0], lim[1], n))
    else:
        lo, hi = np.percentile(x, lim)
        vals = np.linspace(lo, hi, n)
    coords = np.zeros((n, dim))
    coords[:, dim - 1] = vals
    return pca.to_z(coords), vals


def knn_graph(z: np.ndarray, avg_neighbors: int = 5, max_neighbors: int = 10):
    """Sparse symmetric kNN graph of z (edge weight = distance). Edges are kept up to a distance cut-off
    chosen so that nodes have ``avg_neighbors`` on average, with at most ``max_neighbors`` each
    (the reference tomoDRGN/cryoDRGN rule); the nearest neighbour is always kept so no node is isolated."""
    from scipy.sparse import csr_matrix
    from sklearn.neighbors import NearestNeighbors

    z = np.asarray(z, dtype=np.float64)
    k = min(max_neighbors + 1, len(z))
    dist, ind = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    dist, ind = dist[:, 1:], ind[:, 1:]
    cutoff = np.sort(dist.ravel())[min(dist.size - 1, avg_neighbors * len(z) - 1)]
    keep = dist <= cutoff
    keep[:, 0] = True
    rows = np.repeat(np.arange(len(z)), keep.sum(1))
    g = csr_matrix((dist[keep] + 1e-12, (rows, ind[keep])), shape=(len(z), len(z)))
    return _connect_components(g.maximum(g.T), z, dist, ind)


def _connect_components(g, z: np.ndarray, dist: np.ndarray, ind: np.ndarray):
    """Join separate groups so that a path between any two particles exists, each bridge as short as possible.

    The distance cut-off leaves many small groups on large data sets (hundreds at 20k particles), so groups
    are joined Boruvka-style: every group takes its shortest candidate kNN edge to another group at once
    (the group count at least halves per round). Groups no kNN edge leaves (well-separated classes) are
    joined by an exact nearest-pair search, which is needed only a few times."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    n_comp, comp = connected_components(g, directed=False)
    while n_comp > 1:
        a, col = np.nonzero(comp[ind] != comp[:, None])
        if len(a):
            b, w = ind[a, col], dist[a, col]
            order = np.lexsort((w, comp[a]))  # by group, shortest first
            first = order[np.r_[True, comp[a[order][1:]] != comp[a[order][:-1]]]]
            a, b, w = a[first], b[first], w[first]
        else:
            inside, outside = np.flatnonzero(comp == 0), np.flatnonzero(comp != 0)
            d, j = NearestNeighbors(n_neighbors=1).fit(z[outside]).kneighbors(z[inside])
            i = int(d[:, 0].argmin())
            a, b, w = inside[[i]], outside[j[[i], 0]], d[[i], 0]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        _, uniq = np.unique(lo * len(z) + hi, return_index=True)  # two groups may pick the same pair
        a, b, w = lo[uniq], hi[uniq], w[uniq] + 1e-12
        g = g + csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=g.shape)
        n_comp, comp = connected_components(g, directed=False)
    return g


def graph_path(z: np.ndarray, anchors, avg_neighbors: int = 5, max_neighbors: int = 10) -> np.ndarray:
    """Particle indices along the shortest kNN-graph path through ``anchors`` in order (anchors included)."""
    from scipy.sparse.csgraph import dijkstra

    anchors = [int(a) for a in anchors]
    if len(anchors) < 2:
        raise TomoDrgnInputError("a path needs at least two anchor particles", fix="give --anchors i j [k ...]")
    bad = [a for a in anchors if not 0 <= a < len(z)]
    if bad:
        raise TomoDrgnInputError(f"anchor {bad[0]} is not a particle index (0..{len(z) - 1})",
                                 fix="give 0-based particle indices")
    g = knn_graph(z, avg_neighbors, max_neighbors)
    path = [anchors[0]]
    for a, b in zip(anchors[:-1], anchors[1:]):
        dist, pred = dijkstra(g, indices=a, return_predecessors=True)
        if not np.isfinite(dist[b]):
            raise TomoDrgnInputError(f"particles {a} and {b} are not connected in the neighbour graph",
                                     fix="raise --max-neighbors / --avg-neighbors")
        seg, node = [], b
        while node != a:
            seg.append(node)
            node = pred[node]
        path.extend(seg[::-1])
    return np.asarray(path, dtype=np.int64)
