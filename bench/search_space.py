"""The tuning search space and objectives, declared once. Kept free of Optuna imports so that
the command line can show them in `--help` without loading Optuna."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from vae_core.config import ConfigError
from vae_core.data import Dataset
from vae_core.evaluator import Evaluator
from vae_core.metrics import DEFAULT_DRAWS, METRICS, Draws, evaluate, groups_for


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


DIRECTIONS = {"lower": "minimize", "higher": "maximize", "closer to 1": "minimize"}


@dataclass(frozen=True)
class Objective:
    """A registered metric to optimise. Its direction comes from `METRICS`: "lower" is
    minimised, "higher" maximised, and "closer to 1" (a ratio to real images) is minimised as
    |log ratio|, so half and twice as sharp as real are equally far. Only a metric the registry
    calls "descriptive" declares its direction here. The value measured after each epoch (for
    pruning) is the same quantity as the final one: the metric's group of `evaluate`, with the
    evaluator network where that group needs it."""

    metric: str
    declared_direction: str | None = None  # only for a "descriptive" metric

    @property
    def direction(self) -> str:
        return DIRECTIONS.get(METRICS[self.metric].better) or self.declared_direction

    @property
    def label(self) -> str:
        """What is optimised: the metric, or |log metric| for a ratio read as closeness to 1."""
        return f"|log {self.metric}|" if METRICS[self.metric].better == "closer to 1" else self.metric

    @property
    def needs_evaluator(self) -> bool:
        return any("evaluator" in group.needs for group in groups_for([self.metric]))

    def value(self, raw: float | None) -> float:
        """The optimised value of a metric value; NaN where there is none (Optuna records a failed trial)."""
        if raw is None or not math.isfinite(raw):
            return math.nan
        if METRICS[self.metric].better == "closer to 1":
            return abs(math.log(raw)) if raw > 0 else math.nan
        return float(raw)

    def measure(self, model: torch.nn.Module, data: Dataset, recon_loss: str = "bce",
                evaluator: Evaluator | None = None, draws: Draws = DEFAULT_DRAWS) -> float:
        """The objective now, on `data` (the model's device): the group of `evaluate` that
        produces the metric, nothing else, on `draws` (the run's, `run_draws`, as its record's)."""
        metrics = evaluate(model, data, recon_loss, evaluator, only=[self.metric], draws=draws).metrics
        return self.value(metrics[self.metric])


OBJECTIVES: dict[str, Objective] = {
    "test_recon": Objective("test_recon_mse"),
    "smoothness": Objective("interp_jump_ratio"),
    "prior_match": Objective("agg_posterior_kl"),
    "sample_realism": Objective("prior_nn_ratio"),
    "sample_sharpness": Objective("prior_laplacian_ratio"),
    "sample_fid": Objective("prior_fid"),
    "neg_elbo": Objective("test_neg_elbo"),
    "rate": Objective("test_kl", declared_direction="minimize"),  # the registry leaves the rate's direction open
}


def objectives_help() -> str:
    return "; ".join(f"{name} = {o.label} ({o.direction}, {METRICS[o.metric].unit})" for name, o in OBJECTIVES.items())


def parse_objectives(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in OBJECTIVES]
    if not names or unknown:
        raise ConfigError(f"unknown objective(s) {', '.join(unknown) or repr(text)}; "
                          f"choose from {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"objective listed twice in {text!r}; name each once")
    return names


