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


def kth_neighbour_radius(x: torch.Tensor, k: int = PR_NEIGHBOURS) -> torch.Tensor:
    """Each point's distance to its k-th nearest other point: the radius of its k-NN ball."""
    d = torch.cdist(x.double(), x.double())
    return d.kthvalue(k + 1, dim=1).values  # k+1: the point itself is at distance 0


def precision(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS,
              real_radius: torch.Tensor | None = None) -> float:
    """Improved precision alone: the share of `fake` inside the real k-NN manifold (fraction).
    `real_radius` is `kth_neighbour_radius(real, k)` where the caller keeps it for several
    generated sets."""
    return precision_recall(real, fake, k, real_radius, recall=False)["precision"]


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS,
                     real_radius: torch.Tensor | None = None, recall: bool = True) -> dict[str, float]:
    """Improved precision and recall of generated features `fake` against `real` (fractions);
    one fake-to-real distance matrix serves both directions. `real_radius` as in `precision`."""
    real, fake = real.double(), fake.double()
    d = torch.cdist(fake, real)  # (fakes, reals)
    real_radius = kth_neighbour_radius(real, k) if real_radius is None else real_radius
    out = {"precision": (d <= real_radius.view(1, -1)).any(1).double().mean().item()}  # fakes inside real balls
    if recall:
        out["recall"] = (d <= kth_neighbour_radius(fake, k).view(-1, 1)).any(0).double().mean().item()
    return out
