"""The one training loop: `fit(config) -> TrainResult`.

Seeded and deterministic on the CPU. A non-finite loss ends the run with status "diverged" and
the epoch it happened in, instead of raising, so one bad setting does not end a suite. The
loss terms are summed on the device and read once per epoch (one host sync per epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vae_core.config import RunConfig
from vae_core.data import Dataset, iterate_batches, load_dataset
from vae_core.device import resolve_device, synchronize
from vae_core.losses import RECON_LOSSES, kl_divergence
from vae_core.models import build_model

EpochCallback = Callable[[dict], None]


@dataclass
class TrainResult:
    model: torch.nn.Module
    device: str
    status: str  # "ok" or "diverged"
    diverged_epoch: int | None
    train_seconds: float
    train_images_per_s: float
    history: list[dict] = field(default_factory=list)  # one row per epoch


def loss_terms(model: torch.nn.Module, x: torch.Tensor, config: RunConfig) -> dict[str, torch.Tensor]:
    """Batch means of the loss and its parts: loss = recon + beta * KL (chapter eq. 1.19 with
    beta as in Higgins et al. 2017; an AE has no KL)."""
    logits, posterior = model(x)
    recon = RECON_LOSSES[config.recon_loss](logits, x).mean()
    if posterior.logvar is None:
        return {"loss": recon, "recon": recon, "kl": torch.zeros_like(recon),
                "posterior_var": torch.zeros_like(recon)}
    kl = kl_divergence(posterior).mean()
    return {"loss": recon + config.beta * kl, "recon": recon, "kl": kl,
            "posterior_var": posterior.logvar.detach().exp().mean()}


def fit(
    config: RunConfig, data: Dataset | None = None, on_epoch: EpochCallback | None = None
) -> TrainResult:
    """Train one model as `config` says; `data` defaults to the config's data set."""
    device = resolve_device(config.device)
    data = (data or load_dataset(config.dataset, config.data_dir)).to(device)
    torch.manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed)
    model = build_model(config, data.image_shape).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    history: list[dict] = []
    status, diverged_epoch, n_images = "ok", None, 0
    synchronize(device)
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        sums = torch.zeros(4, device=device)
        n_batches = 0
        for x in iterate_batches(data.train_x, config.batch_size, order):
            terms = loss_terms(model, x, config)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            sums += torch.stack([t.detach() for t in terms.values()])
            n_batches += 1
            n_images += x.shape[0]
        loss, recon, kl, posterior_var = (sums / n_batches).tolist()  # one sync per epoch
        seconds = time.perf_counter() - epoch_start
        row = {"epoch": epoch, "loss": loss, "recon": recon, "kl": kl,
               "posterior_var": posterior_var, "seconds": seconds,
               "images_per_s": data.train_x.shape[0] / seconds}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if not math.isfinite(loss):
            status, diverged_epoch = "diverged", epoch
            break
    synchronize(device)
    train_seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(model, device, status, diverged_epoch, train_seconds,
                       n_images / train_seconds, history)
