"""Suites: named lists of runs, each run tagged with the ablation axis it belongs to.

A suite is a function of its options (quick, seeds, epochs, data set, device) that returns
`SuiteRun`s; the baseline appears on every axis it belongs to and the runner trains it once.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vae_core.config import ConfigError, RunConfig, config_from_dict


@dataclass(frozen=True)
class SuiteRun:
    axis: str  # the ablation this run belongs to, e.g. "beta"
    config: RunConfig


@dataclass(frozen=True)
class SuiteOptions:
    quick: bool = False
    seeds: int | None = None  # None = the suite's default
    epochs: int | None = None
    dataset: str = "mnist5k"
    data_dir: str | None = None
    device: str = "auto"


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    build: Callable[[SuiteOptions], list[SuiteRun]]
    axes: dict[str, str]  # axis name -> title, in report order


BETAS = (0.0, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0)
LATENT_DIMS = (2, 4, 8, 16, 32, 64)
QUICK_BETAS = (0.0, 1.0, 4.0)
QUICK_LATENT_DIMS = (2, 8, 32)


def _ablations(opts: SuiteOptions) -> list[SuiteRun]:
    """A baseline VAE (the classic PyTorch example's) and one axis varied at a time."""
    seeds = opts.seeds or (2 if opts.quick else 3)
    epochs = opts.epochs or (5 if opts.quick else 20)
    betas = QUICK_BETAS if opts.quick else BETAS
    latent_dims = QUICK_LATENT_DIMS if opts.quick else LATENT_DIMS
    base = RunConfig(epochs=epochs, dataset=opts.dataset, data_dir=opts.data_dir, device=opts.device)
    runs: list[SuiteRun] = []
    for seed in range(seeds):
        vae = base.replace(seed=seed)
        ae = vae.replace(model="ae", beta=0.0)  # beta means nothing to an AE; 0 keeps one cache key
        runs += [SuiteRun("model", vae), SuiteRun("model", ae)]
        runs += [SuiteRun("loss", c.replace(recon_loss=loss)) for c in (ae, vae) for loss in ("mse", "bce")]
        runs += [SuiteRun("beta", vae.replace(beta=b)) for b in betas]
        runs += [SuiteRun("latent", c.replace(latent_dim=d)) for c in (ae, vae) for d in latent_dims]
    return runs


SUITES: dict[str, Suite] = {
    "ablations": Suite(
        "ablations",
        "AE vs VAE, MSE vs BCE, KL weight beta, latent size; a baseline VAE, one axis at a time",
        _ablations,
        {
            "model": "AE vs VAE",
            "loss": "MSE vs BCE reconstruction loss",
            "beta": "KL weight beta",
            "latent": "Latent size",
        },
    ),
}


def config_suite(name: str, description: str, config: RunConfig, opts: SuiteOptions) -> Suite:
    """A suite of one config over seeds: a re-run of a tuned trial or of a user's config file.
    The data set, epochs and device of `opts` override the config's where given."""
    overrides = {k: v for k, v in (("dataset", opts.dataset), ("data_dir", opts.data_dir), ("device", opts.device),
                                   ("epochs", opts.epochs)) if v is not None}
    config = config.replace(**overrides)

    def build(options: SuiteOptions) -> list[SuiteRun]:
        return [SuiteRun("runs", config.replace(seed=seed)) for seed in range(options.seeds or 3)]

    return Suite(name, description, build, {"runs": f"Runs of {config.label}"})


def load_config_file(path: Path) -> RunConfig:
    """A RunConfig from a JSON or TOML file of its fields (missing fields take the defaults)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror}); check the path") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc}); "
                          "fix its syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of RunConfig fields")
    try:
        return config_from_dict(data)
    except TypeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def safe_name(text: str) -> str:
    """A suite or study name usable as a file name; anything else is refused, not rewritten."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise ConfigError(f"name {text!r} must be 1-100 letters, digits, '.', '_' or '-', starting with a letter "
                          "or digit; choose another")
    return text
