"""Distances between image sets in the feature space of the evaluator network
(`vae_core.evaluator`): a small CNN trained on the data set's own labels, standing in for the
Inception network of published scores. Its figures compare models within one report; they are
not comparable with published FID, precision or recall values.

- Frechet distance between Gaussians fitted to the two feature sets (Heusel et al. 2017, "GANs
  trained by a two time-scale update rule...", the FID; Dowson & Landau 1982 for the formula):
  |m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)). 0 for identical statistics; lower is better.
- Precision and recall with k-NN manifolds (Kynkaanniemi et al. 2019, "Improved precision and
  recall metric for assessing generative models", sec. 3): precision is the share of generated
  images inside the real images' manifold (a union of k-NN balls), recall the share of real
  images inside the generated manifold. Fractions in [0, 1], higher is better.
"""

from __future__ import annotations

import numpy as np
import torch

PR_NEIGHBOURS = 3  # k of Kynkaanniemi et al. 2019


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to feature sets a (N, F) and b (M, F)
    (feature units squared)."""
    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr (S1 S2)^(1/2) = sum of the square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2), a
    # symmetric PSD matrix: exact, and stable where a general matrix square root of the
    # (often singular) product is not
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    trace_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    return float(max(0.0, ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_covmean))


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # k+1: the point itself is at distance 0


def _inside_manifold(points: torch.Tensor, support: torch.Tensor, k: int) -> torch.Tensor:
    """For each point, whether it lies within the k-NN radius of some support point."""
    radius = _kth_neighbour_radius(support, k)
    return (torch.cdist(points, support) <= radius.view(1, -1)).any(1)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS) -> dict[str, float]:
    """Improved precision and recall of generated features `fake` against `real` (fractions)."""
    real, fake = real.double(), fake.double()
    return {"precision": _inside_manifold(fake, real, k).double().mean().item(),
            "recall": _inside_manifold(real, fake, k).double().mean().item()}
