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
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.claims import CLAIMS
from bench.claims.base import Baseline
from bench.grids import SWEPT_LOSSES, grid_for
from bench.options import SuiteOptions
from bench.store import RUNS, UnsafeFileError, read_bounded
from vae_core.config import RECON_LOSSES, SHOWN_KEY, ConfigError, RunConfig, config_from_dict, shown_keys


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
    """A suite of one config over seeds: a re-run of a tuned trial, a user's config file, or the
    default config. The data set, epochs, device and one-valued --set of `opts` override the
    config's; --set fields given several values sweep their product, each point labelled by
    the values it sets (`lr=0.001, beta=2`). Every point is validated here, before any run."""
    config = _with(config.replace, opts.overrides(), "--set")
    points = [(", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items()) or None,
               _with(config.replace, changes, "--set")) for changes in opts.sweep()]

    def build(options: SuiteOptions) -> list[SuiteRun]:
        axis = "sweep" if len(points) > 1 else "runs"
        return [SuiteRun(axis, c.replace(seed=seed), label) for seed in options.seed_values(3) for label, c in points]

    title = f"Sweep of {', '.join(n for n, v in opts.settings if len(v) > 1)} around {config.label}" \
        if len(points) > 1 else f"Runs of {config.label}"
    return Suite(name, description, build, {"sweep" if len(points) > 1 else "runs": title})


def _with(replace: Callable[..., RunConfig], changes: dict, where: str) -> RunConfig:
    try:
        return replace(**changes)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_setting(text: str) -> tuple[str, tuple]:
    """`FIELD=V1[,V2...]` of --set as (field, values), each value of the field's type (an
    integer, a number, true/false, text, or `none` where the field may be unset); the values
    are checked by `RunConfig` when the runs are built."""
    name, sep, values = text.partition("=")
    name = name.strip()
    hints = typing.get_type_hints(RunConfig)
    if not sep or not values.strip():
        raise ConfigError(f"--set {text[:SHOWN_KEY]!r}: give FIELD=VALUE, or FIELD=V1,V2,... to sweep")
    if name == "seed":
        raise ConfigError("--set seed: seeds are set by --seeds N or --seed-list 3,7,11")
    if name not in hints:
        raise ConfigError(f"--set: unknown run config field {shown_keys([name])[0]!r}; known fields are "
                          f"{sorted(set(hints) - {'seed'})}")
    kinds = typing.get_args(hints[name]) or (hints[name],)
    parsed = tuple(_parse_value(name, v.strip(), kinds) for v in values.split(","))
    if len(set(parsed)) < len(parsed):
        raise ConfigError(f"--set {name}: a value is given twice ({values[:SHOWN_KEY]}); give each once")
    return name, parsed


def _parse_value(name: str, text: str, kinds: tuple[type, ...]) -> object:
    if type(None) in kinds and text.lower() == "none":
        return None
    kind = next(k for k in kinds if k is not type(None))
    try:
        if kind is bool:
            return {"true": True, "false": False}[text.lower()]
        return kind(text)
    except (KeyError, ValueError):
        want = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "text")
        raise ConfigError(f"--set {name}={text[:SHOWN_KEY]!r}: {name} takes {want}") from None


def load_config_file(path: Path) -> RunConfig:
    """A RunConfig from a JSON or TOML file of its fields (missing fields take the defaults)."""
    data = _read_table(path)
    check_no_seed(f"config file {path}", data)
    try:
        return config_from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def safe_name(text: str) -> str:
    """A suite or study name usable as a file name; anything else is refused, not rewritten."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise ConfigError(f"name {text!r} must be 1-100 letters, digits, '.', '_' or '-', starting with a letter "
                          "or digit; choose another")
    return text


SUITE_FILE_KEYS = {"name", "description", "seeds", "defaults", "runs"}
RUN_KEYS = {"label", "axis"}
MAX_LABEL = 80  # characters of a run label or an axis name: a report row, not a document


def name_from_file(prefix: str, path: Path) -> str:
    """A suite name made from a file's name: characters a name may not hold become '-'
    ('my config.json' -> 'config-my-config')."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.")[:90] or "file"
    return safe_name(f"{prefix}-{stem}" if prefix else stem)


def check_text(path: Path, what: str, text: object) -> str:
    """A label or axis name: text of 1 to MAX_LABEL characters, none of them control or format
    characters (NUL, ESC, the bidirectional overrides), which would reach the HTML and figures."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"suite file {path}: {what} must be text")
    if len(text) > MAX_LABEL:
        raise ConfigError(f"suite file {path}: {what} {text[:SHOWN_KEY]!r}... has {len(text):,} characters; use at "
                          f"most {MAX_LABEL}")
    if bad := sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf")}):
        raise ConfigError(f"suite file {path}: {what} {text[:SHOWN_KEY]!r} holds control or format characters "
                          f"({', '.join(bad[:5])}); remove them")
    return text


def check_no_seed(where: str, fields: dict) -> None:
    """A seed in a file would be ignored (--seeds sets them), so it is refused."""
    if "seed" in fields:
        raise ConfigError(f"{where}: seed = {str(fields['seed'])[:SHOWN_KEY]!r} would be ignored: every run is trained "
                          "with seeds 0 to N-1 (--seeds N, or seeds = N in a suite file); remove it")


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
    if unknown := set(data) - SUITE_FILE_KEYS:
        raise ConfigError(f"suite file {path}: unknown keys {shown_keys(unknown)}; allowed: {sorted(SUITE_FILE_KEYS)}")
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise ConfigError(f"suite file {path}: needs at least one [[runs]] table")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"suite file {path}: [defaults] must be a table of RunConfig fields")
    check_no_seed(f"suite file {path}, [defaults]", defaults)
    seeds = data.get("seeds", 3)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 100:
        raise ConfigError(f"suite file {path}: seeds = {seeds!r}; use an integer from 1 to 100")
    name = name_from_file("", path) if "name" not in data else safe_name(str(data["name"]))
    if name in SUITES:
        raise ConfigError(f"suite file {path}: name {name!r} is a built-in suite's, whose stored runs and report it "
                          "would replace; choose another name")
    if name == RUNS:
        raise ConfigError(f"suite file {path}: name {name!r} is the folder every stored run lives in; choose another "
                          "name")
    overrides = opts.overrides()
    declared: list[tuple[str, str | None, RunConfig]] = []
    labelled: dict[str, tuple[int, RunConfig]] = {}
    for i, run in enumerate(runs, 1):
        fields = {k: v for k, v in run.items() if k not in RUN_KEYS}
        check_no_seed(f"suite file {path}, run {i}", fields)
        try:
            config = config_from_dict({**defaults, **fields, **overrides})
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"suite file {path}, run {i}: {exc}") from None
        label = None if run.get("label") is None else check_text(path, f"run {i}'s label", run["label"])
        axis = check_text(path, f"run {i}'s axis", run.get("axis", "runs"))
        if label is not None:
            first, other = labelled.setdefault(label, (i, config))
            if other != config:
                raise ConfigError(f"suite file {path}: runs {first} and {i} are different configs with one label "
                                  f"{label!r}; their seeds would be pooled in one row. Give each its own label")
        declared.append((axis, label, config))
    for names in _labels_by_config(declared).values():
        if len(names) > 1:
            print(f"note: suite file {path}: the same config is labelled {' and '.join(map(repr, names))}; it is "
                  f"trained once and shown as {names[0]!r}")

    def build(options: SuiteOptions) -> list[SuiteRun]:
        return [SuiteRun(axis, config.replace(seed=seed), label)
                for seed in options.seed_values(seeds) for axis, label, config in declared]

    description = data.get("description", f"suite file {path.name}")
    axes = {axis: axis for axis, _, _ in declared}
    return Suite(name, str(description), build, axes)


def _labels_by_config(declared: list[tuple[str, str | None, RunConfig]]) -> dict[RunConfig, list[str]]:
    """The distinct labels each config was given, in file order."""
    out: dict[RunConfig, list[str]] = {}
    for _, label, config in declared:
        names = out.setdefault(config, [])
        if label is not None and label not in names:
            names.append(label)
    return out


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
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a suite or config file") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ConfigError(f"{path} is not valid {kind} ({str(exc).splitlines()[0]}); fix its syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table (key = value pairs)")
    return data
