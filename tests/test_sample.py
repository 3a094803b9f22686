"""Trained models back from the store: weights kept with each run, the network rebuilt from its
config gives the stored numbers again, and `bench sample` draws from it without retraining."""

import shutil

import pytest
from helpers import exit_code, snapshot

from bench.sample import find_run, load_model, sample_images
from bench.store import Store
from vae_core.data import load_dataset
from vae_core.metrics import evaluate


def test_a_loaded_model_gives_the_stored_metrics_again(tiny_suite_run):
    results = tiny_suite_run[0] / "r"
    config, model = load_model(results, "vae-bce-b1-z20", suite="ablations", seed=1)
    store, key = find_run(results, "vae-bce-b1-z20", "ablations", 1)
    stored = store.load(key).metrics
    again = evaluate(model, load_dataset(config.dataset), config.recon_loss, only=["test_recon_mse"]).metrics
    assert config.seed == 1 and again["test_recon_mse"] == stored["test_recon_mse"]  # the very same network
    images = sample_images(config, model, 9)
    assert images.shape == (9, 1, 8, 8) and 0 <= images.min() and images.max() <= 1


def test_sample_writes_a_png_grid_by_key_or_label(tiny_suite_run, tmp_path, capsys):
    results = tiny_suite_run[0] / "r"
    _, key = find_run(results, "ae-bce-z20", "ablations", 0)
    assert exit_code(["sample", "--run", key, "--results", results, "--reports", tmp_path, "--n", "4"]) == 0
    assert (tmp_path / f"samples-{key}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "by-label.png"
    assert exit_code(["sample", "--run", "ae-bce-z20", "--suite", "ablations", "--results", results,
                      "--out", out]) == 0 and out.is_file()


@pytest.mark.parametrize("case", ["unknown key", "unknown label", "no weights", "damaged weights", "out folder"])
def test_sample_of_what_cannot_be_sampled_is_one_line_exit_2(tiny_suite_run, tmp_path, capsys, case, survived):
    results = tmp_path / "r"
    shutil.copytree(tiny_suite_run[0] / "r", results)
    store, key = find_run(results, "vae-bce-b1-z20", "ablations", 0)
    args = ["sample", "--run", key, "--results", results, "--reports", tmp_path / "p"]
    if case == "unknown key":
        args[2] = "0123456789abcdef"
    elif case == "unknown label":
        args[2] = "vae-bce-b1-z20-typo"
    elif case == "no weights":
        (store.run_dir(key) / "model.pt").unlink()
    elif case == "damaged weights":
        (store.run_dir(key) / "model.pt").write_bytes(b"not a state dict")
    else:
        args += ["--out", tmp_path / "missing" / "x.png"]
    before = snapshot(tmp_path)
    assert exit_code(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert snapshot(tmp_path) == before
    survived("bad input")


def test_no_weights_stores_none_and_says_what_sample_needs(tmp_path, capsys):
    args = ["run", "--set", "beta=1", "--dataset", "digits", "--epochs", "1", "--seed-list", "0", "--no-weights",
            "--no-progress", "--results", tmp_path / "r", "--reports", tmp_path / "p"]
    assert exit_code(args) == 0
    store = Store(tmp_path / "r", "sweep")
    (folder,) = [p for p in store.runs_dir.iterdir() if p.is_dir()]
    assert not (folder / "model.pt").exists() and (folder / "metrics.json").exists()
    capsys.readouterr()
    assert exit_code(["sample", "--run", folder.name, "--results", tmp_path / "r"]) == 2
    assert "stored without its weights" in capsys.readouterr().err


def test_every_run_of_a_suite_keeps_its_weights(tiny_suite_run):
    folders = [p.parent for p in (tiny_suite_run[0] / "r" / "runs").glob("*/metrics.json")]
    assert folders and all((f / "model.pt").is_file() for f in folders)
