"""The torch networks on random tensors: shapes, likelihoods, feature subsets (no AnnData, no trainer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from crossomics.module.modality_vae import ModalityVAE, kl_normal
from crossomics.module.network import Architecture, CrossNetwork, DomainSpec, anchor_distance
from crossomics.nn import distributions
from crossomics.nn.distributions import bernoulli_cell_log_prob, nb_cell_log_prob, nb_log_prob, sample_counts


def test_nb_log_prob_matches_scipy():
    x = torch.tensor([0.0, 1.0, 5.0, 20.0])
    mu = torch.tensor([0.5, 2.0, 4.0, 10.0])
    theta = torch.tensor([1.0, 3.0, 0.5, 10.0])
    ours = nb_log_prob(x, mu, theta.log()).numpy()
    p = (theta / (theta + mu)).numpy()
    ref = stats.nbinom.logpmf(x.numpy(), theta.numpy(), p)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def dense_nb_cell_log_prob(x, logits, library, log_theta):
    """The NB log-pmf written out densely and summed per cell: log C(x + theta - 1, x) + theta log p + x log(1 - p),
    with means softmax(logits) * library."""
    theta = log_theta.exp()
    mu = torch.softmax(logits, -1) * library.unsqueeze(-1)
    log_s = torch.log(theta + mu)
    return (
        torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1)
        + theta * (torch.log(theta) - log_s) + x * (torch.log(mu) - log_s)
    ).sum(-1)


def nb_counts(gen, rate, dtype=torch.float64):
    """40 x 60 counts around ``rate``, with a few above the count tables (> 32) and a few fractional ones; every
    cell has counts."""
    x = torch.poisson(torch.rand(40, 60, generator=gen, dtype=dtype) * rate, generator=gen)
    x[::7, 3] = 40.0 + torch.arange(len(x[::7, 3]), dtype=dtype)  # above _TABLE_MAX_COUNT
    x[5, 10:12] = torch.tensor([0.5, 2.25], dtype=dtype)  # fractional: the special functions
    x[:, -1] = 1.0
    return x


@pytest.mark.parametrize("theta_shape", [(60,), (1, 60), (40, 60)])
@pytest.mark.parametrize(("rate", "path"), [(0.1, "sparse"), (3.0, "dense")])
def test_nb_cell_log_prob_equals_the_written_out_formula_with_gradients(theta_shape, rate, path):
    """One theta per feature takes the written-out gradient (sparse or dense); other shapes the taped formula."""
    gen = torch.Generator().manual_seed(0)
    x = nb_counts(gen, rate)
    density = float((x > 0).double().mean())
    assert (density < distributions._SPARSE_BELOW) == (path == "sparse")
    logits = torch.randn(40, 60, generator=gen, dtype=torch.float64).requires_grad_()
    library = x.sum(1)
    log_theta = torch.randn(theta_shape, generator=gen, dtype=torch.float64).requires_grad_()
    weight = torch.randn(40, generator=gen, dtype=torch.float64)
    got = nb_cell_log_prob(x, logits, library, log_theta)
    grads = torch.autograd.grad((got * weight).sum(), (logits, log_theta))
    want = dense_nb_cell_log_prob(x, logits, library, log_theta)
    want_grads = torch.autograd.grad((want * weight).sum(), (logits, log_theta))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    for g, w in zip(grads, want_grads):  # within the 1e-8 the model adds under its logs and divisions
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def test_nb_cell_log_prob_sums_the_elementwise_log_prob():
    gen = torch.Generator().manual_seed(2)
    x = nb_counts(gen, 1.0)
    logits = torch.randn(40, 60, generator=gen, dtype=torch.float64)
    log_theta = torch.randn(60, generator=gen, dtype=torch.float64)
    mu = torch.softmax(logits, -1) * x.sum(1, keepdim=True)
    got = nb_cell_log_prob(x, logits, x.sum(1), log_theta)
    torch.testing.assert_close(got, nb_log_prob(x, mu, log_theta).sum(-1))


@pytest.mark.parametrize("rate", [0.1, 3.0])
def test_nb_cell_log_prob_of_a_cell_without_counts_is_zero_with_zero_gradients(rate):
    gen = torch.Generator().manual_seed(3)
    x = nb_counts(gen, rate)
    x[6] = 0.0
    logits = torch.randn(40, 60, generator=gen, dtype=torch.float64).requires_grad_()
    log_theta = torch.randn(60, generator=gen, dtype=torch.float64).requires_grad_()
    lp = nb_cell_log_prob(x, logits, x.sum(1), log_theta)
    g_logits, g_theta = torch.autograd.grad(lp[6], (logits, log_theta))
    lp = lp.detach()
    assert float(lp[6]) == 0.0 and torch.isfinite(lp).all()
    assert float(g_logits.abs().max()) == 0.0 and float(g_theta.abs().max()) < 1e-12


def test_nb_count_tables_in_float32_are_as_close_to_float64_as_the_special_functions():
    """The tables sum in float64: in float32 their values and theta gradients stay within float32 rounding of
    the float64 formula, closer than float32 lgamma/digamma differences (which cancel for large theta)."""
    gen = torch.Generator().manual_seed(1)
    x = nb_counts(gen, 3.0)
    logits = torch.randn(40, 60, generator=gen, dtype=torch.float64)
    log_theta = torch.randn(60, generator=gen, dtype=torch.float64) * 2

    def value_and_theta_grad(fn, dtype):
        lt = log_theta.to(dtype).requires_grad_()
        lp = fn(x.to(dtype), logits.to(dtype), x.sum(1).to(dtype), lt)
        return lp.detach().double(), torch.autograd.grad(lp.sum(), lt)[0].double()

    ref_lp, ref_g = value_and_theta_grad(dense_nb_cell_log_prob, torch.float64)
    lp, g = value_and_theta_grad(nb_cell_log_prob, torch.float32)
    _, plain_g = value_and_theta_grad(dense_nb_cell_log_prob, torch.float32)
    assert float(((lp - ref_lp) / ref_lp.abs().clamp_min(1)).abs().max()) < 1e-5
    assert float((g - ref_g).abs().max()) <= float((plain_g - ref_g).abs().max()) + 1e-4


def test_bernoulli_cell_log_prob_binarises_counts():
    logits = torch.tensor([[0.0, 2.0, -2.0]])
    lp = bernoulli_cell_log_prob(torch.tensor([[3.0, 1.0, 0.0]]), logits)
    want = np.log([0.5, 1 / (1 + np.exp(-2)), 1 / (1 + np.exp(-2))]).sum()
    np.testing.assert_allclose(lp.numpy(), [want], rtol=1e-5)


def test_bernoulli_cell_log_prob_has_the_binary_cross_entropy_gradient():
    gen = torch.Generator().manual_seed(0)
    x = torch.poisson(torch.rand(30, 50, generator=gen, dtype=torch.float64) * 0.4, generator=gen)
    x[0, :3] = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64)  # any value above 0 is present
    logits = (torch.randn(30, 50, generator=gen, dtype=torch.float64) * 4).requires_grad_()
    weight = torch.randn(30, generator=gen, dtype=torch.float64)
    got = bernoulli_cell_log_prob(x, logits)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, (x > 0).double(), reduction="none")
    want = -bce.sum(-1)
    torch.testing.assert_close(got, want)
    (g,) = torch.autograd.grad((got * weight).sum(), logits)
    (w,) = torch.autograd.grad((want * weight).sum(), logits)
    torch.testing.assert_close(g, w)


@pytest.mark.parametrize("likelihood", ["nb", "bernoulli", "normal"])
def test_vae_shapes_and_finite_loss(likelihood):
    vae = ModalityVAE(20, 50, likelihood=likelihood, n_latent=8, n_hidden=16)
    x = torch.randn(7, 20)
    mu, logvar = vae.encode(x)
    assert mu.shape == (7, 8) and logvar.shape == (7, 8)
    counts = torch.poisson(torch.full((7, 50), 2.0))
    ll = vae.log_likelihood(counts, vae.decode_logits(mu), counts.sum(1))
    assert ll.shape == (7,) and torch.isfinite(ll).all()
    assert torch.all(kl_normal(mu, logvar) >= 0)


def test_feature_subset_equals_the_same_columns_of_the_full_decoder():
    vae = ModalityVAE(10, 300, likelihood="bernoulli", n_latent=4, decoder_layers=0)
    u = torch.randn(5, 4)
    feats = torch.tensor([3, 17, 250])
    np.testing.assert_allclose(vae.decode_logits(u, feats).detach(), vae.decode_logits(u)[:, feats].detach(), atol=1e-6)
    with pytest.raises(ValueError, match="negative binomial"):
        ModalityVAE(10, 30, likelihood="nb").log_likelihood(torch.ones(2, 3), torch.zeros(2, 3), torch.ones(2), feats[:1])


def test_network_terms_and_joint_decoding():
    net = CrossNetwork(
        [DomainSpec("rna", 12, 40, "nb"), DomainSpec("atac", 12, 90, "bernoulli")],
        Architecture(n_latent=6, n_joint=5, n_hidden=16, aligner_hidden=8, discriminator_hidden=8),
    )
    x = torch.randn(9, 12)
    counts = torch.poisson(torch.ones(9, 40))
    out = net.vae_terms("rna", x, counts, counts.sum(1), joint=True)
    assert set(out) == {"kl", "z", "cycle", "nll"} and out["z"].shape == (9, 5)
    z = net.joint_embedding("rna", x)
    probs = net.decode_joint("atac", z, None)
    assert probs.shape == (9, 90) and float(probs.min()) >= 0 and float(probs.max()) <= 1
    means = net.decode_joint("rna", z, torch.full((9,), 100.0))
    np.testing.assert_allclose(means.sum(1).detach().numpy(), 100.0, rtol=1e-4)
    d = net.discriminator_loss([z, net.joint_embedding("atac", x)], [0, 1])
    assert torch.isfinite(d)


def test_anchor_distance_is_zero_for_identical_points_and_scale_free():
    z = torch.randn(6, 4)
    w = torch.ones(6)
    assert float(anchor_distance(z, z, w)) == pytest.approx(0.0, abs=1e-6)
    assert float(anchor_distance(z, 3 * z, w)) == pytest.approx(0.0, abs=1e-6)
    assert float(anchor_distance(z, -z, w)) == pytest.approx(2.0, abs=1e-5)


def test_sample_counts_matches_means():
    rng = np.random.default_rng(0)
    mean = np.full((4000, 3), [0.5, 2.0, 10.0])
    draws = sample_counts(mean, "nb", log_theta=np.log([5.0, 5.0, 5.0]), rng=rng)
    np.testing.assert_allclose(draws.mean(0), [0.5, 2.0, 10.0], rtol=0.08)
    assert (sample_counts(np.full((100, 2), 0.3), "bernoulli", rng=rng) <= 1).all()


@pytest.mark.parametrize("likelihood", ["bernoulli", "nb"])
def test_decoder_bias_starts_at_the_feature_marginal(likelihood):
    """A decoder that ignores the cell starts at each feature's overall rate (peak frequency, gene share)."""
    counts = np.random.default_rng(0).poisson(np.linspace(0.05, 2.0, 40), (300, 40))
    target = (counts > 0).mean(0) if likelihood == "bernoulli" else counts.sum(0) / counts.sum()
    rate = torch.tensor(target, dtype=torch.float32)
    vae = ModalityVAE(8, 40, likelihood=likelihood, n_latent=4, n_hidden=16, decoder_layers=0)
    vae.init_feature_bias(rate)
    with torch.no_grad():
        vae.decoder[-1].weight.zero_()
        logits = vae.decode_logits(torch.randn(5, 4))
        expected = vae.expected(logits, torch.ones(5))
    assert np.allclose(expected.numpy(), target[None, :], atol=1e-5)
