"""Known-answer tests of the importance-weighted bound and of the MMD to the prior."""

import math

import pytest
import torch

from vae_core import RunConfig, fit, load_dataset
from vae_core.data import unit_float
from vae_core.losses import recon_bce
from vae_core.metrics.likelihood import (
    importance_weighted_bound,
    iwae_nll_by_k,
    ks_up_to,
    log_importance_weights,
    mean_bound,
)
from vae_core.metrics.rate import mmd_to_standard_normal
from vae_core.models import Posterior

SIGMA2 = 0.5


def linear_gaussian():
    """p(z) = N(0, I_2), p(x|z) = N(Wz + b, 0.5 I_3), W with orthogonal columns, so the exact
    posterior is a diagonal Gaussian and log p(x) = log N(x; b, W W^T + 0.5 I) in closed form."""
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
    post_var = 1.0 / (1.0 + (w * w).sum(0) / SIGMA2)  # diag of (I + W^T W / s2)^-1

    def exact_posterior(x):
        mu = post_var * ((x - b) @ w) / SIGMA2
        return Posterior(mu, post_var.log().expand_as(mu))

    def decode(z):
        return z @ w.T + b

    def log_lik(mean, x):
        return -0.5 * (((x - mean) ** 2).sum(-1) / SIGMA2 + x.shape[-1] * math.log(2 * math.pi * SIGMA2))

    def log_px(x):
        cov = w @ w.T + SIGMA2 * torch.eye(3, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(b, cov).log_prob(x)

    return exact_posterior, decode, log_lik, log_px


@pytest.fixture
def x():
    return torch.tensor([[0.3, 1.0, -0.4], [2.0, -2.0, 0.5], [-1.0, 0.0, 0.0]], dtype=torch.float64)


def test_with_the_exact_posterior_every_bound_equals_log_px(x):
    posterior, decode, log_lik, log_px = linear_gaussian()
    gen = torch.Generator().manual_seed(0)
    for k in (1, 10):
        bound = importance_weighted_bound(log_importance_weights(posterior, decode, log_lik, x, k, gen))
        assert torch.allclose(bound, log_px(x), atol=1e-9)


def test_with_a_wrong_posterior_the_bound_rises_with_k_toward_log_px(x):
    exact, decode, log_lik, log_px = linear_gaussian()

    def wrong(xb):
        p = exact(xb)
        return Posterior(p.mu + 0.5, p.logvar + math.log(3.0))  # shifted and too wide

    gen = torch.Generator().manual_seed(0)
    # the expectation of each estimate: average it over many repeats of the same three points
    bounds = [importance_weighted_bound(
        log_importance_weights(wrong, decode, log_lik, x.repeat(r, 1), k, gen)).mean().item()
              for k, r in ((1, 2000), (10, 1000), (100, 200), (2000, 30))]
    truth = log_px(x).mean().item()
    assert bounds == sorted(bounds)  # ELBO <= IWAE_10 <= IWAE_100 <= IWAE_2000
    assert bounds[0] < truth - 0.3  # the ELBO is clearly below
    assert truth - 0.02 < bounds[-1] < truth + 0.01  # and the bound closes in on log p(x) from below


def test_iwae_nll_of_a_trained_vae_improves_on_the_elbo():
    data = load_dataset("digits")
    model = fit(RunConfig(dataset="digits", epochs=3, device="cpu"), data).model
    gen = torch.Generator().manual_seed(0)
    nll = iwae_nll_by_k(model, data.test_x[:100], "bce", 100, gen)
    assert list(nll) == [1, 10, 100]
    assert nll[100] < nll[10] < nll[1]


def test_the_k_curve_splits_draws_into_groups_and_rises_toward_log_px(x):
    """IWAE_1 from K draws is the mean log weight (the ELBO); IWAE_K the log-mean-exp of all K;
    and on the linear-Gaussian model the curve rises toward the exact log p(x)."""
    exact_posterior, decode, log_lik, log_px = linear_gaussian()

    def wrong(xb):
        p = exact_posterior(xb)
        return Posterior(p.mu * 0.5, p.logvar + 1.0)

    gen = torch.Generator().manual_seed(0)
    log_w = log_importance_weights(wrong, decode, log_lik, x.repeat(200, 1), 1000, gen)
    assert ks_up_to(1000) == [1, 10, 100, 1000]
    assert ks_up_to(250) == [1, 10, 100, 250]  # a k that is no power of 10 is reported too
    assert mean_bound(log_w, 1) == pytest.approx(log_w.mean().item())
    assert mean_bound(log_w, 1000) == pytest.approx((torch.logsumexp(log_w, 0) - math.log(1000)).mean().item())
    values = [mean_bound(log_w, k) for k in ks_up_to(1000)]
    assert values == sorted(values) and values[-1] < log_px(x).mean().item() + 0.01


def test_each_k_of_the_curve_draws_its_own_samples():
    """Independent estimates per k: the k = 1 value is not the mean of the draws the largest k
    used (which nested groups of one set of draws would make it). The smaller k draw k_max / 10
    samples each (k = 1 from 10 groups of 1, k = 10 from one group), the largest k its own k_max."""
    data = load_dataset("digits")
    model = fit(RunConfig(dataset="digits", epochs=1, device="cpu"), data).model
    x = data.test_x[:32]
    curve = iwae_nll_by_k(model, x, "bce", 100, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    draws = [log_importance_weights(model.encode, model.decode, lambda lo, xb: -recon_bce(lo, xb), x, n, gen)
             for n in (10, 10, 100)]
    assert curve[1] == pytest.approx(-draws[0].mean().item())  # k = 1: the first 10 draws
    assert curve[10] == pytest.approx(-mean_bound(draws[1], 10))  # k = 10: the next 10, not the same ones
    assert curve[100] == pytest.approx(-mean_bound(draws[2], 100))  # k = 100: 100 more
    assert curve[10] != pytest.approx(-mean_bound(draws[0], 10))


def test_decoding_the_draws_in_passes_of_any_size_gives_the_same_weights(monkeypatch):
    """The CPU decodes whole draws up to `CPU_DECODE_ROWS` rows at once (for the cache), not a
    whole chunk: the log weights do not depend on the pass size, nor do a conditional model's."""
    from vae_core.metrics import likelihood

    data = load_dataset("digits")
    model = fit(RunConfig(dataset="digits", epochs=1, device="cpu"), data).model.eval()
    x = unit_float(data.test_x[:16])
    log_lik = lambda lo, xb: -recon_bce(lo, xb)  # noqa: E731
    weights = {}
    for rows in (1, 16 * 3, 16 * 64):  # one draw a pass, three, a whole chunk
        monkeypatch.setattr(likelihood, "CPU_DECODE_ROWS", rows)
        weights[rows] = log_importance_weights(model.encode, model.decode, log_lik, x, 100,
                                               torch.Generator().manual_seed(0))
    assert weights[1].shape == (100, 16)
    assert torch.allclose(weights[1], weights[48], atol=1e-4) and torch.allclose(weights[1], weights[1024], atol=1e-4)


def test_mmd_is_the_unbiased_estimate_written_out_pair_by_pair():
    """Gretton et al. 2012, eq. 3, summed over every pair by hand, with the median pooled pairwise
    squared distance as the bandwidth, on a set small enough to write out."""
    z = torch.tensor([[0.0, 0.0], [1.0, 0.5], [-0.5, 2.0], [0.3, -1.0], [2.0, 1.0]], dtype=torch.float64)
    prior = torch.randn(z.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    pooled = torch.cat([z, prior])
    n = len(z)
    d2 = {(i, j): (pooled[i] - pooled[j]).pow(2).sum().item() for i in range(2 * n) for j in range(2 * n)}
    bandwidth2 = torch.tensor([v for (i, j), v in d2.items() if i < j], dtype=torch.float64).median().item()
    k = lambda i, j: math.exp(-d2[i, j] / bandwidth2)  # noqa: E731
    xx = sum(k(i, j) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(i, j) for i in range(n, 2 * n) for j in range(n, 2 * n) if i != j) / (n * (n - 1))
    xy = sum(k(i, j) for i in range(n) for j in range(n, 2 * n)) / n**2
    assert mmd_to_standard_normal(z, torch.Generator().manual_seed(7)) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_mmd_to_prior_is_zero_for_prior_samples_and_grows_with_the_mismatch():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(800, 2, generator=gen)
    same = mmd_to_standard_normal(z, gen)
    shifted = mmd_to_standard_normal(z + 0.5, gen)
    far = mmd_to_standard_normal(z + 2.0, gen)
    clusters = mmd_to_standard_normal(torch.sign(z), gen)  # all mass at 4 points, about the prior's moments
    collapsed = mmd_to_standard_normal(z * 0.3, gen)  # too narrow
    assert abs(same) < 0.005 < shifted < far
    assert clusters > 0.01 and collapsed > 0.1


def test_the_calibrated_decoder_keeps_the_training_images_maximum_likelihood_sigma():
    from vae_core.metrics import evaluate
    from vae_core.metrics.likelihood import decoder_log_likelihood
    from vae_core.train import calibrate_decoder

    data = load_dataset("digits")
    result = fit(RunConfig(dataset="digits", epochs=2, recon_loss="gaussian", device="cpu"), data)
    model = result.model
    sigma = model.log_sigma.exp().item()
    assert 0.01 < sigma < 0.5  # digits reconstruct to within a fraction of the pixel range
    calibrate_decoder(model, data, seed=0)  # deterministic: the same value again
    assert model.log_sigma.exp().item() == sigma
    metrics = evaluate(model, data, "gaussian", iwae_k=10).metrics
    assert metrics["decoder_sigma"] == pytest.approx(sigma)
    assert metrics["test_iwae_nll"] <= metrics["iwae_nll_by_k"][0][1]  # the bound tightens as for the others
    with pytest.raises(ValueError, match="calibrate_decoder"):
        decoder_log_likelihood("gaussian", None)
