"""Importance-weighted bounds on log p(x) (claim C12: the ELBO is a lower bound).

IWAE_k = E[ log (1/k) sum_i p(x, z_i) / q(z_i | x) ],  z_i ~ q(z | x)
(Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8). IWAE_1 is the
ELBO (chapter eq. 1.15), IWAE_k rises with k, and tends to log p(x) as k grows. Reported as a
negative log-likelihood estimate in nats per image (lower is better).

The decoder's likelihood follows the reconstruction loss the model was trained with:
- "bce": Bernoulli, log p(x|z) = -BCE(logits, x);
- "mse": Gaussian with variance 1/2, whose negative log density is exactly the summed squared
  error plus (D/2) log(pi); the training loss drops that constant;
- "gaussian": Gaussian with the shared variance calibrated on the training images after training
  (`vae_core.train.calibrate_decoder`; Rybkin et al. 2021).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vae_core.losses import MSE_LOG_SIGMA, gaussian_nll, recon_bce
from vae_core.metrics.lanes import GeneratorLike, draw
from vae_core.models import Posterior

# latent draws one decoder pass reads on the CPU: IWAE_100 of 256 mnist5k images took 134 ms in
# passes of 1,024 rows against 289 ms in passes of a whole chunk (16,384 rows, whose 51 MB of
# logits leave the cache between the likelihood's element-wise steps), the same values to the bit
CPU_DECODE_ROWS = 1024
IWAE_CHUNK = 64  # draws `log_importance_weights` makes at once (and, off the CPU, decodes at once)
LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (decoder output, x) -> (N,)


def decoder_log_likelihood(recon_loss: str, log_sigma: torch.Tensor | None = None) -> LogLikelihood:
    """log p(x | z) per image, for the decoder that `recon_loss` trains; `log_sigma` is the
    calibrated Gaussian decoder's (the model's `log_sigma`)."""
    if recon_loss == "bce":
        return lambda logits, x: -recon_bce(logits, x)
    if recon_loss == "mse":
        return lambda logits, x: -gaussian_nll(logits, x, MSE_LOG_SIGMA)
    if recon_loss == "gaussian":
        if log_sigma is None:
            raise ValueError("the calibrated Gaussian decoder has no variance yet: run calibrate_decoder() first")
        return lambda logits, x: -gaussian_nll(logits, x, log_sigma)
    raise ValueError(f"no likelihood for recon_loss={recon_loss!r}")


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def log_importance_weights(
    encode: Callable[[torch.Tensor], Posterior],
    decode: Callable[[torch.Tensor], torch.Tensor],
    log_likelihood: LogLikelihood,
    x: torch.Tensor,
    k: int,
    generator: GeneratorLike = None,
    chunk: int = IWAE_CHUNK,
) -> torch.Tensor:
    """log p(x, z_i) - log q(z_i | x) for k draws z_i ~ q(z|x) per image, shape (k, N), for a
    Gaussian q(z|x) and the N(0, I) prior."""
    posterior = encode(x)
    mu, logvar = posterior.mu, posterior.logvar
    if logvar is None:
        raise ValueError("a deterministic code has no importance-weighted bound")
    # draws decoded at once: on the CPU whole draws up to CPU_DECODE_ROWS rows, elsewhere a chunk
    per_pass = min(chunk, max(1, CPU_DECODE_ROWS // x.shape[0])) if mu.device.type == "cpu" else chunk
    x_pass = x.repeat(per_pass, *[1] * (x.dim() - 1))  # the images once per draw of a pass, copied once
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = draw(generator, torch.randn, (n, *mu.shape), dtype=mu.dtype).to(mu.device)
        z = mu + eps * torch.exp(0.5 * logvar)  # (n, N, D)
        log_px_z = torch.cat([
            log_likelihood(decode(z_pass.reshape(-1, z.shape[-1])), x_pass[: len(z_pass) * x.shape[0]])
            .view(len(z_pass), -1) for z_pass in z.split(per_pass)])
        log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = gaussian_log_density(z, mu, logvar)
        log_w.append(log_px_z + log_pz - log_qz)
    return torch.cat(log_w)


def importance_weighted_bound(log_w: torch.Tensor) -> torch.Tensor:
    """IWAE_k per image (nats), shape (N,), from k log weights per image, shape (k, N):
    log (1/k) sum_i w_i."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def ks_up_to(k: int) -> list[int]:
    """1, 10, 100, ... up to k, and k itself."""
    return sorted({10**i for i in range(len(str(k))) if 10**i <= k} | {k})


def mean_bound(log_w: torch.Tensor, k: int) -> float:
    """Mean IWAE_k over images from K log weights per image, shape (K, N), split into K // k
    disjoint groups of k (a remainder is dropped), in nats."""
    groups = log_w[: (log_w.shape[0] // k) * k].reshape(log_w.shape[0] // k, k, -1)
    return importance_weighted_bound(groups.transpose(0, 1)).mean().item()


def iwae_log_weights(model: torch.nn.Module, x: torch.Tensor, recon_loss: str, k: int,
                     generator: GeneratorLike = None,
                     y: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
    """The model's passes of `iwae_nll_by_k`: for each k' = 1, 10, 100, ... up to k, and k, the
    log weights (draws, N) of its own fresh draws (k for k' = k, and max(k', k // 10) for a
    smaller k'); `y` are the labels of a conditional model. Kept apart from the bounds so that a
    stack of models can run them at once."""
    encode = lambda xb: model.encode(xb, y)  # noqa: E731
    n_images = x.shape[0]
    decode = (lambda z: model.decode(z, None if y is None else y.repeat(z.shape[0] // n_images)))  # noqa: E731
    log_lik = decoder_log_likelihood(recon_loss, model.log_sigma)
    draws = lambda kk: k if kk == k else max(kk, k // 10)  # noqa: E731
    return {kk: log_importance_weights(encode, decode, log_lik, x, draws(kk), generator) for kk in ks_up_to(k)}


def iwae_nll_by_k(model: torch.nn.Module, x: torch.Tensor, recon_loss: str, k: int,
                  generator: torch.Generator | None = None, y: torch.Tensor | None = None) -> dict[int, float]:
    """-IWAE_k' for k' = 1, 10, 100, ... up to k, and k, in nats per image (each an upper bound on
    -log p(x), falling toward it as k' grows); `y` are the labels of a conditional model.

    Each k' gets its own fresh draws per image (`iwae_log_weights`), split into groups of k' (so
    k' = 1 is the ELBO averaged over k // 10 draws). The estimates of different k' are
    independent, and the curve is not made to rise by reusing draws (Jensen's inequality orders
    nested groups of one set of draws whatever the weights; independent estimates are ordered
    only in expectation). The smaller k' need fewer draws for the same precision (their groups
    vary less), which keeps the whole curve at 1.3x the cost of IWAE_k alone at k = 1000 and
    1.2x at k = 100."""
    return bounds_by_k(iwae_log_weights(model, x, recon_loss, k, generator, y))


def bounds_by_k(log_weights: dict[int, torch.Tensor]) -> dict[int, float]:
    """-IWAE_k' (nats per image) from the log weights of each k' (`iwae_log_weights`)."""
    return {kk: -mean_bound(log_w, kk) for kk, log_w in log_weights.items()}
