"""MLP autoencoder and VAE with one interface: `encode(x) -> Posterior`, `decode(z) -> logits`.

The decoder outputs logits; `torch.sigmoid(logits)` is the image. The BCE loss reads the logits
directly (numerically stable), the MSE loss reads the sigmoid, so both losses train the same
network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vae_core.config import RunConfig


@dataclass
class Posterior:
    """q(z|x) = N(mu, exp(logvar)) per input and latent dimension; `logvar is None` for an AE,
    whose code is the point `mu`."""

    mu: torch.Tensor
    logvar: torch.Tensor | None = None

    def sample(self, noise: torch.Tensor | None = None) -> torch.Tensor:
        """The reparameterisation trick (Kingma & Welling 2014; chapter fig 1.6):
        z = mu + eps * sigma with eps ~ N(0, I), so gradients flow through mu and sigma."""
        if self.logvar is None:
            return self.mu
        eps = torch.randn_like(self.mu) if noise is None else noise
        return self.mu + eps * torch.exp(0.5 * self.logvar)


class _MLPAutoEncoderBase(nn.Module):
    stochastic = False

    def __init__(self, image_shape: tuple[int, ...], latent_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        n_pixels = 1
        for s in image_shape:
            n_pixels *= s
        n_code = 2 * latent_dim if self.stochastic else latent_dim
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(n_pixels, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_code)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_pixels)
        )

    def encode(self, x: torch.Tensor) -> Posterior:
        h = self.encoder(x)
        if not self.stochastic:
            return Posterior(h)
        mu, logvar = h.chunk(2, dim=-1)
        return Posterior(mu, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.image_shape)

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Posterior]:
        posterior = self.encode(x)
        return self.decode(posterior.sample(noise)), posterior


class AutoEncoder(_MLPAutoEncoderBase):
    """Deterministic AE (chapter fig 1.1): x -> z -> x_hat."""


class VAE(_MLPAutoEncoderBase):
    """VAE with a per-input diagonal Gaussian posterior (chapter fig 1.8, the right logic)."""

    stochastic = True


def build_model(config: RunConfig, image_shape: tuple[int, ...]) -> _MLPAutoEncoderBase:
    cls = {"ae": AutoEncoder, "vae": VAE}[config.model]
    return cls(image_shape, config.latent_dim, config.hidden_dim)
