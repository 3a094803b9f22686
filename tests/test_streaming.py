"""Training images too large for the GPU stay in host memory and are copied a batch at a time
(`Dataset.to`); the models train and score exactly as with the images on the device. Run on a
GPU (skipped without one); on the CPU the placement rule alone is checked."""

import pytest
import torch

from vae_core import RunConfig, evaluate, fit, load_dataset
from vae_core import data as data_module

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_cpu_keeps_every_split_and_a_gpu_keeps_what_fits(monkeypatch):
    digits = load_dataset("digits")
    assert not digits.to("cpu").streamed and data_module.train_images_fit(10**15, "cpu")  # the host is the CPU's
    monkeypatch.setattr(data_module, "device_free_bytes", lambda device: 1000)
    assert data_module.train_images_fit(500, "cuda") and not data_module.train_images_fit(501, "cuda")


@CUDA
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_streamed_training_equals_device_resident_training(monkeypatch, arch):
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    config = RunConfig(dataset="mnist5k", arch=arch, epochs=2, device="cuda", train_images=1000)
    from vae_core.data import dataset_for

    data = dataset_for(config)
    resident = fit(config, data)
    monkeypatch.setattr(data_module, "DEVICE_DATA_SHARE", 0.0)  # nothing fits: stream from the host
    on_gpu = data.to("cuda")
    assert on_gpu.streamed and on_gpu.train_x.device.type == "cpu" and on_gpu.test_x.device.type == "cuda"
    streamed = fit(config, data)
    assert [r["loss"] for r in streamed.history] == [r["loss"] for r in resident.history]
    only = ["test_recon_mse", "train_recon_mse", "mean_image_mse", "prior_nn_ratio"]
    assert evaluate(streamed.model, on_gpu, only=only).metrics == evaluate(resident.model, data.to("cuda"),
                                                                           only=only).metrics


@CUDA
def test_streamed_stacked_training_runs(monkeypatch):
    from vae_core.data import dataset_for
    from vae_core.stacked import fit_stacked

    monkeypatch.setattr(data_module, "DEVICE_DATA_SHARE", 0.0)
    configs = [RunConfig(dataset="digits", epochs=1, device="cuda", seed=s) for s in range(2)]
    results = fit_stacked(configs, dataset_for(configs[0]))
    assert all(r.status == "ok" for r in results)
