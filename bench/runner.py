"""The runner: expand a suite into runs, reuse the cached ones, train the rest, record all.

One failing or diverging run is recorded and the suite goes on. Each finished run is stored at
once, so a crash or a kill loses at most the run in flight; the rerun trains only what is
missing. The manifest (`manifest.json`) records which runs the last invocation of the suite
asked for, so `bench report` can re-render without training.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

import vae_core
from bench import executors
from bench.store import RunRecord, Store, StoredRunError, code_version, run_key, write_atomic, write_json
from bench.suites import Suite, SuiteOptions, SuiteRun
from vae_core.config import RunConfig
from vae_core.data import Dataset, dataset_for
from vae_core.device import resolve_device
from vae_core.evaluator import Evaluator, fingerprint, train_evaluator
from vae_core.metrics import evaluate
from vae_core.train import EpochCallback, TrainResult, fit

EVALUATOR_FOLDER = "evaluators"
_evaluators: dict[tuple, Evaluator] = {}  # per process: each data set's evaluator is loaded once


def evaluator_for(config: RunConfig, results_root: Path) -> Evaluator:
    """The evaluator network of the config's data (split), stored as
    `<results>/evaluators/<data>-<fingerprint>.pt` and trained on first use (seconds for mnist5k
    on 2 CPU cores). A missing or damaged file is written anew, with the evaluator this process
    already has for that fingerprint or a newly trained one. Kept on the CPU: each run moves it
    to its own device."""
    key = (config.dataset, config.data_dir, config.eval_split, str(results_root))
    if key not in _evaluators:
        data = dataset_for(config)
        fp = fingerprint(data)
        path = Path(results_root) / EVALUATOR_FOLDER / f"{data.name.replace('/', '-')}-{fp}.pt"
        print(f"evaluator network for {config.dataset}: {path}, trained first if missing", file=sys.stderr)
        try:
            evaluator = Evaluator.from_bytes(path.read_bytes(), data)
        except Exception:  # missing, damaged or foreign: never executed (weights only), replaced
            evaluator = next((e for e in _evaluators.values() if e.fingerprint == fp), None) or train_evaluator(data)
            write_atomic(path, evaluator.to_bytes())
        _evaluators[key] = evaluator
    return _evaluators[key]


def train_and_evaluate(config: RunConfig, key: str, on_epoch: EpochCallback | None = None,
                       evaluator: Evaluator | None = None) -> RunRecord:
    """Train one run and compute its metrics. A diverged run is evaluated no further. The data
    moves to the device once, here; `fit` and `evaluate` then find it there."""
    data = dataset_for(config).to(resolve_device(config.device))
    return evaluate_result(config, key, fit(config, data, on_epoch=on_epoch), data, evaluator)


def evaluate_result(config: RunConfig, key: str, result: TrainResult, data: Dataset,
                    evaluator: Evaluator | None = None) -> RunRecord:
    """The stored record of a trained model: its metrics (unless it diverged) and what made it."""
    info = {"device": result.device, "diverged_epoch": result.diverged_epoch, "stacked_with": result.stacked_with,
            "torch": torch.__version__, "vae_bench": vae_core.__version__, "code_version": code_version(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if evaluator is not None:
        info["evaluator"] = {"fingerprint": evaluator.fingerprint, "test_accuracy": evaluator.test_accuracy}
        evaluator = evaluator.to(result.device)
    metrics = {"train_images_per_s": result.train_images_per_s, "train_seconds": result.train_seconds}
    images = {}
    if result.status == "ok":
        eval_start = time.perf_counter()
        evaluation = evaluate(result.model, data.to(result.device), config.recon_loss, evaluator, config.iwae_k)
        info["eval_seconds"] = time.perf_counter() - eval_start
        metrics.update(evaluation.metrics)
        images = evaluation.images
    return RunRecord(key, config, result.status, metrics, info, pd.DataFrame(result.history), images)


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
    record = train_and_evaluate(config, key, on_epoch, evaluator_for(config, store.dir.parent))
    store.save(record)
    return record, False


def run_suite(
    suite: Suite, runs: list[SuiteRun], options: SuiteOptions, results_root: Path, show_progress: bool = True,
    executor: str = "inline", workers: int | None = None, address: str | None = None, stack: bool | None = None,
) -> tuple[list[RunRecord], dict]:
    """Run (or reuse) every run of a suite on `executor` ("inline", "process" with `workers`
    processes, or "ray" at `address`); returns the records, in suite order without duplicates,
    and the manifest written beside them. Only this process writes the results folder.
    `stack` trains same-shaped runs together (`vae_core.stacked`); None = where it wins, on a GPU."""
    suite_name = suite.name
    store = Store(results_root, suite_name)
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
        print(f"suite {suite_name}: {len(unique)} runs, {len(records)} cached, {len(todo)} to train",
              file=sys.stderr)
        jobs = [(key, unique[key], evaluator_for(unique[key], results_root)) for key in todo]
        if stack is None:
            stack = bool(jobs) and resolve_device(jobs[0][1].device) == "cuda"
        with tqdm(total=len(jobs), desc=suite_name, unit="run", disable=not show_progress, file=sys.stderr) as bar:

            if executor == "inline":
                outcomes = executors.run_inline(jobs, bar.set_postfix_str, stack=stack)
            elif executor == "process":
                outcomes = executors.run_process_pool(jobs, workers or os.cpu_count() or 1)
            else:
                outcomes = executors.run_ray(jobs, address, cpus_per_run=1)
            for key, outcome in outcomes:
                config = unique[key]
                if isinstance(outcome, BaseException):  # a bug in one run must not end the suite
                    error = f"{type(outcome).__name__}: {outcome}"
                    info = {"error": error, "traceback": "".join(traceback.format_exception(outcome))}
                    records[key] = RunRecord(key, config, "failed", {}, info)
                    print(f"\nrun {config.label} seed {config.seed} failed: {error}", file=sys.stderr)
                else:
                    store.save(outcome)
                    records[key] = outcome
                bar.set_postfix_str(f"{config.label} seed {config.seed} done")
                bar.update()

        manifest = {
            "suite": suite_name,
            "description": suite.description,
            "axes": suite.axes,
            "report": suite.report,
            "options": asdict(options),
            "entries": [{"axis": r.axis, "key": run_key(r.config, version), "label": r.label} for r in runs],
            "failed": {k: r.info["error"] for k, r in records.items() if r.status == "failed"},
            "executor": executor,
            "stacked": bool(stack) and executor == "inline",
            "trained": len(todo),
            "cached": len(unique) - len(todo),
            "started_at": started_at,
            "wall_seconds": time.perf_counter() - started,
            "environment": environment(),
        }
        write_json(store.dir / "manifest.json", manifest)
    return [records[k] for k in unique], manifest


def environment() -> dict:
    """What produced these numbers: versions, device, machine, commit."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "vae_bench": vae_core.__version__,
        "code_version": code_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
