"""Corrupt or foreign results files are detected and never executed."""

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from helpers import TINY, exit_code, snapshot, stored_results

from bench.store import UnsafeFileError, read_npz


@pytest.fixture
def fresh(tiny_suite_run, tmp_path):
    """A private copy of the stored suite to damage, and the command that reruns it (no report:
    these tests read the stored runs)."""
    root, _ = tiny_suite_run
    shutil.copytree(root / "r", tmp_path / "r")
    return tmp_path, ["run", "--suite", "ablations", *TINY, "--no-report", "--results", tmp_path / "r"]


class Payload:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def damage(run_dir, how, marker):
    if how == "truncated json":
        text = (run_dir / "metrics.json").read_text()
        (run_dir / "metrics.json").write_text(text[: len(text) // 2])
    elif how == "other version":
        meta = json.loads((run_dir / "metrics.json").read_text())
        (run_dir / "metrics.json").write_text(json.dumps({**meta, "schema": 0}))
    elif how == "foreign config":
        (run_dir / "config.json").write_text(json.dumps({"optimizer": "sgd", "model": "gan"}))
    elif how == "pickle that runs code":
        np.savez(run_dir / "images.npz", recon=np.array([Payload(marker)], dtype=object))
    elif how == "not an npz":
        (run_dir / "images.npz").write_bytes(b"PK\x03\x04 this is no archive")
    elif how == "missing file":
        (run_dir / "history.csv").unlink()
    elif how == "metrics linked to /dev/zero":  # an unbounded read
        (run_dir / "metrics.json").unlink()
        (run_dir / "metrics.json").symlink_to("/dev/zero")
    elif how == "metrics is a FIFO":  # a read that blocks forever
        (run_dir / "metrics.json").unlink()
        os.mkfifo(run_dir / "metrics.json")
    elif how == "images declare 8 TiB":  # a tiny file whose array header asks for 2**40 float64
        buf = io.BytesIO()
        buf.write(np.lib.format.magic(1, 0))
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
        with zipfile.ZipFile(run_dir / "images.npz", "w") as archive:
            archive.writestr("recon.npy", buf.getvalue())
    elif how == "run folder is a link":  # rmtree on it failed on every rerun
        outside = marker.parent / "outside"
        shutil.move(run_dir, outside)
        run_dir.symlink_to(outside, target_is_directory=True)


HOW = ["truncated json", "other version", "foreign config", "pickle that runs code", "not an npz", "missing file",
       "metrics is a FIFO", "run folder is a link"]
HOW_READ = [*HOW, "metrics linked to /dev/zero", "images declare 8 TiB"]  # bench run retrains these as it does HOW


@pytest.mark.parametrize("how", HOW)
def test_damaged_run_is_retrained_with_a_warning_never_trusted(fresh, capsys, how, survived):
    root, args = fresh
    reference = stored_results(root / "r" / "runs")
    victim = sorted((root / "r" / "runs").glob("*/metrics.json"))[3].parent
    marker = root / "pwned"
    damage(victim, how, marker)
    assert exit_code(args) == 0
    err = capsys.readouterr().err
    assert f"results folder {victim} is unreadable" in err and "retraining it" in err
    assert "1 to train" in err
    assert stored_results(root / "r" / "runs") == reference  # retrained to the same numbers
    assert not marker.exists()  # the pickle was never loaded
    assert not victim.is_symlink() and victim.is_dir()  # a link is replaced by the run, never followed
    if how == "run folder is a link":
        assert (root / "outside" / "metrics.json").is_file()  # what the link pointed to is untouched
    survived("fault")


@pytest.mark.parametrize("how", HOW_READ)
def test_report_from_damaged_results_is_one_line_exit_2(fresh, capsys, how, survived):
    root, _ = fresh
    victim = sorted((root / "r" / "runs").glob("*/metrics.json"))[0].parent
    damage(victim, how, root / "pwned")
    before = snapshot(root)
    code = exit_code(["report", "--suite", "ablations", "--results", root / "r", "--reports", root / "p"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "delete it to retrain" in err[0]
    assert snapshot(root) == before and not (root / "pwned").exists()
    survived("fault")


MANIFEST_DAMAGE = ["", "{not json", '{"entries": 5}', "[]", '{"entries": [5]}', "wrong-key", "key-outside",
                   "label-list", "axes-list", "unknown-field", "wall-text"]


def damaged_manifest(text: str, how: str) -> str:
    """A stored manifest with one field of the wrong shape (or `how` itself, as the file)."""
    data = json.loads(text)
    entry = data["entries"][0]
    changes = {"wrong-key": lambda: entry.update(key=5), "key-outside": lambda: entry.update(key="../../../etc"),
               "label-list": lambda: entry.update(label=["x"]), "axes-list": lambda: data.update(axes=["a"]),
               "unknown-field": lambda: data.update(owner="me"), "wall-text": lambda: data.update(wall_seconds="1s")}
    if how not in changes:
        return how
    changes[how]()
    return json.dumps(data)


@pytest.mark.parametrize("content", MANIFEST_DAMAGE)
def test_corrupt_manifest_is_one_line_exit_2(fresh, capsys, content, survived):
    root, _ = fresh
    path = root / "r" / "ablations" / "manifest.json"
    path.write_text(damaged_manifest(path.read_text(), content))
    code = exit_code(["report", "--suite", "ablations", "--results", root / "r", "--reports", root / "p"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unreadable" in err[0], err
    survived("fault")


def test_a_linked_lock_file_is_refused_and_its_target_never_created(fresh, capsys, survived):
    root, args = fresh
    target = root / "elsewhere" / "created-by-the-lock"
    (root / "elsewhere").mkdir()
    lock = root / "r" / "ablations" / ".lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(target)
    assert exit_code(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a lock file" in err[0]
    assert not target.exists()
    survived("fault")


def test_foreign_files_in_the_results_folder_are_ignored(fresh, capsys, survived):
    root, args = fresh
    (root / "r" / "ablations" / "notes").mkdir()
    (root / "r" / "ablations" / "notes" / "todo.txt").write_text("mine")
    (root / "r" / "ablations" / "README").write_text("mine too")
    assert exit_code(args) == 0 and "0 to train" in capsys.readouterr().err
    assert (root / "r" / "ablations" / "notes" / "todo.txt").read_text() == "mine"
    survived("fault")


def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    """2 MiB of zeros compress to about 2 KiB: the archive is small, its contents are not."""
    path = tmp_path / "images.npz"
    np.savez_compressed(path, recon=np.zeros(2 * 2**20, dtype=np.uint8))
    assert path.stat().st_size < 20_000
    with pytest.raises(UnsafeFileError, match="decompress to more than"):
        read_npz(path, limit=2**20)
    assert read_npz(path, limit=8 * 2**20)["recon"].shape == (2 * 2**20,)  # within the cap it is read
