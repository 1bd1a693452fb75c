"""Checkpoints: weights.{epoch}.pkl = torch.save dict (model, optimizer, epoch, config); plain, documented."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import TomoDrgnInputError


def save_checkpoint(path, model, optimizer, epoch: int, config: dict) -> None:
    tmp = Path(str(path) + ".partial")
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "epoch": epoch, "config": config}, tmp)
    tmp.replace(path)


def latest_checkpoint(workdir) -> Path | None:
    found = [(int(m.group(1)), p) for p in Path(workdir).glob("weights.*.pkl")
             if (m := re.fullmatch(r"weights\.(\d+)\.pkl", p.name))]
    return max(found)[1] if found else None


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("checkpoint not found", path=path, fix="give a weights.<epoch>.pkl written by tomodrgn")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises many kinds for a corrupt/foreign file
        raise TomoDrgnInputError(f"not a readable tomodrgn checkpoint ({type(err).__name__})", path=path,
                                 fix="give a weights.<epoch>.pkl written by tomodrgn train_vae/train_nn") from None
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt or "config" not in ckpt:
        raise TomoDrgnInputError("file is not a tomodrgn checkpoint (no model_state_dict/config)", path=path,
                                 fix="give a weights.<epoch>.pkl written by tomodrgn train_vae/train_nn")
    from ..models._decoder import FEATURES
    if ckpt["config"].get("model", {}).get("decoder_features") != FEATURES:
        raise TomoDrgnInputError("checkpoint from a pre-release decoder (Fourier features with an extra 2 pi): "
                                 "its volumes would be wrong", path=path, fix="train again with this version")
    return ckpt
