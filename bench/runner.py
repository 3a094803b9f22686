"""The runner: expand a suite into runs, reuse the cached ones, send the rest to an executor,
store each finished run at once, and write the suite's `Manifest`.

Only this process writes the results folder. A kill loses at most the runs in flight; the
rerun trains only what is missing. The manifest records which runs the last invocation of the
suite asked for, so `bench report` can re-render without training.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from bench.environment import environment
from bench.executors import EXECUTORS
from bench.options import ExecOptions, SuiteOptions
from bench.store import Manifest, ManifestEntry, RunRecord, Store, StoredRunError, code_version, run_key
from bench.suites import Suite, SuiteRun
from bench.work import evaluator_for, train_and_evaluate
from vae_core.config import ConfigError, RunConfig
from vae_core.device import resolve_device
from vae_core.train import EpochCallback


def load_cached(store: Store, key: str) -> RunRecord | None:
    """The stored run, or None when there is none or it is unreadable (said on stderr; the
    caller retrains it and the save replaces it)."""
    try:
        return store.load(key)
    except StoredRunError as exc:
        print(f"warning: {exc}; retraining it", file=sys.stderr)
        return None


def run_cached(store: Store, config: RunConfig, on_epoch: EpochCallback | None = None
               ) -> tuple[RunRecord, bool]:
    """The stored run for `config` if there is one, else train, store and return it; the flag
    says whether it came from the cache. An unreadable stored run is retrained."""
    key = run_key(config)
    if (record := load_cached(store, key)) is not None:
        return record, True
    record = train_and_evaluate(config, key, on_epoch, evaluator_for(config, store.root))
    store.save(record)
    record.weights = None  # stored; memory is not kept for them
    return record, False


def stacks(how: ExecOptions, config: RunConfig) -> bool:
    """Whether runs like `config` train stacked: as `how.stack` says, or (None) where it wins, on
    a GPU; with the inline executor only."""
    wanted = how.stack if how.stack is not None else resolve_device(config.device) == "cuda"
    return wanted and how.executor == "inline"


def run_suite(suite: Suite, runs: list[SuiteRun], options: SuiteOptions, results_root: Path,
              how: ExecOptions | None = None) -> tuple[list[RunRecord], Manifest]:
    """Run (or reuse) every run of a suite as `how` says; returns the records, in suite order
    without duplicates, and the manifest written beside them. With `how.stack` None, same-shaped
    runs train stacked (`vae_core.stacked`) where it wins: inline, on a GPU."""
    how = how or ExecOptions()
    if how.compile and runs and not stacks(how, runs[0].config):
        raise ConfigError("--compile compiles the stacked training step, and these runs would train one at a time "
                          "(stacking needs --executor inline; --stack auto stacks on a GPU only): add --stack on, "
                          "or drop --compile")
    store = Store(results_root, suite.name, keep_weights=how.keep_weights)
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    version = code_version()
    unique: dict[str, RunConfig] = {}
    for run in runs:
        unique.setdefault(run_key(run.config, version), run.config)

    with store.locked():
        records: dict[str, RunRecord] = {}
        for key in unique:
            if (record := load_cached(store, key)) is not None:
                records[key] = record
        todo = [key for key in unique if key not in records]
        print(f"suite {suite.name}: {len(unique)} runs, {len(records)} cached, {len(todo)} to train",
              file=sys.stderr)
        jobs = [(key, unique[key], evaluator_for(unique[key], results_root, how.progress)) for key in todo]
        how = replace(how, stack=bool(jobs) and stacks(how, jobs[0][1]))
        with tqdm(total=len(jobs), desc=suite.name, unit="run", disable=not how.progress, file=sys.stderr) as bar:
            for key, outcome in EXECUTORS[how.executor](jobs, how, bar.set_postfix_str):
                config = unique[key]
                if isinstance(outcome, BaseException):  # a bug in one run must not end the suite
                    error = f"{type(outcome).__name__}: {outcome}"
                    info = {"error": error, "traceback": "".join(traceback.format_exception(outcome))}
                    records[key] = RunRecord(key, config, "failed", {}, info)
                    print(f"\nrun {config.label} seed {config.seed} failed: {error}", file=sys.stderr)
                else:
                    store.save(outcome)
                    outcome.weights = None  # stored; a suite's records stay small in memory
                    records[key] = outcome
                bar.set_postfix_str(f"{config.label} seed {config.seed} done")
                bar.update()

        manifest = Manifest(
            suite=suite.name, description=suite.description, axes=suite.axes, report=suite.report,
            entries=[ManifestEntry(r.axis, run_key(r.config, version), r.label) for r in runs],
            options=asdict(options),
            failed={k: r.info["error"] for k, r in records.items() if r.status == "failed"},
            executor=how.executor, stacked=bool(how.stack), trained=len(todo), cached=len(unique) - len(todo),
            started_at=started_at, wall_seconds=time.perf_counter() - started, environment=environment())
        store.write_manifest(manifest)
    return [records[k] for k in unique], manifest


def suite_status(results_root: Path, suite: Suite, options: SuiteOptions) -> tuple[int, list[float]]:
    """How many distinct runs the suite has with `options`, and the training images/s of those
    stored in `results_root` (for `bench list`)."""
    store = Store(results_root, suite.name)
    version = code_version()
    keys = list(dict.fromkeys(run_key(r.config, version) for r in suite.build(options)))
    speeds = []
    for key in keys:
        try:
            record = store.load(key, with_images=False)
        except StoredRunError:
            continue
        if record is not None and record.metrics.get("train_images_per_s") is not None:
            speeds.append(record.metrics["train_images_per_s"])
    return len(keys), speeds
