"""Will a run fit in memory? Estimated before anything is trained or written, so that a config
in range but far too large for the machine (`hidden_dim = 65536, latent_dim = 4096`: 908
million parameters, 14.5 GB with gradients and Adam's state) is refused in one line instead of
filling the memory for minutes and dying."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vae_core.config import ConfigError, RunConfig
from vae_core.data import Dataset
from vae_core.device import resolve_device
from vae_core.models import build_model

BYTES_PER_PARAMETER = 16  # float32 weight, its gradient, and Adam's two moments
ACTIVATION_COPIES = 3  # each layer's output kept for the backward pass, its gradient, and workspace


def training_bytes(config: RunConfig, image_shape: tuple[int, ...], train_images: int) -> tuple[int, int]:
    """(estimated bytes to train `config`, its number of parameters). The model is built on
    PyTorch's `meta` device (shapes only, no memory) and one batch is run through it to count
    the activations."""
    with torch.device("meta"):
        model = build_model(config, image_shape)
    params = sum(p.numel() for p in model.parameters())
    outputs: list[int] = []

    def count(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        tensors = output if isinstance(output, tuple | list) else [output]
        outputs.append(sum(t.numel() for t in tensors if isinstance(t, torch.Tensor)))

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    batch = max(1, min(config.batch_size, train_images))
    x = torch.empty(batch, *image_shape, device="meta")
    y = torch.zeros(batch, dtype=torch.long, device="meta") if getattr(model, "n_classes", 0) else None
    model(x, y=y)
    for hook in hooks:
        hook.remove()
    return BYTES_PER_PARAMETER * params + 4 * ACTIVATION_COPIES * sum(outputs), params


def available_bytes(device: str) -> int | None:
    """Memory free for a run on `device`: the GPU's free memory, or the host's MemAvailable
    (/proc/meminfo); None where it cannot be told."""
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def data_bytes(data: Dataset, device: str) -> int:
    """Bytes a run's data (loaded on the host) adds on `device`: the test split as float32,
    which scoring makes (`vae_core.metrics.Scoring`); on a GPU also the test split as stored
    (uint8 for 8-bit data) and the training split, unless that is too large for the device and
    stays in host memory (`Dataset.to`)."""
    size = lambda t: t.numel() * t.element_size()  # noqa: E731
    float_test = 4 * data.test_x.numel()
    if torch.device(device).type == "cpu":
        return float_test
    train = size(data.train_x) + size(data.train_y) if data.train_fits(device) else 0
    return train + size(data.test_x) + size(data.test_y) + float_test


def check_fits(config: RunConfig, data: Dataset) -> None:
    """A one-line ConfigError when `config` would not fit in the memory free on its device: its
    data, and training's parameters, optimiser state and activations."""
    device = resolve_device(config.device)
    need, params = training_bytes(config, data.image_shape, data.train_x.shape[0])
    free = available_bytes(device)
    if free is None:
        return
    if need > free:
        raise ConfigError(f"run {config.label}: training needs about {need / 1e9:.1f} GB ({params / 1e6:,.0f} million "
                          f"parameters with their gradients and Adam's state, and a batch's activations), more than "
                          f"the {free / 1e9:.1f} GB free on {device}; lower hidden_dim, latent_dim or batch_size")
    if need + (extra := data_bytes(data, device)) > free:
        raise ConfigError(f"run {config.label}: its data ({extra / 1e9:.2f} GB more on {device}, with the test split "
                          f"as floats) and training ({need / 1e9:.2f} GB) need more than the {free / 1e9:.2f} GB "
                          f"free on {device}; train on fewer images (train_images=N)"
                          + (" or on the CPU (--device cpu)" if device != "cpu" else " or on a larger machine"))
