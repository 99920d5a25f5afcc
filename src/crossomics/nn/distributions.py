"""Count likelihoods as log-probability functions of decoder outputs (no sampling noise in the mean path)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIKELIHOODS = ("nb", "bernoulli", "normal")
_EPS = 1e-8
_SPARSE_BELOW = 0.2  # nonzero fraction under which the NB log-gamma terms are evaluated at the nonzeros only (measured
# break-even about 0.27 on 1 and 2 threads, 512 x 2,000 minibatches)


def _at_counts(x: torch.Tensor, theta: torch.Tensor, where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The counts of ``x`` at flat positions ``where``, and ``theta`` (broadcast to ``x``) there."""
    if theta.numel() == x.shape[-1]:  # one value per feature: index it directly, no broadcast copy
        return x.reshape(-1)[where], theta.reshape(-1)[where % x.shape[-1]]
    return x.reshape(-1)[where], theta.expand_as(x).reshape(-1)[where]


def _add_at(dense: torch.Tensor, where: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    dense = dense.contiguous()  # so that the flat view writes into it
    dense.view(-1).index_add_(0, where, values)
    return dense


class _SparseNegativeBinomialLogProb(torch.autograd.Function):
    """NB log-likelihood with its gradient written out, for sparse counts. The log-gamma terms
    ``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` vanish where ``x = 0``, so they and their digamma
    gradients are evaluated at the nonzero counts only (same values as the dense formula). ``where``: the flat
    positions of the nonzero counts."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        log_s = torch.log(theta + mu + _EPS)
        lp = theta * (torch.log(theta + _EPS) - log_s) + x * (torch.log(mu + _EPS) - log_s)
        xv, tv = _at_counts(x, theta, where)
        lp = _add_at(lp, where, torch.lgamma(xv + tv) - torch.lgamma(tv) - torch.lgamma(xv + 1.0))
        ctx.save_for_backward(x, mu, theta, log_s, where, xv, tv)
        return lp

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor | None, torch.Tensor | None, None]:
        x, mu, theta, log_s, where, xv, tv = ctx.saved_tensors
        ratio = (theta + x) * torch.exp(-log_s)
        grad_mu = grad * (x / (mu + _EPS) - ratio) if ctx.needs_input_grad[1] else None
        grad_theta = None
        if ctx.needs_input_grad[2]:
            g = (torch.log(theta + _EPS) + theta / (theta + _EPS)) - log_s - ratio
            g = _add_at(g, where, torch.digamma(xv + tv) - torch.digamma(tv)) * grad
            # sum over the dimensions theta was broadcast along
            g = g.sum(tuple(range(g.dim() - theta.dim()))) if g.dim() > theta.dim() else g
            keep = tuple(d for d, n in enumerate(theta.shape) if n == 1 and g.shape[d] != 1)
            grad_theta = g.sum(keep, keepdim=True) if keep else g
        return None, grad_mu, grad_theta, None


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, log_theta: torch.Tensor) -> torch.Tensor:
    """Negative-binomial log-likelihood of counts ``x`` with mean ``mu`` and inverse dispersion ``exp(log_theta)``.

    On the CPU, when under :data:`_SPARSE_BELOW` of the counts are nonzero (single-cell RNA: SNARE-seq 6%), the
    log-gamma terms are computed at the nonzero counts only: 17 -> 8 ms per 256 x 2,000 minibatch, forward and
    backward, on one CPU thread."""
    theta = log_theta.exp()
    # on CPU only: on a GPU the dense terms are cheap, and counting the nonzeros would wait for the device
    if x.device.type == "cpu":
        nonzero = (x > 0).reshape(-1)
        if int(nonzero.sum()) < _SPARSE_BELOW * x.numel():
            return _SparseNegativeBinomialLogProb.apply(x, mu, theta, torch.nonzero(nonzero).squeeze(1))
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
