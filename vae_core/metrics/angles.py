"""Ground-truth smoothness on the synthetic `lines` data set (claim C1).

Each `lines` image is a line through the centre at a known angle, its one factor of variation.
On a straight latent path between the codes of two test images, a smooth latent space decodes
lines whose angle sweeps evenly from the first angle to the second along the shorter arc; an
irregular one holds, jumps, or decodes something that is not a line. The figure is the mean
absolute angle error of the decoded interior path points against that even sweep, in degrees
(0 = a perfect, even sweep; 45 = no better than a random angle; lower is better).

The angle of a decoded image is its orientation from second-order central image moments,
theta = 1/2 atan2(2 mu11, mu20 - mu02) (Hu 1962, "Visual pattern recognition by moment
invariants"; the standard principal-axis formula), exact for a rendered line.
"""

from __future__ import annotations

import math

import torch


def line_angle(images: torch.Tensor) -> torch.Tensor:
    """Orientation of each (N, 1, H, W) image in radians in [0, pi), x to the right, y up."""
    img = images.flatten(1, -3).sum(1) if images.dim() == 4 else images  # (N, H, W)
    h, w = img.shape[-2:]
    ys = -torch.arange(h, dtype=img.dtype, device=img.device).view(h, 1)  # y up
    xs = torch.arange(w, dtype=img.dtype, device=img.device).view(1, w)
    mass = img.sum((-2, -1)).clamp_min(1e-12)
    cx, cy = (img * xs).sum((-2, -1)) / mass, (img * ys).sum((-2, -1)) / mass
    dx, dy = xs - cx.view(-1, 1, 1), ys - cy.view(-1, 1, 1)
    mu20, mu02, mu11 = (img * dx * dx).sum((-2, -1)), (img * dy * dy).sum((-2, -1)), (img * dx * dy).sum((-2, -1))
    return torch.remainder(0.5 * torch.atan2(2 * mu11, mu20 - mu02), math.pi)


def angle_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Signed difference a - b of orientations (modulo pi), in [-pi/2, pi/2)."""
    return torch.remainder(a - b + math.pi / 2, math.pi) - math.pi / 2


def angle_path_error_deg(paths: torch.Tensor, start_angle: torch.Tensor, end_angle: torch.Tensor) -> float:
    """Mean absolute error, in degrees, of the decoded angle at each interior point of each path
    (P, T, 1, H, W) against the even sweep from `start_angle` to `end_angle` (P,) along the
    shorter arc."""
    n_steps = paths.shape[1]
    t = torch.linspace(0.0, 1.0, n_steps, dtype=torch.float64, device=paths.device)[1:-1]
    arc = angle_difference(end_angle, start_angle).double().view(-1, 1)
    sweep = start_angle.double().view(-1, 1) + t.view(1, -1) * arc
    decoded = line_angle(paths[:, 1:-1].flatten(0, 1).double()).view(paths.shape[0], -1)
    return math.degrees(angle_difference(decoded, sweep).abs().mean().item())
