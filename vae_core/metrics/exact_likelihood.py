"""The exact log p(x) of a model with a latent space of at most 2 dimensions (check C12).

log p(x) = log integral p(x | z) N(z; 0, I) dz, by the midpoint rule on a grid of spacing h over
[-6, 6]^d (d <= 2): log sum_j p(x | z_j) N(z_j; 0, I) h^d. The ELBO and every IWAE_k are lower
bounds of this number (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders",
theorem 1), so with it the bound check can fail: a fault in the bounds' code that puts them
above log p(x), or a curve that does not close in on it, shows. In more than 2 dimensions the
grid is too large (it grows as (12 / h)^d) and only the bounds are available.

The decoder's log-likelihood is affine in x for each likelihood the harness trains with, so the
grid is decoded once and every image scored with one matrix product:
- Bernoulli (bce): log p(x|z) = x . l - sum softplus(l), with l the decoder's logits;
- Gaussian with standard deviation sigma (mse: sigma^2 = 1/2; gaussian: the calibrated sigma):
  log p(x|z) = (x . m - |m|^2 / 2) / sigma^2 - |x|^2 / (2 sigma^2) - D log sigma - (D/2) log 2 pi,
  with m = sigmoid(l).
The quadrature's error is estimated from the change when the spacing doubles and the share of
the mass on the grid's outermost ring (mass beyond the grid is not counted); a trained
model's posteriors lie well inside [-6, 6]^d, where the prior's density has fallen by e^-18.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vae_core.losses import MSE_LOG_SIGMA, softplus

EXTENT = 6.0  # the grid covers [-6, 6]^d
SPACING = 0.04  # 90,000 points in 2-D; halving it moved a 2-D mnist5k VAE's per-image NLL by < 0.006 nats
MAX_LATENT_DIM = 2
CHUNK = 16384  # grid points decoded at once

Affine = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # logits (G, D) -> (A (G, D), B (G,))


def affine_log_likelihood(recon_loss: str, log_sigma: torch.Tensor | float | None = None
                          ) -> tuple[Affine, Callable[[torch.Tensor], torch.Tensor]]:
    """(terms, image_term) with log p(x | z) = x . A + B + image_term(x) for the decoder that
    `recon_loss` trains (see the module docstring); `log_sigma` is the calibrated decoder's."""
    if recon_loss == "bce":
        return (lambda logits: (logits, -softplus(logits).sum(1))), lambda x: torch.zeros(x.shape[0], dtype=x.dtype)
    if recon_loss == "mse":
        log_sigma = MSE_LOG_SIGMA
    elif recon_loss != "gaussian" or log_sigma is None:
        raise ValueError(f"no exact likelihood for recon_loss={recon_loss!r} (calibrated: run calibrate_decoder first)")
    inv_var = math.exp(-2.0 * float(log_sigma))

    def terms(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.sigmoid(logits)
        d = logits.shape[1]
        return m * inv_var, -0.5 * inv_var * m.pow(2).sum(1) - d * float(log_sigma) - 0.5 * d * math.log(2 * math.pi)

    return terms, lambda x: -0.5 * inv_var * x.pow(2).sum(1)


def grid(latent_dim: int, spacing: float, extent: float = EXTENT) -> tuple[torch.Tensor, torch.Tensor]:
    """Midpoints of the cells of side `spacing` covering [-extent, extent]^latent_dim, shape (G, d),
    and whether each lies on the outermost ring, shape (G,)."""
    n = round(2 * extent / spacing)
    axis = -extent + spacing * (torch.arange(n, dtype=torch.float64) + 0.5)
    points = torch.cartesian_prod(*[axis] * latent_dim).reshape(-1, latent_dim)
    index = torch.cartesian_prod(*[torch.arange(n)] * latent_dim).reshape(-1, latent_dim)
    return points, ((index == 0) | (index == n - 1)).any(1)


@torch.no_grad()
def log_marginal(decode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, recon_loss: str,
                 log_sigma: torch.Tensor | float | None, latent_dim: int, spacing: float = SPACING
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x) per image by the midpoint rule (nats, float64, shape (N,)), and the share of each
    image's mass on the grid's outermost ring, shape (N,). `decode` maps codes to logits."""
    if latent_dim > MAX_LATENT_DIM:
        raise ValueError(f"a grid over {latent_dim} latent dimensions is too large; at most {MAX_LATENT_DIM}")
    terms, image_term = affine_log_likelihood(recon_loss, log_sigma)
    points, ring = grid(latent_dim, spacing)
    xf = x.flatten(1).double()
    totals, edges = [], []
    for z, on_ring in zip(points.split(CHUNK), ring.split(CHUNK), strict=True):
        a, b = terms(decode(z.to(x.device, x.dtype)).flatten(1).double())
        log_prior = -0.5 * z.pow(2).sum(1) - 0.5 * latent_dim * math.log(2 * math.pi)
        log_joint = xf @ a.T + (b + log_prior.to(b.device))  # (N, chunk)
        totals.append(torch.logsumexp(log_joint, 1))
        edges.append(torch.logsumexp(log_joint[:, on_ring.to(log_joint.device)], 1) if on_ring.any()
                     else torch.full_like(totals[-1], -math.inf))
    total = torch.logsumexp(torch.stack(totals), 0)
    edge_share = (torch.logsumexp(torch.stack(edges), 0) - total).exp()
    return (total + image_term(xf) + latent_dim * math.log(spacing)).cpu(), edge_share.cpu()


def exact_nll(decode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, recon_loss: str,
              log_sigma: torch.Tensor | float | None, latent_dim: int, spacing: float = SPACING) -> dict[str, float]:
    """-log p(x) averaged over the images (nats / image, lower is better), and an estimate of that
    mean's quadrature error (nats / image): per image, the change when the spacing doubles or
    -log(1 - the share of mass on the grid's border), whichever is larger, averaged over images
    (a conservative estimate: the midpoint rule's error falls as h^2, so the change from 2h to h
    is about three times the error left at h)."""
    fine, edge_share = log_marginal(decode, x, recon_loss, log_sigma, latent_dim, spacing)
    coarse, _ = log_marginal(decode, x, recon_loss, log_sigma, latent_dim, 2 * spacing)
    border = -torch.log1p(-edge_share.clamp(max=1 - 1e-12))
    return {"nll": -fine.mean().item(), "quadrature_error": torch.maximum((fine - coarse).abs(), border).mean().item()}
