"""The assembled network: one VAE and one aligner per domain (sample) plus a shared discriminator.

Loss terms are computed here from tensors; how they are weighted and optimised is the trainer's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .aligner import Aligner
from .discriminator import Discriminator
from .modality_vae import ModalityVAE, kl_normal, reparameterize


@dataclass(frozen=True)
class DomainSpec:
    """What the network needs to know about one domain (one sample of one modality)."""

    name: str
    n_input: int
    n_features: int
    likelihood: str


@dataclass
class Architecture:
    """Network sizes (all named, none hard-coded)."""

    n_latent: int = 32
    n_joint: int = 16
    n_hidden: int = 256
    n_layers: int = 2
    decoder_layers: int = 1
    linear_decoder_above: int = 5000  # features; wider decoders are linear for speed
    dropout: float = 0.1
    aligner_hidden: int = 128
    discriminator_hidden: int = 128


class CrossNetwork(nn.Module):
    """Per-domain :class:`ModalityVAE` + :class:`Aligner`, and one :class:`Discriminator` over domains."""

    def __init__(self, domains: list[DomainSpec], arch: Architecture) -> None:
        super().__init__()
        self.domain_names = [d.name for d in domains]
        self.vaes = nn.ModuleDict()
        self.aligners = nn.ModuleDict()
        for d in domains:
            dec_layers = 0 if d.n_features > arch.linear_decoder_above else arch.decoder_layers
            self.vaes[d.name] = ModalityVAE(
                d.n_input,
                d.n_features,
                likelihood=d.likelihood,
                n_latent=arch.n_latent,
                n_hidden=arch.n_hidden,
                n_layers=arch.n_layers,
                decoder_layers=dec_layers,
                dropout=arch.dropout,
            )
            self.aligners[d.name] = Aligner(arch.n_latent, arch.n_joint, n_hidden=arch.aligner_hidden)
        self.discriminator = Discriminator(arch.n_joint, len(domains), n_hidden=arch.discriminator_hidden)

    def domain_index(self, name: str) -> int:
        return self.domain_names.index(name)

    def vae_terms(
        self,
        name: str,
        x: torch.Tensor,
        counts: torch.Tensor,
        library: torch.Tensor,
        *,
        joint: bool,
        features: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Per-cell loss terms for one domain's minibatch.

        Returns ``nll`` (reconstruction), ``kl``, and when ``joint`` also ``z`` (joint embedding of the
        posterior mean, used by the adversarial and anchor terms) and ``cycle`` (``from_joint(to_joint(u))``
        reconstructing ``u``, so that decoders can read joint points).
        """
        vae = self.vaes[name]
        mu, logvar = vae.encode(x)
        u = reparameterize(mu, logvar) if self.training else mu
        out = {"kl": kl_normal(mu, logvar)}
        if joint:
            aligner = self.aligners[name]
            z = aligner.to_joint(u)
            u_back = aligner.from_joint(z)
            out["z"] = z
            out["cycle"] = (u_back - u.detach()).pow(2).mean(-1)
            logits = vae.decode_logits(u_back, features)
        else:
            logits = vae.decode_logits(u, features)
        out["nll"] = -vae.log_likelihood(counts, logits.float(), library, features)
        return out

    def joint_embedding(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Deterministic joint embedding (encoder mean, then aligner) of inputs ``x`` of domain ``name``."""
        mu, _ = self.vaes[name].encode(x)
        return self.aligners[name].to_joint(mu)

    def decode_joint(self, name: str, z: torch.Tensor, library: torch.Tensor | None) -> torch.Tensor:
        """Expected feature values of domain ``name`` for joint points ``z``."""
        vae = self.vaes[name]
        logits = vae.decode_logits(self.aligners[name].from_joint(z))
        return vae.expected(logits, library)

    def discriminator_loss(self, zs: list[torch.Tensor], labels: list[int]) -> torch.Tensor:
        """Cross-entropy of the discriminator on joint points ``zs`` of the given domains."""
        z = torch.cat(zs)
        y = torch.cat([torch.full((len(zz),), lab, dtype=torch.long, device=z.device) for zz, lab in zip(zs, labels)])
        return F.cross_entropy(self.discriminator(z), y)


def anchor_distance(z_a: torch.Tensor, z_b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean cosine distance between the joint embeddings of anchor pairs (row i of a with row i of b)."""
    cos = F.cosine_similarity(z_a, z_b, dim=-1)
    return ((1.0 - cos) * weight).sum() / weight.sum().clamp_min(1e-8)
