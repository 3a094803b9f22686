"""Holes in the prior, read apart from blur (claims C1 and C10).

A sample decoded from a region of latent space that no training image maps to (a "hole") is
an image of no class: the evaluator network (`vae_core.evaluator`), a classifier trained on the
data set's labels, gives it a low top-class probability. Blur lowers that probability too, so
the prior samples' mean confidence is divided by that of the same decoder's reconstructions of
real test images, which are exactly as blurry but come from codes of real images. What is left
is what the prior samples lack beyond blur: the confidence-based check of "does it look like
any class" used by the Inception Score (Salimans et al. 2016, sec. 4), made relative to the
model's own reconstructions.

- `mean_confidence`: mean top-class probability (in [1 / classes, 1]; higher = more clearly
  some class);
- `confidence_ratio`: prior samples' over reconstructions' (unitless; 1 = prior samples are as
  recognisable as the decoder's reconstructions, lower = holes; above 1 is possible when
  samples are more prototypical than the test images).
"""

from __future__ import annotations

import torch


def mean_confidence(probabilities: torch.Tensor) -> float:
    """Mean over images of the largest class probability, from (N, classes) probabilities."""
    return probabilities.max(1).values.double().mean().item()


def confidence_ratio(prior_probabilities: torch.Tensor, recon_probabilities: torch.Tensor) -> float:
    """mean_confidence of prior samples over that of reconstructions."""
    return mean_confidence(prior_probabilities) / mean_confidence(recon_probabilities)
