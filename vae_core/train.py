"""The one training loop: `fit(config) -> TrainResult`.

Seeded and deterministic on the CPU. A non-finite loss ends the run with status "diverged" and
the epoch it happened in, instead of raising, so one bad setting does not end a suite. The
loss terms are summed on the device and read once per epoch (one host sync per epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from vae_core.adversarial import Adversary
from vae_core.config import RunConfig
from vae_core.data import Dataset, dataset_for, iterate_batches, unit_float
from vae_core.device import device_of, synchronize, training_device
from vae_core.losses import RECON_LOSSES, clip_log_sigma, kl_divergence, moment_penalty
from vae_core.models import Posterior, build_model

EpochCallback = Callable[[dict, torch.nn.Module, Dataset], None]  # (history row, model, device data)


@dataclass
class TrainResult:
    model: torch.nn.Module
    device: str
    status: str  # "ok" or "diverged"
    diverged_epoch: int | None
    train_seconds: float
    train_images_per_s: float
    history: list[dict] = field(default_factory=list)  # one row per epoch
    stacked_with: int = 1  # models trained together with this one (vae_core.stacked); timings are the stack's
    compile_seconds: float = 0.0  # compiling the stacked step (`fit_stacked(compile_step=True)`), not in train_seconds


def kl_weight(config: RunConfig, epoch: int) -> float:
    """beta, ramped linearly over the first `kl_warmup_epochs` epochs (KL annealing, Bowman et
    al. 2016, "Generating sentences from a continuous space"), so the code is used before the
    KL term can switch it off."""
    if config.kl_warmup_epochs == 0:
        return config.beta
    return config.beta * min(1.0, epoch / config.kl_warmup_epochs)


def forward(model: Callable[..., tuple[torch.Tensor, Posterior]], x: torch.Tensor, config: RunConfig,
            *args: torch.Tensor, **kwargs: torch.Tensor | None) -> tuple[torch.Tensor, Posterior]:
    """The training forward pass `model(x, *args, **kwargs)` in `config.precision`: "bf16" runs
    the network under bfloat16 autocast (Micikevicius et al. 2018, "Mixed Precision Training":
    the products in half precision, the master weights in float32; bfloat16 keeps float32's
    exponent range, so no loss scaling) and hands the loss float32 logits and posterior, so the
    sums over pixels and latent dimensions keep float32's precision."""
    if config.precision == "fp32":
        return model(x, *args, **kwargs)
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        logits, posterior = model(x, *args, **kwargs)
    logvar = None if posterior.logvar is None else posterior.logvar.float()
    return logits.float(), Posterior(posterior.mu.float(), logvar)


def loss_terms(
    model: torch.nn.Module, x: torch.Tensor, config: RunConfig, beta: float | None = None,
    y: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Batch means of the loss and its parts (see `terms_of`); `beta` overrides the config's
    (warm-up), `y` are the labels a conditional model reads."""
    logits, posterior = forward(model, x, config, y=y)
    return terms_of(logits, posterior, x, config, beta)


def terms_of(
    logits: torch.Tensor, posterior: Posterior, x: torch.Tensor, config: RunConfig,
    beta: float | torch.Tensor | None = None, adversary: Adversary | None = None,
    recon_mix: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Batch means of the loss and its parts from a forward pass already made (also used under
    `vmap`): loss = recon_weight * recon + beta * regulariser (+ adv_weight * adversarial).
    The regulariser is the closed-form KL (chapter eq. 1.19, beta as in Higgins et al. 2017) or
    the moment penalties of eq. 1.4/1.5; an AE has none. `kl` is always the closed-form KL.
    `recon_mix` (a stack of models with different reconstruction losses) weighs each loss by
    1 or 0 instead of reading `config.recon_loss`: 1 * a + 0 * b is a, and so is its gradient."""
    if recon_mix is None:
        recon = RECON_LOSSES[config.recon_loss](logits, x).mean()
    else:
        recon = sum(weight * RECON_LOSSES[name](logits, x).mean() for name, weight in recon_mix.items())
    loss = config.recon_weight * recon
    if adversary is not None:
        loss = loss + config.adv_weight * adversary.generator_loss(torch.sigmoid(logits))
    if posterior.logvar is None:
        return {"loss": loss, "recon": recon, "kl": torch.zeros_like(recon),
                "posterior_var": torch.zeros_like(recon)}
    kl = kl_divergence(posterior).mean()
    regulariser = kl if config.regularizer == "kl" else moment_penalty(posterior, config.moment_ratio).mean()
    beta = config.beta if beta is None else beta
    return {"loss": loss + beta * regulariser, "recon": recon, "kl": kl,
            "posterior_var": posterior.logvar.detach().exp().mean()}


def ready_to_score(model: torch.nn.Module, data: Dataset, config: RunConfig) -> torch.nn.Module:
    """The model in evaluation mode, with the calibrated decoder's variance fixed where it has
    one (`recon_loss = "gaussian"`): what every scoring of a trained model (the per-epoch
    callback, the end of `fit` and of `fit_stacked`) reads."""
    model.eval()
    if config.recon_loss == "gaussian":
        calibrate_decoder(model, data, config.seed)
    return model


@torch.no_grad()
def calibrate_decoder(model: torch.nn.Module, data: Dataset, seed: int, batch_size: int = 1024) -> None:
    """Set the calibrated Gaussian decoder's shared log sigma to its maximum-likelihood value on
    the training images, z drawn from q(z|x): sigma^2 = the mean squared error per pixel (Rybkin
    et al. 2021). Training used each batch's own optimum; this fixes the one the model keeps for
    the ELBO and IWAE bounds, from training data only."""
    generator = torch.Generator().manual_seed(seed)
    # summed in float64 on the device: no host sync per batch, and the same bits whatever the
    # thread count (a float32 sum's rounding depends on how the reduction is split)
    device = device_of(model, data.test_x.device)  # the training images may be in host memory (`Dataset.to`)
    squared = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, data.train_x.shape[0], batch_size):
        x = unit_float(data.train_x[start : start + batch_size], device)
        y = data.train_y[start : start + batch_size].to(device) if model.n_classes else None
        posterior = model.encode(x, y)
        noise = torch.randn(posterior.mu.shape, generator=generator).to(x.device)
        logits = model.decode(posterior.sample(noise), y)
        squared += (torch.sigmoid(logits).double() - x.double()).pow(2).sum()
    mean_squared = (squared / data.train_x.numel()).clamp_min(1e-30)  # a perfect fit meets the floor, not log(0)
    model.log_sigma = clip_log_sigma(0.5 * mean_squared.log()).float()


def make_optimizer(params: Iterable[torch.Tensor], config: RunConfig) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015), as in the classic example. The fused kernel (all parameters in
    one kernel) is ~10% faster per step than the default for-each version on the CPU at batch
    128 (`python -m bench perf`). Elementwise, so stacked models update exactly as alone."""
    return torch.optim.Adam(params, lr=config.lr, fused=True)


def fit(
    config: RunConfig, data: Dataset | None = None, on_epoch: EpochCallback | None = None
) -> TrainResult:
    """Train one model as `config` says; `data` defaults to `dataset_for(config)`."""
    device = training_device(config)
    data = (data or dataset_for(config)).to(device)
    torch.manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed)
    model = build_model(config, data.image_shape, data.n_classes).to(device)
    optimizer = make_optimizer(model.parameters(), config)
    adversary = Adversary(data.image_shape, config, device) if config.adv_weight > 0 else None

    history: list[dict] = []
    status, diverged_epoch, n_images = "ok", None, 0
    synchronize(device)
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        sums = torch.zeros(4, device=device)
        n_batches = 0
        beta = kl_weight(config, epoch)
        for x, y in iterate_batches((data.train_x, data.train_y), config.batch_size, order):
            x, y = unit_float(x, device), y.to(device, non_blocking=True)
            logits, posterior = forward(model, x, config, y=y)
            terms = terms_of(logits, posterior, x, config, beta, adversary)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            if adversary is not None:  # then the discriminator learns from this batch (alternating, as in a GAN)
                adversary.step(x, torch.sigmoid(logits))
            sums += torch.stack([t.detach() for t in terms.values()])
            n_batches += 1
            n_images += x.shape[0]
        loss, recon, kl, posterior_var = (sums / n_batches).tolist()  # one sync per epoch
        seconds = time.perf_counter() - epoch_start
        row = {"epoch": epoch, "loss": loss, "recon": recon, "kl": kl, "kl_weight": beta,
               "posterior_var": posterior_var, "seconds": seconds,
               "images_per_s": data.train_x.shape[0] / seconds}
        history.append(row)
        if not math.isfinite(loss):
            status, diverged_epoch = "diverged", epoch
            break
        if on_epoch is not None:  # may raise to stop the run (a pruned Optuna trial)
            on_epoch(row, ready_to_score(model, data, config), data)
    synchronize(device)
    train_seconds = time.perf_counter() - start
    ready_to_score(model, data, config)
    return TrainResult(model, device, status, diverged_epoch, train_seconds,
                       n_images / train_seconds, history)
