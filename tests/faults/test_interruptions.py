"""Kill -9 mid-suite, two runs on one results folder, a full disk: nothing is lost or corrupted."""

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import TINY, bench_process, exit_code, snapshot, stored_results


@pytest.fixture(scope="module")
def reference(tiny_suite_run):
    """The tiny suite's seed-0 runs, run once without interruption (the session's suite has seeds
    0 and 1; a one-seed suite trains the seed-0 runs, under the same keys)."""
    return stored_results(tiny_suite_run[0] / "r" / "runs", seed=0)


@pytest.mark.parametrize("attempt", range(2))
def test_kill_9_at_a_random_point_then_rerun_gives_the_uninterrupted_results(tmp_path, reference, attempt, survived):
    results = tmp_path / "r"
    args = ["run", "--suite", "ablations", *TINY, "--seeds", "1", "--no-report", "--results", results]
    rng = random.Random(attempt)
    wanted = rng.randint(1, len(reference) - 2)  # runs finished before the kill
    proc = bench_process(args, start_new_session=True)
    deadline = time.time() + 120
    while len(stored_results(results / "runs")) < wanted and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(rng.random() * 0.2)  # land anywhere inside the next run
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the suite finished before it could be killed"
    partial = stored_results(results / "runs")
    assert 0 < len(partial) < len(reference)
    assert all(reference[k] == v for k, v in partial.items())  # what was stored is whole and right
    assert exit_code(args) == 0
    assert stored_results(results / "runs") == reference
    assert not [p for folder in ("runs", "ablations") for p in (results / folder).glob(".tmp-*")]  # made in runs/
    survived("fault")


def test_a_second_run_on_the_same_results_folder_is_refused_and_corrupts_nothing(tmp_path, capsys, survived):
    results = tmp_path / "r"
    args = ["run", "--suite", "ablations", *TINY, "--results", results, "--reports", tmp_path / "p"]
    first = bench_process([*args[:-4], "--epochs", "6", "--seeds", "1", "--no-report", *args[-4:-2]])  # 16 runs: ~10 s
    deadline = time.time() + 120
    while not stored_results(results / "runs") and time.time() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second could start"
    before = snapshot(tmp_path / "p")
    assert exit_code(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another bench run is using" in err[0]
    assert snapshot(tmp_path / "p") == before
    out, err_text = first.communicate(timeout=300)
    assert first.returncode == 0, err_text[-2000:]
    assert len(stored_results(results / "runs")) == 16
    survived("fault")


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # no file over 4 KiB: a full disk, in effect
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write fails with EFBIG instead of killing us


def test_a_full_disk_ends_the_suite_with_one_line_and_no_partial_results(tmp_path, survived):
    results = tmp_path / "r"
    proc = bench_process(["run", "--suite", "ablations", *TINY, "--results", results, "--reports", tmp_path / "p"],
                         preexec_fn=_limit_file_size)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-2000:]
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "File too large" in lines[0] and "Traceback" not in err
    assert stored_results(results / "runs") == {}
    assert not [p for folder in ("runs", "ablations") for p in (results / folder).glob(".tmp-*")]  # made in runs/
    survived("fault")


def test_a_full_disk_during_tune_ends_in_one_line(tmp_path, survived):
    proc = bench_process(["tune", "--study", "s", "--trials", "2", "--dataset", "digits", "--epochs", "1",
                          "--results", tmp_path / "r", "--reports", tmp_path / "p"], preexec_fn=_limit_file_size)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err and "[W " not in err, err[-2000:]  # neither ours nor Optuna's
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and ("File too large" in lines[0] or "file-size limit" in lines[0]), err[-2000:]
    survived("fault")


def test_a_study_storage_failing_mid_study_is_one_line_naming_the_cause():
    """What Optuna raises when SQLite cannot grow its file (seen with a file-size limit): the
    meaning is read from the driver's error underneath, whose text is never shown."""
    import optuna
    import sqlalchemy.exc

    from bench.tune import storage_errors_as_one_line
    from vae_core.config import ConfigError

    url = "postgresql+psycopg2://me:SECRETpw@db.example/studies"
    with pytest.raises(ConfigError) as caught, storage_errors_as_one_line(url):
        try:
            raise sqlalchemy.exc.OperationalError("INSERT ... SECRETpw", {}, Exception("database or disk is full"))
        except sqlalchemy.exc.OperationalError as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc
    message = str(caught.value)
    assert "disk is full" in message and "db.example/studies" in message and "SECRET" not in message
    assert "run the same command again" in message


def test_ctrl_c_during_tune_with_two_workers_is_one_line_and_leaves_no_running_trial(tmp_path, survived):
    import contextlib
    import sqlite3

    results = tmp_path / "r"
    proc = bench_process(["tune", "--study", "c", "--objectives", "test_recon", "--trials", "20", "--workers", "2",
                          "--dataset", "digits", "--epochs", "300", "--results", results, "--reports", tmp_path / "p"],
                         start_new_session=True)
    db, running = results / "optuna.db", 0
    deadline = time.time() + 180
    while running < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        with contextlib.suppress(sqlite3.OperationalError), \
                contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            running = con.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]
    assert running == 2, "the workers never started their trials"
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the tuner and its workers
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "[W " not in err, err[-3000:]
    assert [line for line in err.splitlines() if line.startswith(("interrupted", "error"))] == \
        ["interrupted: finished runs and trials are stored; run the same command again to continue"]
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        assert con.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0] == 0
    survived("fault")


FINALISER_INTERRUPT = """
import sys, time
from bench.interrupts import redeliver_interrupts
if sys.argv[1] == "hook":
    redeliver_interrupts()
class Dies:
    def __del__(self):
        raise KeyboardInterrupt  # as a Ctrl-C landing in a weakref callback or finaliser is
try:
    Dies()
    time.sleep(5)
    print("not delivered")
except KeyboardInterrupt:
    print("delivered")
"""


@pytest.mark.parametrize("hook", ["hook", "no hook"])
def test_an_interrupt_landing_in_a_finaliser_is_delivered_again(hook, survived):
    """Python cannot raise an interrupt inside a finaliser and prints "Exception ignored ...
    Traceback" instead (it broke the two-worker Ctrl-C test once); with the hook every bench
    process installs, it is delivered again and handled as any Ctrl-C. Without it (the planted
    control), the interrupt is lost."""
    done = subprocess.run([sys.executable, "-c", FINALISER_INTERRUPT, hook], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    if hook == "hook":
        assert done.stdout.strip() == "delivered" and "Traceback" not in done.stderr, done.stderr
        survived("fault")
    else:
        assert done.stdout.strip() == "not delivered" and "Exception ignored" in done.stderr
