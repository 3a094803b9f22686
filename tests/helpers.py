"""Shared helpers of the tests: run the CLI in-process or as a real process, snapshot a
folder, and compare stored results without the timing figures."""

import json
import pickle
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


def stored_results(runs_dir: Path, seed: int | None = None) -> dict[str, tuple[str, dict]]:
    """key -> (status, metrics without timing) of every complete run folder (of that seed only,
    with `seed`: the seed-0 runs of a suite of seeds 0 and 1 are the runs of a one-seed suite).

    A run is written into a hidden `.tmp-*` folder and renamed into place when complete, so
    hidden folders are skipped: a live run may rename one away between the glob and the read."""
    out = {}
    for path in runs_dir.glob("*/metrics.json"):
        if path.parent.name.startswith("."):
            continue
        if seed is not None and json.loads((path.parent / "config.json").read_text())["seed"] != seed:
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


def fake_cifar10(root: Path, n_per_batch: int = 20) -> Path:
    """CIFAR-10's python files (cifar-10-batches-py): five training batches and a test batch,
    each a pickled dict whose `data` is uint8 (N, 3072), the red, green and blue planes of each
    32x32 image in turn, and whose `labels` lists one class each; `batches.meta` names them.
    Pixel values encode (image, channel) so that a test can check the layout."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        labels = [(b + i) % 10 for i in range(n_per_batch)]
        planes = np.array([[(i * 3 + c + b) % 256 for c in range(3)] for i in range(n_per_batch)], np.uint8)
        data = np.repeat(planes, 32 * 32, axis=1)  # (N, 3 * 1024): each plane one value
        with (folder / name).open("wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(n_per_batch)]}, f)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                     "truck"], "num_cases_per_batch": n_per_batch, "num_vis": 3072}, f)
    return root


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Male", "Smiling", "Young"]  # the real file has 40


def fake_celeba(root: Path, n: int = 24) -> Path:
    """CelebA's aligned faces as torchvision reads them: `celeba/img_align_celeba/NNNNNN.jpg`
    (178x218, as the real ones) and the five text files (a count line, a header line, then one
    row per image). Each image is one colour, a centre square of another: the 148-px centre crop
    sees only the square. Images 1 to n/2 are train (partition 0), the rest test (2)."""
    from PIL import Image

    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    files = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for i, name in enumerate(files):
        image = np.full((218, 178, 3), (255, 0, 0), np.uint8)
        image[35:183, 15:163] = (0, 0, 255) if i % 2 else (0, 255, 0)  # the 148x148 centre
        Image.fromarray(image).save(folder / "img_align_celeba" / name, quality=95)
    signs = lambda bits: " ".join("1" if b else "-1" for b in bits)  # noqa: E731
    attr = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    attr += [f"{f} {signs([0, 1, i % 2, (i // 2) % 2, 1])}" for i, f in enumerate(files)]  # Male, Smiling vary
    (folder / "list_attr_celeba.txt").write_text("\n".join(attr) + "\n")
    (folder / "identity_CelebA.txt").write_text("".join(f"{f} {i}\n" for i, f in enumerate(files)))
    (folder / "list_bbox_celeba.txt").write_text(f"{n}\nimage_id x_1 y_1 width height\n"
                                                 + "".join(f"{f} 10 10 100 100\n" for f in files))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x "
        "rightmouth_y\n" + "".join(f"{f} 69 109 106 113 77 142 73 152 108 154\n" for f in files))
    (folder / "list_eval_partition.txt").write_text("".join(f"{f} {0 if i < n // 2 else 2}\n"
                                                            for i, f in enumerate(files)))
    return root


def trust_file_checksums(monkeypatch) -> None:
    """torchvision checks CIFAR-10's and CelebA's files against the official release's MD5;
    the files the tests write are in the same format but not the same bytes, so within a test
    a file that exists passes."""
    import torchvision.datasets.celeba
    import torchvision.datasets.cifar

    for module in (torchvision.datasets.cifar, torchvision.datasets.celeba):
        monkeypatch.setattr(module, "check_integrity", lambda fpath, md5=None: Path(fpath).is_file())
