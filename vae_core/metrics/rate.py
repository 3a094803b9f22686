"""Rate and posterior figures: KL per image and per dimension, negative ELBO, posterior
variance, active units, and how far the aggregate posterior is from the prior.

Sources: the closed-form KL is the chapter's eq. 1.6 (Kingma & Welling 2014); active units
follow Burda, Grosse & Salakhutdinov 2016 ("Importance Weighted Autoencoders", sec. 5.2):
dimension d is active when Cov_x(E_q[z_d | x]) > 0.01. The aggregate-posterior gap is the
chapter's first limitation (fig 1.14): q(z) = E_x q(z|x) never equals p(z) = N(0, I).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vae_core.data import unit_float
from vae_core.device import device_of
from vae_core.losses import kl_monte_carlo, kl_per_dim
from vae_core.metrics.lanes import GeneratorLike, draw
from vae_core.metrics.likelihood import LogLikelihood
from vae_core.models import Posterior

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of latent dimensions whose posterior mean varies across inputs by more than
    `threshold` (variance, latent units squared). Higher = more of the code is used."""
    if mu.shape[0] < 2:
        return 0
    return int((mu.var(dim=0) > threshold).sum().item())


def gaussian_kl_to_standard_normal(z: torch.Tensor) -> float:
    """KL(N(m, S) || N(0, I)) in nats for the Gaussian N(m, S) fitted to samples `z` (N, D):
    0.5 * (tr S + m^T m - D - log det S). Zero when the samples' first two moments match the
    prior; lower is better. A moment gap: it cannot see holes that keep the moments."""
    z = z.double()
    d = z.shape[1]
    m = z.mean(0)
    cov = torch.cov(z.T).reshape(d, d) + 1e-9 * torch.eye(d, dtype=z.dtype, device=z.device)
    logdet = torch.linalg.slogdet(cov).logabsdet
    return float(0.5 * (torch.trace(cov) + m @ m - d - logdet))


@torch.no_grad()
def elbo_sample(model: torch.nn.Module, posterior: Posterior, x: torch.Tensor, generator: GeneratorLike,
                log_likelihood: LogLikelihood, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The model's pass of the 1-sample ELBO: one draw z ~ q(z|x) per image of `x`, whose
    `posterior` is given, and log p(x|z) under the decoder likelihood `log_likelihood` (nats
    per image); `y` are the labels a conditional model reads. Kept apart from the figures
    (`posterior_figures`) so that a stack of models can run it at once."""
    eps = draw(generator, torch.randn, posterior.mu.shape).to(posterior.mu.device)
    z = posterior.sample(eps)
    return {"z": z, "log_px_z": log_likelihood(model.decode(z, y), x)}


def posterior_figures(posterior: Posterior, elbo: dict[str, torch.Tensor] | None = None) -> dict:
    """KL (nats per image and per dimension), 1-sample negative ELBO (nats per image, from
    `elbo_sample`), mean posterior variance, active units and the aggregate-posterior gap. For
    an AE (no `logvar`, no `elbo`) the KL figures are None and the aggregate posterior is the set
    of codes."""
    mu, logvar = posterior.mu, posterior.logvar
    out: dict = {"active_units": active_units(mu)}
    if logvar is None:
        out.update(kl=None, kl_per_dim=None, neg_elbo=None, posterior_var=None)
        out["agg_posterior_kl"] = gaussian_kl_to_standard_normal(mu)
        return out
    kl_dims = kl_per_dim(posterior)
    neg_elbo = -elbo["log_px_z"] + kl_dims.sum(1)
    out.update(
        kl=kl_dims.sum(1).mean().item(),
        kl_per_dim=kl_dims.mean(0).tolist(),
        neg_elbo=neg_elbo.mean().item(),
        posterior_var=logvar.exp().mean().item(),
        agg_posterior_kl=gaussian_kl_to_standard_normal(elbo["z"]),
    )
    return out


@torch.no_grad()
def codes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
          batch_size: int = 1024) -> torch.Tensor:
    """The posterior means (N, latent) of images (uint8, or float in [0, 1]), a batch at a time."""
    device = device_of(model, x.device)  # `x` may be a training split kept in host memory (`Dataset.to`)
    return torch.cat([model.encode(unit_float(x[i : i + batch_size], device),
                                   None if y is None else y[i : i + batch_size].to(device)).mu
                      for i in range(0, len(x), batch_size)])


def prior_samples(
    model: torch.nn.Module, n: int, generator: GeneratorLike, train_codes: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """Latent samples to decode: N(0, I) for a VAE (its prior); for an AE, which has no prior,
    the diagonal Gaussian fitted to its training codes (the most charitable simple choice).
    `train_codes` gives those codes (`codes` of the training split) and is called for an AE
    only: a VAE's prior needs no pass over the training images."""
    device = device_of(model, torch.device("cpu"))
    eps = draw(generator, torch.randn, (n, model.latent_dim)).to(device)
    if getattr(model, "stochastic", False):
        return eps
    train_mu = train_codes()
    return train_mu.mean(0) + eps * train_mu.std(0)


def mmd_to_standard_normal(z: torch.Tensor, generator: torch.Generator, max_n: int = 1000) -> float:
    """Unbiased squared MMD between samples `z` (N, D) and as many N(0, I) draws, with a
    Gaussian kernel whose bandwidth is the median pairwise distance of the pooled samples
    (Gretton et al. 2012, "A kernel two-sample test", eq. 3). About 0 when the aggregate
    posterior matches the prior, positive otherwise; unlike the moment gap it sees holes and
    clusters. Unitless; lower is better."""
    z = z[:max_n].double()
    prior = torch.randn(z.shape, generator=generator, dtype=torch.float64).to(z.device)
    n = z.shape[0]
    # squared distances of the distinct pairs only (i < j within each sample, all pairs across):
    # half the work of the full pooled matrix, no mask, and the same median
    within_z, within_prior = torch.pdist(z).pow_(2), torch.pdist(prior).pow_(2)
    across = torch.cdist(z, prior).pow_(2).flatten()
    bandwidth2 = torch.cat([within_z, within_prior, across]).median().clamp_min(1e-12)
    # numpy's pairwise sums: the same figure whatever the number of torch threads
    kernel_sum = lambda d2: torch.exp(-d2 / bandwidth2).cpu().numpy().sum()  # noqa: E731
    pairs = n * (n - 1) / 2
    return float(kernel_sum(within_z) / pairs + kernel_sum(within_prior) / pairs - 2 * kernel_sum(across) / n**2)


def kl_closed_vs_monte_carlo(posterior: Posterior, n_samples: int, generator: torch.Generator) -> dict[str, float]:
    """Mean KL per image by the closed form of eq. 1.6 and by a Monte-Carlo estimate with
    `n_samples` draws per image, with the standard error of the latter's mean (nats): the check
    of claim C13 on a trained model's own posteriors."""
    mc, se = kl_monte_carlo(posterior, n_samples, generator)
    return {"closed": kl_per_dim(posterior).sum(1).mean().item(), "mc": mc.mean().item(),
            "mc_se": (se.pow(2).sum().sqrt() / se.shape[0]).item()}
