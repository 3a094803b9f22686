"""Device choice: cuda > mps > cpu, overridable, with a clear error for an absent device."""

from __future__ import annotations

import warnings

import torch

from vae_core.config import ConfigError, RunConfig


def available_devices() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.insert(0 if "cuda" not in found else 1, "mps")
    return found


def resolve_device(requested: str = "auto") -> str:
    """Map "auto" to the best device present; refuse a device this machine lacks."""
    found = available_devices()
    if requested == "auto":
        return found[0]
    if requested not in found:
        raise ConfigError(
            f"device {requested!r} is not available on this machine (found: {', '.join(found)}); "
            "use --device auto or one of those"
        )
    return requested


def check_precision(precision: str, device: str) -> None:
    """Refuse `precision="bf16"` where this PyTorch has no bfloat16 autocast for `device` (an
    older Apple GPU, say): autocast would warn, turn itself off, and the run would train in
    float32 under a bf16 label."""
    if precision != "bf16":
        return
    kind = torch.device(device).type
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autocast(kind, dtype=torch.bfloat16):
            enabled = torch.is_autocast_enabled(kind)
    if not enabled:
        raise ConfigError(f"precision=bf16 needs bfloat16 autocast, which torch {torch.__version__} does not give on "
                          f"{device}; use precision=fp32 there")


def training_device(config: RunConfig) -> str:
    """The device `config` trains on (`resolve_device`), refused in one line where it cannot
    train in the config's precision (`check_precision`): the one check `fit`, `fit_stacked` and
    the runner's up-front checks make."""
    device = resolve_device(config.device)
    check_precision(config.precision, device)
    return device


def device_of(module: torch.nn.Module, default: torch.device) -> torch.device:
    """Where a module's parameters are (`default` for one without any): the device its inputs
    must be copied to, a batch at a time, when they are kept elsewhere (`Dataset.to`)."""
    parameter = next(module.parameters(), None)
    return default if parameter is None else parameter.device


def synchronize(device: str) -> None:
    """Wait for queued kernels, so that wall-clock timings mean something on a GPU."""
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()
