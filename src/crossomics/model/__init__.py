"""The user-facing model: :class:`CrossModel` (AnnData in, AnnData out)."""

from .cross_model import CrossModel, DomainInfo

__all__ = ["CrossModel", "DomainInfo"]
