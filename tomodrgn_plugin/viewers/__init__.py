from .viewer_latent import TomoDrgnLatentViewer
