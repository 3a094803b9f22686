"""Each model variant of the claims suite: forward pass, loss, and what makes it that variant."""

import pytest
import torch

from vae_core import ConfigError, RunConfig, fit
from vae_core.losses import kl_divergence, moment_penalty
from vae_core.models import ConditionalVAE, PooledVAE, Posterior, build_model
from vae_core.stacked import fit_stacked, stackable
from vae_core.train import loss_terms

VARIANTS = [dict(model=m, arch=a) for m in ("ae", "vae", "cvae", "pooled") for a in ("mlp", "conv")]


def tiny(**kw) -> RunConfig:
    return RunConfig(**{"dataset": "digits", "epochs": 2, "device": "cpu", "latent_dim": 4, "hidden_dim": 32, **kw})


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v['arch']}-{v['model']}")
def test_every_variant_has_the_one_interface_and_a_finite_loss_that_trains(variant, digits):
    config = tiny(**variant, beta=0.0 if variant["model"] == "ae" else 1.0)
    model = build_model(config, digits.image_shape, digits.n_classes)
    x, y = digits.train_x[:16], digits.train_y[:16]
    logits, posterior = model(x, y=y)
    assert logits.shape == x.shape and posterior.mu.shape == (16, 4)
    assert (posterior.logvar is None) == (variant["model"] == "ae")
    terms = loss_terms(model, x, config, y=y)
    assert torch.isfinite(terms["loss"]) and set(terms) == {"loss", "recon", "kl", "posterior_var"}
    result = fit(config.replace(epochs=4), digits)
    assert result.status == "ok" and result.history[-1]["loss"] < result.history[0]["loss"]


def test_conv_needs_sides_divisible_by_four():
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_model(tiny(arch="conv"), (1, 10, 10))


def test_the_pooled_posterior_gives_every_input_the_same_gaussian(digits):
    """Chapter fig 1.7: one mean and variance for the batch, pooled from the per-input ones."""
    model = PooledVAE((1, 8, 8), latent_dim=3, hidden_dim=16)
    x = digits.train_x[:10]
    pooled = model.encode(x)
    per_input = super(PooledVAE, model).encode(x)
    assert torch.equal(pooled.mu, pooled.mu[:1].expand_as(pooled.mu))
    assert torch.allclose(pooled.mu[0], per_input.mu.mean(0))
    assert torch.allclose(pooled.logvar[0].exp(), per_input.logvar.exp().mean(0))
    # so a code says nothing about its input: reconstructions of two images come from one distribution
    z = pooled.sample(torch.zeros_like(pooled.mu))
    assert torch.equal(model.decode(z)[0], model.decode(z)[1])


def test_the_conditional_vae_reads_the_label_in_encoder_and_decoder(digits):
    model = ConditionalVAE((1, 8, 8), latent_dim=3, hidden_dim=16, n_classes=10)
    x = digits.train_x[:4]
    with pytest.raises(ValueError, match="labels"):
        model(x)
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.equal(model.encode(x, zeros).mu, model.encode(x, ones).mu)
    z = torch.zeros(4, 3)
    assert not torch.equal(model.decode(z, zeros), model.decode(z, ones))


def test_moment_penalty_known_values_and_its_kl_balance():
    """0.5 (|mu|^2 + r |log s^2|^2): mu = (1, 2), logvar = (1, -1) gives 0.5 (5 + 2r). Near
    sigma = 1 the KL matches the penalty with r = 1/2 to second order."""
    p = Posterior(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, -1.0]]))
    assert moment_penalty(p, 3.0).item() == pytest.approx(0.5 * (5 + 2 * 3.0))
    small = Posterior(torch.tensor([[0.01, -0.02]]), torch.tensor([[0.01, -0.01]]))
    assert moment_penalty(small, 0.5).item() == pytest.approx(kl_divergence(small).item(), rel=1e-2)


def test_the_regulariser_and_weights_enter_the_loss_as_configured(digits):
    x = digits.train_x[:32]
    torch.manual_seed(0)
    model = build_model(tiny(), digits.image_shape)
    noise = torch.randn(32, 4)
    logits, post = model(x, noise)

    def loss(**kw):
        from vae_core.train import terms_of
        return terms_of(logits, post, x, tiny(**kw))

    base = loss()
    assert base["loss"].item() == pytest.approx((base["recon"] + base["kl"]).item())
    kl_only = loss(recon_weight=0.0)
    assert kl_only["loss"].item() == pytest.approx(base["kl"].item())
    moments = loss(regularizer="moments", moment_ratio=2.0, beta=3.0)
    assert moments["loss"].item() == pytest.approx((base["recon"] + 3.0 * moment_penalty(post, 2.0).mean()).item())
    assert moments["kl"].item() == pytest.approx(base["kl"].item())  # the KL is still reported


def test_kl_only_training_never_moves_the_decoder(digits):
    """Reconstruction weight 0: no gradient reaches the decoder, the KL goes to ~0."""
    config = tiny(recon_weight=0.0, epochs=5)
    torch.manual_seed(config.seed)
    initial = build_model(config, digits.image_shape, digits.n_classes).decoder.state_dict()
    result = fit(config, digits)
    for name, value in result.model.decoder.state_dict().items():
        assert torch.equal(value, initial[name])
    assert result.history[-1]["kl"] < 0.05  # nats per image: the posterior is the prior


def test_adversarial_training_runs_a_discriminator_and_changes_the_model(digits):
    plain = fit(tiny(recon_loss="mse", epochs=3), digits)
    adv = fit(tiny(recon_loss="mse", epochs=3, adv_weight=10.0), digits)
    assert adv.status == "ok"
    assert adv.history[-1]["loss"] != plain.history[-1]["loss"]
    again = fit(tiny(recon_loss="mse", epochs=3, adv_weight=10.0), digits)
    assert [r["loss"] for r in again.history] == [r["loss"] for r in adv.history]  # seeded, D included


def test_stacking_refuses_what_it_cannot_train(digits):
    assert stackable(tiny()) and stackable(tiny(model="pooled", regularizer="moments"))
    assert not stackable(tiny(model="cvae")) and not stackable(tiny(adv_weight=1.0))
    with pytest.raises(ValueError, match="conditional or adversarial"):
        fit_stacked([tiny(model="cvae", seed=0), tiny(model="cvae", seed=1)], digits)


@pytest.mark.parametrize("changes,match", [
    ({"model": "gan"}, "model"), ({"arch": "resnet"}, "arch"), ({"regularizer": "l2"}, "regularizer"),
    ({"recon_weight": -1.0}, "recon_weight"), ({"adv_weight": float("nan")}, "adv_weight"),
    ({"moment_ratio": -0.5}, "moment_ratio"), ({"iwae_k": 0}, "iwae_k"),
    ({"recon_weight": 0.0, "beta": 0.0}, "nothing to train"), ({"recon_weight": 0.0, "model": "ae"}, "nothing"),
])
def test_bad_variant_settings_are_refused_with_the_fix(changes, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**changes)


def test_labels_name_the_variant():
    assert RunConfig().label == "vae-bce-b1-z20"
    assert RunConfig(model="ae", beta=0.0, arch="conv").label == "convae-bce-z20"
    assert RunConfig(regularizer="moments", moment_ratio=5.0).label == "vae-bce-b1-mom5-z20"
    assert RunConfig(recon_weight=0.0, latent_dim=2).label == "vae-bce-b1-z2-r0"
    assert RunConfig(model="cvae", adv_weight=10.0, iwae_k=1000).label == "cvae-bce-b1-z20-adv10-k1000"
