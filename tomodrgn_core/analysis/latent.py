"""Latent-space summaries: PCA, UMAP, k-means / GMM clusters and the real particle nearest each centre."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PCAResult:
    coords: np.ndarray          # (N, n_components) projection of z
    components: np.ndarray      # (n_components, zdim) unit axes
    mean: np.ndarray            # (zdim,)
    explained_variance_ratio: np.ndarray

    def to_z(self, coords: np.ndarray) -> np.ndarray:
        """Latent points at given PC coordinates (n, k<=n_components)."""
        coords = np.atleast_2d(coords)
        return (self.mean + coords @ self.components[:coords.shape[1]]).astype(np.float32)


def run_pca(z: np.ndarray, n_components: int | None = None) -> PCAResult:
    from sklearn.decomposition import PCA

    z = np.asarray(z, dtype=np.float64)
    k = min(z.shape[1], len(z)) if n_components is None else min(n_components, z.shape[1], len(z))
    pca = PCA(n_components=k).fit(z)
    return PCAResult(pca.transform(z), pca.components_, pca.mean_, pca.explained_variance_ratio_)


def run_umap(z: np.ndarray, seed: int = 0, n_neighbors: int = 15):
    """(embedding (N, 2), fitted reducer). zdim 1 or tiny N fall back to what UMAP can do."""
    import umap  # slow import: only when UMAP is asked for

    z = np.asarray(z, dtype=np.float32)
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(z) - 1), random_state=seed,
                        n_jobs=1)
    return reducer.fit_transform(z).astype(np.float32), reducer


def nearest_points(z: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the row of ``z`` nearest each target (Euclidean). Uses |t|^2 - 2 t.z + |z|^2 so memory is
    (targets, N), not (targets, N, zdim) (100k particles x zdim 128 x 20 centres would be 2 GB)."""
    z, t = np.asarray(z, np.float64), np.asarray(targets, np.float64)
    d = (t * t).sum(1)[:, None] - 2.0 * t @ z.T + (z * z).sum(1)[None]
    return d.argmin(axis=1)


@dataclass
class Clusters:
    labels: np.ndarray       # (N,) int
    centers: np.ndarray      # (K, zdim) cluster centres
    centers_ind: np.ndarray  # (K,) index of the real particle nearest each centre
    method: str

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.centers))


def cluster_kmeans(z: np.ndarray, k: int, seed: int = 0, on_data: bool = True) -> Clusters:
    """Seeded k-means. ``on_data`` replaces each centre by its nearest particle (reference tomoDRGN)."""
    from sklearn.cluster import KMeans

    k = min(k, len(z))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    ind = nearest_points(z, km.cluster_centers_)
    centers = np.asarray(z)[ind] if on_data else km.cluster_centers_
    return Clusters(km.labels_.astype(np.int64), centers.astype(np.float32), ind.astype(np.int64), "kmeans")


def cluster_gmm(z: np.ndarray, k: int, seed: int = 0) -> Clusters:
    """Full-covariance Gaussian mixture; centres are the component means' nearest particles."""
    from sklearn.mixture import GaussianMixture

    k = min(k, len(z))
    gmm = GaussianMixture(n_components=k, random_state=seed).fit(z)
    ind = nearest_points(z, gmm.means_)
    return Clusters(gmm.predict(z).astype(np.int64), np.asarray(z)[ind].astype(np.float32), ind.astype(np.int64),
                    "gmm")
