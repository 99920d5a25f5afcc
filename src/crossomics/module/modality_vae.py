"""One variational autoencoder per modality: input representation -> modality latent -> count likelihood."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.distributions import bernoulli_cell_log_prob, nb_cell_log_prob, normal_log_prob
from ..nn.layers import mlp


class ModalityVAE(nn.Module):
    """Encoder ``q(u | x)`` and decoder ``p(counts | u)`` for one modality.

    Parameters
    ----------
    n_input
        Width of the encoder input (reduced representation, smoothed copy, gene-set scores).
    n_features
        Number of features reconstructed by the decoder.
    likelihood
        ``"nb"`` (counts; mean = softmax(logits) * library size), ``"bernoulli"`` (binarised features),
        or ``"normal"`` (non-count values).
    n_latent, n_hidden, n_layers, dropout
        Encoder sizes; the decoder mirrors them when ``decoder_layers > 0``, else it is linear
        (fast for tens of thousands of peaks).
    """

    def __init__(
        self,
        n_input: int,
        n_features: int,
        *,
        likelihood: str = "nb",
        n_latent: int = 32,
        n_hidden: int = 256,
        n_layers: int = 2,
        decoder_layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.likelihood = likelihood
        self.n_latent = n_latent
        self.encoder = mlp(n_input, 2 * n_latent, n_hidden=n_hidden, n_layers=n_layers, dropout=dropout)
        self.decoder = mlp(n_latent, n_features, n_hidden=n_hidden, n_layers=decoder_layers, dropout=0.0)
        # per-feature dispersion (NB) or scale (normal)
        self.log_theta = nn.Parameter(torch.zeros(n_features))

    @torch.no_grad()
    def init_feature_bias(self, rate: torch.Tensor) -> None:
        """Start the decoder's output bias at each feature's overall level, so a cell-blind decoder begins at
        the marginal: ``rate`` is the fraction of cells with the feature (Bernoulli), its share of all counts
        (NB) or its mean (normal)."""
        rate = rate.to(self.decoder[-1].bias)
        if self.likelihood == "bernoulli":
            rate = rate.clamp(1e-4, 1 - 1e-4)
            bias = torch.log(rate) - torch.log1p(-rate)
        elif self.likelihood == "nb":
            bias = torch.log(rate.clamp_min(1e-8))
            bias = bias - bias.mean()
        else:
            bias = rate
        self.decoder[-1].bias.copy_(bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``u``."""
        h = self.encoder(x)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)

    def decode_logits(self, u: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output before the likelihood's link function, for all features or only ``features``.

        Computing a subset is how training scales to hundreds of thousands of peaks: for likelihoods that
        factorise over features (Bernoulli, Normal) a random subset gives an unbiased per-feature loss.
        """
        if features is None:
            return self.decoder(u)
        hidden = self.decoder[:-1](u)
        last = self.decoder[-1]
        return torch.nn.functional.linear(hidden, last.weight[features], last.bias[features])

    def expected(self, logits: torch.Tensor, library: torch.Tensor | None) -> torch.Tensor:
        """Expected feature values: NB means (scaled by ``library``), Bernoulli probabilities or normal means."""
        if self.likelihood == "nb":
            return torch.softmax(logits, dim=-1) * library.unsqueeze(-1)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(logits)
        return logits

    def log_likelihood(
        self, counts: torch.Tensor, logits: torch.Tensor, library: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-cell log-likelihood of ``counts`` (summed over the features decoded)."""
        log_theta = self.log_theta if features is None else self.log_theta[features]
        if self.likelihood == "nb":
            if features is not None:
                msg = "the negative binomial's softmax needs every feature: feature subsets are for Bernoulli/Normal"
                raise ValueError(msg)
            return nb_cell_log_prob(counts, logits, library, log_theta)
        if self.likelihood == "bernoulli":
            return bernoulli_cell_log_prob(counts, logits)
        return normal_log_prob(counts, logits, log_theta).sum(-1)

    @property
    def factorised(self) -> bool:
        """True when the likelihood factorises over features (so a random feature subset may be decoded)."""
        return self.likelihood != "nb"


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q || N(0, I)) per cell."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw ``u = mu + sigma * eps`` (uses the global torch generator, seeded by the trainer)."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()
