"""The tuning search space and objectives, declared once. Kept free of Optuna imports so that
the command line can show them in `--help` without loading Optuna."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vae_core.config import ConfigError
from vae_core.data import Dataset
from vae_core.metrics import METRICS, evaluate
from vae_core.metrics.reconstruction import recon_errors


@dataclass(frozen=True)
class Param:
    """One dimension of the search space."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()

    def suggest(self, trial: Any) -> object:  # an optuna.Trial
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def describe(self) -> str:
        if self.choices:
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        scale = "log-uniform" if self.log else "uniform"
        return f"{self.name} in [{self.low:g}, {self.high:g}] ({'integer, ' if self.integer else ''}{scale})"


#: The search space, declared once; shown by `bench tune --help` and in the study report.
SEARCH_SPACE: tuple[Param, ...] = (
    Param("beta", 0.01, 10.0, log=True),
    Param("recon_loss", choices=("bce", "mse")),
    Param("latent_dim", choices=(2, 4, 8, 16, 32, 64)),
    Param("kl_warmup_epochs", 0, 10, integer=True),
    Param("lr", 1e-4, 1e-2, log=True),
)


def _recon_mse_now(model: torch.nn.Module, data: Dataset) -> float:
    return recon_errors(model, data.test_x)["mse"]


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # "minimize" or "maximize"
    per_epoch: Callable[[torch.nn.Module, Dataset], float] | None = None  # cheap version for pruning

    def measure(self, model: torch.nn.Module, data: Dataset) -> float:
        if self.per_epoch is not None:
            return self.per_epoch(model, data)
        value = evaluate(model, data, only=[self.metric]).metrics[self.metric]
        return math.nan if value is None else float(value)


OBJECTIVES: dict[str, Objective] = {
    "test_recon": Objective("test_recon_mse", "minimize", _recon_mse_now),
    "smoothness": Objective("interp_jump_ratio", "minimize"),
    "prior_match": Objective("agg_posterior_kl", "minimize"),
    "sample_realism": Objective("prior_nn_ratio", "minimize"),
    "sample_sharpness": Objective("prior_laplacian_ratio", "maximize"),
    "sample_fid": Objective("prior_fid", "minimize"),
    "neg_elbo": Objective("test_neg_elbo", "minimize"),
    "rate": Objective("test_kl", "minimize"),
}


def objectives_help() -> str:
    return "; ".join(f"{name} = {o.metric} ({o.direction}, {METRICS[o.metric].unit})" for name, o in OBJECTIVES.items())


def parse_objectives(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in OBJECTIVES]
    if not names or unknown:
        raise ConfigError(f"unknown objective(s) {', '.join(unknown) or repr(text)}; "
                          f"choose from {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"objective listed twice in {text!r}; name each once")
    return names


