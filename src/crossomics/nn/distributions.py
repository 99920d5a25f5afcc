"""Count likelihoods as log-probability functions of decoder outputs (no sampling noise in the mean path)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIKELIHOODS = ("nb", "bernoulli", "normal")
_EPS = 1e-8
_SPARSE_BELOW = 0.1  # nonzero fraction under which the NB log-gamma terms are evaluated at the nonzeros only (measured
# break-even 0.10-0.14 on one thread, 512 x 2,000 minibatches, with the count tables below)
_TABLE_MAX_COUNT = 32  # whole counts up to this take the NB log-gamma terms from per-feature tables


def _count_tables(theta: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature tables over counts ``x = 0..k`` of ``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` and
    ``digamma(x + theta) - digamma(theta)``, by the recurrences ``Gamma(z + 1) = z Gamma(z)`` and
    ``digamma(z + 1) = digamma(z) + 1 / z`` (running sums in float64). Shape: features x (k + 1)."""
    f64 = {"dtype": torch.float64, "device": theta.device}
    z = theta.detach().reshape(-1, 1).double() + torch.arange(k, **f64)
    first = torch.zeros((z.shape[0], 1), **f64)
    log_factorial = torch.cat([first[0], torch.arange(1, k + 1, **f64).log().cumsum(0)])
    lg = torch.cat([first, z.log().cumsum(1)], 1) - log_factorial
    dg = torch.cat([first, z.reciprocal().cumsum(1)], 1)
    return lg.to(theta.dtype), dg.to(theta.dtype)


def _special(x: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1.0),
        torch.digamma(x + theta) - torch.digamma(theta),
    )


def _log_gamma_terms(
    x: torch.Tensor, theta: torch.Tensor, where: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` and its ``theta`` derivative ``digamma(x + theta) -
    digamma(theta)`` at every count of ``x`` (``where`` None) or at its flat positions ``where``.

    With one ``theta`` per feature, whole counts up to :data:`_TABLE_MAX_COUNT` are looked up in
    :func:`_count_tables`: one gather each instead of three log-gamma and two digamma evaluations (the digamma
    alone costs 30 ns per value on one CPU thread). Larger or fractional counts use the special functions."""
    n_features = x.shape[-1]
    if theta.numel() != n_features:  # one theta per cell and feature
        xv, tv = (x, theta.expand_as(x)) if where is None else _at_counts(x, theta, where)
        return _special(xv, tv)
    xv = x if where is None else x.reshape(-1)[where]
    feature = torch.arange(n_features, device=x.device) if where is None else where % n_features
    k = max(min(int(xv.max()), _TABLE_MAX_COUNT), 0) if xv.numel() else 0
    lg_table, dg_table = _count_tables(theta, k)
    whole = xv.to(torch.int32).clamp_(0, k)
    at = (whole + feature * (k + 1)).reshape(-1)
    lg, dg = lg_table.reshape(-1).index_select(0, at), dg_table.reshape(-1).index_select(0, at)
    looked_up = whole.to(xv.dtype)
    if not torch.equal(looked_up, xv):  # counts above k or fractional: the special functions there
        off = torch.nonzero((looked_up != xv).reshape(-1)).squeeze(1)
        t_off = theta.reshape(-1).index_select(0, feature.expand_as(xv).reshape(-1).index_select(0, off))
        lg_off, dg_off = _special(xv.reshape(-1).index_select(0, off), t_off)
        lg.index_copy_(0, off, lg_off)
        dg.index_copy_(0, off, dg_off)
    return lg.view_as(xv), dg.view_as(xv)


def _at_counts(x: torch.Tensor, theta: torch.Tensor, where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The counts of ``x`` at flat positions ``where``, and ``theta`` (broadcast to ``x``) there."""
    return x.reshape(-1)[where], theta.expand_as(x).reshape(-1)[where]


def _add_at(dense: torch.Tensor, where: torch.Tensor | None, values: torch.Tensor) -> torch.Tensor:
    """``dense + values`` (``where`` None) or ``values`` added at the flat positions ``where``."""
    if where is None:
        return dense + values
    dense = dense.contiguous()  # so that the flat view writes into it
    dense.view(-1).index_add_(0, where, values)
    return dense


class _NegativeBinomialLogProb(torch.autograd.Function):
    """NB log-likelihood with its gradient written out (CPU). The log-gamma terms ``lgamma(x + theta) -
    lgamma(theta) - lgamma(x + 1)`` and their digamma gradients come from :func:`_log_gamma_terms`; they vanish
    where ``x = 0``, so for sparse counts ``where`` (the flat positions of the nonzero counts) limits them to
    those. Same values and gradients as the written-out formula of :func:`nb_log_prob` on a GPU."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, where: torch.Tensor | None
    ) -> torch.Tensor:
        log_s = torch.log(theta + mu + _EPS)
        lp = theta * (torch.log(theta + _EPS) - log_s) + x * (torch.log(mu + _EPS) - log_s)
        lg, dg = _log_gamma_terms(x, theta, where)
        ctx.save_for_backward(x, mu, theta, log_s, where, dg)
        return _add_at(lp, where, lg)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor | None, torch.Tensor | None, None]:
        x, mu, theta, log_s, where, dg = ctx.saved_tensors
        ratio = (theta + x) * torch.exp(-log_s)
        grad_mu = grad * (x / (mu + _EPS) - ratio) if ctx.needs_input_grad[1] else None
        grad_theta = None
        if ctx.needs_input_grad[2]:
            g = _add_at((torch.log(theta + _EPS) + theta / (theta + _EPS)) - log_s - ratio, where, dg) * grad
            # sum over the dimensions theta was broadcast along
            g = g.sum(tuple(range(g.dim() - theta.dim()))) if g.dim() > theta.dim() else g
            keep = tuple(d for d, n in enumerate(theta.shape) if n == 1 and g.shape[d] != 1)
            grad_theta = g.sum(keep, keepdim=True) if keep else g
        return None, grad_mu, grad_theta, None


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, log_theta: torch.Tensor) -> torch.Tensor:
    """Negative-binomial log-likelihood of counts ``x`` with mean ``mu`` and inverse dispersion ``exp(log_theta)``.

    On the CPU the gradient is written out (:class:`_NegativeBinomialLogProb`): the log-gamma terms come from
    per-feature tables over whole counts, and when under :data:`_SPARSE_BELOW` of the counts are nonzero
    (single-cell RNA: SNARE-seq 6%) they are computed at the nonzero counts only. Forward and backward on one
    CPU thread, against the log-gamma formula under autograd: 256 x 2,000 counts at 47% nonzero 32 -> 15 ms;
    512 x 2,000 at 6% nonzero 35 -> 28 ms."""
    theta = log_theta.exp()
    # on CPU only: on a GPU the dense terms are cheap, and counting the nonzeros would wait for the device
    if x.device.type == "cpu":
        where = None
        if int(x.bool().sum()) < _SPARSE_BELOW * x.numel():
            where = torch.nonzero(x.reshape(-1)).squeeze(1)
        return _NegativeBinomialLogProb.apply(x, mu, theta, where)
    log_theta_mu = torch.log(theta + mu + _EPS)
    return (
        theta * (torch.log(theta + _EPS) - log_theta_mu)
        + x * (torch.log(mu + _EPS) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1.0)
    )


class _BernoulliLogProb(torch.autograd.Function):
    """``b * logits - softplus(logits)`` for ``b = x > 0``, gradient ``b - sigmoid(logits)`` written out: a third
    faster than the negated binary cross-entropy with its float copy of ``b`` (a 256 x 4,096 minibatch, forward
    and backward on one CPU thread: 16 -> 11 ms)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        present = x > 0
        ctx.save_for_backward(present, logits)
        return torch.where(present, logits, 0.0) - F.softplus(logits)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        present, logits = ctx.saved_tensors
        return None, grad * (present.to(logits.dtype) - torch.sigmoid(logits))


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Bernoulli log-likelihood of binarised ``x`` (any value > 0 counts as 1) given ``logits``."""
    return _BernoulliLogProb.apply(x, logits)


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
