"""What each command does, given typed options (`bench.options`): run a suite and write its
report, re-render a report, tune, list the suites, measure performance. `cli.py` parses and
checks the arguments and calls these; each returns the exit status."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from bench import perf as perf_measure
from bench import sampling
from bench.options import ExecOptions, PerfOptions, SuiteOptions, TuneOptions, default_storage_url
from bench.reports import write_report
from bench.resources import check_fits
from bench.runner import run_suite, suite_status
from bench.search_space import OBJECTIVES
from bench.stats import fmt
from bench.store import RUN_KEY, RUNS, Store, check_folder, prepare_folder, read_bounded, run_key
from bench.suites import SUITES, Suite, SuiteRun
from vae_core.config import ConfigError, RunConfig, config_dict
from vae_core.data import FILE_DATASETS, Dataset, dataset_for, load_dataset
from vae_core.device import resolve_device, training_device


def check_data(config: RunConfig) -> Dataset:
    """The data set a config names, on the CPU; fails before any folder is made when it, the
    device or its precision cannot be had."""
    if config.data_dir is not None and config.dataset not in FILE_DATASETS:
        raise ConfigError(f"--data-dir applies to {', '.join(FILE_DATASETS)}, not {config.dataset}; drop it")
    training_device(config)
    return load_dataset(config.dataset, config.data_dir, config.image_size)


def run(suite: Suite, options: SuiteOptions, how: ExecOptions, results: Path, reports: Path | None,
        dry_run: bool = False) -> int:
    """Train what is not cached of `suite`, store it, write its report into `reports` (None: no
    report; `report_suite` renders it later from the stored runs); every data set and device the
    runs need, and whether each run fits in memory, is checked before a folder is made. With
    `dry_run`, print the runs and whether each is cached, and stop there."""
    runs = suite.build(options)
    for config in dict.fromkeys(r.config.replace(seed=0) for r in runs):
        check_data(config)
        data = dataset_for(config)  # a training subset the data cannot give fails here too
        check_fits(config, data)
        if config.model == "cvae" and data.n_classes < 2:
            raise ConfigError(f"model=cvae is given each image's class, and {config.dataset} has no labels (one "
                              "class); save labels as y in the .npz, or use model=vae")
    if dry_run:
        return print_runs(suite, runs, results)
    check_folder(results, "results", "--results")  # both checked before either is made
    if reports is not None:
        check_folder(reports, "reports", "--reports")
    records, manifest = run_suite(suite, runs, options, prepare_folder(results, "results", "--results"), how)
    start = time.perf_counter()
    path = None if reports is None else write_report(records, manifest, prepare_folder(reports, "reports", "--reports"))
    report_s = time.perf_counter() - start
    bad = sum(r.status != "ok" for r in records)
    print(f"{len(records)} runs ({manifest.trained} trained, {manifest.cached} cached, {bad} not ok) "
          f"in {manifest.wall_seconds:.1f} s")
    print(f"report: {path} (rendered in {report_s:.1f} s)" if path is not None else
          f"report: not written (--no-report); python -m bench report --suite {manifest.suite} --results {results} "
          "renders it")
    if failed := sum(r.status == "failed" for r in records):  # a diverged run is a result; a failed one is not
        print(f"error: {failed} of {len(records)} runs failed with an error (the report lists them); the others "
              "are stored, and the same command retries the failed ones", file=sys.stderr)
        return 1
    return 0


def print_runs(suite: Suite, runs: list[SuiteRun], results: Path) -> int:
    """One line per distinct config of a suite: its axis, label, seeds, the fields it changes
    from the defaults, and how many of its seeds are stored in `results`."""
    store = Store(results, suite.name)
    keys = [run_key(r.config) for r in runs]
    stored = {key: store.run_dir(key).is_dir() for key in dict.fromkeys(keys)}
    groups: dict[tuple, list[bool]] = {}  # (axis, label, config without seed) -> stored, per seed
    seeds: dict[tuple, list[int]] = {}
    for r, key in zip(runs, keys, strict=True):
        group = (r.axis, r.label, r.config.replace(seed=0))
        groups.setdefault(group, []).append(stored[key])
        seeds.setdefault(group, []).append(r.config.seed)
    defaults = config_dict(RunConfig())
    print(f"suite {suite.name}: {len(stored)} distinct runs ({sum(stored.values())} stored in {results}), "
          f"{len(groups)} configs on {len({a for a, _, _ in groups})} axes; nothing trained (--dry-run)")
    for (axis, label, config), flags in groups.items():
        changed = {k: v for k, v in config_dict(config).items() if v != defaults[k] and k != "seed"}
        print(f"  {axis:<10} {label or config.label:<28} seeds {','.join(map(str, seeds[axis, label, config])):<8} "
              f"stored {sum(flags)}/{len(flags)}  {' '.join(f'{k}={v}' for k, v in changed.items()) or '(defaults)'}")
    return 0


def report_suite(suite: str, results: Path, reports: Path) -> int:
    manifest, records = Store(results, suite).load_manifest_runs()
    print(f"report: {write_report(records, manifest, prepare_folder(reports, 'reports', '--reports'))}")
    return 0


def report_study(study: str, storage_url: str, reports: Path) -> int:
    from bench.reports.study import write_study_report
    from bench.tune import load_study

    loaded = load_study(storage_url, study)
    print(f"report: {write_study_report(loaded, storage_url, prepare_folder(reports, 'reports', '--reports'))}")
    return 0


def tune(opts: TuneOptions, reports: Path) -> int:
    """Run the study until it holds `opts.trials` finished trials, then write its report."""
    from bench.reports.study import write_study_report
    from bench.tune import best_lines, open_storage, run_study

    if check_data(opts.base_config()).n_classes < 2:
        if needs := [o for o in opts.objectives if OBJECTIVES[o].needs_evaluator]:
            raise ConfigError(f"objective {needs[0]} is read in the evaluator network's features, and "
                              f"{opts.dataset} has no labels to train that classifier on; save labels as y in the "
                              "npz, or choose objectives such as test_recon")
    if opts.storage is not None:
        open_storage(opts.storage)  # a bad URL or an unreachable server fails before any folder is made
    check_folder(opts.results, "results", "--results")  # both checked before either is made
    check_folder(reports, "reports", "--reports")
    prepare_folder(opts.results, "results", "--results")
    study = run_study(opts)
    print("\n".join(best_lines(study, opts)))
    print(f"report: {write_study_report(study, opts.storage_url, prepare_folder(reports, 'reports', '--reports'))}")
    return 0


def list_suites(results: Path, runs_of: str | None = None) -> int:
    """The built-in suites with what of them is stored; the suites stored in `results` (built
    in, from files, configs, sweeps, re-run trials) and the tuning studies of its default
    storage; or, with `runs_of`, that suite's runs. Reads only; creates nothing."""
    if results.exists() and not results.is_dir():
        raise ConfigError(f"--results {results} is not a folder; give the folder that `run` stored results in")
    if runs_of is not None:
        return list_runs(Store(results, runs_of))
    print(f"{'suite':<12} {'mode':<6} {'runs':>5} {'cached':>7} {'train images/s (median)':>24}  description")
    for name, suite in SUITES.items():
        for quick in (False, True):
            n, speeds = suite_status(results, suite, SuiteOptions(quick=quick))
            speed = f"{statistics.median(speeds):,.0f}" if speeds else "-"
            print(f"{name:<12} {'quick' if quick else 'full':<6} {n:>5} {len(speeds):>7} {speed:>24}  "
                  f"{suite.description if not quick else ''}")
    stored = sorted(p.parent.name for p in results.glob("*/manifest.json")) if results.is_dir() else []
    print(f"\nsuites stored in {results} ({len(stored)}; python -m bench list --runs NAME shows one's runs):")
    listed: set[str] = set()
    for name in stored:
        try:
            manifest = Store(results, name).read_manifest()
            listed.update(manifest.keys())
            print(f"  {name:<30} {len(manifest.keys()):>4} runs, last run {manifest.started_at[:19] or '?'}"
                  f"{' (--quick)' if manifest.options.get('quick') else ''}: {manifest.description[:70]}")
        except ConfigError as exc:
            print(f"  {name:<30} unreadable ({str(exc)[:80]})")
    if (runs := results / RUNS).is_dir():
        keys = {p.name for p in runs.iterdir() if RUN_KEY.fullmatch(p.name)}
        print(f"\n{len(keys)} runs stored once each in {runs}, the cache all suites and studies share; "
              f"{len(keys - listed)} in no suite's last manifest (tuning trials, older code or settings)")
    if (results / "optuna.db").is_file():
        from bench.tune import list_studies

        print(f"\ntuning studies in {results / 'optuna.db'}:")
        try:
            lines = list_studies(default_storage_url(results))
        except ConfigError as exc:  # not a study database: say so, list the rest
            lines = [f"unreadable ({str(exc)[:100]})"]
        for line in lines:
            print(f"  {line}")
    return 0


def list_runs(store: Store) -> int:
    """One line per run of a stored suite: axis, label, seed, key, status, headline metrics."""
    manifest, records = store.load_manifest_runs(with_images=False)
    labels = manifest.labels()
    by_key = {r.key: r for r in records}
    shown = ("test_recon_mse", "test_kl", "prior_fid", "train_images_per_s")
    print(f"suite {manifest.suite}: {len(manifest.keys())} runs; {manifest.description[:90]}")
    print(f"  {'axis':<10} {'label':<28} {'seed':>4}  {'key':<16}  {'status':<9} "
          + " ".join(f"{m:>18}" for m in shown))
    for axis in manifest.axes:
        for key in manifest.keys(axis):
            r = by_key.get(key)
            if r is None:
                print(f"  {axis:<10} {labels.get(key, '?'):<28} {'':>4}  {key:<16}  not stored")
                continue
            values = " ".join(f"{fmt(r.metrics.get(m)):>18}" for m in shown)
            print(f"  {axis:<10} {labels.get(key, r.config.label)[:28]:<28} {r.config.seed:>4}  {key:<16}  "
                  f"{r.status:<9} {values}")
    return 0


def perf(opts: PerfOptions) -> int:
    """Measure, print, optionally store, and gate against a baseline (exit 1 on a regression)."""
    device = resolve_device(opts.device)
    baseline = None
    if opts.compare is not None:
        try:
            baseline = json.loads(read_bounded(opts.compare))
            [baseline["ratios"][name] for name in perf_measure.GATED]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ConfigError(f"--compare {opts.compare} is not a perf baseline with every gated ratio "
                              f"({type(exc).__name__}: {exc}); write one with python -m bench perf --json FILE"
                              ) from None
    if opts.json is not None and not opts.json.parent.is_dir():
        raise ConfigError(f"--json {opts.json}: folder {opts.json.parent} does not exist; create it first")
    modes = [flag for flag, on in (("--memory", opts.memory), ("--evaluation", opts.evaluation),
                                   ("--scaling", opts.scaling), ("--sampling", opts.sampling)) if on]
    if modes:
        if opts.compare is not None or opts.profile or len(modes) > 1:
            raise ConfigError(f"{modes[0]} measures that alone; drop --compare, --profile and the other modes "
                              f"({', '.join(modes[1:]) or 'none given'}), or run them separately")
        if opts.memory:
            result = perf_measure.memory(device)
        elif opts.evaluation:
            result = perf_measure.evaluation_share(device, repeats=opts.repeats)
            print(perf_measure.evaluation_share_table(result))
        elif opts.sampling:
            result = sampling.measure(device, repeats=opts.repeats)
            print(sampling.table(result))
        else:
            result = perf_measure.scaling(device)
            print(perf_measure.scaling_table(result))
        if opts.json is not None:
            perf_measure.save(result, opts.json)
            print(f"wrote {opts.json}")
        return 0
    result = perf_measure.measure(device, repeats=opts.repeats)
    print(perf_measure.table(result))
    if opts.profile:
        print(perf_measure.profile(device))
    if opts.json is not None:
        perf_measure.save(result, opts.json)
        print(f"wrote {opts.json}")
    if baseline is not None:
        failures = perf_measure.compare(result, baseline, opts.max_regression)
        if failures:  # one slow round on a shared machine is noise; gate on the better of two
            print(f"below the baseline ({'; '.join(failures)}); measuring once more", flush=True)
            result = perf_measure.best_of(result, perf_measure.measure(device, repeats=opts.repeats,
                                                                                 ungated=False))
            print("gated ratios, best of both: " + ", ".join(f"{n} {result['ratios'][n]:.3f}"
                                                             for n in perf_measure.GATED))
            failures = perf_measure.compare(result, baseline, opts.max_regression)
        for line in failures:
            print(f"REGRESSION: {line}", file=sys.stderr)
        if failures:
            return 1
        print(f"no regression beyond {opts.max_regression:.0%} against {opts.compare}")
    return 0
