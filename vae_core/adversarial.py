"""An adversarial loss on reconstructions: the remedy for blur the chapter names (fig 1.14).

A small discriminator D learns to tell real images from reconstructions; the autoencoder is
trained to make D call its reconstructions real, on top of its pixel-wise loss, as in the
VAE/GAN of Larsen et al. 2016 ("Autoencoding beyond pixels using a learned similarity metric").
Pixel-wise losses reward the average of plausible outputs; D penalises that average, because
no real image looks like it. Losses are the non-saturating ones of Goodfellow et al. 2014.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vae_core.config import RunConfig


class Adversary:
    """The discriminator (an MLP on pixels) and its Adam optimizer, stepped once per batch."""

    def __init__(self, image_shape: tuple[int, ...], config: RunConfig, device: str, hidden_dim: int = 256) -> None:
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(image_shape), hidden_dim), nn.LeakyReLU(0.2), nn.Linear(hidden_dim, 1)
        ).to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr, betas=(0.5, 0.999))

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """-log D(fake), batch mean (nats per image): low when D takes the reconstructions for real."""
        return F.softplus(-self.net(fake)).mean()

    def step(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One discriminator update on a batch; returns its loss, -log D(real) - log(1 - D(fake))."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.softplus(-self.net(real)).mean() + F.softplus(self.net(fake.detach())).mean()
        loss.backward()
        self.optimizer.step()
        return loss.detach()
