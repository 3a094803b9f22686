"""Each metric on a case whose answer is known without the code under test."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from vae_core.data import load_dataset, unit_float
from vae_core.metrics import evaluate
from vae_core.metrics.blur import high_freq_energy_fraction, laplacian_variance, sharpness_ratios
from vae_core.metrics.rate import active_units, gaussian_kl_to_standard_normal
from vae_core.metrics.realism import nearest_distance, nn_distance_ratio
from vae_core.metrics.reconstruction import recon_errors
from vae_core.metrics.smoothness import interpolation_paths, smoothness_figures
from vae_core.models import Posterior


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur with a kernel of radius 4 sigma and periodic borders, so that its transfer
    function falls monotonically with frequency (a truncated kernel has side lobes)."""
    radius = math.ceil(4 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1)
    padded = F.pad(images, (radius, radius, radius, radius), mode="circular")
    return F.conv2d(F.conv2d(padded, k), k.transpose(2, 3))


@pytest.fixture(scope="module")
def real_images():
    return unit_float(load_dataset("mnist5k").test_x[:200])


def test_blur_lowers_every_sharpness_figure_monotonically(real_images):
    lap, hf = [], []
    for sigma in (0.5, 0.8, 1.2, 2.0, 3.0):
        blurred = gaussian_blur(real_images, sigma)
        lap.append(laplacian_variance(blurred).mean().item())
        hf.append(high_freq_energy_fraction(blurred).mean().item())
    assert lap == sorted(lap, reverse=True) and len(set(lap)) == 5
    assert hf == sorted(hf, reverse=True) and len(set(hf)) == 5
    ratios = sharpness_ratios(gaussian_blur(real_images, 1.0), real_images)
    assert ratios["laplacian_ratio"] < 0.8 and ratios["hf_energy_ratio"] < 0.8


def test_sharpness_ratio_of_images_with_themselves_is_one(real_images):
    ratios = sharpness_ratios(real_images, real_images)
    assert ratios == pytest.approx({"laplacian_ratio": 1.0, "hf_energy_ratio": 1.0})


def test_laplacian_of_a_constant_or_linear_ramp_is_zero():
    ramp = torch.linspace(0, 1, 8).expand(1, 1, 8, 8).contiguous()
    assert laplacian_variance(ramp).item() == pytest.approx(0.0, abs=1e-10)
    assert laplacian_variance(torch.full((1, 1, 8, 8), 0.3)).item() == pytest.approx(0.0, abs=1e-10)


def test_high_freq_fraction_of_a_checkerboard_is_one_and_of_a_flat_image_is_zero():
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    checker = ((i + j) % 2).float().view(1, 1, 8, 8)
    assert high_freq_energy_fraction(checker).item() == pytest.approx(1.0)
    assert high_freq_energy_fraction(torch.ones(1, 1, 8, 8)).item() == 0.0


class _Decoder(torch.nn.Module):
    """decode(z) = logit of a fixed image scaled by a function of z[:, 0]."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def decode(self, z, y=None):
        level = self.f(z[:, :1]).clamp(1e-4, 1 - 1e-4)
        return torch.logit(level.view(-1, 1, 1, 1).expand(-1, 1, 4, 4))


def test_constant_decoder_has_zero_step_change_and_no_jump_ratio():
    model = _Decoder(lambda a: torch.full_like(a, 0.5))
    paths = interpolation_paths(model, torch.zeros(3, 2), torch.ones(3, 2), 8)
    figures = smoothness_figures(paths)
    assert figures["step_l2_mean"] == 0.0 and figures["jump_ratio"] is None


def test_a_path_moved_by_float_rounding_alone_has_no_jump_ratio_and_a_slow_real_one_has(rng):
    """A path between equal codes that rounding moves by 1e-7 a step (what the pooled VAE's are)
    is still; an even movement of 1e-4 a step, slower than any trained model's seen, is not."""
    base = torch.rand(1, 1, 1, 4, 4, generator=rng).expand(2, 9, 1, 4, 4)
    rounding = base + 1e-7 * torch.randn(2, 9, 1, 4, 4, generator=rng) / 4  # L2 of 16 pixels: ~1e-7
    assert smoothness_figures(rounding)["jump_ratio"] is None
    slow = base + 2.5e-5 * torch.arange(9.0).view(1, 9, 1, 1, 1)  # 16 pixels x 2.5e-5: 1e-4 a step
    assert smoothness_figures(slow.double())["jump_ratio"] == pytest.approx(1.0, abs=1e-3)


def test_linear_decoder_steps_evenly():
    model = _Decoder(lambda a: 0.1 + 0.8 * a)
    paths = interpolation_paths(model, torch.zeros(3, 2), torch.ones(3, 2), 9)
    figures = smoothness_figures(paths)
    assert figures["jump_ratio"] == pytest.approx(1.0, abs=1e-4)
    # each of 8 steps changes 16 pixels by 0.8 / 8: L2 = 0.1 * 4
    assert figures["step_l2_mean"] == pytest.approx(0.4, rel=1e-3)


def test_step_decoder_puts_all_change_in_one_step():
    model = _Decoder(lambda a: torch.where(a > 0.5, 0.9, 0.1))
    paths = interpolation_paths(model, torch.zeros(2, 2), torch.ones(2, 2), 10)
    assert smoothness_figures(paths)["jump_ratio"] == pytest.approx(9.0, rel=1e-3)  # max / (max / 9)


def test_nearest_distance_is_zero_for_training_images_and_ratio_grows_with_noise(digits, rng):
    train, test = digits.train_x, digits.test_x
    assert nearest_distance(train[:50], train).max().item() == pytest.approx(0.0, abs=1e-3)
    assert nn_distance_ratio(test, test, train) == pytest.approx(1.0)
    noisy = (test + 0.3 * torch.randn(test.shape, generator=rng)).clamp(0, 1)
    assert nn_distance_ratio(noisy, test, train) > 1.2
    shared = nearest_distance(test, train)  # as an evaluation passes them, computed once
    assert nn_distance_ratio(noisy, test, train, shared) == nn_distance_ratio(noisy, test, train)


def test_nearest_distance_is_the_brute_force_minimum_over_every_reference_image(digits, rng):
    images = torch.rand(37, *digits.image_shape, generator=rng)
    reference = unit_float(digits.train_x[:300])
    brute = torch.stack([(reference - image).flatten(1).norm(dim=1).min() for image in images])
    assert torch.allclose(nearest_distance(images, digits.train_x[:300], chunk=10, reference_chunk=64), brute,
                          atol=1e-4)


def test_active_units_counts_dimensions_whose_mean_varies(rng):
    mu = torch.randn(500, 4, generator=rng) * torch.tensor([1.0, 0.5, 0.01, 0.0])
    assert active_units(mu) == 2


def test_gaussian_kl_to_prior_is_zero_for_prior_samples_and_half_squared_shift(rng):
    z = torch.randn(200_000, 3, generator=rng)
    assert gaussian_kl_to_standard_normal(z) == pytest.approx(0.0, abs=5e-4)
    shift = torch.tensor([1.0, -2.0, 0.0])
    assert gaussian_kl_to_standard_normal(z + shift) == pytest.approx(0.5 * 5.0, abs=5e-3)
    # scale: KL(N(0, s^2) || N(0, 1)) = (s^2 - 1 - log s^2) / 2 per dimension
    s2 = 4.0
    assert gaussian_kl_to_standard_normal(z * 2) == pytest.approx(3 * 0.5 * (s2 - 1 - math.log(s2)), rel=1e-2)


class _Identity(torch.nn.Module):
    """An 'autoencoder' that returns its input exactly: reconstruction error 0."""

    def encode(self, x, y=None):
        return Posterior(x.flatten(1))

    def decode(self, z, y=None):
        p = z.clamp(1e-6, 1 - 1e-6)
        return torch.logit(p).view(-1, 1, 8, 8)


def test_perfect_autoencoder_has_zero_reconstruction_error(digits):
    x = (digits.test_x[:64] > 0.5).float()  # binary, so the Bernoulli NLL can reach ~0 too
    errors = recon_errors(_Identity(), x)
    assert errors["mse"] == pytest.approx(0.0, abs=1e-6)
    assert errors["bce"] == pytest.approx(0.0, abs=1e-3)


def test_evaluate_reports_every_registered_metric(digits, digits_evaluator):
    from vae_core import METRICS, RunConfig, fit

    result = fit(RunConfig(dataset="digits", epochs=1, device="cpu"), data=digits)
    evaluation = evaluate(result.model, digits, evaluator=digits_evaluator)
    expected = set(METRICS) - {"train_images_per_s", "train_seconds"}
    assert expected <= set(evaluation.metrics)
    # cvae only; lines only; shapes only; the calibrated Gaussian decoder only; at most 2 latent dimensions only
    not_applicable = {"cond_accuracy", "cond_swap_accuracy", "angle_path_error_deg", "position_path_error_px",
                      "decoder_sigma", "test_exact_nll", "exact_nll_quadrature_error"}
    assert all(evaluation.metrics[m] is not None for m in expected - not_applicable)
    assert evaluation.images["recon"].shape == (16, 1, 8, 8)
    assert evaluation.metrics["infer_images_per_s"] > 0


def test_the_real_images_features_are_kept_per_evaluator_for_every_model(digits):
    """The reference test images' evaluator features and their k-NN radii are computed once for
    every model scored with one evaluator, equal a fresh computation, and another evaluator gets
    its own."""
    from vae_core import RunConfig
    from vae_core import metrics as m
    from vae_core.evaluator import Evaluator, EvaluatorNet
    from vae_core.models import build_model

    torch.manual_seed(0)
    evaluators = [Evaluator(EvaluatorNet(1, 10), 0.0, "x") for _ in range(2)]
    models = [build_model(RunConfig(dataset="digits", seed=s), digits.image_shape) for s in (0, 1)]
    kept = lambda e: {name: m._REAL_KEPT["figures"][(name, id(e))][1] for name in ("features", "radius")}  # noqa: E731
    evaluate(models[0], digits, evaluator=evaluators[0], only=["prior_precision"])
    first = kept(evaluators[0])
    evaluate(models[1], digits, evaluator=evaluators[0], only=["prior_precision"])
    assert all(kept(evaluators[0])[name] is first[name] for name in first)  # read, not computed again
    s = m.Scoring(models[1], digits, "bce", evaluators[0], m.IWAE_K)
    assert torch.equal(first["features"], evaluators[0].features(s.reference_x))
    assert torch.equal(first["radius"], m.kth_neighbour_radius(first["features"]))
    evaluate(models[1], digits, evaluator=evaluators[1], only=["prior_precision"])
    assert not torch.equal(kept(evaluators[1])["features"], first["features"])  # another network's


def test_ae_and_vae_are_scored_on_the_same_latent_path_endpoints(digits):
    from vae_core import RunConfig, fit

    pairs = [evaluate(fit(RunConfig(model=m, dataset="digits", epochs=1, device="cpu"), data=digits).model,
                      digits).images["path_pairs"] for m in ("ae", "vae")]
    assert (pairs[0] == pairs[1]).all()


def test_metric_groups_produce_every_registered_metric_once():
    from vae_core.metrics import GROUPS, METRICS, NEEDS, TRAINING_METRICS

    produced = [name for group in GROUPS for name in group.produces]
    assert sorted(produced) == sorted(set(METRICS) - set(TRAINING_METRICS))  # each once, none unregistered
    assert all(need in NEEDS for group in GROUPS for need in group.needs)


def test_evaluate_only_computes_the_asked_groups_with_the_full_evaluations_draws(digits):
    from vae_core import RunConfig, fit

    vae = fit(RunConfig(dataset="digits", epochs=1, device="cpu"), data=digits).model
    full = evaluate(vae, digits).metrics
    asked = ["interp_jump_ratio", "prior_coverage", "test_kl_mc"]
    part = evaluate(vae, digits, only=asked)
    # whole groups: the path figures come with the jump ratio, the MMD with the coverage
    assert set(part.metrics) == {"interp_step_l2", "interp_jump_ratio", "midpoint_nn_ratio", "agg_posterior_mmd",
                                 "prior_coverage", "test_kl_mc", "test_kl_mc_se"}
    assert part.metrics == {k: full[k] for k in part.metrics}  # the same random draws without the other groups
    assert part.images == {}
    ae = fit(RunConfig(model="ae", beta=0.0, dataset="digits", epochs=1, device="cpu"), data=digits).model
    assert evaluate(ae, digits, only=["test_kl_mc"]).metrics == {"test_kl_mc": None, "test_kl_mc_se": None}
    with pytest.raises(ValueError, match="no metric group produces"):
        evaluate(vae, digits, only=["train_seconds"])


def test_mean_image_mse_known_answer_in_batches_and_for_uint8():
    """Half the training images black, half white: the mean image is 0.5 everywhere, so a black
    2x2 test image is 4 x 0.25 = 1.0 away (squared error summed over pixels), whatever the batch
    size and whether the images are stored as uint8 or as floats."""
    from vae_core.metrics.reconstruction import mean_image_mse

    train = torch.cat([torch.zeros(5, 1, 2, 2), torch.ones(5, 1, 2, 2)])
    test = torch.zeros(3, 1, 2, 2)
    assert mean_image_mse(train, test) == pytest.approx(1.0)
    assert mean_image_mse(train, test, batch_size=3) == pytest.approx(1.0)
    as_bytes = (train * 255).to(torch.uint8), (test * 255).to(torch.uint8)
    assert mean_image_mse(*as_bytes, batch_size=4) == pytest.approx(1.0)


def test_real_image_figures_are_kept_for_one_data_set_and_equal_a_fresh_computation(digits):
    """The reference images' nearest-training distances and sharpness are computed once per data
    set, for every model scored on it: a second model's figures equal those of a fresh scoring,
    and another data set (other tensors) gets its own."""
    from vae_core import RunConfig, fit
    from vae_core import metrics as m

    names = ["recon_nn_ratio", "prior_nn_ratio", "recon_laplacian_ratio", "prior_hf_ratio"]
    models = [fit(RunConfig(dataset="digits", epochs=1, device="cpu", seed=seed), data=digits).model
              for seed in (0, 1)]
    kept = [evaluate(model, digits, only=names).metrics for model in models]  # the second reads the kept ones
    assert {k for k in m._REAL_KEPT["figures"] if isinstance(k, str)} == {"nn_distances", "sharpness"}
    for model, metrics in zip(models, kept, strict=True):
        m._REAL_KEPT.update(tensors=(), figures={})
        assert evaluate(model, digits, only=names).metrics == metrics
    shifted = dataclasses.replace(digits, test_x=digits.test_x.flip(-1), train_x=digits.train_x.flip(-1))
    evaluate(models[0], shifted, only=names)
    x = unit_float(shifted.test_x)
    assert torch.equal(m._REAL_KEPT["figures"]["nn_distances"][1], nearest_distance(x, shifted.train_x))
    assert m._REAL_KEPT["tensors"][0]() is shifted.test_x


def test_set_figures_read_a_fixed_sample_of_a_large_test_split_and_all_of_a_small_one(digits, monkeypatch):
    """Set-against-set figures compare with at most N_REFERENCE_IMAGES test images (a seeded sample,
    the same for every model), so their cost grows linearly with the data; a smaller split is read
    whole, as before (every offline set has at most 1,000 test images)."""
    from vae_core import RunConfig, fit
    from vae_core import metrics as m

    vae = fit(RunConfig(dataset="digits", epochs=1, device="cpu"), data=digits).model.eval()
    x, train = unit_float(digits.test_x), digits.train_x
    with torch.no_grad():
        recons = torch.sigmoid(vae.decode(vae.encode(x).mu))
        whole = nn_distance_ratio(recons, x, train)
        assert evaluate(vae, digits, only=["recon_nn_ratio"]).metrics["recon_nn_ratio"] == pytest.approx(whole)
        monkeypatch.setattr(m, "N_REFERENCE_IMAGES", 100)
        reference = m.Scoring(vae, digits, "bce", None, 10).reference
        assert len(reference) == 100 and reference.unique().numel() == 100
        assert torch.equal(reference, m.Scoring(vae, digits, "bce", None, 10).reference)
        # the same test images for every run, whichever seed's draws score it
        assert torch.equal(reference, m.Scoring(vae, digits, "bce", None, 10, m.run_draws(3)).reference)
        sampled = evaluate(vae, digits, only=["recon_nn_ratio", "test_recon_mse"]).metrics
    assert sampled["recon_nn_ratio"] == pytest.approx(nn_distance_ratio(recons[reference], x[reference], train))
    assert sampled["recon_nn_ratio"] != pytest.approx(whole)
    assert sampled["test_recon_mse"] == pytest.approx(recon_errors(vae, x)["mse"])  # per-image figures: every image


def test_prior_samples_are_the_prior_for_a_vae_and_the_fitted_gaussian_for_an_ae(digits):
    """A VAE decodes N(0, I) draws and never encodes its training images for them; an AE, which has
    no prior, decodes draws of the diagonal Gaussian of its training codes."""
    from vae_core import RunConfig
    from vae_core.metrics.rate import prior_samples
    from vae_core.models import build_model

    vae = build_model(RunConfig(dataset="digits", latent_dim=3), digits.image_shape)
    ae = build_model(RunConfig(dataset="digits", model="ae", latent_dim=3), digits.image_shape)
    eps = torch.randn((20_000, 3), generator=torch.Generator().manual_seed(4))

    def never() -> torch.Tensor:
        raise AssertionError("a VAE's prior read the training codes")

    assert torch.equal(prior_samples(vae, 20_000, torch.Generator().manual_seed(4), never), eps)
    codes = torch.tensor([[1.0, -2.0, 0.0], [3.0, 2.0, 0.5], [2.0, 0.0, 0.25]])
    z = prior_samples(ae, 20_000, torch.Generator().manual_seed(4), lambda: codes)
    assert torch.allclose(z, codes.mean(0) + eps * codes.std(0))
    assert torch.allclose(z.mean(0), torch.tensor([2.0, 0.0, 0.25]), atol=0.05)
