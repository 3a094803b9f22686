"""Inference throughput: images per second through encode + decode (higher is better).

Timed with the device synchronised before and after, best of `repeats` passes over the
images, so that a first-call warm-up or a noisy neighbour does not decide the figure.
"""

from __future__ import annotations

import time

import torch

from vae_core.device import synchronize


@torch.no_grad()
def inference_images_per_s(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1024,
    repeats: int = 3,
) -> float:
    """Images per second through encode + decode of `x` (labels `y` for a conditional model)."""
    device = x.device.type
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for i in range(0, x.shape[0], batch_size):
            yb = None if y is None else y[i : i + batch_size]
            model.decode(model.encode(x[i : i + batch_size], yb).mu, yb)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best
