"""A stored suite as one table: `bench.results.load_runs` and `python -m bench export`."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers import exit_code

from bench.results import load_runs

ROOT = Path(__file__).resolve().parents[1]


def test_one_row_per_stored_run_with_the_stored_numbers_and_the_axes_it_serves(tiny_suite_run):
    root, _ = tiny_suite_run
    df = load_runs("ablations", root / "r")
    stored = {p.parent.name: json.loads(p.read_text()) for p in (root / "r" / "runs").glob("*/metrics.json")}
    assert len(df) == df.key.nunique() == len(stored) == 32 and set(df.suite) == {"ablations"}
    for row in df.itertuples():
        assert row.test_recon_mse == stored[row.key]["metrics"]["test_recon_mse"]
    baseline = df[(df.model == "vae") & (df.recon_loss == "bce") & (df.beta == 1.0) & (df.latent_dim == 20)]
    assert set(baseline.on_axes) == {"model,loss,beta"} and len(baseline) == 2  # one run per seed, on three axes
    assert {"seed", "lr", "status", "label", "prior_fid", "train_images_per_s"} <= set(df.columns)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_writes_the_same_table(tiny_suite_run, tmp_path, suffix):
    root, _ = tiny_suite_run
    out = tmp_path / f"runs{suffix}"
    assert exit_code(["export", "--suite", "ablations", "--results", root / "r", "--out", out]) == 0
    back = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    table = load_runs("ablations", root / "r")
    assert list(back.columns) == list(table.columns) and len(back) == len(table)
    assert back.test_recon_mse.tolist() == table.test_recon_mse.tolist()


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/runs.xlsx"], "write .csv or .parquet"),
    (["--out", "{tmp}/no/such/runs.csv"], "does not exist; create it first"),
    (["--out", "{tmp}"], "is a folder"),
    (["--suite", "never-run", "--out", "{tmp}/runs.csv"], "run python -m bench run --suite never-run first"),
])
def test_export_mistakes_are_one_line_and_write_nothing(tiny_suite_run, tmp_path, capsys, args, message):
    root, _ = tiny_suite_run
    args = [a.format(tmp=tmp_path) for a in args]
    suite = [] if "--suite" in args else ["--suite", "ablations"]
    assert exit_code(["export", *suite, "--results", root / "r", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_the_documented_example_runs_on_a_stored_suite(tiny_suite_run, tmp_path, monkeypatch):
    """The load_runs example of docs/own-data.md, as written, on the tiny suite's results."""
    root, _ = tiny_suite_run
    page = (ROOT / "docs" / "own-data.md").read_text()
    code = re.search(r"```python\n(.*?from bench.results import load_runs.*?)```", page, re.S).group(1)
    (tmp_path / "results").symlink_to(root / "r", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/own-data.md", "exec"), {})
    assert (tmp_path / "beta.png").stat().st_size > 1000
