"""Optuna tuning: a tiny study, resume after an interruption or a kill -9, pruning, the
re-run of a trial, the study report, and the one-line errors."""

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from helpers import exit_code
from optuna.trial import TrialState

from bench.interrupts import InterruptGate
from bench.options import TuneOptions
from bench.store import Store
from bench.tune import create_or_load, fail_reason, make_objective, open_storage, run_worker

TINY = ["--dataset", "digits", "--epochs", "3"]


def running_trials(db: Path) -> int:
    """Running trials that have recorded their worker, in a study database, read through a
    read-only connection: polling with `optuna.load_study` may create tables, racing the tuner's
    own set-up of a new database. (Optuna creates a trial before the objective can name its
    worker; a trial killed in between is left to the storage heartbeat, not failed at once.)"""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            return con.execute("SELECT count(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
                               "WHERE t.state = 'RUNNING' AND a.key = 'worker'").fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet, or busy
        return 0


def load(results: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{results / 'optuna.db'}")


def test_tiny_multi_objective_study_runs_reports_and_reruns_a_trial(tmp_path, capsys):
    results, reports = tmp_path / "results", tmp_path / "reports"
    args = ["tune", "--study", "tiny", "--trials", "4", *TINY, "--results", results, "--reports", reports]
    assert exit_code(args) == 0
    out, err = capsys.readouterr()
    study = load(results, "tiny")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    # each trial's line names its objectives and parameters; the end names the best and how to re-run them
    assert re.search(r"trial 0 complete: test_recon [\d.]+, smoothness [\d.]+ \| beta=[\d.e-]+ recon_loss=", err), err
    front = [t.number for t in study.best_trials]
    assert f"Pareto-optimal trials ({len(front)}):" in out
    assert f"python -m bench run --from-study tiny --trial {front[0]} --results {results}" in out
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert all(t.user_attrs["config"]["eval_split"] == "validation" for t in study.trials)
    assert all(t.user_attrs["config"]["kl_warmup_epochs"] <= 3 for t in study.trials)  # capped by --epochs 3
    html = (reports / "study-tiny.html").read_text()
    assert "Pareto front" in html and "beta in [0.01, 10] (log-uniform)" in html and "--from-study tiny" in html
    # the untuned calibrated decoder is measured once, stored with the study, and placed among the trials
    reference = study.user_attrs["reference"]
    assert reference["config"]["recon_loss"] == "gaussian" and reference["status"] == "ok"
    assert len(reference["values"]) == 2 and all(v == v for v in reference["values"])  # finite, not NaN
    assert "The calibrated Gaussian decoder (beta 1, nothing tuned) reaches test_recon" in html
    assert exit_code(["run", "--from-study", "tiny", "--trial", "1", "--seeds", "2", "--no-progress",
                      "--results", results, "--reports", reports]) == 0
    rerun = (reports / "study-tiny-trial-1.html").read_text()
    assert "re-run on the train/test split" in rerun
    assert exit_code(["report", "--study", "tiny", "--results", results, "--reports", tmp_path / "again"]) == 0
    capsys.readouterr()
    assert exit_code(["list", "--results", results]) == 0
    assert re.search(r"tuning studies in .*optuna.db:\n  tiny +4 trials, objectives test_recon, smoothness",
                     capsys.readouterr().out)


def test_rerun_resumes_and_keeps_finished_trials(tmp_path):
    results = tmp_path / "results"
    base = ["tune", "--study", "r", "--objectives", "test_recon", *TINY, "--results", results,
            "--reports", tmp_path / "reports"]
    assert exit_code([*base, "--trials", "2"]) == 0
    first = [(t.number, t.params, t.values) for t in load(results, "r").get_trials(states=(TrialState.COMPLETE,))]
    assert exit_code([*base, "--trials", "3"]) == 0
    study = load(results, "r")
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 3
    assert [(t.number, t.params, t.values) for t in finished[:2] if t.state == TrialState.COMPLETE][:2] == first


def test_a_trial_killed_mid_run_is_marked_failed_and_the_study_resumes(tmp_path):
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "tune", "--study", "k", "--objectives", "test_recon", "--trials", "50",
           "--dataset", "digits", "--epochs", "200", "--results", str(results), "--reports", str(tmp_path / "rep")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.5)
            if (results / "optuna.db").exists() and running_trials(results / "optuna.db"):
                break
        else:
            pytest.fail("the tuner never started a trial")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(load(results, "k").get_trials(states=(TrialState.RUNNING,))) == 1
    assert exit_code(["tune", "--study", "k", "--objectives", "test_recon", "--trials", "1", *TINY,
                      "--results", results, "--reports", tmp_path / "rep"]) == 0
    study = load(results, "k")
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and fail_reason(failed[0]) == "worker died"
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def test_ctrl_c_while_optuna_creates_a_trial_fails_that_trial_instead_of_leaving_it_running(tmp_path, monkeypatch):
    """Optuna records a trial RUNNING before the objective runs; a KeyboardInterrupt raised
    there escapes its handling and left the trial RUNNING for good (CI saw one after a Ctrl-C).
    The gate holds it until the objective starts, which Optuna does record."""
    opts = TuneOptions(study="g", trials=3, objectives=("test_recon",), dataset="digits", epochs=1,
                       results=tmp_path, device="cpu")
    study = create_or_load(opts)
    ask, asked = study.ask, []

    def ask_then_ctrl_c(*args, **kwargs):
        trial = ask(*args, **kwargs)
        asked.append(trial.number)
        if len(asked) == 2:  # the second trial exists in the storage, its objective has not begun
            os.kill(os.getpid(), signal.SIGINT)
        return trial

    monkeypatch.setattr(study, "ask", ask_then_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_worker(opts, study=study)
    assert signal.getsignal(signal.SIGINT) is handler  # the gate is this command's, not the process's
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert fail_reason(trials[1]) == "interrupted"


def test_the_gate_holds_an_interrupt_outside_a_block_and_absorbs_the_ones_after_it():
    gate = InterruptGate()
    with gate.installed():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # a second, while the first is held: nothing is raised
        assert gate.held
        with pytest.raises(KeyboardInterrupt), gate.open():
            pytest.fail("a held interrupt is raised as the block opens")
        with pytest.raises(KeyboardInterrupt):
            gate.raise_held()
    fresh = InterruptGate()
    with fresh.installed(), pytest.raises(KeyboardInterrupt), fresh.open():
        os.kill(os.getpid(), signal.SIGINT)  # inside a block: at once
        time.sleep(5)
        pytest.fail("the interrupt did not arrive inside the block")


class Bar:
    """What tqdm draws for a trial, recorded: (epochs so far, postfix) per postfix shown."""

    drawn: dict[str, list[tuple[int, str]]] = {}

    def __init__(self, desc: str, **_: object) -> None:
        self.desc, self.n = desc, 0
        Bar.drawn[desc] = []

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        Bar.drawn[self.desc].append((self.n, text))


def test_pruning_stops_a_hopeless_trial_early(tmp_path, monkeypatch):
    """... and each trial shows its epochs, objective so far, parameters and final evaluation."""
    monkeypatch.setattr("bench.tune.tqdm", Bar)
    opts = TuneOptions(study="p", trials=4, objectives=("test_recon",), dataset="digits", epochs=6,
                       results=tmp_path, device="cpu")
    study = create_or_load(opts)
    good = {"beta": 0.1, "recon_loss": "bce", "latent_dim": 16, "kl_warmup_epochs": 0}
    for lr in (3e-3, 4e-3, 5e-3):
        study.enqueue_trial({**good, "lr": lr})
    study.enqueue_trial({"beta": 10.0, "recon_loss": "mse", "latent_dim": 2, "kl_warmup_epochs": 0, "lr": 1e-4})
    store = Store(tmp_path, "tune")
    study.optimize(make_objective(opts, store), n_trials=4)
    trials = study.get_trials()
    assert [t.state for t in trials[:3]] == [TrialState.COMPLETE] * 3
    assert trials[3].state == TrialState.PRUNED
    assert len(trials[3].intermediate_values) < opts.epochs
    assert not (store.runs_dir / trials[3].user_attrs.get("run_key", "none")).exists()  # a pruned run is not cached
    for number in range(3):
        drawn = Bar.drawn[f"trial {number}"]
        assert [n for n, _ in drawn] == list(range(1, opts.epochs + 1))
        assert re.fullmatch(r"test_recon [\d.]+, evaluating \| beta=0\.1 .*latent_dim=16.*", drawn[-1][1])
    assert all("evaluating" not in text for _, text in Bar.drawn["trial 3"])  # pruned before the last epoch


@pytest.mark.parametrize("extra", [
    ["--objectives", "nope"],
    ["--objectives", ""],
    ["--objectives", "test_recon,test_recon"],
    ["--storage", "foo://bar"],
    ["--storage", "postgresql+psycopg2://u:secret@127.0.0.1:9/db"],
    ["--storage", "sqlite:////nonexistent-folder/x.db"],
    ["--storage", "journal:///nonexistent-folder/x.log"],
    ["--trials", "0"],
    ["--workers", "0"],
    ["--timeout", "-5"],
])
def test_bad_tuning_input_is_one_line_exit_2(tmp_path, capsys, extra):
    args = ["tune", "--study", "bad", "--trials", "2", *TINY, "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    code = exit_code([*args, *extra])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "secret" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()


@pytest.mark.parametrize("args", [
    ["tune", "--study", "../escape", "--trials", "1"],
    ["report", "--study", "missing"],
    ["run", "--from-study", "missing", "--trial", "0"],
    ["run", "--from-study", "missing"],
    ["run", "--config", "/nonexistent.json"],
])
def test_bad_study_references_are_one_line_exit_2(tmp_path, capsys, args):
    code = exit_code([*args, "--results", tmp_path / "r"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


def test_objectives_must_match_a_resumed_study(tmp_path):
    opts = TuneOptions(study="o", trials=1, objectives=("test_recon",), results=tmp_path)
    create_or_load(opts)
    with pytest.raises(Exception, match="objectives"):
        create_or_load(TuneOptions(study="o", trials=1, objectives=("smoothness",), results=tmp_path))


def test_journal_storage_for_many_local_processes(tmp_path):
    storage = open_storage(f"journal:///{tmp_path / 'j.log'}")
    study = optuna.create_study(storage=storage, study_name="j")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="j", storage=open_storage(f"journal:///{tmp_path / 'j.log'}")).trials) == 2


def test_every_objective_takes_its_direction_from_the_metric_registry():
    from bench.search_space import DIRECTIONS, OBJECTIVES
    from vae_core.metrics import METRICS

    for name, objective in OBJECTIVES.items():
        better = METRICS[objective.metric].better
        if better == "descriptive":
            assert objective.declared_direction in ("minimize", "maximize"), name
        else:
            assert objective.declared_direction is None and objective.direction == DIRECTIONS[better], name
    sharpness = OBJECTIVES["sample_sharpness"]  # a ratio to real images: over-sharp is no better than blurry
    assert sharpness.direction == "minimize" and sharpness.value(1.0) == 0.0
    assert sharpness.value(0.5) == pytest.approx(sharpness.value(2.0)) and sharpness.value(2.0) > 0


def test_every_objective_measured_after_an_epoch_is_finite_and_the_final_quantity(digits, tmp_path):
    import math

    from bench.search_space import OBJECTIVES
    from bench.work import evaluator_for
    from vae_core import RunConfig, fit
    from vae_core.data import dataset_for
    from vae_core.metrics import evaluate

    config = RunConfig(dataset="digits", epochs=1, device="cpu", eval_split="validation")
    data = dataset_for(config)
    evaluator = evaluator_for(config, tmp_path)
    model = fit(config, data).model
    final = evaluate(model, data, config.recon_loss, evaluator).metrics
    for name, objective in OBJECTIVES.items():
        now = objective.measure(model, data, config.recon_loss, evaluator if objective.needs_evaluator else None)
        assert math.isfinite(now), name  # sample_fid measured without the evaluator was NaN at every epoch
        assert now == pytest.approx(objective.value(final[objective.metric])), name


def test_a_study_trains_its_trials_in_the_precision_asked_for():
    from bench.cli import build_parser
    from bench.options import TuneOptions

    args = build_parser().parse_args(["tune", "--study", "s", "--trials", "1", "--precision", "bf16"])
    assert args.precision == "bf16" and TuneOptions("s", 1, precision="bf16").base_config().precision == "bf16"
    assert TuneOptions("s", 1).base_config().precision == "fp32"
