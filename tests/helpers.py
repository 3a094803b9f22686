"""Shared helpers of the tests: run the CLI in-process or as a real process, snapshot a
folder, and compare stored results without the timing figures."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.cli import main
from vae_core.config import RunConfig, config_dict

TINY = ["--quick", "--dataset", "digits", "--epochs", "2", "--seeds", "2", "--no-progress"]
TIMING = {"train_images_per_s", "infer_images_per_s", "train_seconds"}


def exit_code(args: list) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def bench_process(args: list, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def snapshot(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(path.rglob("*"))}


def stored_results(runs_dir: Path) -> dict[str, tuple[str, dict]]:
    """key -> (status, metrics without timing) of every complete run folder.

    A run is written into a hidden `.tmp-*` folder and renamed into place when complete, so
    hidden folders are skipped: a live run may rename one away between the glob and the read."""
    out = {}
    for path in runs_dir.glob("*/metrics.json"):
        if path.parent.name.startswith("."):
            continue
        meta = json.loads(path.read_text())
        out[path.parent.name] = (meta["status"], {k: v for k, v in meta["metrics"].items() if k not in TIMING})
    return out


AE, VAE = {"model": "ae", "beta": 0.0}, {"model": "vae"}  # config changes: the AE (beta 0 by convention), the VAE


def frame(*groups: tuple[dict, dict[str, list[float]]]) -> pd.DataFrame:
    """A frame of runs as `bench.frames.records_frame` makes it: one row per seed for each
    (config changes, metric values per seed) group."""
    out = []
    for changes, metrics in groups:
        config = config_dict(RunConfig().replace(**changes))
        for seed in range(len(next(iter(metrics.values())))):
            out.append({**config, "seed": seed, "key": f"{changes}-{seed}", "label": str(changes), "status": "ok",
                        **{m: v[seed] for m, v in metrics.items()}})
    return pd.DataFrame(out)


def write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST file format (idx): magic, dims (big-endian), then unsigned bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, folder: str = "MNIST", n_train: int = 30, n_test: int = 10) -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return root
