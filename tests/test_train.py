import dataclasses

import pytest
import torch

from vae_core import ConfigError, RunConfig, fit
from vae_core.models import VAE, AutoEncoder, build_model


def tiny(**kw) -> RunConfig:
    return RunConfig(**{"dataset": "digits", "epochs": 2, "device": "cpu", **kw})


def test_default_config_is_the_classic_pytorch_vae_example():
    c = RunConfig()
    assert (c.model, c.recon_loss, c.hidden_dim, c.latent_dim, c.lr, c.batch_size, c.beta) == (
        "vae", "bce", 400, 20, 1e-3, 128, 1.0)
    model = build_model(c, (1, 28, 28))
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(400, 784), (400,), (40, 400), (40,), (400, 20), (400,), (784, 400), (784,)]


def test_models_share_one_interface(digits):
    x = digits.train_x[:5]
    for cls in (AutoEncoder, VAE):
        model = cls((1, 8, 8), latent_dim=3, hidden_dim=16)
        logits, post = model(x)
        assert logits.shape == x.shape and post.mu.shape == (5, 3)
        assert (post.logvar is None) == (cls is AutoEncoder)


def test_fit_is_deterministic_on_cpu_for_a_seed(digits):
    a, b = fit(tiny(seed=3), data=digits), fit(tiny(seed=3), data=digits)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = fit(tiny(seed=4), data=digits)
    assert [r["loss"] for r in a.history] != [r["loss"] for r in c.history]


def test_training_lowers_the_loss(digits):
    result = fit(tiny(epochs=5), data=digits)
    assert result.status == "ok"
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.train_images_per_s > 0


def test_non_finite_loss_marks_the_run_diverged_instead_of_raising(digits):
    poisoned = dataclasses.replace(digits, train_x=digits.train_x.clone())
    poisoned.train_x[0, 0, 0, 0] = float("nan")
    result = fit(tiny(epochs=3), data=poisoned)
    assert result.status == "diverged" and result.diverged_epoch == 1
    assert len(result.history) == 1


def test_beta_zero_vae_trains_without_kl_pressure(digits):
    result = fit(tiny(beta=0.0, epochs=3), data=digits)
    assert result.history[-1]["kl"] > fit(tiny(beta=4.0, epochs=3), data=digits).history[-1]["kl"]


@pytest.mark.parametrize("field,value", [("model", "gan"), ("recon_loss", "l1"), ("epochs", 0), ("lr", -1.0),
                                         ("beta", float("nan")), ("latent_dim", 2.5), ("seed", True),
                                         ("precision", "fp16")])
def test_bad_config_values_are_refused_with_the_fix(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value})


def test_a_conv_vae_trains_and_is_scored_on_colour_images():
    """The colour path (3 channels, 32 px) through the conv networks, training and every metric
    that needs neither the evaluator network nor labels of a conditional model; the stored
    images keep their colour."""
    import math

    from vae_core.data import dataset_for
    from vae_core.metrics import evaluate

    config = RunConfig(dataset="shapes", arch="conv", epochs=1, train_images=600, iwae_k=10, device="cpu")
    data = dataset_for(config)
    result = fit(config, data)
    assert result.status == "ok" and result.model.image_shape == (3, 32, 32)
    evaluation = evaluate(result.model, data, config.recon_loss, None, config.iwae_k)
    for name in ("test_recon_mse", "test_kl", "test_iwae_nll", "recon_laplacian_ratio", "prior_hf_ratio",
                 "interp_jump_ratio", "prior_nn_ratio", "agg_posterior_kl", "active_units", "position_path_error_px"):
        assert math.isfinite(evaluation.metrics[name]), name
    assert evaluation.images["recon"].shape[1:] == (3, 32, 32)


def test_bf16_precision_runs_the_network_in_bfloat16_and_the_loss_in_float32(digits):
    """Mixed precision (`precision="bf16"`): the network's products in bfloat16 move its outputs
    in the third significant digit; the loss reads float32 tensors, the weights stay float32,
    and the run trains about as far as in float32."""
    from vae_core.data import unit_float
    from vae_core.train import forward

    config, bf16 = tiny(epochs=4), tiny(epochs=4, precision="bf16")
    assert bf16.label == config.label + "-bf16"
    model, x = build_model(config, digits.image_shape), unit_float(digits.train_x[:64])
    noise = torch.randn(64, config.latent_dim)
    (l32, p32), (l16, p16) = forward(model, x, config, noise), forward(model, x, bf16, noise)
    assert l16.dtype == p16.mu.dtype == p16.logvar.dtype == torch.float32
    assert not torch.equal(l16, l32) and torch.allclose(l16, l32, rtol=0.05, atol=0.05)
    assert torch.allclose(p16.mu, p32.mu, rtol=0.05, atol=0.02)
    a, b = fit(config, data=digits), fit(bf16, data=digits)
    assert b.status == "ok" and all(p.dtype == torch.float32 for p in b.model.parameters())
    assert b.history[-1]["loss"] != a.history[-1]["loss"]
    assert b.history[-1]["loss"] == pytest.approx(a.history[-1]["loss"], rel=0.05)
    assert b.history[-1]["loss"] < b.history[0]["loss"]


def test_bf16_is_refused_where_the_device_has_no_bfloat16_autocast(digits, monkeypatch):
    monkeypatch.setattr(torch, "is_autocast_enabled", lambda *args: False)  # autocast turned itself off
    with pytest.raises(ConfigError, match="use precision=fp32"):
        fit(tiny(precision="bf16"), data=digits)
    assert fit(tiny(epochs=1), data=digits).status == "ok"  # float32 asks nothing of autocast
