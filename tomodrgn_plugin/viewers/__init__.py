from .viewer_latent import TomoDrgnLatentViewer, TomoDrgnTrainingViewer, create_subset_protocol
from .viewer_checks import (TomoDrgnCompareViewer, TomoDrgnKSelectionViewer, TomoDrgnSpatialViewer,
                            TomoDrgnValidateViewer)
