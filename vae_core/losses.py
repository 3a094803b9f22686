"""Reconstruction losses and the KL term, per image (summed over pixels or latent dims).

All functions return one value per image, shape (N,); the training loss averages them over
the batch, like the classic PyTorch VAE example sums over pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vae_core.models import Posterior


def recon_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood -log p(x|z) in nats per image (lower is better)."""
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return per_pixel.flatten(1).sum(1)


def recon_mse(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared error of sigmoid(logits) against x, summed over pixels, per image (lower is
    better). Up to constants, the NLL of a fixed-variance Gaussian decoder (chapter eq. 1.18)."""
    return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)


RECON_LOSSES = {"bce": recon_bce, "mse": recon_mse}


def kl_per_dim(posterior: Posterior) -> torch.Tensor:
    """Closed-form KL(N(mu, sigma^2) || N(0, 1)) per image and latent dimension, in nats,
    shape (N, D) (chapter eq. 1.6; Kingma & Welling 2014, appendix B)."""
    mu, logvar = posterior.mu, posterior.logvar
    if logvar is None:
        return torch.zeros_like(mu)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_divergence(posterior: Posterior) -> torch.Tensor:
    """Closed-form KL(q(z|x) || N(0, I)) per image in nats (chapter eq. 1.6)."""
    return kl_per_dim(posterior).sum(1)


def moment_penalty(posterior: Posterior, ratio: float) -> torch.Tensor:
    """The hand-made penalties of chapter eq. 1.4 and 1.5 per image: 0.5 * (|mu|^2 + ratio *
    |log sigma^2|^2), pushing mu to 0 and log sigma^2 to 0 with a balance `ratio` chosen by hand.
    Near sigma = 1 the closed-form KL expands to 0.5 * |mu|^2 + 0.25 * |log sigma^2|^2 + O(log
    sigma^2)^3, i.e. ratio 0.5; eq. 1.6 fixes the balance everywhere, these penalties do not."""
    return 0.5 * (posterior.mu.pow(2) + ratio * posterior.logvar.pow(2)).sum(1)


def kl_monte_carlo(
    posterior: Posterior, n_samples: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo estimate of KL(q || N(0, I)) = E_q[log q(z) - log p(z)] per image, and its
    standard error; the check of eq. 1.6 (claim C13)."""
    mu, logvar = posterior.mu, posterior.logvar
    assert logvar is not None, "the KL of a deterministic code is undefined"
    std = torch.exp(0.5 * logvar)
    # drawn on the CPU (a CPU generator), so the estimate is the same on every device
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype).to(mu.device)
    z = mu + eps * std
    log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_p = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
    diff = log_q - log_p  # (n_samples, N)
    return diff.mean(0), diff.std(0) / math.sqrt(n_samples)
