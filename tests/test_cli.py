"""The CLI end to end on the tiny `digits` data (the table of user mistakes is in
`faults/test_bad_input.py`)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY, exit_code

from bench.stats import fmt

SECTIONS = ["environment", "summary", "model", "loss", "beta", "latent", "limitations", "throughput", "metrics"]


def run_cli(args, capsys):
    code = exit_code(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    args = ["run", "--suite", "ablations", *TINY, "--results", root / "results", "--reports", root / "reports"]
    assert exit_code(args) == 0
    return root, args


def stored_metrics(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (results / "ablations").glob("*/metrics.json")}


def test_run_writes_a_report_with_every_section_and_the_stored_numbers(tiny_suite):
    root, _ = tiny_suite
    html = (root / "reports" / "ablations.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert "Limitations: blur and the posterior-prior mismatch" in html
    runs = stored_metrics(root / "results")
    assert len(runs) == 16 * 2  # 16 distinct configs of the quick grid, 2 seeds
    configs = {k: json.loads((root / "results" / "ablations" / k / "config.json").read_text()) for k in runs}
    baseline = [runs[k]["metrics"]["test_recon_mse"] for k, c in configs.items()
                if (c["model"], c["recon_loss"], c["beta"], c["latent_dim"]) == ("vae", "bce", 1.0, 20)]
    assert len(baseline) == 2
    assert fmt(sum(baseline) / 2) in html  # the summary shows the seed mean of the stored values
    assert html.count('<img src="data:image/png;base64,') >= 15
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing loaded from the network


def test_second_identical_run_trains_nothing_and_changes_no_result(tiny_suite, capsys):
    root, args = tiny_suite
    before = stored_metrics(root / "results")
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "32 runs, 32 cached, 0 to train" in err
    assert stored_metrics(root / "results") == before
    assert "report:" in out


def test_rerun_after_a_lost_run_trains_only_that_run(tiny_suite, capsys):
    root, args = tiny_suite
    runs = sorted((root / "results" / "ablations").glob("*/metrics.json"))
    victim = runs[0].parent
    shutil.rmtree(victim)
    (root / "results" / "ablations" / f".tmp-{victim.name}-killed").mkdir()  # what a kill leaves
    code, _, err = run_cli(args, capsys)
    assert code == 0 and "31 cached, 1 to train" in err
    assert victim.is_dir() and not list((root / "results" / "ablations").glob(".tmp-*"))


def test_report_rerenders_from_stored_results(tiny_suite, capsys):
    root, _ = tiny_suite
    out_dir = root / "rerendered"
    code, out, _ = run_cli(["report", "--suite", "ablations", "--results", root / "results",
                            "--reports", out_dir], capsys)
    assert code == 0 and (out_dir / "ablations.html").is_file() and "report:" in out


def test_list_shows_suites(tiny_suite, capsys):
    code, out, _ = run_cli(["list", "--results", tiny_suite[0] / "results"], capsys)
    assert code == 0 and "ablations" in out and "quick" in out


def test_real_process_exit_status_and_help():
    bad = subprocess.run([sys.executable, "-m", "bench", "run", "--suite", "ablations", "--epochs", "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    for cmd in (["--help"], ["run", "--help"], ["list", "--help"], ["report", "--help"]):
        done = subprocess.run([sys.executable, "-m", "bench", *cmd], capture_output=True, text=True)
        assert done.returncode == 0 and "usage:" in done.stdout


def test_a_suite_with_a_failed_run_exits_1_and_says_how_many(tmp_path, capsys, monkeypatch):
    from bench import executors

    real = executors.train_and_evaluate

    def broken(config, *args):
        if config.beta == 4.0:
            raise RuntimeError("a bug in one run")
        return real(config, *args)

    monkeypatch.setattr(executors, "train_and_evaluate", broken)
    suite = tmp_path / "s.toml"
    suite.write_text('seeds = 1\n[defaults]\ndataset = "digits"\nepochs = 1\n'
                     '[[runs]]\nbeta = 1.0\n[[runs]]\nbeta = 4.0\n')
    code, out, err = run_cli(["run", "--suite-file", suite, "--no-progress", "--results", tmp_path / "r",
                              "--reports", tmp_path / "p"], capsys)
    assert code == 1 and "1 of 2 runs failed" in err and "report:" in out
    assert (tmp_path / "p" / "s.html").is_file() and len(list((tmp_path / "r" / "s").glob("*/metrics.json"))) == 1


def test_a_quick_report_says_it_is_a_smoke_test_and_a_full_one_does_not(tiny_suite_run, tiny_claims_run, tmp_path):
    import dataclasses

    from bench.reports import write_report
    from bench.store import Store

    for root, suite in ((tiny_suite_run[0], "ablations"), (tiny_claims_run, "claims")):
        manifest, records = Store(root / "r", suite).load_manifest_runs()
        quick = write_report(records, manifest, tmp_path / "quick").read_text()
        full = write_report(records, dataclasses.replace(manifest, options={**manifest.options, "quick": False}),
                            tmp_path / "full").read_text()
        assert "a smoke test, not evidence" in quick and "a smoke test, not evidence" not in full
        if suite == "claims":  # the ledger's badges say so too
            assert "(quick)</span>" in quick and "(quick)</span>" not in full
