"""The real thing: the quick ablations suite on mnist5k through the command line (minutes).
Run with `python -m pytest -m slow`."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_ablations_on_mnist5k_end_to_end(tmp_path):
    cmd = [sys.executable, "-m", "bench", "run", "--suite", "ablations", "--quick", "--no-progress",
           "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    html = (tmp_path / "reports" / "ablations.html").read_text()
    assert "mnist5k" in html and 'id="limitations"' in html and "did not finish normally" not in html
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 to train" in again.stderr
