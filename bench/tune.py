"""Optuna tuning of the loss balance: beta, reconstruction loss, latent size, KL warm-up, lr.

Each trial is an ordinary run (`RunConfig`) trained and scored by the runner, cached like every
run, on the *validation* split (20% of the training split held out), so the test split stays
unseen until the chosen setting is re-run with `bench run --from-study`.

- One objective: the TPE sampler with median pruning on the objective measured after each
  epoch, so a hopeless trial stops early. Several objectives: the Pareto front (MOTPE), and no
  pruning, because Optuna's `Trial.report`/`should_prune` do not support multi-objective studies.
- Storage: a SQLite file in the results folder by default; `journal:///path.log` for several
  processes on one machine (Optuna advises against SQLite there); any RDB URL Optuna accepts,
  e.g. `postgresql+psycopg2://user:pw@host/db`, lets workers on many machines share a study.
- `--trials N` is the number of finished (complete or pruned) trials the study should hold: a
  rerun after an interruption adds only the missing ones. A trial whose worker died is marked
  failed: at once when the dead worker ran on this machine, else by the RDB heartbeat.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import re
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import sqlalchemy.exc
import torch
from optuna.trial import TrialState
from tqdm.auto import tqdm

from bench.interrupts import InterruptGate, redeliver_interrupts
from bench.options import TuneOptions
from bench.runner import run_cached
from bench.search_space import OBJECTIVES, SEARCH_SPACE
from bench.store import STALE_S, Store
from bench.work import evaluator_for
from vae_core.config import ConfigError, RunConfig, config_dict, config_from_dict
from vae_core.data import Dataset
from vae_core.metrics import run_draws

HEARTBEAT_S = 10
INTERRUPT_GRACE_S = 5  # seconds workers get to stop on their own Ctrl-C before it is passed on
GRACE_S = 60
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def storage_file(url: str) -> Path | None:
    """The file a SQLite or journal storage URL names; None for a server's URL."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if url.startswith("journal:"):
        return Path(url.removeprefix("journal:").removeprefix("//"))
    return None


def open_storage(url: str, create: bool = True) -> optuna.storages.BaseStorage:
    """A storage for `url`, or a one-line `ConfigError` that names what is wrong. With
    `create=False` (reading a study) a missing or empty SQLite or journal file is refused
    instead of created: Optuna would make a database there."""
    quiet_optuna()
    path = storage_file(url)
    if not create and path is not None:
        if not path.is_file() or path.stat().st_size == 0:
            raise ConfigError(f"no study storage at {redact(url)} ({'empty' if path.is_file() else 'no such file'}); "
                              "run python -m bench tune first, or pass the --storage (or --results) it used")
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend

            if not path.parent.is_dir():
                raise ConfigError(f"journal folder {path.parent} does not exist; create it or choose another path")
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if not url.startswith(("sqlite:///", "postgresql", "mysql")):
            raise ConfigError(f"unsupported storage URL {redact(url)!r}; use sqlite:///FILE.db, "
                              "postgresql+psycopg2://USER:PW@HOST/DB or journal:///FILE.log")
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"the folder of {redact(url)} does not exist; create it or pass another --storage")
        engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S)
    except ConfigError:
        raise
    except Exception as exc:  # sqlalchemy, a missing driver, a refused connection
        raise ConfigError(f"cannot open storage {redact(url)} ({storage_failure(exc)}); "
                          "check the URL, the server and its driver (pip install psycopg2-binary)") from None


def storage_failure(exc: BaseException) -> str:
    """What a storage error means, by a phrase of its message or of its causes'; the message
    itself is never shown (drivers echo parts of the URL, so a password could leak)."""
    chain = []
    while exc is not None and len(chain) < 8:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    text = " ".join(str(e) for e in chain).lower()
    what = next((meaning for phrase, meaning in DRIVER_ERRORS if phrase.lower() in text),
                "the driver's message is not shown, as it may hold the password")
    return f"{type(chain[-1]).__name__}: {what}"


#: Errors of the study storage raised while tuning (a full disk, a lost server).
STORAGE_ERRORS = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError)


@contextmanager
def storage_errors_as_one_line(url: str) -> Iterator[None]:
    """Turn a failure of the study storage during tuning into a one-line `ConfigError`:
    finished trials are in the storage, so the same command resumes."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        raise ConfigError(f"the study storage {redact(url)} failed while tuning ({storage_failure(exc)}); free some "
                          "space or check the server, then run the same command again: finished trials are kept") \
            from None


def redact(url: str) -> str:
    """A storage URL as messages and reports show it: scheme, host and database only. No user,
    password, port or query string (which may hold `password=`), and nothing of a URL that does
    not parse; a password may hold '@', '/' or ':', so the host is read after the last '@'.
    (SQLAlchemy's `make_url(...).render_as_string(hide_password=True)` keeps the user, port and
    query string, and reads `u:SE@CRET@host` as host `CRET@host`, showing part of the password.)"""
    if url.startswith("journal:"):
        return url  # a file path; Optuna's journal storage takes no credentials
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*", url)
    scheme_text = scheme.group(0) if scheme else "?"
    if not url.startswith(f"{scheme_text}://"):
        return f"{scheme_text}:<rest not shown: not of the form {scheme_text}://HOST/DATABASE>"
    rest = url[len(scheme_text) + 3:].split("?", 1)[0]
    if scheme_text.startswith("sqlite"):
        return f"{scheme_text}://{rest}"  # a file path, no credentials
    host, _, database = rest[rest.rfind("@") + 1:].partition("/")
    return f"{scheme_text}://{host.rsplit(':', 1)[0] if not host.startswith('[') else host}/{database}"


#: What a storage driver's error means, by a phrase of its message; the message itself is never
#: shown, since drivers echo parts of the URL (a password holding '@' leaks its tail).
DRIVER_ERRORS = (
    ("password authentication failed", "the server refused the user or password"),
    ("does not exist", "the database or user does not exist on the server"),
    ("Connection refused", "nothing answers at that host and port"),
    ("could not translate host name", "the host name does not resolve"),
    ("timeout", "the server did not answer in time"),
    ("No module named", "its driver is not installed (pip install psycopg2-binary for PostgreSQL)"),
    ("Could not parse", "the URL does not parse"),
    ("disk is full", "the disk is full or a file-size limit was reached"),
    ("File too large", "the disk is full or a file-size limit was reached"),
    ("readonly database", "the database file is read-only"),
    ("disk I/O error", "the disk failed, is full or a file-size limit was reached"),
)


def quiet_optuna() -> None:
    """Our own progress lines replace Optuna's per-trial log; the multivariate TPE and the
    constant liar (for parallel workers) are marked experimental but are documented features."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def create_or_load(opts: TuneOptions) -> optuna.Study:
    """Open the study, creating it on first use; refuse a resume with other objectives."""
    storage = open_storage(opts.storage_url)
    directions = [OBJECTIVES[o].direction for o in opts.objectives]
    single = len(directions) == 1
    sampler = optuna.samplers.TPESampler(n_startup_trials=5, multivariate=True, constant_liar=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1) if single else optuna.pruners.NopPruner()
    try:
        study = optuna.create_study(storage=storage, study_name=opts.study, directions=directions, sampler=sampler,
                                    pruner=pruner, load_if_exists=True)
    except ValueError as exc:  # directions differ from the stored study's
        raise ConfigError(f"study {opts.study} exists with other objectives ({exc}); use its objectives or a new "
                          "--study name") from None
    stored = study.user_attrs.get("objectives")
    if stored is None:
        study.set_user_attr("objectives", list(opts.objectives))
        study.set_user_attr("setup", {"dataset": opts.dataset, "epochs": opts.epochs,
                                      "search_space": [p.describe() for p in SEARCH_SPACE]})
    elif tuple(stored) != opts.objectives:
        raise ConfigError(f"study {opts.study} was created with objectives {','.join(stored)}; pass "
                          f"--objectives {','.join(stored)} or use a new --study name")
    return study


def fail_dead_local_trials(study: optuna.Study) -> int:
    """Mark failed the running trials whose worker process on this machine no longer exists
    (a kill -9, a power cut); remote ones are left to the storage heartbeat."""
    failed = 0
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker", "")
        worker_host, _, pid = worker.rpartition(":")
        if worker_host == host and pid.isdigit() and not _alive(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL)  # Optuna's public API; its reason: see fail_reason
            failed += 1
    return failed


def fail_reason(trial: optuna.trial.FrozenTrial) -> str:
    """Why a trial failed: the reason its worker recorded (diverged, interrupted, an error),
    or, where none is recorded, that the worker died (marked by `fail_dead_local_trials` or by
    the storage's heartbeat, neither of which can write to the trial)."""
    return trial.user_attrs.get("fail_reason", "worker died")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_objective(opts: TuneOptions, store: Store, position: int = 0,
                   gate: InterruptGate | None = None) -> Callable[[optuna.Trial], float | list[float]]:
    """The study's objective: train (or reuse) the trial's config and return its objective
    values. In a terminal, a bar at line `position` (one per worker process) shows the trial's
    epochs, its parameters, its objective so far (one objective) and the evaluation that ends it.
    Ctrl-C reaches it through `gate` (an interrupt held since the last trial is raised here)."""
    objectives = [OBJECTIVES[o] for o in opts.objectives]
    single = len(objectives) == 1
    gate = gate or InterruptGate()

    def objective(trial: optuna.Trial) -> float | list[float]:
        try:
            with gate.open():
                return attempt(trial)
        except (ConfigError, KeyboardInterrupt, *STORAGE_ERRORS) as exc:
            # ends the study: the command prints it in one line; Optuna would log it with a traceback
            optuna.logging.set_verbosity(optuna.logging.ERROR)
            reason = ("interrupted" if isinstance(exc, KeyboardInterrupt) else storage_failure(exc)
                      if isinstance(exc, STORAGE_ERRORS) else f"{type(exc).__name__}: {str(exc)[:200]}")
            with contextlib.suppress(Exception):  # the storage itself may be what failed
                trial.set_user_attr("fail_reason", reason)  # never a driver's own text: it may hold a password
            raise

    def attempt(trial: optuna.Trial) -> float | list[float]:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # first: a killed worker is found by it
        params = {p.name: p.suggest(trial) for p in SEARCH_SPACE}
        params["kl_warmup_epochs"] = min(params["kl_warmup_epochs"], opts.epochs)  # a warm-up ends by the last epoch
        config = opts.base_config().replace(**params)
        trial.set_user_attr("config", config_dict(config))
        first = objectives[0]
        evaluator = evaluator_for(config, store.root) if single and first.needs_evaluator else None
        shown = " ".join(f"{k}={_shown(v)}" for k, v in params.items())

        def report(row: dict, model: torch.nn.Module, data: Dataset, bar: tqdm) -> None:
            bar.update(1)
            last = ", evaluating" if row["epoch"] == config.epochs else ""
            if not single:  # Optuna cannot prune a multi-objective study: nothing to measure per epoch
                bar.set_postfix_str(shown + last)
                return
            device_evaluator = evaluator.to(data.test_x.device) if evaluator is not None else None
            value = first.measure(model, data, config.recon_loss, device_evaluator, run_draws(config.seed))
            bar.set_postfix_str(f"{opts.objectives[0]} {_shown(value)}{last} | {shown}")
            trial.report(value, row["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {row['epoch']}")

        with tqdm(total=config.epochs, desc=f"trial {trial.number}", unit="epoch", file=sys.stderr, leave=False,
                  position=position, disable=None) as bar:  # None: no bar where stderr is not a terminal (a log)
            record, cached = run_cached(store, config, lambda row, model, data: report(row, model, data, bar))
        trial.set_user_attr("run_key", record.key)
        trial.set_user_attr("cached", cached)
        if record.status != "ok":
            trial.set_user_attr("fail_reason", f"{record.status} at epoch {record.info.get('diverged_epoch')}")
            return math.nan if single else [math.nan] * len(objectives)  # Optuna records NaN as a failed trial
        values = [o.value(record.metrics.get(o.metric)) for o in objectives]
        return values[0] if single else values

    return objective


def _shown(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe_trial(trial: optuna.trial.FrozenTrial, objectives: tuple[str, ...]) -> str:
    """`trial 3 complete: test_recon 4.86, smoothness 1.06 | beta=2.26 recon_loss=bce ...`: the
    parameters as the run used them (a warm-up Optuna suggested past the last epoch is capped)."""
    values = (", ".join(f"{o} {_shown(v)}" for o, v in zip(objectives, trial.values, strict=False))
              if trial.values else fail_reason(trial))
    used = trial.user_attrs.get("config") if isinstance(trial.user_attrs.get("config"), dict) else {}
    params = " ".join(f"{k}={_shown(used.get(k, v))}" for k, v in trial.params.items())
    return f"trial {trial.number} {trial.state.name.lower()}: {values} | {params}"


def _progress(opts: TuneOptions, failed_before: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """A line per finished trial, naming its objectives and parameters; stop at the target, or
    when this run's failures reach it."""

    def show(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        print(f"{describe_trial(trial, opts.objectives)} ({done}/{opts.trials} finished)", file=sys.stderr, flush=True)
        if done >= opts.trials:
            study.stop()
        elif len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))) - failed_before >= max(10, opts.trials):
            print("stopping: as many trials failed as were asked for; see their fail_reason", file=sys.stderr)
            study.stop()

    return show


def best_lines(study: optuna.Study, opts: TuneOptions, most: int = 5) -> list[str]:
    """The best trial (one objective) or the Pareto-optimal ones (several, at most `most`, by
    the first objective), each with the command that re-runs it on the train/test split."""
    try:
        best = [study.best_trial] if len(study.directions) == 1 else study.best_trials
    except ValueError:  # no complete trial
        return ["no trial completed, so there is no best one"]
    first_lower = study.directions[0] == optuna.study.StudyDirection.MINIMIZE
    best = sorted(best, key=lambda t: t.values[0] if first_lower else -t.values[0])
    where = "" if opts.results == Path("results") else f" --results {opts.results}"
    if opts.storage is not None:
        where += f" --storage {opts.storage if redact(opts.storage) == opts.storage else '<the same URL>'}"
    title = "best trial" if len(study.directions) == 1 else f"Pareto-optimal trials ({len(best)})"
    rerun = "    re-run on the test split: python -m bench run --from-study"
    return [f"{title}:"] + [f"  {describe_trial(t, opts.objectives)}\n{rerun} {opts.study} --trial {t.number}{where}"
                            for t in best[:most]]


def run_worker(opts: TuneOptions, threads: int | None = None, study: optuna.Study | None = None,
               position: int = 0, gate: InterruptGate | None = None) -> None:
    """One worker: trials until the study holds `opts.trials` finished ones (or the timeout);
    its trial's progress bar on line `position`. Ctrl-C ends it through `gate`, the SIGINT handler
    for the study (and after it, where the caller made it the process's), so every trial it began
    is recorded as ended."""
    quiet_optuna()
    if threads:
        torch.set_num_threads(threads)
    study = study or create_or_load(opts)
    if len(study.get_trials(deepcopy=False, states=FINISHED)) >= opts.trials:
        return
    store = Store(opts.results, "tune")  # its runs go to the shared runs/; "tune/" holds older versions' runs
    store.remove_partial(older_than_s=STALE_S)  # leftovers of killed workers; live writes take seconds
    failed_before = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    gate = gate or InterruptGate()
    with storage_errors_as_one_line(opts.storage_url), gate.installed():  # a worker's, installed already, stays
        study.optimize(make_objective(opts, store, position, gate), timeout=opts.timeout,
                       callbacks=[_progress(opts, failed_before)])
    gate.raise_held()


def _worker_process(opts: TuneOptions, threads: int, errors: multiprocessing.SimpleQueue, position: int) -> None:
    """A worker process of `--workers N`: its one-line error goes to the parent, which prints
    it once; an interrupt ends it quietly (the parent says what happened). It starts with
    Ctrl-C ignored, so that one arriving while it imports is no traceback; from here on the gate
    takes it, and absorbs any that follow (the parent's, passed on) while the worker exits."""
    gate = InterruptGate()
    gate.install()
    redeliver_interrupts()
    try:
        run_worker(opts, threads, position=position, gate=gate)
    except KeyboardInterrupt:
        sys.exit(130)
    except ConfigError as exc:
        errors.put(str(exc))
        sys.exit(2)


def reference_config(opts: TuneOptions) -> RunConfig:
    """The study's reference run: the calibrated Gaussian decoder (Rybkin et al. 2021) with every
    tuned setting at its default and the study's data, epochs and validation split. Its decoder
    variance is fitted to the data, so it has no hidden beta to tune; the study report marks where
    it lands against the tuned trials."""
    return opts.base_config().replace(recon_loss="gaussian")


def measure_reference(study: optuna.Study, opts: TuneOptions) -> None:
    """Train (or reuse) the reference run and store its objective values in the study, so any
    `report --study` shows it without training."""
    store = Store(opts.results, "tune")
    config = reference_config(opts)
    record, cached = run_cached(store, config)
    values = [OBJECTIVES[o].value(record.metrics.get(OBJECTIVES[o].metric)) if record.status == "ok" else math.nan
              for o in opts.objectives]
    study.set_user_attr("reference", {"name": "calibrated Gaussian decoder", "config": config_dict(config),
                                      "status": record.status, "values": values})
    print(f"reference run ({config.label}, {'cached' if cached else 'trained'}): "
          + ", ".join(f"{o} {v:.4g}" for o, v in zip(opts.objectives, values, strict=True)), file=sys.stderr)


def run_study(opts: TuneOptions) -> optuna.Study:
    """Create or resume the study, fail trials of dead local workers, run `opts.workers`
    worker processes (or this one) until the study holds `opts.trials` finished trials."""
    quiet_optuna()
    with storage_errors_as_one_line(opts.storage_url):
        return _run_study(opts)


def _run_study(opts: TuneOptions) -> optuna.Study:
    study = create_or_load(opts)
    if (n := fail_dead_local_trials(study)) > 0:
        print(f"marked {n} trial(s) of a dead worker as failed", file=sys.stderr)
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    print(f"study {opts.study}: {done} finished trial(s), target {opts.trials}, objectives "
          f"{', '.join(opts.objectives)}, storage {redact(opts.storage_url)}", file=sys.stderr)
    if opts.workers == 1:
        run_worker(opts, study=study)
    else:
        threads = max(1, (os.cpu_count() or 1) // opts.workers)
        ctx = multiprocessing.get_context("spawn")
        errors = ctx.SimpleQueue()
        procs = [ctx.Process(target=_worker_process, args=(opts, threads, errors, i)) for i in range(opts.workers)]
        default = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: no Ctrl-C while a worker imports
        try:
            for p in procs:
                p.start()
        finally:
            signal.signal(signal.SIGINT, default)
        try:
            for p in procs:
                p.join()
        except KeyboardInterrupt:  # a terminal's Ctrl-C reaches the workers too; a kill -INT of this one does not
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            for p in procs:
                p.join(timeout=max(0.0, deadline - time.monotonic()))
            for p in procs:
                if p.is_alive():  # it did not get the signal: pass it on, once
                    os.kill(p.pid, signal.SIGINT)
                    p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=10)
            with contextlib.suppress(ConfigError, *STORAGE_ERRORS):  # a worker ended mid-trial: its trial ends too
                fail_dead_local_trials(study)
            raise
        messages = []
        while not errors.empty():
            messages.append(errors.get())
        if messages:
            raise ConfigError(messages[0] + (f" ({len(messages)} workers stopped)" if len(messages) > 1 else ""))
        if any(p.exitcode != 0 for p in procs):
            print(f"warning: {sum(p.exitcode != 0 for p in procs)} worker(s) ended with an error", file=sys.stderr)
    study = optuna.load_study(study_name=opts.study, storage=open_storage(opts.storage_url))
    measure_reference(study, opts)
    return study


def load_study(storage_url: str, study_name: str) -> optuna.Study:
    """An existing study made by `bench tune`, or a one-line `ConfigError` naming what is
    missing; never creates a storage."""
    quiet_optuna()
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url, create=False))
    except KeyError:
        raise ConfigError(f"no study named {study_name} in {redact(storage_url)}; check --study and --storage") \
            from None
    if problem := study_problem(study):
        raise ConfigError(f"study {study_name} in {redact(storage_url)} is not one bench tune made ({problem}); "
                          "read it with Optuna's own tools, or pass a study made by bench tune")
    return study


def list_studies(storage_url: str) -> list[str]:
    """A line per study in the storage: name, finished trials, objectives (read only)."""
    quiet_optuna()
    summaries = optuna.get_all_study_summaries(open_storage(storage_url, create=False), include_best_trial=False)
    return [f"{s.study_name:<30} {s.n_trials:>4} trials, objectives "
            f"{', '.join(map(str, s.user_attrs.get('objectives') or ['?']))}" for s in summaries] or ["(none)"]


def study_problem(study: optuna.Study) -> str | None:
    """What keeps `study` from being read as `bench tune` writes it (its objectives, search
    space, setup and trial configs), or None: a plain Optuna study in the same database, or one
    edited by hand, is refused rather than half-rendered."""
    objectives = study.user_attrs.get("objectives")
    if not isinstance(objectives, list) or not objectives or not all(o in OBJECTIVES for o in objectives):
        return f"objectives {str(objectives)[:60]} are not among {', '.join(OBJECTIVES)}"
    wanted = [OBJECTIVES[o].direction for o in objectives]
    if [d.name.lower() for d in study.directions] != wanted:
        return f"its directions {[d.name.lower() for d in study.directions]} are not its objectives' {wanted}"
    for name, kind in (("setup", dict), ("reference", dict)):
        if name in study.user_attrs and not isinstance(study.user_attrs[name], kind):
            return f"its {name} is a {type(study.user_attrs[name]).__name__}, not a {kind.__name__}"
    reference = study.user_attrs.get("reference")
    if reference is not None and not (isinstance(reference.get("values"), list) and len(reference["values"])
                                      == len(objectives)):
        return "its reference run has no value for each objective"
    space = {p.name for p in SEARCH_SPACE}
    for t in study.get_trials(deepcopy=False):
        if set(t.params) - space or (t.state in FINISHED and set(t.params) != space):
            return f"trial {t.number} has parameters {sorted(t.params)[:8]}, not {sorted(space)}"
        config = t.user_attrs.get("config")
        if config is not None and not isinstance(config, dict):
            return f"trial {t.number}'s config is a {type(config).__name__}, not a dict"
    return None


def trial_config(storage_url: str, study_name: str, number: int) -> RunConfig:
    """The config of trial `number`, for a re-run on the train/test split."""
    study = load_study(storage_url, study_name)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise ConfigError(f"study {study_name} has no trial {number}; it has trials 0 to {max(trials, default=-1)}")
    config = trials[number].user_attrs.get("config")
    if config is None:
        raise ConfigError(f"trial {number} of study {study_name} has no stored config (not made by vae-bench)")
    try:
        return config_from_dict({**config, "eval_split": "test"})
    except ConfigError as exc:
        raise ConfigError(f"trial {number} of study {study_name} has a config this version cannot run ({exc})") \
            from None
