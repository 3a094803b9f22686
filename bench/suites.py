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
    label: str | None = None  # a display name from a suite file; None = `config.label`


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
    report: str = "axes"  # "axes": a section per axis; "claims": the claims ledger (bench.claims)


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


MOMENT_RATIOS = (0.005, 0.05, 0.5, 5.0, 50.0)
QUICK_MOMENT_RATIOS = (0.05, 5.0)
ADV_WEIGHT = 10.0  # the adversarial term ~7 nats/image against an MSE of ~25: comparable, not dominant
IWAE_K_CLAIMS = 1000


def _claims(opts: SuiteOptions) -> list[SuiteRun]:
    """The runs that test the chapter's claims C1-C13 (`bench.claims` holds the rules). Axes are
    claims; a run that serves several claims (the baseline VAE) is listed under each, trained once."""
    seeds = opts.seeds or (2 if opts.quick else 3)
    epochs = opts.epochs or (5 if opts.quick else 20)
    betas = QUICK_BETAS if opts.quick else BETAS
    latent_dims = QUICK_LATENT_DIMS if opts.quick else LATENT_DIMS
    ratios = QUICK_MOMENT_RATIOS if opts.quick else MOMENT_RATIOS
    base = RunConfig(epochs=epochs, dataset=opts.dataset, data_dir=opts.data_dir, device=opts.device)
    runs: list[SuiteRun] = []
    for seed in range(seeds):
        vae = base.replace(seed=seed, iwae_k=IWAE_K_CLAIMS)  # the baseline: the classic example's VAE
        plain = base.replace(seed=seed)  # other VAEs: the default IWAE k keeps evaluation short
        ae = plain.replace(model="ae", beta=0.0)
        conv_ae, conv_vae = ae.replace(arch="conv"), plain.replace(arch="conv")
        lines_ae, lines_vae = (c.replace(dataset="lines", data_dir=None) for c in (ae, plain))
        runs += [SuiteRun("C1", c) for c in (ae, vae, conv_ae, conv_vae, lines_ae, lines_vae)]
        runs += [SuiteRun("C2", c.replace(latent_dim=d)) for c in (ae, plain) for d in latent_dims]
        runs += [SuiteRun("C3", c) for c in (ae, plain.replace(beta=0.0), vae)]
        runs += [SuiteRun("C4", c) for c in (plain.replace(recon_weight=0.0), vae)]
        runs += [SuiteRun("C5", plain.replace(latent_dim=2, **change))
                 for change in ({"beta": 0.0}, {"recon_weight": 0.0}, {})]
        runs += [SuiteRun("C6", plain.replace(regularizer="moments", moment_ratio=r)) for r in ratios]
        runs += [SuiteRun("C6", vae), SuiteRun("C7", plain.replace(model="pooled")), SuiteRun("C7", vae)]
        beta_runs = [vae if b == 1.0 else plain.replace(beta=b) for b in betas]
        runs += [SuiteRun("C8", c) for c in beta_runs]
        mse = plain.replace(recon_loss="mse")
        runs += [SuiteRun("C9", c) for c in (vae, mse, mse.replace(adv_weight=ADV_WEIGHT), *beta_runs)]
        cvae = plain.replace(model="cvae")
        # the rule judges the baseline latent size; latent size 2 was added after the first full run
        # showed the label ignored at size 20 (the code carries the class), and is reported beside it
        runs += [SuiteRun("C10", vae), SuiteRun("C11", cvae), SuiteRun("C11", cvae.replace(latent_dim=2))]
        runs += [SuiteRun("C12", vae)] + [SuiteRun("C13", c) for c in beta_runs if c.beta > 0]
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
    "claims": Suite(
        "claims",
        "The chapter's claims C1-C13, each tested by a rule written before the numbers were seen",
        _claims,
        {f"C{i}": f"C{i}" for i in range(1, 14)},
        report="claims",
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
    overrides = {k: v for k, v in (("dataset", opts.dataset), ("data_dir", opts.data_dir), ("device", opts.device),
                                   ("epochs", opts.epochs)) if v is not None}
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
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror or exc}); check the path") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ConfigError(f"{path} is not valid {kind} ({str(exc).splitlines()[0]}); fix its syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table (key = value pairs)")
    return data
