import json
import os
import shutil
import stat
import time

import numpy as np
import pandas as pd
import pytest
from helpers import exit_code

from bench.store import (
    RunRecord,
    Store,
    StoredRunError,
    remove_stale,
    run_key,
    write_atomic,
)
from vae_core import ConfigError, RunConfig


def test_same_config_same_key_and_any_change_a_new_key():
    base = RunConfig()
    assert run_key(base, "v1") == run_key(RunConfig(), "v1")
    for change in ({"seed": 1}, {"beta": 0.5}, {"latent_dim": 2}, {"recon_loss": "mse"}, {"epochs": 3},
                   {"dataset": "digits"}, {"device": "cpu"}):
        assert run_key(base.replace(**change), "v1") != run_key(base, "v1"), change
    assert run_key(base, "v1") != run_key(base, "v2")  # new code, new key


def record(key: str) -> RunRecord:
    return RunRecord(key, RunConfig(seed=5), "ok", {"test_recon_mse": 1.5, "kl_per_dim": [0.1, float("nan")]},
                     {"device": "cpu"}, pd.DataFrame({"epoch": [1], "loss": [2.0]}),
                     {"recon": np.zeros((2, 1, 4, 4), np.float16)})


def test_save_then_load_round_trips_and_leaves_no_temporary_files(tmp_path):
    store = Store(tmp_path, "s")
    with store.locked():
        store.save(record("k1"))
    loaded = store.load("k1")
    assert loaded.config == RunConfig(seed=5)
    assert loaded.metrics["test_recon_mse"] == 1.5 and loaded.metrics["kl_per_dim"] == [0.1, None]
    assert loaded.images["recon"].shape == (2, 1, 4, 4)
    assert [p.name for p in store.dir.iterdir()] == [".lock"]
    assert [p.name for p in store.runs_dir.iterdir()] == ["k1"]  # the cache every suite shares
    assert store.load("missing") is None


def test_partial_run_folders_are_removed_under_the_lock(tmp_path):
    store = Store(tmp_path, "s")
    (store.dir / ".tmp-k2-abc").mkdir(parents=True)
    with store.locked():
        assert not (store.dir / ".tmp-k2-abc").exists()


@pytest.mark.parametrize("damage", ["truncate", "foreign", "pickle"])
def test_damaged_run_folder_is_reported_not_trusted(tmp_path, damage):
    store = Store(tmp_path, "s")
    with store.locked():
        store.save(record("k1"))
    folder = store.run_dir("k1")
    if damage == "truncate":
        (folder / "metrics.json").write_text('{"schema": 1, "key": "k1", "sta')
    elif damage == "foreign":
        meta = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**meta, "schema": 99}))
    else:  # an object array in the npz would need pickle to load: refused
        np.savez(folder / "images.npz", recon=np.array([{"a": 1}], dtype=object))
    with pytest.raises(StoredRunError, match="delete it to retrain"):
        store.load("k1")


def test_second_holder_of_the_lock_is_refused(tmp_path):
    store = Store(tmp_path, "s")
    with store.locked():
        with pytest.raises(ConfigError, match="another bench run is using"):
            with Store(tmp_path, "s").locked():
                pass


def test_partial_folders_are_removed_only_when_older_than_asked(tmp_path):
    import os
    import time

    store = Store(tmp_path, "tune")
    old, fresh = store.dir / ".tmp-old", store.dir / ".tmp-fresh"
    old.mkdir(parents=True)
    fresh.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    store.remove_partial(older_than_s=3600)
    assert not old.exists() and fresh.exists()


def test_what_killed_writers_left_is_removed_once_old_enough(tmp_path):
    old, young, kept = tmp_path / ".tmp-report.html-a", tmp_path / ".tmp-report.html-b", tmp_path / "report.html"
    for path in (old, young, kept):
        path.write_text("x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    remove_stale(tmp_path, older_than_s=600)
    assert not old.exists() and young.exists() and kept.exists()


def test_a_report_write_clears_old_temporary_files_of_killed_writers(tiny_suite_run, tmp_path):
    root, _ = tiny_suite_run
    left = tmp_path / ".tmp-ablations.html-killed"
    left.write_text("half a report")
    os.utime(left, (time.time() - 3600, time.time() - 3600))
    assert exit_code(["report", "--suite", "ablations", "--results", root / "r", "--reports", tmp_path]) == 0
    assert (tmp_path / "ablations.html").is_file() and not left.exists()


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_results_are_as_readable_as_the_umask_says(tmp_path, monkeypatch, umask, file_mode, folder_mode):
    """A colleague on a shared server can open the results and reports when the umask lets them
    (temporary files are created 0600 and folders 0700 before they are renamed into place)."""
    monkeypatch.setattr("bench.store.UMASK", umask)
    store = Store(tmp_path, "s")
    with store.locked():
        store.save(record("k1"))
    assert stat.S_IMODE(store.run_dir("k1").stat().st_mode) == folder_mode
    assert {stat.S_IMODE(p.stat().st_mode) for p in store.run_dir("k1").iterdir()} == {file_mode}
    write_atomic(tmp_path / "report.html", b"<html>")
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == file_mode


def test_a_run_is_stored_once_whichever_suite_asked_for_it(tmp_path):
    """One cache across suites: what `ablations` stored, `claims` finds by its key."""
    key = run_key(RunConfig(seed=5), "v1")
    with Store(tmp_path, "ablations").locked():
        Store(tmp_path, "ablations").save(record(key))
    assert Store(tmp_path, "claims").load(key).config == RunConfig(seed=5)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [key]


def test_runs_an_older_version_kept_in_the_suite_folder_are_read_then_moved(tmp_path, capsys):
    """Results folders of the layout before the shared cache keep working: read in place, moved
    into runs/ when the suite next runs; a user's own files and links there are left alone."""
    old, dup = run_key(RunConfig(seed=5), "v1"), run_key(RunConfig(seed=6), "v1")
    store = Store(tmp_path, "ablations")
    with store.locked():
        store.save(record(old))
        store.save(record(dup))
    suite = tmp_path / "ablations"
    os.rename(tmp_path / "runs" / old, suite / old)  # the old layout
    shutil.copytree(tmp_path / "runs" / dup, suite / dup)  # and a copy of a run already in runs/
    (suite / "notes").mkdir()
    (suite / "notes" / "mine.txt").write_text("mine")
    assert store.run_dir(old) == suite / old and store.load(old).config == RunConfig(seed=5)
    with store.locked():
        pass
    assert "moved 1 stored run(s)" in capsys.readouterr().err
    assert sorted(p.name for p in suite.iterdir()) == [".lock", "notes"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([old, dup])
    assert store.load(old).config == RunConfig(seed=5) and (suite / "notes" / "mine.txt").read_text() == "mine"


def test_a_suite_file_may_not_take_the_name_of_the_runs_folder(tmp_path):
    from bench.options import SuiteOptions
    from bench.suites import load_suite_file

    path = tmp_path / "runs.toml"
    path.write_text("[[runs]]\nbeta = 1.0\n")
    with pytest.raises(ConfigError, match="the folder every stored run lives in"):
        load_suite_file(path, SuiteOptions())
