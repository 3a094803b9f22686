"""Reconstruction error per image, on train and test images, and its train-test gap.

The code used is the posterior mean (z = mu), so the figure is deterministic and an AE and a
VAE are scored alike. The gap test - train measures over-fitting (chapter 1.1, defect 1: a
latent space too large memorises unimportant detail).
"""

from __future__ import annotations

import torch

from vae_core.data import unit_float
from vae_core.device import device_of
from vae_core.losses import recon_bce, recon_mse


@torch.no_grad()
def recon_error_sums(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024,
                     y: torch.Tensor | None = None) -> torch.Tensor:
    """Per batch of `batch_size` images, the summed squared error and the summed Bernoulli NLL
    of their reconstructions, z = mu, shape (batches, 2): the model's pass, kept apart from the
    figures (`mean_errors`) so that a stack of models can run it at once
    (`vae_core.metrics.evaluate_stacked`); `y` are the labels a conditional model reads."""
    device = device_of(model, x.device)  # `x` may be a training split kept in host memory (`Dataset.to`)
    sums = []
    for start in range(0, x.shape[0], batch_size):
        xb = unit_float(x[start : start + batch_size], device)
        yb = None if y is None else y[start : start + batch_size].to(device)
        logits = model.decode(model.encode(xb, yb).mu, yb)
        sums.append(torch.stack([recon_mse(logits, xb).sum(), recon_bce(logits, xb).sum()]))
    return torch.stack(sums)


def mean_errors(sums: torch.Tensor, n_images: int) -> dict[str, float]:
    """The mean squared error (sum over pixels; lower is better) and the mean Bernoulli NLL
    (nats per image; lower is better) from `recon_error_sums`, the batches added in float64."""
    mse, bce = (sum(column) for column in zip(*sums.tolist(), strict=True))
    return {"mse": mse / n_images, "bce": bce / n_images}


def recon_errors(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024,
                 y: torch.Tensor | None = None) -> dict[str, float]:
    """Mean over images of the squared error (sum over pixels; lower is better) and of the
    Bernoulli NLL (nats per image; lower is better), decoding z = mu; `y` are the labels a
    conditional model reads."""
    return mean_errors(recon_error_sums(model, x, batch_size, y), x.shape[0])


def mean_image_mse(train_x: torch.Tensor, test_x: torch.Tensor, batch_size: int = 4096) -> float:
    """Squared error per image of always answering the mean training image: what a model that
    ignores its input can reach (claims C4, C7). Same units as `recon_errors`' mse. Both splits
    are read a batch at a time (uint8 images become floats only a batch at a time)."""
    device = test_x.device
    total = sum(unit_float(train_x[i : i + batch_size], device).double().sum(0)
                for i in range(0, len(train_x), batch_size))
    mean = (total / len(train_x)).float()
    squared = sum((unit_float(test_x[i : i + batch_size]) - mean).pow(2).flatten(1).sum(1).double().sum()
                  for i in range(0, len(test_x), batch_size))
    return (squared / len(test_x)).item()
