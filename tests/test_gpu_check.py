"""The GPU measurement script (.ci/gpu_check.py) checked off a GPU: its steps' command lines are
ones `bench` accepts, and its budget, skipping and packing work, on stand-in steps."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / ".ci" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def test_every_step_is_a_command_bench_accepts(gpu_check):
    assert gpu_check.check_command_lines(list(gpu_check.STEPS)) == []


def test_a_step_that_drifted_from_the_cli_is_named(gpu_check):
    Step = gpu_check.Step
    drifted = [Step("renamed", 10, ("-m", "bench", "run", "--suite", "ablations", "--no-such-flag"), ""),
               Step("bad-config", 10, ("-m", "bench", "run", "--set", "precision=fp8", "--device", "cuda"), ""),
               Step("gone", 10, ("-m", "pytest", "tests/test_stacked.py::test_that_does_not_exist"), "")]
    problems = gpu_check.check_command_lines(drifted)
    assert [p.split(":")[0] for p in problems] == ["renamed", "bad-config", "gone"]


def test_steps_run_under_one_budget_and_pack_into_one_tarball(gpu_check, tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "WHEELS", tmp_path / "no-wheels")  # not the ones `prepare` made for the device
    Step = gpu_check.Step
    steps = [Step("quick", 30, ("-c", "open('WORK/quick.json', 'w').write('{}'); open('WORK/model.pt', 'w')"), ""),
             Step("slow", 30, ("-c", "import time; print('started', flush=True); time.sleep(60)"), ""),
             Step("late", 30, ("-c", "print('never')"), "")]
    out = tmp_path / "out"
    rc = gpu_check.run(steps, budget_s=2.5, out=out, min_start_s=0.5)
    assert rc == 1  # not every step ran
    summary = (out / "summary.txt").read_text()
    assert "quick" in summary and "ok" in summary.splitlines()[3]
    assert "stopped at" in summary and "skipped" in summary
    assert summary.rstrip().endswith("run --budget SECONDS slow late")
    with tarfile.open(out / "gpu-check.tar.gz") as tar:
        names = set(tar.getnames())
        steps_done = json.loads(tar.extractfile("gpu-check/summary.json").read())["steps"]
        slow_log = tar.extractfile("gpu-check/slow.log").read().decode()
    assert {"gpu-check/quick.json", "gpu-check/quick.log", "gpu-check/slow.log"} <= names
    assert "gpu-check/model.pt" not in names  # per-run weights stay behind
    assert "started" in slow_log  # a stopped step keeps what it printed
    assert [s["step"] for s in steps_done] == ["quick", "slow", "late"]
    assert steps_done[1]["seconds"] < 10  # stopped at the budget, not at its cap


def test_collect_stores_a_returned_measurement_for_the_tables(gpu_check, tiny_suite_run, tmp_path):
    work = tmp_path / "gpu-check"
    work.mkdir()
    (work / "perf-cuda.json").write_text('{"device": "cuda"}')
    # a suite's results as `pack` returns them: without weights and image grids
    shutil.copytree(tiny_suite_run[0] / "r", work / "results-ablations", ignore=shutil.ignore_patterns("*.pt", "*.npz"))
    (work / "summary.json").write_text('{"steps": []}')
    with tarfile.open(tmp_path / "back.tar.gz", "w:gz") as tar:
        tar.add(work, arcname="gpu-check")
    data = tmp_path / "data"
    data.mkdir()
    assert gpu_check.collect(tmp_path / "back.tar.gz", data) == 0
    assert json.loads((data / "perf-cuda.json").read_text()) == {"device": "cuda"}
    runs = pd.read_csv(data / "ablations-cuda-runs.csv")
    manifest = json.loads((data / "ablations-cuda-manifest.json").read_text())
    assert manifest["suite"] == "ablations" and len(runs) == manifest["trained"] + manifest["cached"] > 0
    assert not (data / "claims-cuda-runs.csv").exists()  # no claims suite came back
    assert (data / "gpu-check-summary.json").is_file()


def test_a_failed_install_is_the_summary_s_line_and_nothing_runs(gpu_check, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip file")
    monkeypatch.setattr(gpu_check, "WHEELS", wheels)
    step = gpu_check.Step("never", 30, ("-c", "open('WORK/ran', 'w')"), "")
    assert gpu_check.run([step], budget_s=30, out=tmp_path / "out") == 1
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "install" in summary and "failed: ERROR: Wheel 'broken'" in summary  # pip's own words
    assert summary.rstrip().endswith("run --budget SECONDS never")  # the step to run once it is mended
    with tarfile.open(tmp_path / "out" / "gpu-check.tar.gz") as tar:
        assert "gpu-check/ran" not in tar.getnames()


def test_stopped_from_outside_it_still_packs_what_ran_and_stops_the_step(tmp_path):
    script = f"""
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("gpu_check", {str(ROOT / ".ci" / "gpu_check.py")!r})
g = importlib.util.module_from_spec(spec); sys.modules["gpu_check"] = g; spec.loader.exec_module(g)
g.WHEELS = Path({str(tmp_path / "no-wheels")!r})
hang = "import os, time; open({str(tmp_path / "pid")!r}, 'w').write(str(os.getpid())); time.sleep(60)"
steps = [g.Step("first", 30, ("-c", "print('done')"), ""), g.Step("hung", 60, ("-c", hang), "")]
sys.exit(g.run(steps, budget_s=60, out=Path({str(tmp_path / "out")!r}), min_start_s=1))
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not (tmp_path / "pid").is_file() or not (tmp_path / "pid").read_text():  # the hung step is under way
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    pid = int((tmp_path / "pid").read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    with tarfile.open(tmp_path / "out" / "gpu-check.tar.gz") as tar:
        assert "gpu-check/first.log" in tar.getnames() and "gpu-check/hung.log" in tar.getnames()
    with pytest.raises(ProcessLookupError):  # the hung step did not outlive the script
        os.kill(pid, 0)
    assert "first" in (tmp_path / "out" / "summary.txt").read_text()
