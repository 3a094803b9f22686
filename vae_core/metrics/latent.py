"""The geometry of the latent space: are classes separated, and is the prior covered?
(Claim C5, chapter fig 1.13: reconstruction alone gives separated but scattered classes, KL
alone gives nothing, both give continuous, dense classes.)

- kNN accuracy: 5-fold cross-validated accuracy of a 5-nearest-neighbour classifier on the test
  codes (a fraction; chance = 1 / number of classes; higher = classes better separated).
- Silhouette: mean silhouette coefficient of the codes grouped by class (Rousseeuw 1987), in
  [-1, 1]; higher = tighter, better separated classes, ~0 = no class structure.
- Prior coverage: the "coverage" of Naeem et al. 2020 ("Reliable fidelity and diversity metrics
  for generative models", sec. 3) with the prior as the reference: the share of N(0, I) draws
  whose 5-NN ball (among the draws) holds at least one aggregate-posterior sample. 1 = codes
  reach everywhere the prior puts mass; lower = the prior has holes where no code lies.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import silhouette_score
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

NEIGHBOURS = 5
CV_FOLDS = 5


def knn_accuracy(codes: torch.Tensor, labels: torch.Tensor, k: int = NEIGHBOURS) -> float:
    """Cross-validated k-NN classification accuracy of the codes (fraction, higher is better)."""
    x, y = codes.double().cpu().numpy(), labels.cpu().numpy()
    return float(np.mean(cross_val_score(KNeighborsClassifier(k), x, y, cv=CV_FOLDS)))


def silhouette(codes: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean silhouette coefficient of the codes grouped by class, in [-1, 1]."""
    x = codes.double().cpu().numpy()
    if np.ptp(x, axis=0).max() == 0:  # every code the same point: no structure at all
        return 0.0
    return float(silhouette_score(x, labels.cpu().numpy()))


def prior_coverage(samples: torch.Tensor, generator: torch.Generator, k: int = NEIGHBOURS) -> float:
    """Share of as many N(0, I) draws as `samples` whose k-NN ball holds a sample (fraction)."""
    samples = samples.double().cpu()
    prior = torch.randn(samples.shape, generator=generator, dtype=torch.float64)
    radius = torch.cdist(prior, prior).kthvalue(k + 1, dim=1).values
    return (torch.cdist(prior, samples).min(1).values <= radius).double().mean().item()
