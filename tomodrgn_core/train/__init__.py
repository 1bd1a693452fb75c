"""Training loops (train_nn, train_vae), loss, checkpoints."""
from ._checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ._loop import embed, train, write_z
from ._loss import batch_loss

__all__ = ["train", "embed", "write_z", "batch_loss", "save_checkpoint", "load_checkpoint",
           "latest_checkpoint"]
