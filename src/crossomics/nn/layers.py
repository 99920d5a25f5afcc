"""Multi-layer perceptron blocks shared by encoders, decoders, aligners and the discriminator."""

from __future__ import annotations

from torch import nn


def mlp(
    n_in: int,
    n_out: int,
    *,
    n_hidden: int = 256,
    n_layers: int = 2,
    dropout: float = 0.1,
    norm: bool = True,
    activation: type[nn.Module] = nn.LeakyReLU,
) -> nn.Sequential:
    """``n_layers`` hidden layers (Linear, LayerNorm, activation, dropout) then a Linear to ``n_out``.

    ``n_layers=0`` gives a single Linear layer.
    """
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers.append(nn.Linear(width, n_hidden))
        if norm:
            layers.append(nn.LayerNorm(n_hidden))
        layers.append(activation())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = n_hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)
