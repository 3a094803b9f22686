"""Where runs train: in this process (default), in a local process pool, or as Ray tasks on a
cluster. Every executor returns finished `RunRecord`s to the runner, which alone writes the
results folder, so the cache, the atomic writes and the lock work the same for all three.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch

from bench.options import ExecOptions
from bench.store import RunRecord
from bench.work import evaluate_result, evaluate_stack, train_and_evaluate
from vae_core.config import ConfigError, RunConfig
from vae_core.data import dataset_for
from vae_core.device import resolve_device
from vae_core.evaluator import Evaluator
from vae_core.stacked import fit_stacked, stack_key, stackable

Job = tuple[str, RunConfig, Evaluator | None]  # (cache key, config, the data set's evaluator network)
Outcome = tuple[str, RunRecord | BaseException]


def _train(key: str, config: RunConfig, evaluator: Evaluator | None, threads: int | None = None) -> RunRecord:
    if threads:
        torch.set_num_threads(threads)
    return train_and_evaluate(config, key, None, evaluator)


def run_inline(jobs: list[Job], progress: Callable[[str], None] | None = None, stack: bool = False,
               compile_step: bool = False) -> Iterator[Outcome]:
    """Runs in this process, `progress` told each epoch. With `stack`, runs that differ only in
    seed, beta, KL warm-up and reconstruction loss (`FREE_FIELDS`) train together
    (`vae_core.stacked.fit_stacked`, its step compiled with `compile_step`) and are evaluated
    together (`bench.work.evaluate_stack`); should that fail, each is evaluated alone."""

    def tell(text: str, epochs: int) -> Callable | None:
        """An epoch callback that shows `text` and the epoch (a history row or an epoch number)."""
        if progress is None:
            return None
        def show(row: dict | int, *_: object) -> None:
            epoch = row["epoch"] if isinstance(row, dict) else row
            progress(f"{text} epoch {epoch}/{epochs}" + (", evaluating" if epoch == epochs else ""))  # metrics next

        return show

    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault(stack_key(job[1]) if stack and stackable(job[1]) else (job[0],), []).append(job)
    for group in groups.values():
        if len(group) == 1:
            key, config, evaluator = group[0]
            yield key, _attempt(train_and_evaluate, config, key, tell(f"{config.label} seed {config.seed}",
                                                                       config.epochs), evaluator)
            continue
        configs = [config for _, config, _ in group]
        data = dataset_for(configs[0]).to(resolve_device(configs[0].device))  # one copy for training and scoring
        told = tell(f"{len(group)} runs stacked ({configs[0].label}, ...)", configs[0].epochs)
        results = _attempt(fit_stacked, configs, data, told, compile_step)
        if isinstance(results, Exception):
            yield from ((key, results) for key, _, _ in group)
            continue
        keys, evaluator = [key for key, _, _ in group], group[0][2]  # one data set, one evaluator
        records = _attempt(evaluate_stack, configs, keys, results, data, evaluator)
        if isinstance(records, Exception):  # each alone, so that what failed is one model's own record
            print(f"scoring {len(group)} stacked runs together failed ({type(records).__name__}: {records}); "
                  "scoring each alone", file=sys.stderr)
            records = [_attempt(evaluate_result, config, key, result, data, evaluator)
                       for (key, config, _), result in zip(group, results, strict=True)]
        yield from zip(keys, records, strict=True)


def _attempt(work: Callable, *args: object) -> object:
    """`work(*args)`, or the exception a bug raised (recorded by the runner, and the suite goes
    on); a `ConfigError` (a full disk, bad input) ends the suite."""
    try:
        return work(*args)
    except ConfigError:
        raise
    except Exception as exc:
        return exc


def run_process_pool(jobs: list[Job], workers: int) -> Iterator[Outcome]:
    """Runs spread over `workers` local processes, each with its share of the CPU threads."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        futures = {pool.submit(_train, key, config, evaluator, threads): key for key, config, evaluator in jobs}
        for future in as_completed(futures):
            exc = future.exception()
            yield futures[future], exc if exc is not None else future.result()
    finally:  # on Ctrl-C or a full disk, do not wait for the queued runs
        pool.shutdown(wait=False, cancel_futures=True)


def run_ray(jobs: list[Job], address: str | None, cpus_per_run: int = 1) -> Iterator[Outcome]:
    """Each run a Ray task that declares its needs: `cpus_per_run` CPUs, and one GPU when the
    config asks for `device="cuda"`. `address=None` starts a local Ray instance."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address} ({exc}); start it with `ray start "
                              "--head` or check --address") from None
    task = ray.remote(_train)
    refs = {task.options(num_cpus=cpus_per_run, num_gpus=1 if config.device == "cuda" else 0)
            .remote(key, config, evaluator, cpus_per_run): key for key, config, evaluator in jobs}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            yield refs[done[0]], ray.get(done[0])
        except Exception as exc:  # ray wraps the task's exception
            yield refs[done[0]], exc


Executor = Callable[[list[Job], ExecOptions, Callable[[str], None]], Iterator[Outcome]]

#: Where runs train, by the name `--executor` takes; each gets the jobs, the options and a
#: progress callback (told each epoch where the executor can).
EXECUTORS: dict[str, Executor] = {
    "inline": lambda jobs, opts, progress: run_inline(jobs, progress, stack=bool(opts.stack),
                                                      compile_step=opts.compile),
    "process": lambda jobs, opts, progress: run_process_pool(jobs, opts.jobs or os.cpu_count() or 1),
    "ray": lambda jobs, opts, progress: run_ray(jobs, opts.address),
}
