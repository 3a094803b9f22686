"""Perceptual path length in the evaluator's features (claims C1 and C8).

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks", sec. 3.2: the expected squared feature distance between images decoded at t and
t + eps on a latent path, divided by eps^2, with values outside the 1st and 99th percentiles
trimmed. Here the paths run straight between the codes of two test images (what C1 calls
interpolation), the distance is the squared L2 between the evaluator's penultimate features
(`vae_core.evaluator`, in place of the VGG features of LPIPS), and t is in path units, so the
figure does not depend on the scale of the latent space:

- `perceptual_path_length`: that trimmed mean (feature units^2 per unit t^2; lower = the images
  change less along the path);
- `path_length_excess`: per path, the mean of those squared speeds over t divided by the
  squared feature distance between the path's two decoded ends, averaged over paths. By the
  Cauchy-Schwarz inequality it is at least 1 (in expectation over t), and exactly 1 when the
  decoded images move through feature space in a straight line at constant speed; detours and
  jumps raise it, while two ends that are simply far apart do not (unitless; lower = smoother).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

EPSILON = 1e-4  # Karras et al. 2019
TRIM_PERCENTILES = (1, 99)  # Karras et al. 2019: "discard the 1% lowest and highest"

Features = Callable[[torch.Tensor], torch.Tensor]  # images in [0, 1] -> (N, F)


@torch.no_grad()
def path_images(decode: Callable[[torch.Tensor], torch.Tensor], z_start: torch.Tensor, z_end: torch.Tensor,
                t: torch.Tensor, eps: float = EPSILON) -> tuple[torch.Tensor, torch.Tensor]:
    """The images g(z(t)) and g(z(t + eps)) on the paths z(t) = (1 - t) z_start + t z_end at the
    positions t of shape (P, T), each (P * T, C, H, W): the model's pass of `squared_speeds`."""
    def point(s: torch.Tensor) -> torch.Tensor:
        z = (1 - s).unsqueeze(-1) * z_start.unsqueeze(1) + s.unsqueeze(-1) * z_end.unsqueeze(1)  # (P, T, D)
        return decode(z.reshape(-1, z.shape[-1]))

    return point(t), point(t + eps)


def feature_speeds(here: torch.Tensor, there: torch.Tensor, shape: torch.Size, eps: float = EPSILON) -> torch.Tensor:
    """|there - here|^2 / eps^2 per row of two feature matrices (P * T, F), in float64, as `shape` (P, T)."""
    return ((there.double() - here.double()).pow(2).sum(1) / eps**2).view(shape)


def squared_speeds(decode: Callable[[torch.Tensor], torch.Tensor], features: Features, z_start: torch.Tensor,
                   z_end: torch.Tensor, t: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """|f(g(z(t + eps))) - f(g(z(t)))|^2 / eps^2 for paths z(t) = (1 - t) z_start + t z_end, at
    the positions t of shape (P, T); returns shape (P, T). `decode` gives images in [0, 1]."""
    here, there = path_images(decode, z_start, z_end, t, eps)
    return feature_speeds(features(here), features(there), t.shape, eps)


def perceptual_path_length(speeds: torch.Tensor) -> float:
    """The mean of the squared speeds between the 1st and 99th percentiles (both kept)."""
    values = speeds.flatten().cpu().numpy()
    lo, hi = np.percentile(values, TRIM_PERCENTILES)
    return float(values[(values >= lo) & (values <= hi)].mean())


def path_length_excess(speeds: torch.Tensor, end_features: tuple[torch.Tensor, torch.Tensor]) -> float | None:
    """Mean over paths of mean_t(speed^2) / |f(end) - f(start)|^2 (see the module docstring);
    paths whose ends decode to the same features are left out; None when all do."""
    start, end = (f.double() for f in end_features)
    chord = (end - start).pow(2).sum(1)
    moving = chord > 1e-12
    if not moving.any():
        return None
    return (speeds.mean(1)[moving] / chord[moving]).mean().item()
