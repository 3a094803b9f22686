"""Ground-truth smoothness on the synthetic colour `shapes` data set (claim C1 on colour images).

Each `shapes` image is one filled shape on black whose centre is known. On a straight latent
path between the codes of two test images, a smooth latent space decodes a shape that moves
evenly along the straight line from the first centre to the second; an irregular one holds,
jumps, or decodes something shapeless. The figure is the mean distance, in pixels, of the
decoded interior path points' centroids from that even move (0 = a perfect, even move; lower is
better). It is the colour counterpart of `angles.py` on `lines`; like it, it reads where the
decoded image is, not whether it is sharp (a cross-fade of the two endpoint images has its
centroid on the line too), so the report reads it beside the realism and sharpness figures.

The centroid of an image is its first image moment (Hu 1962, "Visual pattern recognition by
moment invariants") over the brightness V = max(R, G, B), the value of HSV: every shape of the
set has V = 1 inside and 0 outside whatever its hue, so the centroid is the shape's centre of
area, exact up to its anti-aliased edge for the symmetric square and disc and the triangle's
centroid for the triangle.
"""

from __future__ import annotations

import torch


def centroid_xy(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) centroid (x, y) of each (N, C, H, W) image's brightness, in pixels from the top left
    corner (pixel centres at 0.5, 1.5, ..., as `vae_core.data.render_shapes` places shapes); an
    all-black image gives the image's centre."""
    value = images.amax(1)  # (N, H, W)
    h, w = value.shape[-2:]
    ys = (torch.arange(h, dtype=value.dtype, device=value.device) + 0.5).view(h, 1)
    xs = (torch.arange(w, dtype=value.dtype, device=value.device) + 0.5).view(1, w)
    mass = value.sum((-2, -1))
    centre = torch.tensor([w / 2, h / 2], dtype=value.dtype, device=value.device)
    xy = torch.stack([(value * xs).sum((-2, -1)), (value * ys).sum((-2, -1))], dim=1) / mass.clamp_min(1e-12)[:, None]
    return torch.where(mass[:, None] > 0, xy, centre)


def position_path_error_px(paths: torch.Tensor, start_xy: torch.Tensor, end_xy: torch.Tensor) -> float:
    """Mean distance, in pixels, of the decoded centroid at each interior point of each path
    (P, T, C, H, W) from the even straight move between the known centres `start_xy` and
    `end_xy` (P, 2)."""
    n_steps = paths.shape[1]
    t = torch.linspace(0.0, 1.0, n_steps, dtype=torch.float64, device=paths.device)[1:-1].view(1, -1, 1)
    start, end = start_xy.double().unsqueeze(1), end_xy.double().unsqueeze(1)
    even = start + t * (end - start)  # (P, T - 2, 2)
    decoded = centroid_xy(paths[:, 1:-1].flatten(0, 1).double()).view(paths.shape[0], -1, 2)
    return (decoded - even).norm(dim=-1).mean().item()
