"""Sharpness of images, reported as a ratio to real test images (1.0 = as sharp as real,
lower = blurrier). The chapter's second limitation (fig 1.14): pixel-wise losses average
plausible outputs, so VAE images come out blurry.

- Variance of the Laplacian (Pech-Pacheco et al. 2000, "Diatom autofocusing in brightfield
  microscopy: a comparative study"): the variance over pixels of the 3x3 Laplacian response.
- High-frequency energy fraction: the share of the spectral power (DC removed) at radial
  frequencies above `cutoff` cycles per pixel (Nyquist = 0.5); blur removes exactly that.
Both are computed per image and averaged before the ratio is taken.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Per-image variance of the Laplacian of (N, C, H, W) images (pixel units squared)."""
    channels = images.shape[1]
    kernel = _LAPLACIAN.to(images).expand(channels, 1, 3, 3)
    response = F.conv2d(images, kernel, groups=channels)
    return response.flatten(1).var(dim=1)


def high_freq_energy_fraction(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per-image fraction of spectral power above `cutoff` cycles/pixel (unitless, 0-1)."""
    centred = images - images.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(centred.double()).abs().pow(2).sum(1)  # (N, H, W), summed over channels
    fy = torch.fft.fftfreq(images.shape[-2], dtype=torch.float64, device=images.device)
    fx = torch.fft.fftfreq(images.shape[-1], dtype=torch.float64, device=images.device)
    radius = (fy.view(-1, 1) ** 2 + fx.view(1, -1) ** 2).sqrt()
    high = power[:, radius > cutoff].sum(1)
    return (high / power.flatten(1).sum(1).clamp_min(1e-12)).float()


def sharpness(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Both figures of (N, C, H, W) images, each averaged over the images (0-d tensors)."""
    return {"laplacian_variance": laplacian_variance(images).mean(),
            "hf_energy_fraction": high_freq_energy_fraction(images).mean()}


def sharpness_ratios(images: torch.Tensor, real: torch.Tensor, real_sharpness: dict[str, torch.Tensor] | None = None
                     ) -> dict[str, float]:
    """Both sharpness figures of `images` as ratios to those of `real` (1.0 = as sharp);
    `real_sharpness` is `sharpness(real)` where already computed (an evaluation keeps it for
    every model of a suite)."""
    mine, theirs = sharpness(images), real_sharpness or sharpness(real)
    return {"laplacian_ratio": (mine["laplacian_variance"] / theirs["laplacian_variance"]).item(),
            "hf_energy_ratio": (mine["hf_energy_fraction"] / theirs["hf_energy_fraction"]).item()}
