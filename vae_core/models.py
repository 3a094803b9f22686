"""Autoencoders with one interface: `encode(x, y) -> Posterior`, `decode(z, y) -> logits`.

The decoder outputs logits; `torch.sigmoid(logits)` is the image. The BCE loss reads the logits
directly (numerically stable), the MSE loss reads the sigmoid, so both losses train the same
network. `y` (class labels) is read only by the conditional VAE; the others ignore it.

Each model is an encoder body (MLP or conv) giving features, a linear head giving the code, and
a decoder from the code back to pixels. Variants differ only in how the code is formed:
- `AutoEncoder`: the code is a point (chapter fig 1.1);
- `VAE`: one Gaussian N(mu, sigma^2) per input and latent dimension (fig 1.8, the right logic);
- `ConditionalVAE`: the VAE with a one-hot class label fed to the encoder head and the decoder
  (Sohn, Lee & Yan 2015; chapter fig 1.10);
- `PooledVAE`: the misconception of fig 1.7, one Gaussian for the whole batch, from which as many
  codes are drawn as there are inputs, so a code no longer belongs to its input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vae_core.config import ConfigError, RunConfig


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


def _mlp_body(image_shape: tuple[int, ...], hidden_dim: int) -> tuple[nn.Module, int]:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), hidden_dim), nn.ReLU()), hidden_dim


def _mlp_decoder(image_shape: tuple[int, ...], n_in: int, hidden_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, math.prod(image_shape)))


def _conv_body(image_shape: tuple[int, ...], hidden_dim: int) -> tuple[nn.Module, int]:
    """Two stride-2 4x4 convolutions (32, 64 channels), as in the DCGAN-style encoders of
    Higgins et al. 2017, then flattened: H and W must be multiples of 4."""
    c, h, w = image_shape
    body = nn.Sequential(nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten())
    return body, 64 * (h // 4) * (w // 4)


def _conv_decoder(image_shape: tuple[int, ...], n_in: int, hidden_dim: int) -> nn.Module:
    c, h, w = image_shape
    return nn.Sequential(
        nn.Linear(n_in, 64 * (h // 4) * (w // 4)), nn.ReLU(), nn.Unflatten(1, (64, h // 4, w // 4)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, c, 4, 2, 1),
    )


ARCHITECTURES = {"mlp": (_mlp_body, _mlp_decoder), "conv": (_conv_body, _conv_decoder)}


class AutoEncoder(nn.Module):
    """Deterministic AE (chapter fig 1.1): x -> z -> x_hat."""

    stochastic = False
    n_classes = 0  # > 0: the class label is an input (conditional VAE)

    def __init__(self, image_shape: tuple[int, ...], latent_dim: int, hidden_dim: int, arch: str = "mlp",
                 n_classes: int = 0) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        # the calibrated Gaussian decoder's shared log sigma, set after training by
        # `vae_core.train.calibrate_decoder`; None for the other decoders
        self.register_buffer("log_sigma", None)
        make_body, make_decoder = ARCHITECTURES[arch]
        body, n_features = make_body(self.image_shape, hidden_dim)
        n_code = 2 * latent_dim if self.stochastic else latent_dim
        self.encoder = body
        self.head = nn.Linear(n_features + n_classes, n_code)  # reads the label too, if there is one
        self.decoder = make_decoder(self.image_shape, latent_dim + n_classes, hidden_dim)

    def _with_label(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.n_classes:
            return h
        if y is None:
            raise ValueError("a conditional model needs the class labels y")
        return torch.cat([h, F.one_hot(y, self.n_classes).to(h.dtype)], dim=-1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Posterior:
        h = self.head(self._with_label(self.encoder(x), y))
        if not self.stochastic:
            return Posterior(h)
        mu, logvar = h.chunk(2, dim=-1)
        return Posterior(mu, logvar)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self._with_label(z, y)).view(z.shape[0], *self.image_shape)

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Posterior]:
        posterior = self.encode(x, y)
        return self.decode(posterior.sample(noise), y), posterior


class VAE(AutoEncoder):
    """VAE with a per-input diagonal Gaussian posterior (chapter fig 1.8, the right logic)."""

    stochastic = True


class ConditionalVAE(VAE):
    """VAE given the class label: one-hot to the encoder head and to the decoder (chapter fig
    1.10; Sohn, Lee & Yan 2015). Sampling z ~ N(0, I) with a chosen label asks for that class."""


class PooledVAE(VAE):
    """The misconception of chapter fig 1.7: the batch's posteriors pooled into one Gaussian
    (mean of the means, mean of the variances), and as many codes drawn from it as there are
    inputs. The codes carry nothing about their own input, so the decoder can only learn the
    batch's average image."""

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Posterior:
        posterior = super().encode(x, y)
        mu = posterior.mu.mean(0, keepdim=True).expand_as(posterior.mu)
        logvar = posterior.logvar.exp().mean(0, keepdim=True).log().expand_as(posterior.logvar)
        return Posterior(mu, logvar)


MODEL_CLASSES = {"ae": AutoEncoder, "vae": VAE, "cvae": ConditionalVAE, "pooled": PooledVAE}


def build_model(config: RunConfig, image_shape: tuple[int, ...], n_classes: int = 10) -> AutoEncoder:
    """The model `config` names, for images of `image_shape`; `n_classes` is read by the
    conditional VAE only."""
    if config.arch == "conv" and (image_shape[-1] % 4 or image_shape[-2] % 4):
        raise ConfigError(f"arch=conv needs image sides divisible by 4, not {image_shape[-2]}x{image_shape[-1]}; "
                          "use arch=mlp for this data set")
    cls = MODEL_CLASSES[config.model]
    return cls(image_shape, config.latent_dim, config.hidden_dim, config.arch,
               n_classes if config.model == "cvae" else 0)
