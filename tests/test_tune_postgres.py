"""The many-machines path: workers in separate processes, each with its own results folder (as
on separate machines), share one study in a real PostgreSQL server started on loopback."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
from helpers import exit_code
from optuna.trial import TrialState


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres_url():
    pg = _server_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries not found: install Debian's postgresql package (.ci/run does)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed: pip install -e '.[dev]'")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    root = Path(tempfile.mkdtemp(prefix="vae-bench-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(_as_postgres([str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options,
                                 "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_workers_on_two_machines_share_one_study(postgres_url, tmp_path):
    def machine(name: str, workers: int) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "bench", "tune", "--study", "shared", "--trials", "6", "--workers", str(workers),
               "--storage", postgres_url, "--dataset", "digits", "--epochs", "2",
               "--results", str(tmp_path / name / "results"), "--reports", str(tmp_path / name / "reports")]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # create the study first, as the first machine to arrive would (in this process: no second start-up)
    assert exit_code(["tune", "--study", "shared", "--trials", "1", "--storage", postgres_url, "--dataset", "digits",
                      "--epochs", "2", "--results", tmp_path / "a" / "results", "--reports", tmp_path / "a" / "r"]) == 0
    machines = [machine("a", 1), machine("b", 2)]
    for m in machines:
        out, err = m.communicate(timeout=600)
        assert m.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) >= 6
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) >= 2, workers  # trials came from more than one process
    assert len({t.number for t in study.trials}) == len(study.trials)  # no trial number handed out twice
    assert exit_code(["report", "--study", "shared", "--storage", postgres_url, "--reports", tmp_path / "rep"]) == 0
    html = (tmp_path / "rep" / "study-shared.html").read_text()
    assert "postgresql+psycopg2://127.0.0.1/" in html and "postgres@" not in html and "Pareto front" in html
