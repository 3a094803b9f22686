"""The one description of a training run: a frozen, validated dataclass.

A run is a pure function of its `RunConfig` (plus the code version): the runner hashes
`config_dict(config)` to cache results, so every field that changes a result lives here and
nothing else does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

MODELS = ("ae", "vae")
RECON_LOSSES = ("mse", "bce")
DEVICES = ("auto", "cpu", "cuda", "mps")
EVAL_SPLITS = ("test", "validation")


class ConfigError(ValueError):
    """A configuration value a user gave is invalid; the message names the fix."""


@dataclass(frozen=True)
class RunConfig:
    """One training run. Defaults match the classic PyTorch VAE example (pytorch/examples,
    `vae/main.py`): MLP 784-400-20, Adam lr 1e-3, batch 128, BCE summed over pixels, beta 1.
    """

    model: str = "vae"  # "ae" (deterministic code) or "vae" (Gaussian posterior)
    recon_loss: str = "bce"  # "bce" (Bernoulli decoder) or "mse" (Gaussian decoder, fixed variance)
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017); ignored by the AE
    kl_warmup_epochs: int = 0  # KL weight ramps linearly from 0 to beta over these epochs (Bowman et al. 2016)
    latent_dim: int = 20
    hidden_dim: int = 400
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    dataset: str = "mnist5k"
    data_dir: str | None = None  # only for torchvision data sets; None = download to the cache
    eval_split: str = "test"  # "validation": train on 80% of the training split, score on the rest (tuning)
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("model", self.model, MODELS)
        _check_choice("recon_loss", self.recon_loss, RECON_LOSSES)
        _check_choice("device", self.device, DEVICES)
        _check_choice("eval_split", self.eval_split, EVAL_SPLITS)
        _check_range("beta", self.beta, 0.0, 1e4)
        _check_range("latent_dim", self.latent_dim, 1, 4096, integer=True)
        _check_range("kl_warmup_epochs", self.kl_warmup_epochs, 0, 10000, integer=True)
        _check_range("hidden_dim", self.hidden_dim, 1, 65536, integer=True)
        _check_range("epochs", self.epochs, 1, 10000, integer=True)
        _check_range("batch_size", self.batch_size, 1, 1 << 20, integer=True)
        _check_range("lr", self.lr, 1e-8, 100.0)
        _check_range("seed", self.seed, 0, 2**31 - 1, integer=True)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @property
    def label(self) -> str:
        """Short human name, e.g. `vae-bce-b1-z20` (seed not included: seeds are pooled)."""
        label = f"{self.model}-{self.recon_loss}" + (f"-b{self.beta:g}" if self.model == "vae" else "")
        label += f"-z{self.latent_dim}"
        defaults = RunConfig.__dataclass_fields__
        for name, short in (("kl_warmup_epochs", "w"), ("lr", "lr"), ("hidden_dim", "h"), ("batch_size", "bs")):
            value = getattr(self, name)
            if value != defaults[name].default:
                label += f"-{short}{value:g}"
        return label + ("-val" if self.eval_split == "validation" else "")


def config_dict(config: RunConfig) -> dict[str, Any]:
    """Plain dict of a config (JSON-able), in field order."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of `config_dict`; unknown keys are an error, not silently dropped."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown run config keys {unknown}; known keys are {sorted(known)}")
    return RunConfig(**data)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")


def _check_range(name: str, value: object, low: float, high: float, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{name}={value!r} must be {'an integer' if integer else 'a number'}")
    if not (low <= value <= high):  # also rejects NaN
        raise ConfigError(f"{name}={value!r} is out of range; use a value in [{low:g}, {high:g}]")
