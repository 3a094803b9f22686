"""Known-answer tests of the latent-smoothness measures in the evaluator's features: the
perceptual path length, its excess over a straight even path, and the blur-neutral measure of
holes (prior samples' classifier confidence relative to reconstructions')."""

import math

import pytest
import torch

from vae_core.metrics.holes import confidence_ratio, mean_confidence
from vae_core.metrics.path_length import (
    EPSILON,
    path_length_excess,
    perceptual_path_length,
    squared_speeds,
)

IDENTITY = lambda images: images  # noqa: E731  features = the "images" themselves


def stratified(n_paths: int, n_steps: int, rng: torch.Generator) -> torch.Tensor:
    t = (torch.arange(n_steps).view(1, -1) + torch.rand((n_paths, n_steps), generator=rng)) / n_steps
    return t * (1 - EPSILON)


def test_a_linear_decoder_moves_evenly_in_a_straight_line(rng):
    """g(z) = A z: every squared speed is |A (z1 - z0)|^2, the path length excess exactly 1."""
    a = torch.randn(3, 5, generator=rng, dtype=torch.float64)
    z0 = torch.randn(1, 3, generator=rng, dtype=torch.float64).repeat(4, 1)
    z1 = torch.randn(1, 3, generator=rng, dtype=torch.float64).repeat(4, 1)
    speeds = squared_speeds(lambda z: z @ a, IDENTITY, z0, z1, stratified(4, 8, rng).double())
    expected = ((z1 - z0) @ a).pow(2).sum(1)
    assert torch.allclose(speeds, expected.view(-1, 1).expand(4, 8), rtol=1e-5)
    assert perceptual_path_length(speeds) == pytest.approx(expected.mean().item(), rel=1e-5)
    assert path_length_excess(speeds, (z0 @ a, z1 @ a)) == pytest.approx(1.0, rel=1e-5)


def test_a_path_that_speeds_up_has_an_excess_of_four_thirds(rng):
    """g(z) = z^2 on the path from 0 to 1: speed 2t, so mean speed^2 = 4/3 against a chord of 1."""
    z0, z1 = torch.zeros(200, 1, dtype=torch.float64), torch.ones(200, 1, dtype=torch.float64)
    speeds = squared_speeds(lambda z: z**2, IDENTITY, z0, z1, stratified(200, 8, rng).double())
    assert path_length_excess(speeds, (z0, z1)) == pytest.approx(4 / 3, rel=0.01)


def test_a_detour_costs_more_than_the_straight_way(rng):
    """Out and back through a far point: the ends decode alike, the path does not."""
    z0, z1 = torch.zeros(50, 1, dtype=torch.float64), torch.ones(50, 1, dtype=torch.float64)

    def detour(z):  # a 2-D image: x goes 0 -> 1 evenly, y rises to 3 and falls back
        return torch.cat([z, 3 * torch.sin(math.pi * z)], dim=1)

    speeds = squared_speeds(detour, IDENTITY, z0, z1, stratified(50, 8, rng).double())
    assert path_length_excess(speeds, (detour(z0), detour(z1))) > 10
    assert path_length_excess(speeds, (detour(z0), detour(z0))) is None  # no chord: undefined


def test_the_path_length_trims_the_top_and_bottom_percent():
    speeds = torch.ones(10, 100, dtype=torch.float64)
    speeds[0, 0] = 1e9  # one outlier among 1,000 values is trimmed away
    assert perceptual_path_length(speeds) == pytest.approx(1.0)


def test_confidence_of_sure_and_of_undecided_classifications():
    sure = torch.eye(4)[[0, 1, 2, 3]]
    undecided = torch.full((4, 4), 0.25)
    assert mean_confidence(sure) == 1.0 and mean_confidence(undecided) == 0.25
    assert mean_confidence(torch.tensor([[0.9, 0.1], [0.4, 0.6]])) == pytest.approx(0.75)
    # samples half of which are holes (undecided), against reconstructions that are all sure
    assert confidence_ratio(torch.cat([sure, undecided]), sure) == pytest.approx(0.625)


def test_blur_divides_out_of_the_confidence_ratio(digits, digits_evaluator):
    """The same blur on prior samples and reconstructions leaves the ratio near 1; replacing
    half the samples with overlays of two digits of different classes (images of no one class,
    what a hole between two classes decodes to) lowers it."""
    evaluator = digits_evaluator
    x, y = digits.test_x[:400], digits.test_y[:400]
    blur = lambda images: torch.nn.functional.conv2d(images, torch.full((1, 1, 3, 3), 1 / 9), padding=1)  # noqa: E731
    probs = lambda images: evaluator.probabilities(evaluator.features(blur(images)))  # noqa: E731
    recon, prior = probs(x[:200]), probs(x[200:])
    assert confidence_ratio(prior, recon) == pytest.approx(1.0, abs=0.1)
    other = torch.tensor([int(torch.nonzero(y != label)[0]) for label in y[200:300]])
    overlays = 0.5 * (x[200:300] + x[other])
    with_holes = probs(torch.cat([x[300:400], overlays]))
    assert confidence_ratio(with_holes, recon) < confidence_ratio(prior, recon) - 0.1
