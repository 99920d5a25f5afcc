"""Count likelihoods as log-probability functions of decoder outputs (no sampling noise in the mean path)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIKELIHOODS = ("nb", "bernoulli", "normal")
_EPS = 1e-8
_SPARSE_BELOW = 0.12  # nonzero fraction under which the NB count terms are evaluated at the nonzeros only (measured
# break-even 0.12-0.16 on one thread, 512 x 2,000 minibatches, with the count tables below)
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
    counts: torch.Tensor, feature: torch.Tensor, theta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` and its ``theta`` derivative ``digamma(x + theta) -
    digamma(theta)`` at each count ``x`` of ``counts``, with one ``theta`` per feature. ``feature`` (int32) is
    each count's feature: one row of them for cells x features counts, or one per count for counts picked at
    flat positions.

    Whole counts up to :data:`_TABLE_MAX_COUNT` are looked up in :func:`_count_tables`: one gather each instead
    of three log-gamma and two digamma evaluations (the digamma alone costs 30 ns per value on one CPU thread).
    Larger or fractional counts use the special functions."""
    k = max(min(int(counts.max()), _TABLE_MAX_COUNT), 0) if counts.numel() else 0
    lg_table, dg_table = _count_tables(theta, k)
    whole = counts.to(torch.int32).clamp_(0, k)
    at = (whole + feature * (k + 1)).reshape(-1)
    lg, dg = lg_table.reshape(-1).index_select(0, at), dg_table.reshape(-1).index_select(0, at)
    off = (whole.to(counts.dtype) != counts).reshape(-1)
    if bool(off.any()):  # counts above k or fractional: the special functions there
        off = torch.nonzero(off).squeeze(1)
        # a flat position's feature: ``feature`` repeats along the cells of a cells x features matrix
        at_feature = feature.index_select(0, off % feature.numel())
        lg_off, dg_off = _special(counts.reshape(-1).index_select(0, off), theta.index_select(0, at_feature))
        lg.index_copy_(0, off, lg_off)
        dg.index_copy_(0, off, dg_off)
    return lg.view_as(counts), dg.view_as(counts)


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, log_theta: torch.Tensor) -> torch.Tensor:
    """Negative-binomial log-likelihood of counts ``x`` with mean ``mu`` and inverse dispersion ``exp(log_theta)``,
    element by element (any shapes that broadcast), taped by autograd. :func:`nb_cell_log_prob` is the training
    loss; this is its reference formula, and what it computes off the CPU."""
    theta = log_theta.exp()
    log_theta_mu = torch.log(theta + mu + _EPS)
    return (
        theta * (torch.log(theta + _EPS) - log_theta_mu)
        + x * (torch.log(mu + _EPS) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1.0)
    )


def _row_sums_at(values: torch.Tensor, where: torch.Tensor, n_features: int, n_cells: int) -> torch.Tensor:
    """Per-cell sums of ``values`` given at the flat positions ``where`` of a cells x features matrix."""
    cells = torch.div(where, n_features, rounding_mode="floor")
    return values.new_zeros(n_cells).index_add_(0, cells, values)


class _NegativeBinomialCellLogProb(torch.autograd.Function):
    """Per-cell NB log-likelihood ``sum_j nb_log_prob(x, softmax(logits) * library, log theta)`` with its gradient
    in ``logits`` and ``theta`` written out (CPU), so that no cells x features intermediate is taped.

    Each cell's sum is assembled from products: ``sum_j theta_j (log theta_j - log s_ij)`` is a matrix-vector
    product with ``s = theta + mu``, and the ``x`` terms and the log-gamma terms (from :func:`_log_gamma_terms`)
    are taken only at the nonzero counts when ``where`` lists them (sparse counts). The gradient in ``mu`` is
    ``h / mu`` with ``h = x mu / (mu + eps) - mu (theta + x) / s``; through the softmax it becomes ``h - mu
    sum_j(h) / library``. The one in ``theta`` sums ``log theta + 1 - log s - (theta + x) / s`` plus the digamma
    terms over cells, each term formed before the sum (no cancellation in float32). Same values and gradients
    as autograd through :func:`nb_log_prob` (eps included)."""

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        logits: torch.Tensor,
        library: torch.Tensor,
        theta: torch.Tensor,
        where: torch.Tensor | None,
    ) -> torch.Tensor:
        n_cells, n_features = x.shape
        mu = torch.softmax(logits, dim=-1).mul_(library.unsqueeze(-1))
        s = (mu + theta).add_(_EPS)
        log_s = torch.log(s)
        log_theta = torch.log(theta + _EPS)
        lp = torch.mv(torch.sub(log_theta, log_s), theta)  # each difference before the sum: no cancellation
        x_nz = mu_nz = None  # the counts and means at the nonzero counts (sparse path)
        if where is None:
            lg, dg = _log_gamma_terms(x, torch.arange(n_features, device=x.device, dtype=torch.int32), theta)
            x_terms = torch.linalg.vecdot(x, (mu + _EPS).log_().sub_(log_s))
            lp.add_(x_terms).add_(lg.sum(-1))
        else:
            x_nz, mu_nz = x.reshape(-1)[where], mu.reshape(-1)[where]
            lg, dg = _log_gamma_terms(x_nz, (where % n_features).to(torch.int32), theta)
            at_nz = (mu_nz + _EPS).log_().sub_(log_s.reshape(-1)[where]).mul_(x_nz).add_(lg)
            lp.add_(_row_sums_at(at_nz, where, n_features, n_cells))
        ctx.save_for_backward(x, mu, library, theta, log_theta, s, log_s, where, dg, x_nz, mu_nz)
        return lp

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor | None, None, torch.Tensor | None, None]:
        x, mu, library, theta, log_theta, s, log_s, where, dg, x_nz, mu_nz = ctx.saved_tensors
        q = torch.add(x, theta).div_(s)
        grad_theta = None
        if ctx.needs_input_grad[3]:
            # d/dtheta_j: log theta_j + theta_j / (theta_j + eps) - log s_ij - q_ij + digamma terms, over cells
            per_count = torch.sub(log_theta + theta / (theta + _EPS), log_s).sub_(q)
            if where is None:
                per_count.add_(dg)
            else:
                per_count.view(-1).index_add_(0, where, dg)
            grad_theta = torch.mv(per_count.t(), grad)
        grad_logits = None
        if ctx.needs_input_grad[1]:
            h = q.mul_(mu).neg_()  # -mu (theta + x) / s; then + x mu / (mu + eps)
            if where is None:
                h.addcmul_(torch.div(mu, mu + _EPS), x)
            else:
                h.view(-1).index_add_(0, where, torch.div(mu_nz, mu_nz + _EPS).mul_(x_nz))
            share = h.sum(-1).div_(library.clamp_min(_EPS))
            grad_logits = h.addcmul_(mu, share.unsqueeze(-1), value=-1.0).mul_(grad.unsqueeze(-1))
        return None, grad_logits, None, grad_theta, None


def nb_cell_log_prob(
    x: torch.Tensor, logits: torch.Tensor, library: torch.Tensor, log_theta: torch.Tensor
) -> torch.Tensor:
    """Per-cell negative-binomial log-likelihood of counts ``x`` (cells x features) with means ``softmax(logits) *
    library`` and one inverse dispersion ``exp(log_theta)`` per feature: :func:`nb_log_prob` summed over features.

    On the CPU the gradient is written out (:class:`_NegativeBinomialCellLogProb`): the log-gamma terms come from
    per-feature tables over whole counts, and when under :data:`_SPARSE_BELOW` of the counts are nonzero
    (single-cell RNA: SNARE-seq 6%) the count terms are computed at the nonzero counts only."""
    theta = log_theta.exp()
    # on CPU only: on a GPU the dense terms are cheap, and counting the nonzeros would wait for the device
    if x.device.type == "cpu" and log_theta.dim() == 1:
        where = None
        if float(torch.sign(x).abs_().sum()) < _SPARSE_BELOW * x.numel():  # nonzeros; count_nonzero: 10x slower
            where = torch.nonzero(x.reshape(-1)).squeeze(1)
        return _NegativeBinomialCellLogProb.apply(x, logits, library.to(logits.dtype), theta, where)
    mu = torch.softmax(logits, dim=-1) * library.unsqueeze(-1)
    return nb_log_prob(x, mu, log_theta).sum(-1)


class _BernoulliCellLogProb(torch.autograd.Function):
    """Per-cell ``sum_j b_j logits_j - softplus(logits_j)`` for ``b = x > 0``, gradient ``b - sigmoid(logits)``
    written out: no cells x features tensor is taped, and the sum over features is a row-wise dot product."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        present = torch.sign(x).clamp_(min=0)  # 1 where x > 0, as float
        ctx.save_for_backward(present, logits)
        return torch.linalg.vecdot(present, logits).sub_(F.softplus(logits).sum(-1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        present, logits = ctx.saved_tensors
        return None, torch.sigmoid(logits).sub_(present).mul_(grad.neg().unsqueeze(-1))


def bernoulli_cell_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-cell Bernoulli log-likelihood of binarised ``x`` (any value > 0 counts as 1; cells x features) given
    ``logits``, summed over features."""
    return _BernoulliCellLogProb.apply(x, logits)


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
