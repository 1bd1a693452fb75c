"""Analysis after training: latent summaries, clusters, trajectories, volumes, metrics, plots, subsets.

Light to import (sklearn/umap/matplotlib load inside the functions that need them).
"""
from .latent import Clusters, PCAResult, cluster_gmm, cluster_kmeans, nearest_points, run_pca, run_umap
from .metrics import (adjusted_rand_index, confusion_matrix, fsc, map_cc, masked_fsc, resolution_at,
                      soft_mask)
from .trajectories import graph_path, knn_graph, pc_traversal
from .volumes import VolumeMaker, sphere_mask, volume_maker, voxel_pca

__all__ = ["run_pca", "run_umap", "PCAResult", "cluster_kmeans", "cluster_gmm", "Clusters", "nearest_points",
           "pc_traversal", "graph_path", "knn_graph", "VolumeMaker", "volume_maker", "voxel_pca", "sphere_mask",
           "map_cc", "fsc", "masked_fsc", "soft_mask", "resolution_at", "adjusted_rand_index", "confusion_matrix"]
