"""pytest-benchmark timings of the hot paths, on small inputs. Absolute times depend on the
machine; compare them on one machine (`--benchmark-autosave`, then `--benchmark-compare`). The
CI gate is `bench perf --compare`, which compares ratios measured in one process."""

import torch

from vae_core import RunConfig, evaluate, fit, load_dataset
from vae_core.data import unit_float
from vae_core.models import build_model
from vae_core.train import loss_terms, make_optimizer


def test_training_step_default_vae_batch_128(benchmark):
    data = load_dataset("mnist5k")
    config = RunConfig(device="cpu")
    torch.manual_seed(0)
    model = build_model(config, data.image_shape)
    optimizer = make_optimizer(model.parameters(), config)
    x = unit_float(data.train_x[:128])

    def step() -> float:
        loss = loss_terms(model, x, config)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    assert benchmark(step) > 0


def test_evaluate_all_metrics_digits(benchmark):
    data = load_dataset("digits")
    model = fit(RunConfig(dataset="digits", epochs=1, device="cpu"), data).model
    metrics = benchmark(lambda: evaluate(model, data).metrics)
    assert metrics["test_recon_mse"] > 0


def test_whole_tiny_run_digits(benchmark):
    data = load_dataset("digits")

    def run() -> dict:
        result = fit(RunConfig(dataset="digits", epochs=2, device="cpu"), data)
        return evaluate(result.model, data).metrics

    assert benchmark.pedantic(run, rounds=3, iterations=1)["test_recon_mse"] > 0
