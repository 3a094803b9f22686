"""Autoencoders with one interface: `encode(x, y) -> Posterior`, `decode(z, y) -> logits`.

The decoder outputs logits; `torch.sigmoid(logits)` is the image. The BCE loss reads the logits
directly (numerically stable), the MSE loss reads the sigmoid, so both losses train the same
network. `y` (class labels) is read only by the conditional VAE; the others ignore it.

Each model is an encoder body (MLP, conv, or a user's own: `user_networks`) giving features, a linear
head giving the code, and
a decoder from the code back to pixels. Variants differ only in how the code is formed:
- `AutoEncoder`: the code is a point (chapter fig 1.1);
- `VAE`: one Gaussian N(mu, sigma^2) per input and latent dimension (fig 1.8, the right logic);
- `ConditionalVAE`: the VAE with a one-hot class label fed to the encoder head and the decoder
  (Sohn, Lee & Yan 2015; chapter fig 1.10);
- `PooledVAE`: the misconception of fig 1.7, one Gaussian for the whole batch, from which as many
  codes are drawn as there are inputs, so a code no longer belongs to its input.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

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


#: The source version of each user module as this process loaded it (`_user_module`).
_loaded_versions: dict[str, str] = {}


def _user_module(name: str) -> tuple[ModuleType, str]:
    """A user's module and the SHA-256 of its source, loaded again where the source changed since
    this process loaded it (or where something else loaded it first): the run key holds the
    source on disk, so the run must use that source."""
    fresh = name not in sys.modules
    module = importlib.import_module(name)
    version = hashlib.sha256(inspect.getsource(module).encode()).hexdigest()[:16]
    if not fresh and _loaded_versions.get(name) != version:
        module = importlib.reload(module)
    _loaded_versions[name] = version
    return module, version


def user_function(arch: str) -> Callable[..., object]:
    """The function a user's `arch = "module:function"` names, imported; a one-line
    `ConfigError` when the module cannot be imported or has no such function."""
    module_name, _, name = arch.partition(":")
    try:
        module, _ = _user_module(module_name)
    except Exception as exc:  # the user's module may raise anything while it is imported
        raise ConfigError(f"arch={arch}: cannot import {module_name} ({type(exc).__name__}: {str(exc)[:120]}); run "
                          "from the folder that holds it, or install it") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(f"arch={arch}: {module_name} has no function {name}; define {name}(image_shape, code_dim) "
                          "returning (encoder, decoder)")
    return function


def arch_version(arch: str) -> str:
    """What of a user's networks a run's cache key must hold: the SHA-256 of the source of the
    module that defines them, so that editing it retrains; nothing for the built-in ones."""
    if ":" not in arch:
        return ""
    try:
        return _user_module(arch.partition(":")[0])[1]
    except Exception:  # not importable: the run is refused, with the reason, before it starts
        return "unimportable"


def user_networks(arch: str, image_shape: tuple[int, ...], code_dim: int) -> tuple[nn.Module, int, nn.Module]:
    """A user's encoder and decoder, `arch = "module:function"`. The contract:

        function(image_shape: tuple[int, int, int], code_dim: int) -> (encoder, decoder)

    `encoder` maps images (B, C, H, W) in [0, 1] to features (B, F), any F; the harness attaches
    the head, a linear layer from the F features (and the one-hot class, for model=cvae) to the
    code: mu and log sigma^2 for a VAE, the point for an AE. `decoder` maps codes (B, code_dim)
    (the latent, with the one-hot class appended for model=cvae) to logits with C * H * W values
    per image, which `sigmoid` turns into the image. Both are checked on a batch of two zero
    images before training; a wrong shape is a one-line `ConfigError`. Returns (encoder, F, decoder)."""
    function = user_function(arch)
    try:
        nets = function(tuple(image_shape), code_dim)
    except Exception as exc:
        raise ConfigError(f"arch={arch}: calling it with image_shape={tuple(image_shape)}, code_dim={code_dim} raised "
                          f"{type(exc).__name__}: {str(exc)[:120]}") from None
    if not (isinstance(nets, tuple) and len(nets) == 2 and all(isinstance(n, nn.Module) for n in nets)):
        raise ConfigError(f"arch={arch}: returned {type(nets).__name__}, not (encoder, decoder), two torch.nn.Module")
    encoder, decoder = nets
    features = _probe(arch, "encoder", encoder, torch.zeros(2, *image_shape))
    if features.dim() != 2:
        raise ConfigError(f"arch={arch}: the encoder gives {tuple(features.shape)} for 2 images; it must give (2, F) "
                          "features (end it with nn.Flatten())")
    pixels = _probe(arch, "decoder", decoder, torch.zeros(2, code_dim))
    if pixels.numel() != 2 * math.prod(image_shape):
        raise ConfigError(f"arch={arch}: the decoder gives {tuple(pixels.shape)} for 2 codes; it must give 2 x "
                          f"{math.prod(image_shape)} logits, shaped (2, {', '.join(map(str, image_shape))})")
    return encoder, features.shape[1], decoder


def _probe(arch: str, part: str, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`net(x)` in evaluation mode (no dropout draw, no batch-norm update), or a `ConfigError`."""
    training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(x)
    except Exception as exc:
        raise ConfigError(f"arch={arch}: the {part} fails on a batch of shape {tuple(x.shape)} ({type(exc).__name__}: "
                          f"{str(exc)[:120]})") from None
    finally:
        net.train(training)
    if not isinstance(out, torch.Tensor):
        raise ConfigError(f"arch={arch}: the {part} returns a {type(out).__name__}; it must return one tensor")
    return out


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
        n_code = 2 * latent_dim if self.stochastic else latent_dim
        if arch in ARCHITECTURES:
            make_body, make_decoder = ARCHITECTURES[arch]
            self.encoder, n_features = make_body(self.image_shape, hidden_dim)
            self.head = nn.Linear(n_features + n_classes, n_code)  # reads the label too, if there is one
            self.decoder = make_decoder(self.image_shape, latent_dim + n_classes, hidden_dim)
        else:  # a user's networks, "module:function"
            self.encoder, n_features, self.decoder = user_networks(arch, self.image_shape, latent_dim + n_classes)
            self.head = nn.Linear(n_features + n_classes, n_code)

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
