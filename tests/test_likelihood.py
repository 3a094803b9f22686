"""Known-answer tests of the importance-weighted bound and of the MMD to the prior."""

import math

import pytest
import torch

from vae_core import RunConfig, fit, load_dataset
from vae_core.metrics.likelihood import importance_weighted_bound, iwae_nll
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
        bound = importance_weighted_bound(posterior, decode, log_lik, x, k, gen)
        assert torch.allclose(bound, log_px(x), atol=1e-9)


def test_with_a_wrong_posterior_the_bound_rises_with_k_toward_log_px(x):
    exact, decode, log_lik, log_px = linear_gaussian()

    def wrong(xb):
        p = exact(xb)
        return Posterior(p.mu + 0.5, p.logvar + math.log(3.0))  # shifted and too wide

    gen = torch.Generator().manual_seed(0)
    # the expectation of each estimate: average it over many repeats of the same three points
    bounds = [importance_weighted_bound(wrong, decode, log_lik, x.repeat(r, 1), k, gen).mean().item()
              for k, r in ((1, 2000), (10, 1000), (100, 200), (2000, 30))]
    truth = log_px(x).mean().item()
    assert bounds == sorted(bounds)  # ELBO <= IWAE_10 <= IWAE_100 <= IWAE_2000
    assert bounds[0] < truth - 0.3  # the ELBO is clearly below
    assert truth - 0.02 < bounds[-1] < truth + 0.01  # and the bound closes in on log p(x) from below


def test_iwae_nll_of_a_trained_vae_improves_on_the_elbo():
    data = load_dataset("digits")
    model = fit(RunConfig(dataset="digits", epochs=3, device="cpu"), data).model
    gen = torch.Generator().manual_seed(0)
    nll = [iwae_nll(model, data.test_x[:100], "bce", k, gen) for k in (1, 20)]
    assert nll[1] < nll[0]


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
