"""Realism of generated images as their distance to the data, relative to real images.

For each generated image, the pixel L2 distance to its nearest training image; averaged and
divided by the same figure for real held-out test images (a nearest-neighbour check in the
spirit of the memorisation/novelty tests of Theis, van den Oord & Bethge 2016, "A note on
the evaluation of generative models", sec. 3.3). 1.0 = as close to the data as unseen real
images; higher = farther from anything real (less realistic); lower is better, but note that
pixel L2 favours blur: an over-smooth average can sit close to many digits. The report pairs
it with the sharpness ratios for that reason.
"""

from __future__ import annotations

import torch


def nearest_distance(images: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Pixel L2 distance from each image to its nearest reference image, shape (N,)."""
    ref = reference.flatten(1)
    out = []
    for start in range(0, images.shape[0], chunk):
        out.append(torch.cdist(images[start : start + chunk].flatten(1), ref).min(1).values)
    return torch.cat(out)


def nn_distance_ratio(
    generated: torch.Tensor, real_heldout: torch.Tensor, train: torch.Tensor
) -> float:
    """Mean nearest-train distance of `generated` over that of `real_heldout` (unitless)."""
    return (nearest_distance(generated, train).mean() / nearest_distance(real_heldout, train).mean()).item()
