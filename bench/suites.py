"""Suites: named lists of runs, each run tagged with the ablation axis (or claim) it belongs to.

A suite is a function of its options (quick, seeds, epochs, data set, device) that returns
`SuiteRun`s; the baseline appears on every axis it belongs to and the runner trains it once.
Built in: `ablations` and `claims` (whose runs each claim declares); from files: a user's suite
(TOML or JSON) or one config over seeds.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.claims import CLAIMS
from bench.claims.base import Baseline
from bench.grids import SWEPT_LOSSES, grid_for
from bench.options import SuiteOptions
from bench.store import UnsafeFileError, read_bounded
from vae_core.config import RECON_LOSSES, ConfigError, RunConfig, config_from_dict


@dataclass(frozen=True)
class SuiteRun:
    axis: str  # the ablation this run belongs to, e.g. "beta"
    config: RunConfig
    label: str | None = None  # a display name from a suite file; None = `config.label`


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    build: Callable[[SuiteOptions], list[SuiteRun]]
    axes: dict[str, str]  # axis name -> title, in report order
    report: str = "axes"  # the report kind (`bench.reports.REPORTS`): "axes" or "claims"


def _ablations(opts: SuiteOptions) -> list[SuiteRun]:
    """A baseline VAE (the classic PyTorch example's) and one axis varied at a time."""
    grid = grid_for(opts)
    runs: list[SuiteRun] = []
    for vae in grid.seed_configs():
        ae = vae.replace(model="ae", beta=0.0)  # beta means nothing to an AE; 0 keeps one cache key
        runs += [SuiteRun("model", vae), SuiteRun("model", ae)]
        runs += [SuiteRun("loss", c.replace(recon_loss=loss)) for c in (ae, vae) for loss in RECON_LOSSES]
        # the beta sweep for each fixed decoder, and the calibrated decoder (no beta to tune) as one point
        runs += [SuiteRun("beta", vae.replace(recon_loss=loss, beta=b)) for loss in SWEPT_LOSSES for b in grid.betas]
        runs += [SuiteRun("beta", vae.replace(recon_loss="gaussian"))]
        runs += [SuiteRun("latent", c.replace(latent_dim=d)) for c in (ae, vae) for d in grid.latent_dims]
    return runs


def _claims(opts: SuiteOptions) -> list[SuiteRun]:
    """The runs each claim of `bench.claims.CLAIMS` asks for, per seed. Axes are claims; a run
    that serves several claims (the baseline VAE) is listed under each and trained once."""
    grid = grid_for(opts)
    return [SuiteRun(claim.id, config) for base in grid.seed_configs() for claim in CLAIMS.values()
            for config in claim.runs(Baseline(base, grid))]


SUITES: dict[str, Suite] = {
    "ablations": Suite(
        "ablations",
        "AE vs VAE, MSE vs BCE, KL weight beta, latent size; a baseline VAE, one axis at a time",
        _ablations,
        {
            "model": "AE vs VAE",
            "loss": "Reconstruction loss: BCE, MSE and the calibrated Gaussian",
            "beta": "KL weight beta",
            "latent": "Latent size",
        },
    ),
    "claims": Suite(
        "claims",
        "The chapter's claims C1-C13, each decided by a rule printed beside its verdict, with the rule's history",
        _claims,
        {claim_id: claim_id for claim_id in CLAIMS},
        report="claims",
    ),
}


def config_suite(name: str, description: str, config: RunConfig, opts: SuiteOptions) -> Suite:
    """A suite of one config over seeds: a re-run of a tuned trial or of a user's config file.
    The data set, epochs and device of `opts` override the config's where given."""
    config = config.replace(**opts.overrides())

    def build(options: SuiteOptions) -> list[SuiteRun]:
        return [SuiteRun("runs", config.replace(seed=seed)) for seed in range(options.seeds or 3)]

    return Suite(name, description, build, {"runs": f"Runs of {config.label}"})


def load_config_file(path: Path) -> RunConfig:
    """A RunConfig from a JSON or TOML file of its fields (missing fields take the defaults)."""
    try:
        return config_from_dict(_read_table(path))
    except TypeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def safe_name(text: str) -> str:
    """A suite or study name usable as a file name; anything else is refused, not rewritten."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise ConfigError(f"name {text!r} must be 1-100 letters, digits, '.', '_' or '-', starting with a letter "
                          "or digit; choose another")
    return text


SUITE_FILE_KEYS = {"name", "description", "seeds", "defaults", "runs"}
RUN_KEYS = {"label", "axis"}


def load_suite_file(path: Path, opts: SuiteOptions) -> Suite:
    """A suite written by a user as TOML (or JSON):

        name = "my-suite"              # optional, default: the file name
        description = "..."            # optional
        seeds = 3                      # optional, default 3 (--seeds overrides)
        [defaults]                     # optional RunConfig fields for every run
        dataset = "digits"
        [[runs]]                       # one table per run: RunConfig fields, plus
        label = "strong KL"            #   an optional display label
        axis = "beta"                  #   and an optional section (default "runs")
        beta = 4.0

    Unknown keys are an error, not ignored: a misspelt field would silently train the default.
    --dataset, --epochs and --device override the file where given.
    """
    data = _read_table(path)
    unknown = sorted(set(data) - SUITE_FILE_KEYS)
    if unknown:
        raise ConfigError(f"suite file {path}: unknown keys {unknown}; allowed: {sorted(SUITE_FILE_KEYS)}")
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise ConfigError(f"suite file {path}: needs at least one [[runs]] table")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"suite file {path}: [defaults] must be a table of RunConfig fields")
    seeds = data.get("seeds", 3)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 100:
        raise ConfigError(f"suite file {path}: seeds = {seeds!r}; use an integer from 1 to 100")
    overrides = opts.overrides()
    declared: list[tuple[str, str | None, RunConfig]] = []
    for i, run in enumerate(runs, 1):
        fields = {k: v for k, v in run.items() if k not in RUN_KEYS}
        try:
            config = config_from_dict({**defaults, **fields, **overrides})
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"suite file {path}, run {i}: {exc}") from None
        label, axis = run.get("label"), run.get("axis", "runs")
        if not isinstance(axis, str) or not axis or (label is not None and not isinstance(label, str)):
            raise ConfigError(f"suite file {path}, run {i}: label and axis must be text")
        declared.append((axis, label, config))

    def build(options: SuiteOptions) -> list[SuiteRun]:
        n = options.seeds or seeds
        return [SuiteRun(axis, config.replace(seed=seed), label)
                for seed in range(n) for axis, label, config in declared]

    name = safe_name(str(data.get("name", path.stem)))
    description = data.get("description", f"suite file {path.name}")
    axes = {axis: axis for axis, _, _ in declared}
    return Suite(name, str(description), build, axes)


def _read_table(path: Path) -> dict:
    try:
        text = read_bounded(path).decode()
    except UnsafeFileError as exc:
        raise ConfigError(f"{exc}; give a regular file of RunConfig fields") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror or exc}); check the path") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a suite or config file") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ConfigError(f"{path} is not valid {kind} ({str(exc).splitlines()[0]}); fix its syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table (key = value pairs)")
    return data
