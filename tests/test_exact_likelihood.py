"""Known-answer tests of the exact log p(x) by quadrature (check C12)."""

import math

import pytest
import torch

from vae_core import RunConfig, fit
from vae_core.losses import MSE_LOG_SIGMA
from vae_core.metrics import evaluate
from vae_core.metrics.exact_likelihood import affine_log_likelihood, exact_nll, log_marginal
from vae_core.metrics.likelihood import decoder_log_likelihood


@pytest.mark.parametrize("recon_loss, log_sigma", [("bce", None), ("mse", None), ("gaussian", -1.7)])
def test_the_affine_form_is_the_decoder_likelihood_of_each_loss(recon_loss, log_sigma):
    gen = torch.Generator().manual_seed(0)
    logits, x = 3 * torch.randn(5, 12, generator=gen, dtype=torch.float64), torch.rand(7, 12, generator=gen,
                                                                                      dtype=torch.float64)
    terms, image_term = affine_log_likelihood(recon_loss, log_sigma)
    a, b = terms(logits)
    affine = x @ a.T + b + image_term(x).unsqueeze(1)  # (images, codes)
    sigma = torch.tensor(log_sigma if log_sigma is not None else MSE_LOG_SIGMA, dtype=torch.float64)
    direct = decoder_log_likelihood(recon_loss, sigma)
    for j in range(logits.shape[0]):
        assert torch.allclose(affine[:, j], direct(logits[j].expand_as(x), x), rtol=1e-10, atol=1e-9)


def test_a_symmetric_decoder_gives_one_half():
    """One pixel with logit a . z: by the prior's symmetry p(x = 1) = p(x = 0) = 1/2 exactly."""
    decode = lambda z: (z @ torch.tensor([[1.5], [-0.7]], dtype=z.dtype))  # noqa: E731
    log_px, _ = log_marginal(decode, torch.tensor([[1.0], [0.0]]), "bce", None, latent_dim=2)
    assert torch.allclose(log_px, torch.full((2,), math.log(0.5), dtype=torch.float64), atol=1e-9)


def test_the_grid_agrees_with_monte_carlo_from_the_prior():
    """An independent estimate: log mean p(x | z_i) over 400,000 prior draws, within 4 of its
    standard errors, for a small nonlinear Bernoulli decoder in 2-D."""
    gen = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(2, 8, generator=gen, dtype=torch.float64), torch.randn(8, 5, generator=gen,
                                                                                dtype=torch.float64)
    decode = lambda z: torch.tanh(z.double() @ w1) @ w2  # noqa: E731
    x = (torch.rand(3, 5, generator=gen) > 0.5).double()
    grid_value, _ = log_marginal(decode, x, "bce", None, latent_dim=2)
    z = torch.randn(400_000, 2, generator=gen, dtype=torch.float64)
    lik = (x @ decode(z).T - torch.nn.functional.softplus(decode(z)).sum(1)).exp()  # (3, draws)
    mc, se = lik.mean(1), lik.std(1) / math.sqrt(z.shape[0])
    assert ((grid_value.exp() - mc).abs() < 4 * se).all()


def test_mass_on_the_grids_border_is_reported_as_error():
    """A decoder that explains the images best beyond the grid (z_1 > 6) puts its mass on the
    border; the error estimate says so, where a decoder centred in the grid gets a tiny one."""
    x = torch.ones(2, 40)
    inside = exact_nll(lambda z: 2.0 * z[:, :1].expand(-1, 40), x, "bce", None, latent_dim=2)
    outside = exact_nll(lambda z: 2.0 * (z[:, :1] - 7.0).expand(-1, 40), x, "bce", None, latent_dim=2)
    assert inside["quadrature_error"] < 1e-3 < 0.1 < outside["quadrature_error"]


def test_a_2d_vae_scores_every_bound_above_its_exact_nll(digits):
    model = fit(RunConfig(dataset="digits", latent_dim=2, epochs=2, device="cpu"), digits).model
    metrics = evaluate(model, digits, "bce", iwae_k=100, only=["test_exact_nll", "iwae_nll_by_k"]).metrics
    assert metrics["exact_nll_quadrature_error"] < 0.05
    assert all(nll > metrics["test_exact_nll"] for _, nll in metrics["iwae_nll_by_k"])
    wide = fit(RunConfig(dataset="digits", latent_dim=3, epochs=1, device="cpu"), digits).model
    assert evaluate(wide, digits, "bce", only=["test_exact_nll"]).metrics["test_exact_nll"] is None
