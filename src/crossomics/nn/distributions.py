"""Count likelihoods as log-probability functions of decoder outputs (no sampling noise in the mean path)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIKELIHOODS = ("nb", "bernoulli", "normal")
_EPS = 1e-8


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, log_theta: torch.Tensor) -> torch.Tensor:
    """Negative-binomial log-likelihood of counts ``x`` with mean ``mu`` and inverse dispersion ``exp(log_theta)``."""
    theta = log_theta.exp()
    log_theta_mu = torch.log(theta + mu + _EPS)
    return (
        theta * (torch.log(theta + _EPS) - log_theta_mu)
        + x * (torch.log(mu + _EPS) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1.0)
    )


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Bernoulli log-likelihood of binarised ``x`` (any value > 0 counts as 1) given ``logits``."""
    return -F.binary_cross_entropy_with_logits(logits, (x > 0).to(logits.dtype), reduction="none")


def normal_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Gaussian log-likelihood (for non-count modalities such as log-normalised values)."""
    return -0.5 * ((x - mean) / log_scale.exp()) ** 2 - log_scale - 0.9189385332046727


def sample_counts(mean, likelihood: str, *, log_theta=None, rng=None):
    """Draw counts (numpy) from a decoded ``mean`` (cells x features): NB, Bernoulli or Gaussian-free copy.

    ``mean`` is the expected value (NB mean, Bernoulli probability, or Normal mean). Uses ``rng`` (a
    ``numpy.random.Generator``) so that simulations are reproducible.
    """
    import numpy as np

    rng = np.random.default_rng(rng)
    mean = np.asarray(mean, dtype=np.float64)
    if likelihood == "nb":
        theta = np.broadcast_to(np.exp(np.asarray(log_theta, dtype=np.float64)), mean.shape)
        lam = rng.gamma(theta, 1.0, size=mean.shape) * mean / np.maximum(theta, _EPS)
        return rng.poisson(lam).astype(np.float32)
    if likelihood == "bernoulli":
        return (rng.random(mean.shape) < mean).astype(np.float32)
    return mean.astype(np.float32)
