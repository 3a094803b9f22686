"""Latent smoothness along straight paths between test codes (claim C1, chapter fig 1.3).

Decode `n_steps` evenly spaced points on the segment between two codes and measure the pixel
L2 distance between consecutive decoded images. A smooth latent space changes the image in
even steps; an AE's "discrete" space may hold still and then jump. Two figures:
- `step_l2_mean`: mean step-to-step change (pixel L2 per step; descriptive, 0 for a decoder
  that ignores z);
- `jump_ratio`: per path, the largest step over the mean step, averaged over paths
  (unitless; 1.0 = perfectly even, higher = jumpier; lower is better).
The max/mean ratio follows the "smoothness" reading of path-based metrics such as the
perceptual path length (Karras et al. 2019, StyleGAN, sec. 3.1), computed here in pixels.
"""

from __future__ import annotations

import torch

#: Mean step (pixel L2) below which a path counts as still: a path between two equal codes, which
#: float32 rounding of the interpolation alone moves (the pooled VAE's, whose test codes are all one
#: point: 2e-8 to 3e-7 per step on digits and mnist5k, with "jump ratios" of 1.5-2.3 made of
#: rounding), has no defined ratio; the slowest real movement seen, a nearly collapsed VAE's, steps
#: 9e-5 per step (the claims suite's snapshot, docs/data/claims-runs.csv)
STILL_STEP_L2 = 1e-5


@torch.no_grad()
def interpolation_paths(
    model: torch.nn.Module, z_start: torch.Tensor, z_end: torch.Tensor, n_steps: int
) -> torch.Tensor:
    """Decoded images along straight lines, shape (n_paths, n_steps, C, H, W), in [0, 1]."""
    t = torch.linspace(0.0, 1.0, n_steps, device=z_start.device).view(1, -1, 1)
    z = (1 - t) * z_start.unsqueeze(1) + t * z_end.unsqueeze(1)  # (P, T, D)
    images = torch.sigmoid(model.decode(z.reshape(-1, z.shape[-1])))
    return images.view(z.shape[0], n_steps, *images.shape[1:])


def step_changes(paths: torch.Tensor) -> torch.Tensor:
    """Pixel L2 distance between consecutive images of each path, shape (n_paths, n_steps-1)."""
    return (paths[:, 1:] - paths[:, :-1]).flatten(2).norm(dim=2)


def smoothness_figures(paths: torch.Tensor) -> dict[str, float | None]:
    """`step_l2_mean` and `jump_ratio` (see the module docstring). Paths along which nothing
    changes (a mean step below `STILL_STEP_L2`) have no defined ratio and are left out of it;
    None when no path changes."""
    steps = step_changes(paths)
    mean_step = steps.mean(1)
    moving = mean_step > STILL_STEP_L2
    jump = (steps.max(1).values[moving] / mean_step[moving]).mean().item() if moving.any() else None
    return {"step_l2_mean": steps.mean().item(), "jump_ratio": jump}
