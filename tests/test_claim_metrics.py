"""Known-answer tests of the metrics the claims suite added: feature-space distances, latent
geometry, the lines angle, the KL check, the mean-image reference and the evaluator network."""

import math

import numpy as np
import pytest
import torch

from bench import work
from vae_core.config import RunConfig
from vae_core.data import LINES_SIZE, load_dataset, render_lines
from vae_core.evaluator import train_evaluator
from vae_core.metrics.angles import angle_difference, angle_path_error_deg, line_angle
from vae_core.metrics.feature_space import frechet_distance, kth_neighbour_radius, precision, precision_recall
from vae_core.metrics.latent import knn_accuracy, prior_coverage, silhouette
from vae_core.metrics.rate import kl_closed_vs_monte_carlo
from vae_core.metrics.reconstruction import mean_image_mse
from vae_core.models import Posterior


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise(rng):
    a = torch.randn(2000, 8, generator=rng, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    noisy = [frechet_distance(a, a + s * torch.randn(a.shape, generator=rng, dtype=torch.float64))
             for s in (0.1, 0.5, 1.0, 2.0)]
    assert noisy == sorted(noisy) and noisy[0] > 0


def test_frechet_distance_between_known_gaussians(rng):
    """N(0, I) vs N(m, 4 I) in d dims: |m|^2 + d (1 + 4 - 2 * 2) = |m|^2 + d."""
    d, n = 4, 200_000
    a = torch.randn(n, d, generator=rng, dtype=torch.float64)
    m = torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64)
    b = m + 2.0 * torch.randn(n, d, generator=rng, dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(float(m @ m) + d, rel=0.02)


def test_precision_and_recall_of_identical_disjoint_and_collapsed_sets(rng):
    real = torch.randn(500, 4, generator=rng)
    same = precision_recall(real, real.clone())
    assert same == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}
    collapsed = precision_recall(real, real[:1].repeat(500, 1) + 1e-3 * torch.randn(500, 4, generator=rng))
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05  # realistic but no diversity


def test_precision_and_recall_on_a_line_count_the_points_inside_the_other_sets_balls():
    """Reals at 0, 1, 2, 3 on a line: each one's 1-NN radius is 1. Fakes at 0.5 and 10: each
    one's 1-NN radius is 9.5, their distance. Precision 1/2 (only 0.5 lies in a real ball), recall
    4/4 (every real lies within 9.5 of 0.5). The radii passed in, and precision alone, agree."""
    real, fake = torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.tensor([[0.5], [10.0]])
    assert kth_neighbour_radius(real, 1).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert precision_recall(real, fake, 1) == {"precision": 0.5, "recall": 1.0}
    assert precision_recall(fake, real, 1) == {"precision": 1.0, "recall": 0.5}  # the roles swap
    assert precision(real, fake, 1, real_radius=torch.tensor([1.0, 1.0, 1.0, 1.0]).double()) == 0.5
    assert precision(real, fake, 1, real_radius=torch.zeros(4).double()) == 0.0  # the radii are used


def test_knn_accuracy_and_silhouette_of_separated_and_of_random_classes(rng):
    labels = torch.arange(1000) % 10
    centres = 20.0 * torch.randn(10, 2, generator=rng)
    separated = centres[labels] + 0.1 * torch.randn(1000, 2, generator=rng)
    assert knn_accuracy(separated, labels) == 1.0 and silhouette(separated, labels) > 0.9
    mixed = torch.randn(1000, 2, generator=rng)
    assert abs(knn_accuracy(mixed, labels) - 0.1) < 0.05 and abs(silhouette(mixed, labels)) < 0.1
    assert silhouette(torch.zeros(1000, 2), labels) == 0.0  # one point: no structure


def test_prior_coverage_is_high_for_prior_samples_and_low_for_a_shrunken_or_shifted_cloud(rng):
    prior_like = torch.randn(1000, 2, generator=rng)
    full = prior_coverage(prior_like, torch.Generator().manual_seed(1))
    assert full > 0.9  # the expected coverage of a matching sample is 1 - 2^-5 for 5 neighbours
    shrunk = prior_coverage(0.1 * prior_like, torch.Generator().manual_seed(1))
    shifted = prior_coverage(prior_like + 5.0, torch.Generator().manual_seed(1))
    assert shrunk < 0.3 and shifted < 0.05


def test_line_angle_recovers_the_rendered_angle():
    angles = np.linspace(0.0, math.pi, 37, endpoint=False)
    images = torch.as_tensor(render_lines(angles))
    assert images.shape == (37, 1, LINES_SIZE, LINES_SIZE)
    error = angle_difference(line_angle(images), torch.as_tensor(angles, dtype=torch.float32)).abs()
    assert math.degrees(error.max().item()) < 1.0


def test_angle_path_error_is_zero_for_an_even_sweep_and_large_for_a_jump_or_a_blank():
    start, end = np.array([0.2, 2.9]), np.array([1.2, 0.4])  # the second path crosses pi
    t = np.linspace(0, 1, 16)
    arc = np.array([1.0, (0.4 - 2.9 + math.pi / 2) % math.pi - math.pi / 2])
    even = torch.as_tensor(np.stack([render_lines(s + t * a) for s, a in zip(start, arc, strict=True)]))
    s, e = torch.as_tensor(start), torch.as_tensor(end)
    assert angle_path_error_deg(even, s, e) < 1.0
    jump = torch.as_tensor(np.stack([render_lines(np.where(t < 0.5, s_, s_ + a)) for s_, a in zip(start, arc,
                                                                                                  strict=True)]))
    assert angle_path_error_deg(jump, s, e) > 10.0
    blank = torch.rand(even.shape, generator=torch.Generator().manual_seed(0))
    assert angle_path_error_deg(blank, s, e) > 20.0  # a random angle is off by 45 degrees on average


def test_lines_data_carries_its_true_angles():
    data = load_dataset("lines")
    assert data.train_x.shape == (4000, 1, 28, 28) and data.test_t.shape == (1000,)
    measured = line_angle(data.test_x[:200])
    assert angle_difference(measured, data.test_t[:200]).abs().max().item() < math.radians(1.0)
    assert torch.equal(data.test_y[:200], (data.test_t[:200] / math.pi * 10).long().clamp(max=9))


def test_closed_form_kl_agrees_with_its_monte_carlo_estimate_within_three_standard_errors(rng):
    posterior = Posterior(torch.randn(300, 5, generator=rng), 0.5 * torch.randn(300, 5, generator=rng))
    kl = kl_closed_vs_monte_carlo(posterior, 256, rng)
    assert abs(kl["closed"] - kl["mc"]) < 3 * kl["mc_se"] and kl["mc_se"] > 0
    wrong = Posterior(posterior.mu, posterior.logvar + 0.3)  # a different distribution is detected
    assert abs(kl_closed_vs_monte_carlo(wrong, 256, rng)["mc"] - kl["closed"]) > 5 * kl["mc_se"]


def test_mean_image_mse_is_zero_when_every_image_is_the_mean_and_the_variance_otherwise(rng):
    x = torch.rand(50, 1, 4, 4, generator=rng)
    assert mean_image_mse(x, x.mean(0, keepdim=True).expand_as(x)) == pytest.approx(0.0, abs=1e-10)
    expected = x.var(0, unbiased=False).sum().item()
    assert mean_image_mse(x, x) == pytest.approx(expected, rel=1e-5)


def test_the_evaluator_classifies_digits_and_is_cached_once(digits, tmp_path, monkeypatch, capsys):
    config = RunConfig(dataset="digits")
    monkeypatch.setattr(work, "_evaluators", {})
    first = work.evaluator_for(config, tmp_path)
    assert first.test_accuracy > 0.8
    assert "(trained once)" in capsys.readouterr().err  # its training's progress bar
    assert first.features(digits.test_x).shape == (len(digits.test_x), 128)
    (cached,) = (tmp_path / "evaluators").glob("digits-*.pt")

    def no_training(*args, **kwargs):
        raise AssertionError("the cached evaluator should have been used")

    monkeypatch.setattr(work, "_evaluators", {})  # a new process: only the file is left
    monkeypatch.setattr(work, "train_evaluator", no_training)
    again = work.evaluator_for(config, tmp_path)
    assert again.test_accuracy == first.test_accuracy
    assert torch.equal(again.predict(digits.test_x), first.predict(digits.test_x))
    monkeypatch.undo()
    monkeypatch.setattr(work, "_evaluators", {})
    cached.write_bytes(b"not a torch file")  # damaged: trained again and replaced, never loaded
    assert work.evaluator_for(config, tmp_path, progress=False).test_accuracy == first.test_accuracy
    assert cached.read_bytes() != b"not a torch file"
    assert "(trained once)" not in capsys.readouterr().err  # --no-progress: no bar


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_evaluator_of_gpu_runs_trains_on_the_gpu_and_is_kept_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(work, "_evaluators", {})
    trained_on = []
    real = work.train_evaluator
    monkeypatch.setattr(work, "train_evaluator", lambda data, device, **kw: trained_on.append(device) or
                        real(data, device, **kw))
    evaluator = work.evaluator_for(RunConfig(dataset="digits", device="cuda"), tmp_path)
    assert trained_on == ["cuda"] and evaluator.test_accuracy > 0.8
    assert {p.device.type for p in evaluator.net.parameters()} == {"cpu"}
    assert len(list((tmp_path / "evaluators").glob("digits-*.pt"))) == 1


def test_the_evaluator_is_deterministic(digits):
    a, b = train_evaluator(digits), train_evaluator(digits)
    assert a.test_accuracy == b.test_accuracy and a.fingerprint == b.fingerprint


def _shapes_path(kind: int, start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rendered `shapes` images whose factors move from `start` to `end` at the fractions `t`."""
    from vae_core.data import render_shapes

    return render_shapes(np.full(len(t), kind), start + t[:, None] * (end - start))


def test_centroid_is_the_rendered_centre_whatever_the_shape_hue_and_rotation():
    from vae_core.data import SHAPES_SIZE, render_shapes
    from vae_core.metrics.positions import centroid_xy

    rng = np.random.default_rng(0)
    factors = np.stack([rng.uniform(10, 22, 30), rng.uniform(10, 22, 30), rng.uniform(4, 9, 30),
                        rng.uniform(0, 2 * math.pi, 30), rng.uniform(0, 1, 30)], axis=1)
    xy = centroid_xy(torch.as_tensor(render_shapes(np.arange(30) % 3, factors)))
    assert (xy - torch.as_tensor(factors[:, :2], dtype=torch.float32)).norm(dim=1).max() < 0.1
    black = torch.zeros(1, 3, SHAPES_SIZE, SHAPES_SIZE)
    assert centroid_xy(black).tolist() == [[SHAPES_SIZE / 2, SHAPES_SIZE / 2]]


def test_position_path_error_is_zero_for_an_even_move_and_half_the_distance_for_a_late_jump():
    """Known answers: shapes rendered at evenly moved centres score ~0; a path that holds the
    first image and jumps at the end is off by t * d at each interior point, on average d / 2."""
    from vae_core.metrics.positions import position_path_error_px

    t = np.linspace(0, 1, 10)
    start, end = np.array([11.0, 12.0, 6.0, 0.3, 0.1]), np.array([21.0, 18.0, 6.0, 0.3, 0.1])  # 11.66 px apart
    xy = lambda f: torch.as_tensor(f[None, :2])  # noqa: E731
    even = torch.as_tensor(_shapes_path(1, start, end, t))[None]
    assert position_path_error_px(even, xy(start), xy(end)) < 0.1
    held = torch.as_tensor(_shapes_path(1, start, end, np.r_[np.zeros(9), 1.0]))[None]
    distance = float(np.hypot(10, 6))
    assert position_path_error_px(held, xy(start), xy(end)) == pytest.approx(distance / 2, abs=0.1)
    # other factors changing on the way (size, hue, rotation) do not move the centre
    morph = torch.as_tensor(_shapes_path(2, start, end + np.array([0, 0, 2.0, 1.0, 0.5]), t))[None]
    assert position_path_error_px(morph, xy(start), xy(end)) < 0.1


def test_shapes_data_carries_its_factors_and_the_metric_runs_only_where_they_are_known():
    from vae_core.data import SHAPE_FACTORS
    from vae_core.metrics import GROUPS, NEEDS

    data = load_dataset("shapes")
    assert data.factors == SHAPE_FACTORS and data.test_t.shape == (1000, 5) and data.train_t.shape == (4000, 5)
    assert data.validation().factors == SHAPE_FACTORS and data.fewer_train(300).train_t.shape == (300, 5)
    (group,) = [g for g in GROUPS if "position_path_error_px" in g.produces]
    needs = {name: NEEDS[name] for name in group.needs}
    scoring = lambda d: type("S", (), {"data": d, "conditional": False})()  # noqa: E731
    assert all(need(scoring(data)) for need in needs.values())
    assert not needs["known positions"](scoring(load_dataset("lines")))
