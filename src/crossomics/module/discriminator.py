"""Modality discriminator: predicts which modality (domain) a joint-space point came from."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.layers import mlp


class Discriminator(nn.Module):
    """Classifier ``z -> domain logits``; trained on detached ``z``, while the encoders learn to fool it."""

    def __init__(self, n_joint: int, n_domains: int, *, n_hidden: int = 128, n_layers: int = 2) -> None:
        super().__init__()
        self.net = mlp(n_joint, n_domains, n_hidden=n_hidden, n_layers=n_layers, dropout=0.2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
