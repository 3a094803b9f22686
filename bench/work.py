"""The work one run is: train a config, evaluate the model, and package both as a `RunRecord`.
What every executor runs, in this process or another; it never writes the results folder
(the runner alone does), except the evaluator network's cache file."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

import vae_core
from bench.store import RunRecord, code_version, read_bounded, write_atomic
from vae_core.config import RunConfig
from vae_core.data import Dataset, dataset_for
from vae_core.device import resolve_device
from vae_core.evaluator import EPOCHS as EVALUATOR_EPOCHS
from vae_core.evaluator import Evaluator, fingerprint, train_evaluator
from vae_core.metrics import Evaluation, evaluate, evaluate_stacked, run_draws
from vae_core.train import EpochCallback, TrainResult, fit

EVALUATOR_FOLDER = "evaluators"
EVALUATOR_FILE = 64 * 2**20  # bytes: the small CNN's weights take a fraction of this
_evaluators: dict[tuple, Evaluator] = {}  # per process: each data set's evaluator is loaded once
_on_device: dict[tuple[int, str], tuple[Evaluator, Evaluator]] = {}  # (its id, device) -> (it, its copy there)


def evaluator_for(config: RunConfig, results_root: Path, progress: bool = True) -> Evaluator | None:
    """The evaluator network of the config's data (split), stored as
    `<results>/evaluators/<data>-<fingerprint>.pt` and trained on first use, on the config's
    device (5.5 s for mnist5k on 2 CPU cores). A missing or damaged file is written anew, with
    the evaluator this process already has for that fingerprint or a newly trained one. Kept on
    the CPU: each run moves it to its own device. None for data without two classes (a user's
    unlabelled arrays): the evaluator is a classifier, and the metrics in its features are then
    not computed. `progress` shows its training's bar (off with `--no-progress`)."""
    key = (config.dataset, config.data_dir, config.image_size, config.eval_split, str(results_root))
    if key not in _evaluators:
        data = dataset_for(config.replace(train_images=0))  # one yardstick, whatever subset a run trains on
        if data.n_classes < 2:
            return None
        fp = fingerprint(data)
        path = Path(results_root) / EVALUATOR_FOLDER / f"{data.name.replace('/', '-')}-{fp}.pt"
        try:
            evaluator = Evaluator.from_bytes(read_bounded(path, EVALUATOR_FILE, follow_symlinks=False), data)
            print(f"evaluator network for {config.dataset}: {path}", file=sys.stderr)
        except Exception:  # missing, damaged or foreign: never executed (weights only), replaced
            evaluator = next((e for e in _evaluators.values() if e.fingerprint == fp), None)
            if evaluator is None:
                with tqdm(total=EVALUATOR_EPOCHS, desc=f"evaluator network for {config.dataset} (trained once)",
                          unit="epoch", file=sys.stderr, leave=False, disable=not progress) as bar:
                    # trained on the runs' device (as `bench perf --scaling` times it), kept on the CPU
                    evaluator = train_evaluator(data, resolve_device(config.device),
                                                on_epoch=lambda epoch, total: bar.update(1)).to("cpu")
            write_atomic(path, evaluator.to_bytes())
            print(f"evaluator network for {config.dataset}: trained, stored as {path}", file=sys.stderr)
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
    """The stored record of a trained model: its metrics (every group, unless it diverged; on the
    draws of its seed, `run_draws`) and what made it."""
    evaluation, eval_seconds = None, None
    if result.status == "ok":
        eval_start = time.perf_counter()
        evaluation = evaluate(result.model, data.to(result.device), config.recon_loss,
                              evaluator_on(evaluator, result.device), config.iwae_k, draws=run_draws(config.seed))
        eval_seconds = time.perf_counter() - eval_start
    return _record(config, key, result, evaluator, evaluation, eval_seconds)


def evaluate_stack(configs: list[RunConfig], keys: list[str], results: list[TrainResult], data: Dataset,
                   evaluator: Evaluator | None = None) -> list[RunRecord]:
    """The records of a stack trained together (`vae_core.stacked.fit_stacked`), its models
    evaluated together too (`vae_core.metrics.evaluate_stacked`), those of each reconstruction
    loss as one stack (the loss names their likelihood), each on its seed's draws (`run_draws`);
    a diverged model is evaluated no further. Each run's `eval_seconds` is its share of its
    stack's evaluation time."""
    evaluated: dict[int, tuple[Evaluation, float]] = {}
    by_loss: dict[str, list[int]] = {}
    for i, (config, result) in enumerate(zip(configs, results, strict=True)):
        if result.status == "ok":
            by_loss.setdefault(config.recon_loss, []).append(i)
    for recon_loss, members in by_loss.items():
        device = results[members[0]].device
        eval_start = time.perf_counter()
        evaluations = evaluate_stacked([results[i].model for i in members], data.to(device), recon_loss,
                                       evaluator_on(evaluator, device), configs[members[0]].iwae_k,
                                       draws=[run_draws(configs[i].seed) for i in members])
        share = (time.perf_counter() - eval_start) / len(members)
        evaluated.update({i: (evaluation, share) for i, evaluation in zip(members, evaluations, strict=True)})
    return [_record(config, key, result, evaluator, *evaluated.get(i, (None, None)))
            for i, (config, key, result) in enumerate(zip(configs, keys, results, strict=True))]


def evaluator_on(evaluator: Evaluator | None, device: str) -> Evaluator | None:
    """`evaluator` on `device`, copied there once per process: every run of a suite on a GPU then
    shares one copy, and with it the real images' features kept for that copy (`vae_core.metrics`
    keeps them per evaluator; `Evaluator.to` copies afresh on each call)."""
    if evaluator is None:
        return None
    key = (id(evaluator), device)
    kept = _on_device.get(key)
    if kept is None or kept[0] is not evaluator:  # held, so that its id stays its own
        kept = _on_device[key] = (evaluator, evaluator.to(device))
    return kept[1]


def _record(config: RunConfig, key: str, result: TrainResult, evaluator: Evaluator | None,
            evaluation: Evaluation | None, eval_seconds: float | None) -> RunRecord:
    info = {"device": result.device, "diverged_epoch": result.diverged_epoch, "stacked_with": result.stacked_with,
            "compile_seconds": result.compile_seconds,
            "torch": torch.__version__, "vae_bench": vae_core.__version__, "code_version": code_version(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if evaluator is not None:
        info["evaluator"] = {"fingerprint": evaluator.fingerprint, "test_accuracy": evaluator.test_accuracy}
    metrics = {"train_images_per_s": result.train_images_per_s, "train_seconds": result.train_seconds}
    images, weights = {}, None
    if evaluation is not None:
        weights = {k: v.detach().to("cpu", copy=True) for k, v in result.model.state_dict().items()}
        info["eval_seconds"] = eval_seconds
        metrics.update(evaluation.metrics)
        images = evaluation.images
    return RunRecord(key, config, result.status, metrics, info, pd.DataFrame(result.history), images, weights)
