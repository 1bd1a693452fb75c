"""tomoDRGN protocols (one per file). Never import torch here: every Scipion process imports these."""
from .protocol_import_particles import ProtTomoDrgnImportParticles
from .protocol_prepare_image_series import ProtTomoDrgnPrepareImageSeries
from .protocol_train import ProtTomoDrgnTrainHomogeneous, ProtTomoDrgnTrainVAE
from .protocol_analyze import ProtTomoDrgnAnalyze
from .protocol_generate_volumes import ProtTomoDrgnGenerateVolumes
from .protocol_subset_export import ProtTomoDrgnSubsetExport
from .protocol_compare_runs import ProtTomoDrgnCompareRuns
from .protocol_validate_selection import ProtTomoDrgnValidateSelection
from .protocol_spatial_stats import ProtTomoDrgnSpatialStats
