"""vae_core: models, losses, data, training and metrics for autoencoder benchmarks.

A library on its own: it never imports `bench`. A run is `fit(config)` then `evaluate(model, data)`.
"""

from vae_core.config import ConfigError, RunConfig
from vae_core.data import load_dataset
from vae_core.metrics import METRICS, evaluate
from vae_core.train import TrainResult, fit

__version__ = "0.1.0"
__all__ = ["ConfigError", "METRICS", "RunConfig", "TrainResult", "evaluate", "fit", "load_dataset"]
