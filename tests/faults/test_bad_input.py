"""Every option of every command with wrong, empty, out-of-range and absurd values: one line
naming the problem and the fix, exit status 2, no traceback, nothing on disk changed."""

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import exit_code, fake_mnist, snapshot, write_idx
from PIL import Image

from vae_core.config import RunConfig

RUN = ["run", "--suite", "ablations", "--dataset", "digits"]
TUNE = ["tune", "--study", "s", "--trials", "2", "--dataset", "digits"]

FILES = {
    "bad.json": "{not json",
    "unknown.json": json.dumps({"model": "vae", "optimiser": "sgd"}),
    "range.json": json.dumps({"beta": -1}),
    "type.json": json.dumps({"epochs": "ten"}),
    "list.json": "[1, 2]",
    "s_unknown.toml": 'nme = "x"\n[[runs]]\nbeta = 1.0\n',
    "s_runkey.toml": '[[runs]]\nbeta = 1.0\nbta = 2.0\n',
    "s_noruns.toml": 'name = "x"\n',
    "s_syntax.toml": '[[runs]\nbeta = 1\n',
    "s_seeds.toml": 'seeds = 0\n[[runs]]\nbeta = 1.0\n',
    "s_name.toml": 'name = "../evil"\n[[runs]]\nbeta = 1.0\n',
    "s_label.toml": '[[runs]]\nlabel = 5\nbeta = 1.0\n',
    "s_value.toml": '[[runs]]\nlatent_dim = 0\n',
    "s_defaults.toml": 'defaults = 3\n[[runs]]\nbeta = 1.0\n',
    "v_arch.json": json.dumps({"arch": "resnet"}),
    "v_nothing.json": json.dumps({"recon_weight": 0, "beta": 0}),
    "v_ratio.toml": '[[runs]]\nregularizer = "moments"\nmoment_ratio = -1.0\n',
    "s_dup_label.toml": '[[runs]]\nbeta = 1.0\nlabel = "a"\n[[runs]]\nbeta = 2.0\nlabel = "a"\n',
    "s_seed.toml": '[[runs]]\nbeta = 1.0\nseed = 3\n',
    "s_default_seed.toml": '[defaults]\nseed = 3\n[[runs]]\nbeta = 1.0\n',
    "c_seed.json": json.dumps({"beta": 1.0, "seed": 7}),
    "s_builtin.toml": 'name = "claims"\n[[runs]]\nbeta = 1.0\n',
    "s_long_label.toml": f'[[runs]]\nlabel = "{"x" * 10_000}"\n',
    "s_bidi_label.toml": '[[runs]]\nlabel = "evil\\u202Etxt.exe"\n',
    "s_nul_label.toml": '[[runs]]\nlabel = "a\\u0000b"\n',
    "s_big_key.toml": f'[[runs]]\n{"k" * 100_000} = 1\n',
    "c_upper.TOML": 'beta = -1.0\n',
}

CASES = {
    # run: what to train
    "unknown suite": ["run", "--suite", "nope"],
    "nothing to run": ["run"],
    "suite and config": ["run", "--suite", "ablations", "--config", "{d}/type.json"],
    "trial without study": [*RUN, "--trial", "3"],
    "study without trial": ["run", "--from-study", "x"],
    "study name with a slash": ["run", "--from-study", "../x", "--trial", "1"],
    "study not stored": ["run", "--from-study", "missing", "--trial", "1", "--results", "{d}/results"],
    "negative trial": ["run", "--from-study", "x", "--trial", "-1"],
    "quick with config": ["run", "--config", "{d}/range.json", "--quick"],
    "unknown precision": ["run", "--set", "precision=fp16"],
    # run: numbers
    "epochs zero": [*RUN, "--epochs", "0"],
    "epochs negative": [*RUN, "--epochs", "-3"],
    "epochs word": [*RUN, "--epochs", "ten"],
    "epochs empty": [*RUN, "--epochs", ""],
    "epochs float": [*RUN, "--epochs", "2.5"],
    "epochs absurd": [*RUN, "--epochs", "99999999999999999999"],
    "seeds zero": [*RUN, "--seeds", "0"],
    "seeds absurd": [*RUN, "--seeds", "1000000000"],
    "seeds empty": [*RUN, "--seeds", ""],
    "seeds nan": [*RUN, "--seeds", "nan"],
    # run: data and device
    "unknown data set": ["run", "--suite", "ablations", "--dataset", "imagenet"],
    "empty data set": ["run", "--suite", "ablations", "--dataset", ""],
    "unknown device": [*RUN, "--device", "tpu"],
    "empty device": [*RUN, "--device", ""],
    "data dir for digits": [*RUN, "--data-dir", "{d}/empty"],
    "missing data dir": ["run", "--suite", "ablations", "--dataset", "mnist", "--data-dir", "{d}/missing"],
    "empty data dir": ["run", "--suite", "ablations", "--dataset", "fashion-mnist", "--data-dir", "{d}/empty"],
    "blank data dir": ["run", "--suite", "ablations", "--dataset", "mnist", "--data-dir", " "],
    # run: folders
    "results is a file": [*RUN, "--results", "{d}/file.txt"],
    "results under a file": [*RUN, "--results", "{d}/file.txt/sub"],
    "reports is a file": [*RUN, "--reports", "{d}/file.txt"],
    "reports under a file": [*RUN, "--reports", "{d}/file.txt/sub"],
    "empty results path": [*RUN, "--results", ""],
    "empty reports path": [*RUN, "--reports", ""],
    "unknown option": [*RUN, "--bogus"],
    "address without ray": [*RUN, "--address", "127.0.0.1:6379"],
    "jobs without a process pool": [*RUN, "--jobs", "2"],
    "stacking on a process pool": [*RUN, "--executor", "process", "--stack", "on"],
    "compile without stacking": [*RUN, "--compile", "--stack", "off"],
    "compile on a process pool": [*RUN, "--compile", "--executor", "process"],
    "compile where runs train one at a time (the CPU)": [*RUN, "--compile", "--device", "cpu"],
    # run: config files and suite files
    "config missing": ["run", "--config", "{d}/nope.json"],
    "config not json": ["run", "--config", "{d}/bad.json"],
    "config unknown key": ["run", "--config", "{d}/unknown.json"],
    "config out of range": ["run", "--config", "{d}/range.json"],
    "config wrong type": ["run", "--config", "{d}/type.json"],
    "config not a table": ["run", "--config", "{d}/list.json"],
    "suite file unknown key": ["run", "--suite-file", "{d}/s_unknown.toml"],
    "suite file unknown run key": ["run", "--suite-file", "{d}/s_runkey.toml"],
    "suite file without runs": ["run", "--suite-file", "{d}/s_noruns.toml"],
    "suite file syntax": ["run", "--suite-file", "{d}/s_syntax.toml"],
    "suite file zero seeds": ["run", "--suite-file", "{d}/s_seeds.toml"],
    "suite file bad name": ["run", "--suite-file", "{d}/s_name.toml"],
    "suite file label not text": ["run", "--suite-file", "{d}/s_label.toml"],
    "suite file bad value": ["run", "--suite-file", "{d}/s_value.toml"],
    "suite file bad defaults": ["run", "--suite-file", "{d}/s_defaults.toml"],
    "suite file is a folder": ["run", "--suite-file", "{d}/empty"],
    "config with an unknown architecture": ["run", "--config", "{d}/v_arch.json"],
    "config with nothing to train": ["run", "--config", "{d}/v_nothing.json"],
    "suite file with a negative moment ratio": ["run", "--suite-file", "{d}/v_ratio.toml"],
    "suite file with one label for two configs": ["run", "--suite-file", "{d}/s_dup_label.toml"],
    "suite file run sets a seed": ["run", "--suite-file", "{d}/s_seed.toml"],
    "suite file defaults set a seed": ["run", "--suite-file", "{d}/s_default_seed.toml"],
    "config file sets a seed": ["run", "--config", "{d}/c_seed.json"],
    "suite file named like a built-in suite": ["run", "--suite-file", "{d}/s_builtin.toml"],
    "suite file label of 10,000 characters": ["run", "--suite-file", "{d}/s_long_label.toml"],
    "suite file label with a bidi override": ["run", "--suite-file", "{d}/s_bidi_label.toml"],
    "suite file label with a NUL": ["run", "--suite-file", "{d}/s_nul_label.toml"],
    "suite file with a 100,000-character unknown key": ["run", "--suite-file", "{d}/s_big_key.toml"],
    "config in TOML with a capital suffix": ["run", "--config", "{d}/c_upper.TOML"],
    # run: overrides and sweeps
    "set without a value": [*RUN[:1], "--set", "beta"],
    "set of an unknown field": ["run", "--set", "bta=1"],
    "set of the seed": ["run", "--set", "seed=3"],
    "set of a word for a number": ["run", "--set", "beta=x"],
    "set of a fraction for an integer": ["run", "--set", "latent_dim=2.5"],
    "set of a value twice": ["run", "--set", "beta=1,1"],
    "set of a field twice": ["run", "--set", "beta=1", "--set", "beta=2"],
    "set out of range": ["run", "--set", "beta=-1", "--dataset", "digits"],
    "set with a built-in suite": [*RUN, "--set", "beta=1"],
    "sweep with a suite file": ["run", "--suite-file", "{d}/s_seed.toml", "--set", "beta=1,2"],
    "seeds and a seed list": [*RUN, "--seeds", "2", "--seed-list", "1,2"],
    "seed list with a seed twice": [*RUN, "--seed-list", "1,1"],
    "seed list negative": [*RUN, "--seed-list", "-1"],
    # run and perf: files that are not regular files, or not text
    "config is /dev/zero": ["run", "--config", "/dev/zero"],
    "config is a FIFO": ["run", "--config", "{d}/fifo.json"],
    "suite file links to /dev/zero": ["run", "--suite-file", "{d}/zero.toml"],
    "config nested 100,000 deep": ["run", "--config", "{d}/deep.json"],
    "suite file nested 100,000 deep": ["run", "--suite-file", "{d}/deep.toml"],
    "config not UTF-8": ["run", "--config", "{d}/latin1.json"],
    "perf baseline is /dev/zero": ["perf", "--compare", "/dev/zero"],
    "perf baseline is a FIFO": ["perf", "--compare", "{d}/fifo.json"],
    # tune
    "trials zero": [*TUNE[:4], "--trials", "0"],
    "trials absurd": [*TUNE[:4], "--trials", "1000000000000"],
    "workers zero": [*TUNE, "--workers", "0"],
    "workers absurd": [*TUNE, "--workers", "100000"],
    "timeout zero": [*TUNE, "--timeout", "0"],
    "timeout word": [*TUNE, "--timeout", "soon"],
    "timeout absurd": [*TUNE, "--timeout", "1e300"],
    "unknown objective": [*TUNE, "--objectives", "beauty"],
    "empty objectives": [*TUNE, "--objectives", ",,"],
    "objective twice": [*TUNE, "--objectives", "rate,rate"],
    "bad storage scheme": [*TUNE, "--storage", "redis://localhost"],
    "unreachable database": [*TUNE, "--storage", "postgresql+psycopg2://u:pw@127.0.0.1:9/db"],
    "storage folder missing": [*TUNE, "--storage", "sqlite:///{d}/missing/o.db"],
    "empty study name": ["tune", "--study", "", "--trials", "2"],
    "tune study name with a slash": ["tune", "--study", "a/b", "--trials", "2"],
    "tune epochs zero": [*TUNE, "--epochs", "0"],
    "tune results a file": [*TUNE, "--results", "{d}/file.txt"],
    # report, list, the command itself
    "report of a suite never run": ["report", "--suite", "ablations", "--results", "{d}/results"],
    "report of no study": ["report", "--study", "x", "--results", "{d}/results"],
    "report of nothing": ["report"],
    "report of both": ["report", "--suite", "a", "--study", "b"],
    "no command": [],
    "unknown command": ["train"],
    "list with unknown option": ["list", "--suite", "x"],
    "list of a file": ["list", "--results", "{d}/file.txt"],
    "results a dangling link": [*RUN, "--results", "{d}/dangling"],
    "reports unusable, results new": [*RUN, "--results", "{d}/new-results", "--reports", "{d}/file.txt/sub"],
    "tune reports unusable, results new": [*TUNE, "--results", "{d}/new-results", "--reports", "{d}/file.txt/sub"],
}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default results/ and reports/ land here if anything is written
    (tmp_path / "file.txt").write_text("keep me")
    (tmp_path / "empty").mkdir()
    (tmp_path / "results").mkdir()
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "latin1.json").write_bytes('{"label": "caf\u00e9"}'.encode("latin-1"))
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(workspace, capsys, case, survived):
    args = [a.replace("{d}", str(workspace)) for a in CASES[case]]
    before = snapshot(workspace)
    code = exit_code(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert len(lines[0]) < 2_000, lines[0][:200]  # an echoed input is cut short
    assert "pw@" not in err  # passwords are never printed
    assert snapshot(workspace) == before, case
    survived("bad input")


IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def _header(raw, data: bytes) -> None:
    (raw / IMAGES).write_bytes(data)


#: Damaged and absurd MNIST files under --data-dir: each is refused in one line before training.
DAMAGED_DATA = {
    "wrong magic": lambda raw: _header(raw, b"\x12\x34\x56\x78" + (raw / IMAGES).read_bytes()[4:]),
    "3-byte header": lambda raw: _header(raw, b"\x00\x00\x08"),
    "empty file": lambda raw: _header(raw, b""),
    "2-D images": lambda raw: write_idx(raw / IMAGES, np.zeros((30, 784))),
    "float images": lambda raw: _header(raw, struct.pack(">HBB3I", 0, 0x0D, 3, 30, 28, 28) + bytes(30 * 784 * 4)),
    "truncated images": lambda raw: _header(raw, (raw / IMAGES).read_bytes()[:5000]),
    "zero images": lambda raw: write_idx(raw / IMAGES, np.zeros((0, 28, 28))),
    "fewer labels than images": lambda raw: write_idx(raw / LABELS, np.arange(20) % 10),
    "images a link to /dev/zero": lambda raw: ((raw / IMAGES).unlink(), (raw / IMAGES).symlink_to("/dev/zero")),
    "labels all 255": lambda raw: write_idx(raw / LABELS, np.full(30, 255)),
    "2x2 images": lambda raw: write_idx(raw / IMAGES, np.zeros((30, 2, 2))),
    "one image": lambda raw: (write_idx(raw / IMAGES, np.zeros((1, 28, 28))), write_idx(raw / LABELS, np.zeros(1))),
    "legacy processed file of garbage": lambda raw: [
        (raw.parent / "processed").mkdir(exist_ok=True),
        *[(raw.parent / "processed" / f).write_bytes(b"not a pickle") for f in ("training.pt", "test.pt")]],
    "legacy processed file of the wrong shape": lambda raw: [
        (raw.parent / "processed").mkdir(exist_ok=True),
        *[torch.save((torch.zeros(5, 3, dtype=torch.uint8), torch.zeros(5)), raw.parent / "processed" / f)
          for f in ("training.pt", "test.pt")]],
}


@pytest.mark.parametrize("case", list(DAMAGED_DATA))
def test_damaged_data_files_are_one_line_exit_2_before_anything_is_written(workspace, capsys, case, survived):
    data = fake_mnist(workspace / "data")
    DAMAGED_DATA[case](data / "MNIST" / "raw")
    before = snapshot(workspace)
    code = exit_code(["run", "--suite", "ablations", "--quick", "--dataset", "mnist", "--data-dir", data])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert str(data) in lines[0], lines[0]  # names where the damage is
    assert snapshot(workspace) == before, case
    survived("bad input")


def test_cuda_asked_for_on_a_machine_without_one(workspace, capsys, survived):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert exit_code([*RUN, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "use --device auto" in err[0]
    survived("bad input")


def test_bf16_asked_for_where_the_device_has_no_bfloat16_autocast(workspace, capsys, monkeypatch, survived):
    """As on an Apple GPU without bfloat16: PyTorch's autocast would warn, turn itself off and the
    run train in float32 under a bf16 label; instead one line, before anything is written."""
    monkeypatch.setattr(torch, "is_autocast_enabled", lambda *args: False)
    before = snapshot(workspace)
    assert exit_code(["run", "--dataset", "digits", "--set", "precision=bf16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "use precision=fp32" in err[0], err
    assert snapshot(workspace) == before
    survived("bad input")


def test_a_run_too_large_for_the_memory_is_refused_before_anything_is_written(workspace, capsys, monkeypatch,
                                                                             survived):
    """hidden_dim 65536 and latent_dim 4096 are in range but need 908 million parameters (about
    15 GB with gradients and Adam's state); on a machine with 8 GB free that is one line."""
    from bench import resources

    monkeypatch.setattr(resources, "available_bytes", lambda device: 8 * 10**9)
    (workspace / "huge.json").write_text(json.dumps({"hidden_dim": 65536, "latent_dim": 4096}))
    before = snapshot(workspace)
    assert exit_code(["run", "--config", str(workspace / "huge.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "908 million parameters" in err[0] and "lower hidden_dim" in err[0], err
    assert snapshot(workspace) == before
    survived("bad input")


def test_data_too_large_for_the_memory_is_refused_naming_the_fix(workspace, capsys, monkeypatch, survived):
    """mnist5k, loaded, needs 3.1 MB more on the CPU: its 1,000 test images as floats for
    scoring; with memory for training but not for that, one line."""
    from bench import resources
    from vae_core.data import load_dataset

    assert resources.data_bytes(load_dataset("mnist5k"), "cpu") == 1000 * 784 * 4
    need, _ = resources.training_bytes(RunConfig(), (1, 28, 28), 4000)
    monkeypatch.setattr(resources, "available_bytes", lambda device: need + 10**6)
    before = snapshot(workspace)
    assert exit_code(["run", "--set", "epochs=1", "--seed-list", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its data (0.00 GB more on cpu" in err[0] and "train_images=N" in err[0], err
    assert snapshot(workspace) == before
    survived("bad input")


def test_the_memory_estimate_counts_parameters_and_a_batch_of_activations():
    from bench.resources import BYTES_PER_PARAMETER, training_bytes

    need, params = training_bytes(RunConfig(), (1, 28, 28), 4000)
    assert params == 784 * 400 + 400 + 400 * 40 + 40 + 20 * 400 + 400 + 400 * 784 + 784
    assert BYTES_PER_PARAMETER * params < need < BYTES_PER_PARAMETER * params + 128 * 10_000 * 4 * 3
    assert training_bytes(RunConfig(batch_size=4096), (1, 28, 28), 100)[0] < need  # a batch is at most the data


def test_a_toml_file_with_a_capital_suffix_is_read_as_toml(workspace, capsys):
    assert exit_code(["run", "--config", str(workspace / "c_upper.TOML")]) == 2
    err = capsys.readouterr().err
    assert "beta" in err and "JSON" not in err, err


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


GREY = np.linspace(0, 1, 60 * 8 * 8, dtype=np.float32).reshape(60, 8, 8)  # 60 images of 8x8, grey
BAD_ARRAYS = {  # case -> (file name, what to write there): each refused in one line naming the file
    "NaN pixels": ("x.npy", lambda p: np.save(p, np.where(GREY > 0.5, np.nan, GREY))),
    "values above 1": ("x.npy", lambda p: np.save(p, GREY * 2)),
    "negative values": ("x.npy", lambda p: np.save(p, GREY - 0.5)),
    "int16 images": ("x.npy", lambda p: np.save(p, (GREY * 1000).astype(np.int16))),
    "1-D array": ("x.npy", lambda p: np.save(p, GREY.ravel())),
    "two channels": ("x.npy", lambda p: np.save(p, np.stack([GREY, GREY], 1))),
    "five images": ("x.npy", lambda p: np.save(p, GREY[:5])),
    "2x2 images": ("x.npy", lambda p: np.save(p, GREY[:, :2, :2])),
    "object array (a pickle)": ("x.npy", lambda p: np.save(p, np.array([{"a": 1}] * 60, dtype=object))),
    "not a NumPy file": ("x.npz", lambda p: p.write_text("images, honestly")),
    "no x in the npz": ("x.npz", lambda p: np.savez(p, pixels=GREY)),
    "labels of another length": ("x.npz", lambda p: np.savez(p, x=GREY, y=np.zeros(59, np.int64))),
    "float labels": ("x.npz", lambda p: np.savez(p, x=GREY, y=np.zeros(40))),
    "a class of one image": ("x.npz", lambda p: np.savez(p, x=GREY, y=np.r_[np.zeros(59), 1].astype(np.int64))),
}


@pytest.mark.parametrize("case", list(BAD_ARRAYS))
def test_a_bad_array_file_is_one_line_exit_2_before_anything_is_written(workspace, capsys, case, survived):
    name, write = BAD_ARRAYS[case]
    write(workspace / name)
    before = snapshot(workspace)
    code = exit_code(["run", "--set", "epochs=1", "--dataset", f"array:{workspace / name}"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert str(workspace / name) in lines[0], lines[0]  # names the file
    assert snapshot(workspace) == before, case
    survived("bad input")


BAD_NETS = {  # case -> the source of a module whose make_nets breaks the contract (None: no module at all)
    "no such module": None,
    "no such function": "def other(image_shape, code_dim):\n    pass\n",
    "not callable": "make_nets = 3\n",
    "raises": "def make_nets(image_shape, code_dim):\n    raise RuntimeError('not today')\n",
    "one module, not two": "from torch import nn\ndef make_nets(s, d):\n    return nn.Flatten()\n",
    "encoder without Flatten": "from torch import nn\ndef make_nets(s, d):\n"
                               "    return nn.Conv2d(s[0], 4, 3, padding=1), nn.Linear(d, s[0] * s[1] * s[2])\n",
    "decoder of the wrong size": "from torch import nn\ndef make_nets(s, d):\n"
                                 "    return nn.Flatten(), nn.Linear(d, 7)\n",
    "encoder returning a tuple": "from torch import nn\nclass Two(nn.Module):\n    def forward(self, x):\n"
                                 "        return x.flatten(1), x\ndef make_nets(s, d):\n"
                                 "    return Two(), nn.Linear(d, s[0] * s[1] * s[2])\n",
    "decoder for another code size": "from torch import nn\ndef make_nets(s, d):\n"
                                     "    return nn.Flatten(), nn.Linear(d + 1, s[0] * s[1] * s[2])\n",
}


@pytest.mark.parametrize("case", list(BAD_NETS))
def test_a_bad_network_reference_is_one_line_exit_2_before_anything_is_written(workspace, capsys, monkeypatch,
                                                                                case, survived):
    module = f"nets_{list(BAD_NETS).index(case)}"
    if BAD_NETS[case] is not None:
        (workspace / f"{module}.py").write_text(BAD_NETS[case])
    monkeypatch.syspath_prepend(str(workspace))
    before = snapshot(workspace)
    code = exit_code(["run", "--set", f"arch={module}:make_nets", "--set", "epochs=1", "--dataset", "digits"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith(f"error: arch={module}:make_nets") and "Traceback" not in err, err
    assert snapshot(workspace) == before, case
    survived("bad input")


def _pngs(folder: Path, n: int = 60, size: tuple[int, int] = (8, 8), mode: str = "RGB", name: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new(mode, size, color=i * 20).save(folder / f"{name}{i}.png")


def _truncated(folder: Path) -> None:
    _pngs(folder)
    png = (folder / "0.png").read_bytes()
    (folder / "0.png").write_bytes(png[: len(png) // 2])  # the header reads, the pixels do not


BAD_FOLDERS = {  # case -> (what to write in the folder, extra options): each refused in one line naming the folder
    "empty folder": (lambda d: d.mkdir(), []),
    "only text files": (lambda d: (d.mkdir(), (d / "a.txt").write_text("x")), []),
    "49 images": (lambda d: _pngs(d, 49), []),
    "not an image with a .png name": (lambda d: (_pngs(d), (d / "0.png").write_text("hello")), []),
    "truncated PNG": (_truncated, []),
    "16-bit grey PNG": (lambda d: _pngs(d, mode="I;16"), []),
    "two sizes, no --image-size": (lambda d: (_pngs(d, 30), _pngs(d, 30, size=(9, 8), name="wide")), []),
    "images beside class folders": (lambda d: (_pngs(d / "cats"), _pngs(d, 2)), []),
    "an empty class folder": (lambda d: (_pngs(d / "cats"), (d / "dogs").mkdir()), []),
    "a class of one image": (lambda d: (_pngs(d / "cats"), _pngs(d / "dogs", 1)), []),
    "3x3 images": (lambda d: _pngs(d, size=(3, 3)), []),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_a_bad_image_folder_is_one_line_exit_2_before_anything_is_written(workspace, capsys, case, survived):
    write, extra = BAD_FOLDERS[case]
    folder = workspace / "my-images"
    write(folder)
    before = snapshot(workspace)
    code = exit_code(["run", "--set", "epochs=1", "--dataset", f"images:{folder}", *extra])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert str(folder) in lines[0], lines[0]  # names the folder
    assert snapshot(workspace) == before, case
    survived("bad input")


@pytest.mark.parametrize("args", [["--dataset", "digits", "--image-size", "16"],
                                  ["--dataset", "images:nowhere"],
                                  ["--dataset", "images:file.txt"]])
def test_image_size_without_a_folder_and_a_folder_that_is_not_one_are_one_line(workspace, capsys, args, survived):
    before = snapshot(workspace)
    assert exit_code(["run", "--set", "epochs=1", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and ("image_size" in err or "folder" in err)
    assert snapshot(workspace) == before
    survived("bad input")
