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

from vae_core.data import unit_float


def nearest_distance(images: torch.Tensor, reference: torch.Tensor, chunk: int = 1024,
                     reference_chunk: int = 8192) -> torch.Tensor:
    """Pixel L2 distance from each image to its nearest reference image, shape (N,); the
    reference (uint8, or float in [0, 1]) is read a chunk at a time, once whatever the number of
    image chunks. The squared distances |x|^2 + |r|^2 - 2 x.r come from one matrix product (as
    `torch.cdist` computes them), and the square root is taken of each image's minimum only:
    1,256 images against mnist5k's 4,000 training images in 49 ms against 66 ms by
    `cdist(...).min(1)`, the same distances to 2e-6."""
    xs = [unit_float(images[start : start + chunk]).flatten(1) for start in range(0, images.shape[0], chunk)]
    nearest: list[torch.Tensor | None] = [None] * len(xs)  # per image chunk: min |r|^2 - 2 x.r so far
    for r in range(0, reference.shape[0], reference_chunk):
        ref = unit_float(reference[r : r + reference_chunk], images.device).flatten(1)
        ref_squared = ref.pow(2).sum(1)
        for i, x in enumerate(xs):
            squared = torch.addmm(ref_squared, x, ref.T, alpha=-2).min(1).values
            nearest[i] = squared if nearest[i] is None else torch.minimum(nearest[i], squared)
    return torch.cat([(n + x.pow(2).sum(1)).clamp_min(0).sqrt() for n, x in zip(nearest, xs, strict=True)])


def nn_distance_ratio(
    generated: torch.Tensor, real_heldout: torch.Tensor, train: torch.Tensor,
    real_distances: torch.Tensor | None = None,
) -> float:
    """Mean nearest-train distance of `generated` over that of `real_heldout` (unitless);
    `real_distances` are `nearest_distance(real_heldout, train)` when already computed (an
    evaluation shares them across its three ratios)."""
    if real_distances is None:
        real_distances = nearest_distance(real_heldout, train)
    return (nearest_distance(generated, train).mean() / real_distances.mean()).item()
