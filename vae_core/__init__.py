"""vae_core: models, losses, data, training and metrics for autoencoder benchmarks.

A library on its own: it never imports `bench`. A run is `fit(config)` then `evaluate(model, data)`.
The names below are imported on first use (PEP 562), so that `vae_core.config` alone, which a
command line needs to parse its options, does not load torch and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
_HOMES = {"ConfigError": "vae_core.config", "RunConfig": "vae_core.config", "load_dataset": "vae_core.data",
          "METRICS": "vae_core.metrics", "evaluate": "vae_core.metrics", "TrainResult": "vae_core.train",
          "fit": "vae_core.train"}
__all__ = ["ConfigError", "METRICS", "RunConfig", "TrainResult", "evaluate", "fit", "load_dataset"]  # = _HOMES

if TYPE_CHECKING:
    from vae_core.config import ConfigError, RunConfig
    from vae_core.data import load_dataset
    from vae_core.metrics import METRICS, evaluate
    from vae_core.train import TrainResult, fit


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'vae_core' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
