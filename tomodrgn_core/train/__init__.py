"""Training loops (train_nn, train_vae), loss, checkpoints."""
from ..checkpoints import embed, latest_checkpoint, load_checkpoint, save_checkpoint, write_z
from ._loop import train
from ._loss import batch_loss

__all__ = ["train", "embed", "write_z", "batch_loss", "save_checkpoint", "load_checkpoint",
           "latest_checkpoint"]
