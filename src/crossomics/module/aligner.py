"""Aligner: maps a modality latent ``u`` into the joint space ``z`` and back (scCross's ZEncoder/ZDecoder)."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.layers import mlp


class Aligner(nn.Module):
    """``to_joint: u -> z`` and ``from_joint: z -> u`` for one modality.

    The joint space is shared by all modalities; ``from_joint`` lets any modality's decoder read a joint
    point, which is what cross-modal generation and simulation use.
    """

    def __init__(self, n_latent: int, n_joint: int, *, n_hidden: int = 128, n_layers: int = 1) -> None:
        super().__init__()
        self.to_joint = mlp(n_latent, n_joint, n_hidden=n_hidden, n_layers=n_layers, dropout=0.0)
        self.from_joint = mlp(n_joint, n_latent, n_hidden=n_hidden, n_layers=n_layers, dropout=0.0)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.to_joint(u)
