import math

import pytest
import torch
import torch.nn.functional as F

from vae_core.losses import (
    MIN_LOG_SIGMA,
    MSE_LOG_SIGMA,
    gaussian_nll,
    kl_divergence,
    kl_monte_carlo,
    kl_per_dim,
    optimal_log_sigma,
    recon_bce,
    recon_gaussian,
    recon_mse,
    softplus,
)
from vae_core.models import Posterior


def test_kl_is_zero_when_posterior_is_the_prior():
    post = Posterior(torch.zeros(3, 5), torch.zeros(3, 5))
    assert torch.allclose(kl_divergence(post), torch.zeros(3))


def test_kl_known_value_for_shifted_unit_gaussian():
    # KL(N(m, 1) || N(0, 1)) = m^2 / 2 per dimension
    post = Posterior(torch.full((2, 4), 2.0), torch.zeros(2, 4))
    assert torch.allclose(kl_per_dim(post), torch.full((2, 4), 2.0))
    assert torch.allclose(kl_divergence(post), torch.full((2,), 8.0))


def test_closed_form_kl_matches_monte_carlo_within_its_standard_error(rng):
    mu = torch.randn(64, 6, generator=rng)
    logvar = torch.randn(64, 6, generator=rng) * 0.7
    post = Posterior(mu.double(), logvar.double())
    estimate, stderr = kl_monte_carlo(post, n_samples=20_000, generator=rng)
    closed = kl_divergence(post)
    z = (estimate - closed) / stderr
    assert z.abs().max() < 4.5, z.abs().max()  # 64 tests at ~4.5 sigma: false alarm odds < 1e-3
    assert z.abs().mean() < 1.2  # and on average within about one standard error


def test_recon_mse_sums_over_pixels_per_image():
    x = torch.zeros(2, 1, 2, 2)
    logits = torch.zeros(2, 1, 2, 2)  # sigmoid(0) = 0.5 on every pixel
    assert torch.allclose(recon_mse(logits, x), torch.full((2,), 4 * 0.25))


def test_recon_bce_of_a_confident_correct_decoder_is_near_zero_and_of_a_coin_is_log2():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    sharp = (x * 2 - 1) * 30
    assert recon_bce(sharp, x).item() < 1e-6
    assert math.isclose(recon_bce(torch.zeros_like(x), x).item(), 4 * math.log(2), rel_tol=1e-6)


def test_softplus_without_log1p_is_torchs_to_float_rounding_over_the_whole_range():
    logits = torch.cat([torch.linspace(-120, 120, 100_001), torch.tensor([0.0, -0.0, 1e-8, -1e-8, 88.0, -88.0])])
    exact = F.softplus(logits.double())
    with torch.no_grad():  # scoring: the log1p-free form
        assert (softplus(logits).double() - exact).abs().max().item() < 6e-8 * exact.abs().clamp_min(1).max().item()
        assert softplus(torch.tensor([0.0])).item() == pytest.approx(math.log(2), rel=1e-7)
        assert softplus(torch.tensor([-200.0, 200.0])).tolist() == [0.0, 200.0]
    logits = torch.tensor([-3.0, 0.0, 2.0], requires_grad=True)  # under autograd: differentiable
    softplus(logits).sum().backward()
    assert torch.allclose(logits.grad, torch.sigmoid(logits.detach()))


def test_recon_bce_scores_as_it_trains_and_keeps_the_fused_gradient(rng):
    """Without autograd (scoring) the loss is computed by `softplus`; with it, by torch's fused
    kernel: the same values to float rounding, and the gradient sigmoid(l) - x per pixel."""
    x = torch.rand(64, 1, 28, 28, generator=rng)
    logits = torch.randn(64, 1, 28, 28, generator=rng) * 6
    logits.view(-1)[:3] = torch.tensor([0.0, 90.0, -90.0])
    reference = F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none").flatten(1).sum(1)
    with torch.no_grad():
        scored = recon_bce(logits, x)
    trained = recon_bce(logits.requires_grad_(), x)
    assert torch.allclose(scored.double(), reference, rtol=1e-6, atol=1e-4)
    assert torch.allclose(trained.double(), reference, rtol=1e-6, atol=1e-4)
    trained.sum().backward()
    assert torch.allclose(logits.grad, torch.sigmoid(logits.detach()) - x, atol=1e-6)


def test_gaussian_nll_is_the_normal_density_and_mse_is_it_at_variance_one_half(rng):
    x = torch.rand(5, 1, 4, 4, generator=rng)
    logits = torch.randn(5, 1, 4, 4, generator=rng)
    for log_sigma in (-2.0, 0.0, 0.7):
        normal = torch.distributions.Normal(torch.sigmoid(logits), math.exp(log_sigma))
        expected = -normal.log_prob(x).flatten(1).sum(1)
        assert torch.allclose(gaussian_nll(logits, x, log_sigma), expected, atol=1e-4)
    # summed squared error is the Gaussian NLL with sigma^2 = 1/2, less (D/2) log(pi)
    assert torch.allclose(recon_mse(logits, x) + 8 * math.log(math.pi), gaussian_nll(logits, x, MSE_LOG_SIGMA),
                          atol=1e-4)


def test_the_calibrated_decoder_uses_the_maximum_likelihood_variance(rng):
    x = torch.rand(32, 1, 4, 4, generator=rng)
    logits = torch.randn(32, 1, 4, 4, generator=rng)
    best = optimal_log_sigma(logits, x)
    assert math.exp(2 * best.item()) == pytest.approx((torch.sigmoid(logits) - x).pow(2).mean().item(), rel=1e-4)
    at_best = recon_gaussian(logits, x).sum().item()
    for step in (-0.1, 0.1):  # any other shared sigma gives the batch a lower likelihood
        assert gaussian_nll(logits, x, best + step).sum().item() > at_best
    # a perfect reconstruction does not reach an infinite likelihood: sigma stays above its floor
    perfect = optimal_log_sigma(torch.logit(x.clamp(1e-3, 1 - 1e-3)), x.clamp(1e-3, 1 - 1e-3))
    assert perfect.item() == MIN_LOG_SIGMA
