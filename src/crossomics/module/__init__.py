"""Torch networks of the scCross architecture: per-modality VAEs, aligners and the modality discriminator.

These classes know tensors only (no AnnData, no optimisers): see ``crossomics.train`` for the loop and
``crossomics.model`` for the user-facing class.
"""

from .aligner import Aligner
from .discriminator import Discriminator
from .modality_vae import ModalityVAE
from .network import CrossNetwork

__all__ = ["Aligner", "CrossNetwork", "Discriminator", "ModalityVAE"]
