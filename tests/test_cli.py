"""The CLI end to end on the tiny `digits` data (the table of user mistakes is in
`faults/test_bad_input.py`)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import TINY, exit_code, snapshot

from bench.stats import fmt
from bench.store import STALE_S

SECTIONS = ["environment", "summary", "model", "loss", "beta", "latent", "limitations", "throughput", "metrics"]


def run_cli(args, capsys):
    code = exit_code(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def tiny_suite(tiny_suite_run, tmp_path_factory):
    """A copy of the session's tiny suite, its results and its report, that this module's tests
    may change (the session's is trained once and only read)."""
    root = tmp_path_factory.mktemp("suite")
    shutil.copytree(tiny_suite_run[0] / "r", root / "results")
    shutil.copytree(tiny_suite_run[0] / "p", root / "reports")
    return root, ["run", "--suite", "ablations", *TINY, "--results", root / "results", "--reports", root / "reports"]


def stored_metrics(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (results / "runs").glob("*/metrics.json")}


def test_run_writes_a_report_with_every_section_and_the_stored_numbers(tiny_suite):
    root, _ = tiny_suite
    html = (root / "reports" / "ablations.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert "Limitations: blur and the posterior-prior mismatch" in html
    runs = stored_metrics(root / "results")
    assert len(runs) == 16 * 2  # 16 distinct configs of the quick grid, 2 seeds
    configs = {k: json.loads((root / "results" / "runs" / k / "config.json").read_text()) for k in runs}
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
    assert re.search(r"report: \S+ablations\.html \(rendered in \d+\.\d s\)", out)  # its time apart from the runs'


def test_rerun_after_a_lost_run_trains_only_that_run(tiny_suite, capsys):
    root, args = tiny_suite
    runs = sorted((root / "results" / "runs").glob("*/metrics.json"))
    victim = runs[0].parent
    shutil.rmtree(victim)
    killed = root / "results" / "runs" / f".tmp-{victim.name}-killed"
    killed.mkdir()  # what a kill leaves
    os.utime(killed, (time.time() - STALE_S, time.time() - STALE_S))  # other suites may write here: old ones go
    code, _, err = run_cli([*args, "--no-report"], capsys)
    assert code == 0 and "31 cached, 1 to train" in err
    assert victim.is_dir() and not list((root / "results" / "runs").glob(".tmp-*"))


def test_no_report_stores_the_runs_and_the_report_command_renders_them_later(tmp_path, capsys):
    args = ["run", "--set", "epochs=1", "--dataset", "digits", "--seed-list", "0", "--no-progress", "--no-report",
            "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "report: not written (--no-report)" in out and "bench report --suite sweep" in out
    assert len(list((tmp_path / "r" / "runs").glob("*/metrics.json"))) == 1 and not (tmp_path / "p").exists()
    code, out, _ = run_cli(["report", "--suite", "sweep", "--results", tmp_path / "r", "--reports", tmp_path / "p"],
                           capsys)
    assert code == 0 and "vae-bce-b1-z20" in (tmp_path / "p" / "sweep.html").read_text()


def test_report_rerenders_from_stored_results(tiny_suite, capsys):
    root, _ = tiny_suite
    out_dir = root / "rerendered"
    code, out, _ = run_cli(["report", "--suite", "ablations", "--results", root / "results",
                            "--reports", out_dir], capsys)
    assert code == 0 and (out_dir / "ablations.html").is_file() and "report:" in out


def test_list_shows_suites_the_stored_ones_and_the_runs_of_one(tiny_suite, capsys):
    results = tiny_suite[0] / "results"
    before = snapshot(results)
    code, out, _ = run_cli(["list", "--results", results], capsys)
    assert code == 0 and "ablations" in out and "quick" in out
    assert re.search(r"suites stored in .*\n  ablations +32 runs, last run .* \(--quick\)", out), out
    code, out, _ = run_cli(["list", "--results", results, "--runs", "ablations"], capsys)
    key = next(k for k in stored_metrics(results))
    assert code == 0 and "suite ablations: 32 runs" in out and key in out and "test_recon_mse" in out
    assert re.search(r"  model +vae-bce-b1-z20 +0  [0-9a-f]{16}  ok ", out), out
    assert snapshot(results) == before  # listing reads only


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
    assert (tmp_path / "p" / "s.html").is_file() and len(list((tmp_path / "r" / "runs").glob("*/metrics.json"))) == 1


def test_a_quick_report_says_it_is_a_smoke_test_and_a_full_one_does_not(tiny_suite_run, tiny_claims_run, tmp_path):
    import dataclasses

    from bench.reports import write_report
    from bench.store import Store

    claims = (tiny_claims_run / "p" / "claims.html").read_text()  # a --quick run: banner and outlined badges
    assert "a smoke test, not evidence" in claims and claims.count("(quick)</span>") == 2 * 13
    manifest, records = Store(tiny_suite_run[0] / "r", "ablations").load_manifest_runs()
    quick = (tiny_suite_run[0] / "p" / "ablations.html").read_text()
    full = write_report(records, dataclasses.replace(manifest, options={**manifest.options, "quick": False}),
                        tmp_path).read_text()
    assert "a smoke test, not evidence" in quick and "a smoke test, not evidence" not in full


def test_set_sweeps_the_product_of_its_values_over_the_given_seeds():
    from bench.options import SuiteOptions
    from bench.suites import config_suite, parse_setting
    from vae_core.config import RunConfig

    assert parse_setting("beta=0.5,2") == ("beta", (0.5, 2.0))
    assert parse_setting("data_dir=none") == ("data_dir", (None,))
    assert parse_setting("latent_dim=8") == ("latent_dim", (8,))
    options = SuiteOptions(seed_list=(3, 7), settings=(parse_setting("beta=0.5,2"), parse_setting("lr=1e-3,3e-4"),
                                                        parse_setting("latent_dim=8")))
    runs = config_suite("sweep", "d", RunConfig(), options).build(options)
    assert len(runs) == 2 * 2 * 2  # two betas x two learning rates x two seeds
    assert {r.config.seed for r in runs} == {3, 7} and {r.config.latent_dim for r in runs} == {8}
    assert {(r.config.beta, r.config.lr) for r in runs} == {(0.5, 1e-3), (0.5, 3e-4), (2.0, 1e-3), (2.0, 3e-4)}
    assert {r.label for r in runs} == {"beta=0.5, lr=0.001", "beta=0.5, lr=0.0003", "beta=2, lr=0.001",
                                      "beta=2, lr=0.0003"}  # a label per point, so no two points pool seeds
    assert {r.axis for r in runs} == {"sweep"}


def test_dry_run_prints_the_runs_and_writes_nothing(tmp_path, capsys):
    code = exit_code(["run", "--set", "beta=0.5,2", "--dataset", "digits", "--seed-list", "4,9", "--dry-run",
                      "--results", tmp_path / "r", "--reports", tmp_path / "p"])
    out = capsys.readouterr().out
    assert code == 0 and "suite sweep: 4 distinct runs (0 stored" in out
    assert "beta=0.5" in out and "seeds 4,9" in out and "stored 0/2" in out
    assert not list(tmp_path.iterdir())


def test_precision_applies_to_every_run_of_a_built_in_suite(tmp_path, capsys):
    assert exit_code(["run", "--suite", "ablations", "--quick", "--dataset", "digits", "--precision", "bf16",
                      "--dry-run", "--results", tmp_path / "r"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(lines) == 21 and all("-bf16 " in line and "precision=bf16" in line for line in lines)


def test_a_sweep_from_the_command_line_trains_and_reports_each_point(tmp_path, capsys, monkeypatch):
    # its two points differ only in beta: they train stacked, with the compiled step (aot_eager: 2 s, not 30)
    monkeypatch.setattr("vae_core.stacked.COMPILE_BACKEND", "aot_eager")
    args = ["run", "--set", "beta=0.5,2", "--dataset", "digits", "--epochs", "1", "--seed-list", "4", "--no-progress",
            "--stack", "on", "--compile", "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    assert exit_code(args) == 0
    html = (tmp_path / "p" / "sweep.html").read_text()
    assert "beta=0.5" in html and "beta=2" in html
    assert re.search(r"2 models stacked, step compiled in \d+\.\d s \(not in train s\)", html)
    stored = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs").glob("*/config.json")]
    assert sorted((c["beta"], c["seed"]) for c in stored) == [(0.5, 4), (2.0, 4)]


def test_a_config_run_by_another_suite_is_found_in_the_shared_cache(tiny_suite_run, tmp_path, capsys):
    root, _ = tiny_suite_run
    stored = json.loads(sorted((root / "r" / "runs").glob("*/config.json"))[0].read_text())
    config = tmp_path / "mine.json"
    config.write_text(json.dumps({k: v for k, v in stored.items() if k != "seed"}))
    code, out, _ = run_cli(["run", "--config", config, "--seed-list", str(stored["seed"]), "--dry-run",
                            "--results", root / "r"], capsys)
    assert code == 0 and "suite config-mine: 1 distinct runs (1 stored" in out and "stored 1/1" in out


def test_a_users_unlabelled_arrays_train_and_report_what_they_cannot_measure(tmp_path, capsys):
    """`--dataset array:FILE` end to end on 60 unlabelled 8x8 images: the run trains and is
    scored, the metrics that need classes are n/a and the report says why; editing the file
    changes the run's key (its content is part of it), so the edited data is trained anew."""
    import numpy as np

    images = np.random.default_rng(1).random((60, 8, 8), dtype=np.float32)
    np.save(tmp_path / "mine.npy", images)
    args = ["run", "--set", "epochs=1", "--dataset", f"array:{tmp_path / 'mine.npy'}", "--seed-list", "0",
            "--no-progress", "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    assert exit_code(args) == 0
    (meta,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs").glob("*/metrics.json")]
    assert meta["status"] == "ok" and meta["metrics"]["test_recon_mse"] > 0
    assert meta["metrics"]["prior_fid"] is None and meta["metrics"]["latent_knn_accuracy"] is None
    html = (tmp_path / "p" / "sweep.html").read_text()
    assert "<th>labels</th><td>none in array:" in html and "prior_fid" in html
    capsys.readouterr()
    code, out, _ = run_cli([*args, "--dry-run"], capsys)
    assert code == 0 and "stored 1/1" in out
    np.save(tmp_path / "mine.npy", images[::-1].copy() * 0.5)
    code, out, _ = run_cli([*args, "--dry-run"], capsys)
    assert code == 0 and "stored 0/1" in out
    assert exit_code([*args, "--no-report"]) == 0  # trained on the edited file, not this process's copy of the old one
    edited = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs").glob("*/metrics.json")]
    assert len(edited) == 2 and edited[0]["metrics"]["mean_image_mse"] != edited[1]["metrics"]["mean_image_mse"]


@pytest.mark.parametrize("args, message", [
    (["run", "--set", "model=cvae,vae"], "model=cvae is given each image's class"),
    (["tune", "--study", "s", "--trials", "1", "--objectives", "sample_fid"], "objective sample_fid is read in"),
])
def test_what_needs_labels_is_refused_on_unlabelled_arrays(tmp_path, capsys, args, message):
    import numpy as np

    np.save(tmp_path / "mine.npy", np.random.default_rng(1).random((60, 8, 8), dtype=np.float32))
    code, _, err = run_cli([*args, "--dataset", f"array:{tmp_path / 'mine.npy'}", "--results", tmp_path / "r",
                            "--reports", tmp_path / "p"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npy"]


def test_the_documented_networks_train_and_editing_their_module_retrains(tmp_path, capsys, monkeypatch):
    """The ResNet-style `make_nets` of docs/own-data.md, as written, trains through `arch = "module:function"`
    (on digits, 8x8); its module's source is part of the key, so an edit means a new run."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "own-data.md").read_text()
    source = re.search(r"```python\n# my_nets.py\n(.*?)```", page, re.S).group(1)
    (tmp_path / "readme_nets.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["run", "--set", "arch=readme_nets:make_nets", "--set", "epochs=1", "--dataset", "digits", "--seed-list",
            "0", "--no-progress", "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    assert exit_code(args) == 0
    (meta,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs").glob("*/metrics.json")]
    assert meta["status"] == "ok" and meta["metrics"]["test_recon_mse"] > 0
    assert "make_nets-vae-bce" in (tmp_path / "p" / "sweep.html").read_text()
    capsys.readouterr()
    code, out, _ = run_cli([*args, "--dry-run"], capsys)
    assert code == 0 and "stored 1/1" in out
    (tmp_path / "readme_nets.py").write_text(source + "\nEDITED = True\n")
    code, out, _ = run_cli([*args, "--dry-run"], capsys)
    assert code == 0 and "stored 0/1" in out
    from vae_core.models import user_function

    user_function("readme_nets:make_nets")  # this process imported the old module: it reads the new one
    assert sys.modules["readme_nets"].EDITED


@pytest.mark.parametrize("dataset", ["cifar10", "images"])
def test_the_colour_data_sets_train_end_to_end_from_files_in_their_formats(tmp_path, capsys, monkeypatch, dataset):
    """`--dataset cifar10 --data-dir DIR` (torchvision's files, written small in their format)
    and `--dataset images:FOLDER --image-size N`: a conv VAE trains on each and is scored.
    (celeba64 is read the same way, test_data.py; a 64x64 run's evaluation takes 13 s here.)"""
    from helpers import fake_cifar10, trust_file_checksums
    from PIL import Image

    trust_file_checksums(monkeypatch)
    if dataset == "images":
        for i in range(50):
            folder = tmp_path / "mine" / f"class{i % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (30 + i, 20), color=(5 * i, 100, 0)).save(folder / f"{i}.jpg")
        data = ["--dataset", f"images:{tmp_path / 'mine'}", "--image-size", "16"]
    else:
        data = ["--dataset", dataset, "--data-dir", str(fake_cifar10(tmp_path / "data"))]
    args = ["run", "--set", "arch=conv", "--set", "epochs=1", *data, "--seed-list", "0", "--no-progress",
            "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    assert exit_code(args) == 0, capsys.readouterr().err
    (run,) = (tmp_path / "r" / "runs").iterdir()
    meta, config = (json.loads((run / f).read_text()) for f in ("metrics.json", "config.json"))
    assert meta["status"] == "ok" and meta["metrics"]["test_recon_mse"] > 0
    assert config["dataset"] == data[1] and "convvae-bce" in (tmp_path / "p" / "sweep.html").read_text()
