"""The same suite twice gives the same numbers; a run on mnist5k stays within its memory."""

import subprocess
import sys

import pytest
import torch
from helpers import TINY, exit_code, stored_results

# A run of the default VAE on mnist5k (2 epochs, one seed, through the CLI, report included)
# peaked at 1.14 GB RSS on the development machine (torch with its CUDA libraries, pandas,
# matplotlib); docs/robustness.md states it. The bound leaves room.
PEAK_RSS_BOUND_GB = 2.5


def test_same_suite_same_seeds_gives_identical_metrics_on_cpu(tiny_suite_run, tmp_path):
    # without a GPU the session's tiny suite (seeds 0 and 1, --device auto: the CPU) is the first run: its
    # seed-0 runs are the runs of a one-seed suite, under the same keys
    runs = [stored_results(tiny_suite_run[0] / "r" / "runs", seed=0)] if not torch.cuda.is_available() else []
    device = [] if runs else ["--device", "cpu"]
    for name in ("first", "second")[len(runs):]:
        assert exit_code(["run", "--suite", "ablations", *TINY, "--seeds", "1", *device, "--no-report", "--results",
                          tmp_path / name]) == 0
        runs.append(stored_results(tmp_path / name / "runs"))
    assert len(runs[0]) == 16 and runs[0] == runs[1]


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_a_run_on_mnist5k_stays_under_the_stated_peak_memory(tmp_path):
    (tmp_path / "one.json").write_text('{"epochs": 2, "device": "cpu"}')
    # measure in a fresh parent, so that no other child of this test session counts
    cmd = [sys.executable, "-m", "bench", "run", "--config", str(tmp_path / "one.json"), "--seeds", "1",
           "--results", str(tmp_path / "r"), "--reports", str(tmp_path / "p"), "--no-progress"]
    probe = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True); "
             "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, timeout=600)
    code, peak_kib = map(int, out.stdout.split())
    assert code == 0, out.stderr[-2000:]
    peak_gb = peak_kib / 2**20
    print(f"peak RSS of a mnist5k run: {peak_gb:.2f} GB")
    assert peak_gb < PEAK_RSS_BOUND_GB
