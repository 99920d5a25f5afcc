"""The two-stage training loop: data batches, loss weights, trainer with checkpoints and early stopping."""

from .batches import AnchorPairs, DomainData
from .losses import LossWeights
from .trainer import TrainConfig, Trainer

__all__ = ["AnchorPairs", "DomainData", "LossWeights", "TrainConfig", "Trainer"]
