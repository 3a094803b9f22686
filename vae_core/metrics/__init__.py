"""The metric registry, the metric groups and `evaluate()`, which computes the metrics of one
trained model: all of them by default, or the groups that produce the names asked for.

Each metric is defined in its own module (the docstring there cites the source); this module
lists them once, with unit and direction, so the report, the summary table and the tuner all
read the same definitions. A `MetricGroup` computes several metrics from the same tensors and
declares what it needs (a stochastic encoder, an unconditional decoder, the evaluator network,
known angles); where a need is not met (the KL of an AE, the Frechet distance without the
evaluator) its metrics are None. Evaluation draws its random numbers (interpolation endpoints,
prior samples, ELBO noise) from seeded generators (`Draws`); a suite scores each training seed
on its own draws and every configuration of that seed on the same ones (`run_draws`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from vae_core.data import Dataset, unit_float
from vae_core.device import device_of
from vae_core.evaluator import Evaluator
from vae_core.metrics.angles import angle_path_error_deg
from vae_core.metrics.blur import sharpness, sharpness_ratios
from vae_core.metrics.exact_likelihood import MAX_LATENT_DIM, exact_nll
from vae_core.metrics.feature_space import frechet_distance, kth_neighbour_radius, precision, precision_recall
from vae_core.metrics.holes import confidence_ratio, mean_confidence
from vae_core.metrics.lanes import GeneratorLike, LaneGenerators, draw
from vae_core.metrics.latent import CV_FOLDS, knn_accuracy, prior_coverage, silhouette
from vae_core.metrics.likelihood import (
    CPU_DECODE_ROWS,
    IWAE_CHUNK,
    bounds_by_k,
    decoder_log_likelihood,
    iwae_log_weights,
)
from vae_core.metrics.path_length import EPSILON as PATH_EPSILON
from vae_core.metrics.path_length import feature_speeds, path_images, path_length_excess, perceptual_path_length
from vae_core.metrics.positions import position_path_error_px
from vae_core.metrics.rate import (
    codes,
    elbo_sample,
    kl_closed_vs_monte_carlo,
    mmd_to_standard_normal,
    posterior_figures,
    prior_samples,
)
from vae_core.metrics.realism import nearest_distance, nn_distance_ratio
from vae_core.metrics.reconstruction import mean_errors, mean_image_mse, recon_error_sums
from vae_core.metrics.smoothness import interpolation_paths, smoothness_figures
from vae_core.metrics.throughput import inference_images_per_s
from vae_core.models import Posterior


@dataclass(frozen=True)
class Metric:
    unit: str
    better: str  # "lower", "higher", "closer to 1" or "descriptive"
    description: str


METRICS: dict[str, Metric] = {
    "test_recon_mse": Metric("squared error / image", "lower", "test reconstruction error, z = mu, summed over pixels"),
    "train_recon_mse": Metric("squared error / image", "lower", "same on training images"),
    "recon_mse_gap": Metric("squared error / image", "lower", "test minus train reconstruction MSE (over-fitting)"),
    "test_recon_bce": Metric("nats / image", "lower", "test Bernoulli NLL of the reconstruction, z = mu"),
    "train_recon_bce": Metric("nats / image", "lower", "same on training images"),
    "recon_bce_gap": Metric("nats / image", "lower", "test minus train reconstruction BCE (over-fitting)"),
    "test_neg_elbo": Metric("nats / image", "lower", "negative ELBO, 1 sample, under the decoder likelihood of the "
                            "training loss: Bernoulli (bce), Gaussian with variance 1/2 (mse) or with the calibrated "
                            "variance (gaussian) (VAE only)"),
    "decoder_sigma": Metric("pixel intensity", "descriptive", "the calibrated Gaussian decoder's shared standard "
                            "deviation, its maximum-likelihood value on the training images (recon_loss gaussian "
                            "only; Rybkin et al. 2021)"),
    "test_iwae_nll": Metric("nats / image", "lower", "-IWAE_k, k = the run's iwae_k (default 100), same "
                            "likelihood, first 256 test images: an NLL bound tighter than the ELBO (Burda et al. "
                            "2016; VAE only). Compare it with iwae_nll_by_k at k = 1, the ELBO on the same images"),
    "iwae_nll_by_k": Metric("nats / image", "lower", "[k, -IWAE_k] for k = 1 (the ELBO), 10, 100, ... up to iwae_k, "
                            "on the first 256 test images, each k from its own fresh draws (VAE only; claim C12)"),
    "test_exact_nll": Metric("nats / image", "lower", "-log p(x) of the model itself on the first 256 test images, "
                             "by the midpoint rule on a grid of spacing 0.04 over [-6, 6]^d: the value every "
                             "-IWAE_k bounds from above (VAE with a latent space of at most 2 dimensions; claim C12)"),
    "exact_nll_quadrature_error": Metric("nats / image", "lower", "estimated error of test_exact_nll: per image, "
                                         "the change when the grid spacing doubles or the share of mass on the "
                                         "grid's border, whichever is larger, averaged over the images"),
    "test_kl": Metric("nats / image", "descriptive", "KL(q(z|x) || N(0, I)) on test images: the rate (VAE only)"),
    "test_kl_mc": Metric("nats / image", "descriptive", "Monte-Carlo estimate of test_kl from 256 draws per "
                         "image: equals test_kl within ~3 test_kl_mc_se if eq. 1.6 holds (VAE only; claim C13)"),
    "test_kl_mc_se": Metric("nats / image", "descriptive", "standard error of test_kl_mc"),
    "kl_per_dim": Metric("nats / dimension", "descriptive", "mean KL per latent dimension (VAE only)"),
    "posterior_var": Metric("latent units^2", "descriptive",
                            "mean posterior variance sigma^2; 0 = collapsed to an AE, 1 = the prior"),
    "active_units": Metric("dimensions", "higher", "latent dimensions with Cov_x E[z_d] > 0.01 (Burda et al. 2016)"),
    "agg_posterior_kl": Metric("nats", "lower",
                               "KL of a Gaussian fitted to the aggregate posterior from N(0, I)"),
    "agg_posterior_mmd": Metric("MMD^2", "lower", "kernel two-sample distance of aggregate-posterior samples "
                                "from N(0, I) draws (Gretton et al. 2012); sees holes the moments miss"),
    "prior_coverage": Metric("fraction", "higher", "share of N(0, I) draws with an aggregate-posterior sample in "
                             "their 5-NN ball (Naeem et al. 2020 coverage); low = holes in the prior"),
    "latent_knn_accuracy": Metric("fraction", "higher", "5-fold CV accuracy of 5-NN on the test codes (class "
                                  "separation; chance = 1 / classes)"),
    "latent_silhouette": Metric("[-1, 1]", "higher", "silhouette of the test codes grouped by class (Rousseeuw 1987)"),
    "interp_step_l2": Metric("pixel L2 / step", "descriptive",
                             "mean change between consecutive images on a latent path"),
    "interp_jump_ratio": Metric("ratio", "lower", "largest step / mean step on a latent path (1 = even), in pixels"),
    "perceptual_path_length": Metric("feature units^2 / t^2", "lower", "perceptual path length (Karras et al. 2019) "
                                     "in the evaluator's features along straight paths between test codes, t in "
                                     "path units, 1-99 percentile trimmed mean"),
    "path_length_excess": Metric("ratio", "lower", "mean squared feature speed along a path / squared feature "
                                 "distance of its decoded ends: 1 = the images move straight and evenly through "
                                 "feature space, higher = detours or jumps (Cauchy-Schwarz bound; blur-neutral)"),
    "midpoint_precision": Metric("fraction", "higher", "share of decoded midpoints of 1,000 test-code paths inside "
                                 "the real test images' 3-NN feature manifold (Kynkaanniemi et al. 2019)"),
    "midpoint_fid": Metric("feature units^2", "lower", "Frechet distance of those midpoints to real test images in "
                           "the evaluator's features"),
    "prior_confidence": Metric("probability", "higher", "mean top-class probability the evaluator gives 1,000 "
                               "decoded prior samples (low = images of no class)"),
    "prior_confidence_ratio": Metric("ratio", "higher", "prior_confidence / the same for the decoder's test "
                                     "reconstructions: blur divides out, holes in the prior remain (1 = samples as "
                                     "recognisable as reconstructions, lower = holes)"),
    "midpoint_nn_ratio": Metric("ratio", "lower",
                                "nearest-train distance of decoded path midpoints / that of real test images"),
    "prior_nn_ratio": Metric("ratio", "lower", "same for decoded prior samples"),
    "recon_nn_ratio": Metric("ratio", "lower", "same for test reconstructions"),
    "angle_path_error_deg": Metric("degrees", "lower", "`lines` data only: mean error of the decoded line angle "
                                   "along latent paths against the even sweep between the true angles"),
    "position_path_error_px": Metric("pixels", "lower", "`shapes` data only: mean distance of the decoded shape's "
                                     "centroid along latent paths from the even straight move between the true "
                                     "centres"),
    "mean_image_mse": Metric("squared error / image", "descriptive", "test error of always answering the mean "
                             "training image: what a model that ignores its input reaches"),
    "recon_fid": Metric("feature units^2", "lower", "Frechet distance of test reconstructions to test images in "
                        "the evaluator's features (a domain classifier, not Inception)"),
    "prior_fid": Metric("feature units^2", "lower", "same for 1,000 decoded prior samples"),
    "prior_precision": Metric("fraction", "higher", "share of prior samples inside the real images' 3-NN feature "
                              "manifold (Kynkaanniemi et al. 2019)"),
    "prior_recall": Metric("fraction", "higher", "share of real test images inside the prior samples' 3-NN "
                           "feature manifold"),
    "cond_accuracy": Metric("fraction", "higher", "conditional VAE only: the evaluator's accuracy on samples "
                            "decoded with a requested class (chance = 1 / classes)"),
    "cond_swap_accuracy": Metric("fraction", "higher", "conditional VAE only: test codes decoded with another class "
                                 "(label + 3): share the evaluator assigns to that class. Low = the code, not the "
                                 "label, carries the class"),
    "recon_laplacian_ratio": Metric("ratio to real", "closer to 1",
                                    "variance of the Laplacian of reconstructions / real images (lower = blurrier)"),
    "recon_hf_ratio": Metric("ratio to real", "closer to 1",
                             "high-frequency energy fraction of reconstructions / real (lower = blurrier)"),
    "prior_laplacian_ratio": Metric("ratio to real", "closer to 1",
                                    "variance of the Laplacian of prior samples / real images"),
    "prior_hf_ratio": Metric("ratio to real", "closer to 1", "high-frequency energy fraction of prior samples / real"),
    "train_images_per_s": Metric("images / s", "higher", "training throughput (forward, backward, Adam step)"),
    "infer_images_per_s": Metric("images / s", "higher", "inference throughput (encode + decode, batch 1024)"),
    "train_seconds": Metric("s", "lower", "wall time of training"),
}

#: The values a metric of each unit can take, so that no interval is drawn outside them.
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    "fraction": (0.0, 1.0), "probability": (0.0, 1.0), "[-1, 1]": (-1.0, 1.0),
    **{unit: (0.0, math.inf) for unit in ("ratio", "ratio to real", "images / s", "s", "feature units^2",
                                           "feature units^2 / t^2", "latent units^2", "dimensions", "pixel intensity",
                                           "pixel L2 / step", "degrees", "nats / dimension")},
}
#: Metrics of an unbounded unit that cannot be negative: errors, Bernoulli NLLs of data in [0, 1], the
#: closed-form KLs. The gaps (differences), MMD^2 (an unbiased estimate), and the ELBO and IWAE bounds
#: (a Gaussian likelihood is a density, so its NLL can be negative) stay unbounded.
NONNEGATIVE = ("test_recon_mse", "train_recon_mse", "mean_image_mse", "test_recon_bce", "train_recon_bce", "test_kl",
               "agg_posterior_kl", "exact_nll_quadrature_error", "test_kl_mc_se")


def metric_bounds(name: str) -> tuple[float, float]:
    """The smallest and largest value `name` can take ((-inf, inf) where unbounded or unknown)."""
    if name in NONNEGATIVE:
        return (0.0, math.inf)
    metric = METRICS.get(name)
    return UNIT_BOUNDS.get(metric.unit, (-math.inf, math.inf)) if metric else (-math.inf, math.inf)

EVAL_SEED = 1234
IWAE_K = 100
IWAE_IMAGES = 256  # k decoder passes per image: the first 256 test images keep it to a fraction of a second
KL_MC_SAMPLES = 256
N_PATHS = 100
N_PATH_STEPS = 16
N_PRIOR_SAMPLES = 256  # pixel-space figures
N_FEATURE_SAMPLES = 1000  # evaluator-feature figures (Frechet distance, precision/recall)
N_IMAGES_KEPT = 16
TRAINING_METRICS = ("train_images_per_s", "train_seconds")  # measured by `fit`, not by `evaluate`
N_PATH_LENGTH_STEPS = 8  # stratified positions t per path for the perceptual path length
# the test images that set-against-set figures (nearest-neighbour ratios, Frechet distance, precision
# and recall, MMD, coverage, k-NN accuracy, sharpness ratios) compare with: all of a split this size
# or smaller (every offline set), else a seeded sample of this size, so their cost grows linearly
# with the data (not with test x train or test^2) and their sample-size bias is the same on every set
N_REFERENCE_IMAGES = 1000
PURPOSES = ("elbo", "pairs", "prior", "iwae", "mmd", "kl_mc", "coverage", "path_length", "midpoints", "reference")
SHARED_PURPOSES = ("reference",)  # drawn from EVAL_SEED whatever `Draws.seed` (`Scoring`)


@dataclass(frozen=True)
class Draws:
    """The seed of the evaluation's random draws and the sizes of the samples whose cost grows
    with them: the prior samples and path midpoints of the feature figures, the stratified
    path-length positions per path and the test images the IWAE bound reads. Suites score with
    these sizes and the seed of `run_draws`; `bench perf --sampling` varies both, to measure
    what other draws or smaller samples change in the figures against what they save."""

    seed: int = EVAL_SEED
    feature_samples: int = N_FEATURE_SAMPLES
    path_length_steps: int = N_PATH_LENGTH_STEPS
    iwae_images: int = IWAE_IMAGES

    def __post_init__(self) -> None:
        for name in ("feature_samples", "path_length_steps", "iwae_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"Draws.{name} must be at least 1, got {getattr(self, name)}")

    def halved(self) -> Draws:
        """The same seed with every sample half as large (at least 1)."""
        return replace(self, feature_samples=max(1, self.feature_samples // 2),
                       path_length_steps=max(1, self.path_length_steps // 2),
                       iwae_images=max(1, self.iwae_images // 2))


DEFAULT_DRAWS = Draws()
DRAW_SEED_STEP = 1000  # a draw's generators are seeded seed + 0, 1, ... (`PURPOSES`): seeds this far apart share none


def draw_generators(draws: Draws) -> dict[str, torch.Generator]:
    """One generator per purpose (`PURPOSES`), seeded from `draws.seed` (`SHARED_PURPOSES` from
    `EVAL_SEED`): a group draws the same numbers whichever other groups run."""
    seed = lambda purpose: EVAL_SEED if purpose in SHARED_PURPOSES else draws.seed  # noqa: E731
    return {p: torch.Generator().manual_seed(seed(p) + i) for i, p in enumerate(PURPOSES)}


def run_draws(run_seed: int) -> Draws:
    """The draws a suite scores a run of training seed `run_seed` on: its own, so that the
    spread between a suite's seeds, which the claims' intervals read, holds the evaluation's
    sampling noise as well as training's. On one draw shared by every seed it held only
    training's, while the draw alone moved the smoothness and precision figures' AE - VAE gap
    as much as the training seeds did (`bench perf --sampling`, docs/performance.md). The runs
    of one seed share their draws, so configurations are still compared on the same test
    images, endpoints and prior draws (common random numbers). Seed 0 keeps `EVAL_SEED`."""
    return replace(DEFAULT_DRAWS, seed=EVAL_SEED + DRAW_SEED_STEP * run_seed)


@dataclass
class Evaluation:
    metrics: dict  # METRICS names -> float, int, list or None (not applicable)
    images: dict[str, np.ndarray]  # small arrays for the report's image grids, float16


# Figures of the last data set's own images (the reference test images' nearest-training distances,
# sharpness, evaluator features and their k-NN radii), which every model of a suite is compared
# with: computed once, not once a run (0.06-0.08 s of a run's scoring on mnist5k). Keyed by the
# data's tensors themselves (weakly, so no data set is kept alive for it), which `load_dataset`
# shares and `Dataset.to` keeps on the CPU, and by the reference images' indices, one data set at a
# time; a figure in the evaluator's features also by the evaluator itself (weakly).
_REAL_KEPT: dict = {"tensors": (), "reference": None, "figures": {}}


def _kept_real(data: Dataset, reference: torch.Tensor, name: str, compute: Callable[[], object],
               evaluator: Evaluator | None = None) -> object:
    tensors = (data.test_x, data.train_x)
    kept = tuple(ref() for ref in _REAL_KEPT["tensors"])
    same_data = len(kept) == len(tensors) and all(a is b for a, b in zip(kept, tensors, strict=True))
    if not same_data or not torch.equal(_REAL_KEPT["reference"], reference):
        _REAL_KEPT.update(tensors=tuple(weakref.ref(t) for t in tensors), reference=reference, figures={})
    figures = _REAL_KEPT["figures"]
    key = name if evaluator is None else (name, id(evaluator))
    figure = figures.get(key)
    if figure is None or (evaluator is not None and figure[0]() is not evaluator):  # an id of another, gone
        for gone in [k for k, (ref, _) in figures.items() if ref is not None and ref() is None]:
            del figures[gone]  # the figures of evaluators no longer alive
        figure = figures[key] = (None if evaluator is None else weakref.ref(evaluator), compute())
    return figure[1]


class Scoring:
    """One model on one data set, with the tensors several metric groups share, each computed
    once on first use. Evaluation draws its random numbers from one generator per purpose, seeded
    from `draws.seed`, so every model scored with the same `Draws` sees the same endpoints and
    prior draws, and a group draws the same numbers whichever other groups run (an AE and a VAE
    get the same endpoints although only the VAE draws ELBO noise). The reference test images
    (`N_REFERENCE_IMAGES`) are drawn from `EVAL_SEED` whatever the draws: like the test split
    itself, they are the same for every run, and their figures are kept once per data set."""

    def __init__(self, model: torch.nn.Module, data: Dataset, recon_loss: str, evaluator: Evaluator | None,
                 iwae_k: int, draws: Draws = DEFAULT_DRAWS, gen: dict[str, GeneratorLike] | None = None) -> None:
        self.model, self.data, self.recon_loss, self.evaluator, self.iwae_k = model, data, recon_loss, evaluator, iwae_k
        self.draws = draws
        # a stack's passes draw each model's numbers from its own generators (`_stacked_part`)
        self.gen = draw_generators(draws) if gen is None else gen
        self.conditional = getattr(model, "n_classes", 0) > 0
        self.test_y, self.train_y = (data.test_y, data.train_y) if self.conditional else (None, None)
        # the test split as floats in [0, 1], once (it is small); the training split stays as stored
        # (uint8 for 8-bit data) and is read a batch at a time
        self.test_x = unit_float(data.test_x)

    # The tensors below that run the model are its passes: a group names those it reads
    # (`MetricGroup.passes`), so that `evaluate_stacked` can run them for a stack of models at
    # once; the figures are then computed from them one model at a time.

    @cached_property
    def test_recon_sums(self) -> torch.Tensor:
        """Summed reconstruction errors of the test images per batch, z = mu (the reconstruction
        group and the train-test gaps both read them)."""
        return recon_error_sums(self.model, self.test_x, y=self.test_y)

    @property
    def test_errors(self) -> dict[str, float]:
        return mean_errors(self.test_recon_sums, self.test_x.shape[0])

    @cached_property
    def train_recon_sums(self) -> torch.Tensor:
        return recon_error_sums(self.model, self.data.train_x, y=self.train_y)

    @cached_property
    def posterior(self) -> Posterior:
        return self.model.encode(self.test_x, self.test_y)

    @property
    def stochastic(self) -> bool:
        return self.posterior.logvar is not None

    @cached_property
    def elbo(self) -> dict[str, torch.Tensor] | None:
        """One draw of each test posterior and its decoder log-likelihood (None for an AE)."""
        if not self.stochastic:
            return None
        log_likelihood = decoder_log_likelihood(self.recon_loss, self.model.log_sigma)
        return elbo_sample(self.model, self.posterior, self.test_x, self.gen["elbo"], log_likelihood, self.test_y)

    @cached_property
    def iwae_log_weights(self) -> dict[int, torch.Tensor]:
        n = self.draws.iwae_images
        y = None if self.test_y is None else self.test_y[:n]
        return iwae_log_weights(self.model, self.test_x[:n], self.recon_loss, self.iwae_k,
                                self.gen["iwae"], y)

    @cached_property
    def aggregate(self) -> torch.Tensor:
        """One draw of each test posterior (the codes themselves for an AE)."""
        mu = self.posterior.mu
        if not self.stochastic:
            return mu
        return self.posterior.sample(draw(self.gen["mmd"], torch.randn, mu.shape).to(mu.device))

    @cached_property
    def reference(self) -> torch.Tensor:
        """Indices of the test images set-against-set figures read (`N_REFERENCE_IMAGES`)."""
        n = self.test_x.shape[0]
        if n <= N_REFERENCE_IMAGES:
            return torch.arange(n, device=self.test_x.device)
        chosen = draw(self.gen["reference"], torch.randperm, n)[:N_REFERENCE_IMAGES]
        return chosen.sort().values.to(self.test_x.device)

    @cached_property
    def reference_x(self) -> torch.Tensor:
        return self.test_x[self.reference]

    @cached_property
    def pairs(self) -> torch.Tensor:
        x = self.test_x
        return draw(self.gen["pairs"], torch.randint, 0, x.shape[0], (N_PATHS, 2)).to(x.device)

    @cached_property
    def paths(self) -> torch.Tensor:
        """Decoded straight latent paths between test codes (not for a conditional decoder,
        which also reads a label)."""
        mu = self.posterior.mu
        return interpolation_paths(self.model, mu[self.pairs[:, 0]], mu[self.pairs[:, 1]], N_PATH_STEPS)

    @cached_property
    def midpoints(self) -> torch.Tensor:
        """Decoded midpoints of straight paths between the codes of random pairs of test images
        (`Draws.feature_samples` pairs)."""
        mu, n = self.posterior.mu, self.test_x.shape[0]
        pairs = draw(self.gen["midpoints"], torch.randint, 0, n, (self.draws.feature_samples, 2)).to(mu.device)
        return torch.sigmoid(self.model.decode(0.5 * (mu[pairs[:, 0]] + mu[pairs[:, 1]])))

    @cached_property
    def recons(self) -> torch.Tensor:
        return torch.sigmoid(self.model.decode(self.posterior.mu, self.test_y))

    @cached_property
    def prior_y(self) -> torch.Tensor | None:
        """A conditional model is asked for each class in turn: 0, 1, ..., 9, 0, 1, ..."""
        if not self.conditional:
            return None
        return torch.arange(self.draws.feature_samples, device=self.test_x.device) % self.model.n_classes

    @cached_property
    def all_samples(self) -> torch.Tensor:
        z = prior_samples(self.model, self.draws.feature_samples, self.gen["prior"],
                          lambda: codes(self.model, self.data.train_x, self.train_y))
        return torch.sigmoid(self.model.decode(z, self.prior_y))

    @property
    def samples(self) -> torch.Tensor:
        return self.all_samples[:N_PRIOR_SAMPLES]

    @cached_property
    def path_points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Images decoded at stratified positions t along the paths and at t + eps (`path_images`)."""
        mu = self.posterior.mu
        steps = self.draws.path_length_steps
        strata = torch.arange(steps).view(1, -1)
        draws = draw(self.gen["path_length"], torch.rand, (N_PATHS, steps))
        t = (strata + draws) / steps
        t = (t * (1 - PATH_EPSILON)).to(mu.device)  # t + eps stays on the path
        return path_images(lambda z: torch.sigmoid(self.model.decode(z)), mu[self.pairs[:, 0]],
                           mu[self.pairs[:, 1]], t)

    def real(self, name: str, compute: Callable[[], object], evaluator: Evaluator | None = None) -> object:
        """A figure of the data set's own images, which no model changes (`_REAL_KEPT`); one that
        reads `evaluator`'s features is kept for that evaluator."""
        return _kept_real(self.data, self.reference, name, compute, evaluator)

    @property
    def real_nn_distances(self) -> torch.Tensor:
        """Each reference test image's pixel distance to its nearest training image (the
        denominator of the three nearest-neighbour ratios)."""
        return self.real("nn_distances", lambda: nearest_distance(self.reference_x, self.data.train_x))

    @property
    def real_sharpness(self) -> dict[str, torch.Tensor]:
        """The sharpness of the reference test images (the denominator of the sharpness ratios)."""
        return self.real("sharpness", lambda: sharpness(self.reference_x))

    def nn_ratio(self, generated: torch.Tensor) -> float:
        return nn_distance_ratio(generated, self.reference_x, self.data.train_x, self.real_nn_distances)

    @property
    def real_features(self) -> torch.Tensor:
        """Evaluator features of the reference test images."""
        return self.real("features", lambda: self.evaluator.features(self.reference_x), self.evaluator)

    @property
    def real_radius(self) -> torch.Tensor:
        """The k-NN radii of the real features, which both precision figures compare with."""
        return self.real("radius", lambda: kth_neighbour_radius(self.real_features), self.evaluator)


def _reconstruction(s: Scoring) -> dict:
    test = s.test_errors
    return dict(test_recon_mse=test["mse"], test_recon_bce=test["bce"],
                mean_image_mse=mean_image_mse(s.data.train_x, s.test_x))


def _generalisation(s: Scoring) -> dict:
    test, train = s.test_errors, mean_errors(s.train_recon_sums, s.data.train_x.shape[0])
    return dict(train_recon_mse=train["mse"], recon_mse_gap=test["mse"] - train["mse"],
                train_recon_bce=train["bce"], recon_bce_gap=test["bce"] - train["bce"])


def _posterior(s: Scoring) -> dict:
    post = posterior_figures(s.posterior, s.elbo)
    return dict(test_neg_elbo=post["neg_elbo"], test_kl=post["kl"], kl_per_dim=post["kl_per_dim"],
                posterior_var=post["posterior_var"], active_units=post["active_units"],
                agg_posterior_kl=post["agg_posterior_kl"],
                decoder_sigma=None if s.model.log_sigma is None else s.model.log_sigma.exp().item())


def _likelihood(s: Scoring) -> dict:
    by_k = bounds_by_k(s.iwae_log_weights)
    return {"iwae_nll_by_k": [[k, v] for k, v in by_k.items()], "test_iwae_nll": by_k[s.iwae_k]}


def _exact_likelihood(s: Scoring) -> dict:
    x = s.test_x[:s.draws.iwae_images]
    out = exact_nll(lambda z: s.model.decode(z), x, s.recon_loss, s.model.log_sigma, s.posterior.mu.shape[1])
    return {"test_exact_nll": out["nll"], "exact_nll_quadrature_error": out["quadrature_error"]}


def _kl_check(s: Scoring) -> dict:
    kl = kl_closed_vs_monte_carlo(s.posterior, KL_MC_SAMPLES, s.gen["kl_mc"])
    return {"test_kl_mc": kl["mc"], "test_kl_mc_se": kl["mc_se"]}


def _aggregate(s: Scoring) -> dict:
    codes = s.aggregate[s.reference]
    return {"agg_posterior_mmd": mmd_to_standard_normal(codes, s.gen["mmd"]),
            "prior_coverage": prior_coverage(codes, s.gen["coverage"])}


def _classes(s: Scoring) -> dict:
    mu, y = s.posterior.mu[s.reference], s.data.test_y[s.reference.to(s.data.test_y.device)]
    return {"latent_knn_accuracy": knn_accuracy(mu, y), "latent_silhouette": silhouette(mu, y)}


def _paths(s: Scoring) -> dict:
    smooth = smoothness_figures(s.paths)
    return {"interp_step_l2": smooth["step_l2_mean"], "interp_jump_ratio": smooth["jump_ratio"],
            "midpoint_nn_ratio": s.nn_ratio(s.paths[:, N_PATH_STEPS // 2])}


def _feature_paths(s: Scoring) -> dict:
    here, there = (s.evaluator.features(images) for images in s.path_points)  # `squared_speeds`
    speeds = feature_speeds(here, there, torch.Size((N_PATHS, s.draws.path_length_steps)))
    ends = (s.evaluator.features(s.paths[:, 0]), s.evaluator.features(s.paths[:, -1]))
    midpoint_features = s.evaluator.features(s.midpoints)
    return {"perceptual_path_length": perceptual_path_length(speeds),
            "path_length_excess": path_length_excess(speeds, ends),
            "midpoint_precision": precision(s.real_features, midpoint_features, real_radius=s.real_radius),
            "midpoint_fid": frechet_distance(s.real_features, midpoint_features)}


def _angles(s: Scoring) -> dict:
    t = s.data.test_t
    return {"angle_path_error_deg": angle_path_error_deg(s.paths, t[s.pairs[:, 0]], t[s.pairs[:, 1]])}


def _positions(s: Scoring) -> dict:
    xy = s.data.test_t[:, [s.data.factors.index("x"), s.data.factors.index("y")]]
    return {"position_path_error_px": position_path_error_px(s.paths, xy[s.pairs[:, 0]], xy[s.pairs[:, 1]])}


def _realism(s: Scoring) -> dict:
    return {"prior_nn_ratio": s.nn_ratio(s.samples), "recon_nn_ratio": s.nn_ratio(s.recons[s.reference])}


def _sharpness(s: Scoring) -> dict:
    out = {}
    for prefix, images in (("recon", s.recons[s.reference]), ("prior", s.samples)):
        ratios = sharpness_ratios(images, s.reference_x, s.real_sharpness)
        out[f"{prefix}_laplacian_ratio"] = ratios["laplacian_ratio"]
        out[f"{prefix}_hf_ratio"] = ratios["hf_energy_ratio"]
    return out


def _features(s: Scoring) -> dict:
    prior_f = s.evaluator.features(s.all_samples)
    pr = precision_recall(s.real_features, prior_f, real_radius=s.real_radius)
    recon_f = s.evaluator.features(s.recons[s.reference])
    prior_p, recon_p = s.evaluator.probabilities(prior_f), s.evaluator.probabilities(recon_f)
    return {"recon_fid": frechet_distance(s.real_features, recon_f),
            "prior_fid": frechet_distance(s.real_features, prior_f), "prior_precision": pr["precision"],
            "prior_recall": pr["recall"], "prior_confidence": mean_confidence(prior_p),
            "prior_confidence_ratio": confidence_ratio(prior_p, recon_p)}


def _conditional(s: Scoring) -> dict:
    n_classes = s.model.n_classes
    swapped = (s.test_y + 3) % n_classes
    swapped_images = torch.sigmoid(s.model.decode(s.posterior.mu, swapped))
    return {"cond_accuracy": (s.evaluator.predict(s.all_samples) == s.prior_y).double().mean().item(),
            "cond_swap_accuracy": (s.evaluator.predict(swapped_images) == swapped).double().mean().item()}


def _throughput(s: Scoring) -> dict:
    return {"infer_images_per_s": inference_images_per_s(s.model, s.test_x, s.test_y)}


#: What a group may need; a group whose needs the model or the inputs do not meet gives None.
NEEDS: dict[str, Callable[[Scoring], bool]] = {
    "stochastic encoder": lambda s: s.stochastic,
    "unconditional decoder": lambda s: not s.conditional,
    "conditional decoder": lambda s: s.conditional,
    "evaluator": lambda s: s.evaluator is not None,
    "known angles": lambda s: "angle" in s.data.factors,
    "known positions": lambda s: {"x", "y"} <= set(s.data.factors),
    "two classes or more": lambda s: s.data.n_classes >= 2,  # a user's unlabelled arrays are all class 0
    # the k-NN accuracy is cross-validated in CV_FOLDS stratified folds: a small user's set may have fewer
    f"{CV_FOLDS} test images of each class": lambda s: bool(
        torch.bincount(s.data.test_y[s.reference.to(s.data.test_y.device)]).min() >= CV_FOLDS),
    f"at most {MAX_LATENT_DIM} latent dimensions": lambda s: s.posterior.mu.shape[1] <= MAX_LATENT_DIM,
}


@dataclass(frozen=True)
class MetricGroup:
    """Metrics computed together from the same tensors, and what they need (`NEEDS`). `passes`
    names the `Scoring` tensors it reads that run the model (`evaluate_stacked` runs them for a
    stack of models at once; the evaluator's features of the decoded images follow one model at a
    time, in batches as large as one model's); a group that calls the model itself (the exact
    likelihood, whose quadrature reads a float log_sigma; the throughput, which times one model
    alone; the conditional figures, whose models never stack) names none."""

    name: str
    produces: tuple[str, ...]
    compute: Callable[[Scoring], dict]
    needs: tuple[str, ...] = ()
    passes: tuple[str, ...] = ()

    def applies(self, s: Scoring) -> bool:
        """Whether the model and data of `s` have all this group `needs`."""
        return all(NEEDS[need](s) for need in self.needs)


SAMPLES = ("all_samples", "recons")
GROUPS: tuple[MetricGroup, ...] = (
    MetricGroup("reconstruction", ("test_recon_mse", "test_recon_bce", "mean_image_mse"), _reconstruction,
                passes=("test_recon_sums",)),
    MetricGroup("generalisation", ("train_recon_mse", "recon_mse_gap", "train_recon_bce", "recon_bce_gap"),
                _generalisation, passes=("test_recon_sums", "train_recon_sums")),
    MetricGroup("posterior", ("test_neg_elbo", "test_kl", "kl_per_dim", "posterior_var", "active_units",
                              "agg_posterior_kl", "decoder_sigma"), _posterior, passes=("elbo",)),
    MetricGroup("likelihood", ("test_iwae_nll", "iwae_nll_by_k"), _likelihood, ("stochastic encoder",),
                ("iwae_log_weights",)),
    MetricGroup("exact_likelihood", ("test_exact_nll", "exact_nll_quadrature_error"), _exact_likelihood,
                ("stochastic encoder", "unconditional decoder", f"at most {MAX_LATENT_DIM} latent dimensions")),
    MetricGroup("kl_check", ("test_kl_mc", "test_kl_mc_se"), _kl_check, ("stochastic encoder",), ("posterior",)),
    MetricGroup("aggregate", ("agg_posterior_mmd", "prior_coverage"), _aggregate, passes=("posterior",)),
    MetricGroup("classes", ("latent_knn_accuracy", "latent_silhouette"), _classes,
                ("two classes or more", f"{CV_FOLDS} test images of each class"), ("posterior",)),
    MetricGroup("paths", ("interp_step_l2", "interp_jump_ratio", "midpoint_nn_ratio"), _paths,
                ("unconditional decoder",), ("paths",)),
    MetricGroup("angles", ("angle_path_error_deg",), _angles, ("unconditional decoder", "known angles"), ("paths",)),
    MetricGroup("positions", ("position_path_error_px",), _positions, ("unconditional decoder", "known positions"),
                ("paths",)),
    MetricGroup("realism", ("prior_nn_ratio", "recon_nn_ratio"), _realism, passes=SAMPLES),
    MetricGroup("sharpness", ("recon_laplacian_ratio", "recon_hf_ratio", "prior_laplacian_ratio", "prior_hf_ratio"),
                _sharpness, passes=SAMPLES),
    MetricGroup("features", ("recon_fid", "prior_fid", "prior_precision", "prior_recall", "prior_confidence",
                             "prior_confidence_ratio"), _features, ("evaluator",), SAMPLES),
    MetricGroup("feature_paths", ("perceptual_path_length", "path_length_excess", "midpoint_precision",
                                  "midpoint_fid"), _feature_paths, ("evaluator", "unconditional decoder"),
                ("paths", "midpoints", "path_points")),
    MetricGroup("conditional", ("cond_accuracy", "cond_swap_accuracy"), _conditional,
                ("evaluator", "conditional decoder")),
    MetricGroup("throughput", ("infer_images_per_s",), _throughput),
)


def groups_for(names: Iterable[str] | None) -> tuple[MetricGroup, ...]:
    """The groups that produce `names` (all of them for None); an unknown name is a ValueError."""
    if names is None:
        return GROUPS
    names = set(names)
    produced = {n for g in GROUPS for n in g.produces}
    if unknown := sorted(names - produced):
        raise ValueError(f"no metric group produces {unknown}; evaluate() computes {sorted(produced)}")
    return tuple(g for g in GROUPS if names & set(g.produces))


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Dataset, recon_loss: str = "bce", evaluator: Evaluator | None = None,
             iwae_k: int = IWAE_K, only: Iterable[str] | None = None,
             draws: Draws = DEFAULT_DRAWS) -> Evaluation:
    """The metrics of `METRICS` (but the training ones) for a trained model on `data`, which must
    be on the model's device: every group by default, as suites store them so reports stay
    comparable, or the groups that produce the names in `only` (then no images are kept).
    `recon_loss` names the decoder likelihood for the ELBO and IWAE; `evaluator` (on the same
    device) gives the feature-space figures; `draws`, the seed and sizes of the random samples."""
    model.eval()
    return score(Scoring(model, data, recon_loss, evaluator, iwae_k, draws), only)


@torch.no_grad()
def score(s: Scoring, only: Iterable[str] | None = None) -> Evaluation:
    """The metrics of the groups that produce `only` (all for None) from `s`, whose tensors are
    computed on first use unless `stacked_scorings` filled them in; the images for None."""
    metrics: dict = {}
    for group in groups_for(only):
        if group.applies(s):
            metrics.update(group.compute(s))
        else:
            metrics.update(dict.fromkeys(group.produces))
    return Evaluation(metrics, _images(s) if only is None else {})


#: The tensors of a `Scoring` computed once (the passes, and what they read), which a stack's
#: passes hand to each model's own `Scoring`.
_CACHED = tuple(name for name, value in vars(Scoring).items() if isinstance(value, cached_property))


class _Carrier(torch.nn.Module):
    """Holds a model so that `functional_call` can run any code on it with other weights."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, work: Callable[[torch.nn.Module], dict]) -> dict:
        return work(self.model)


@torch.no_grad()
def evaluate_stacked(models: list[torch.nn.Module], data: Dataset, recon_loss: str = "bce",
                     evaluator: Evaluator | None = None, iwae_k: int = IWAE_K,
                     only: Iterable[str] | None = None,
                     draws: Draws | Sequence[Draws] = DEFAULT_DRAWS) -> list[Evaluation]:
    """`[evaluate(model, data, ...) for model in models]`, but with the model passes of every
    group (`MetricGroup.passes`: encoding and decoding the test and training images, the ELBO and
    IWAE draws, the paths, midpoints, prior samples and path-length points) run for all the models
    at once: their weights stacked (`torch.func.stack_module_state`) and each pass vmapped over
    them, as `vae_core.stacked` trains them (`stacked_scorings`). The figures, the evaluator's
    features of the decoded images among them, are then computed one model at a time from its
    slice of those tensors (`score`).

    `draws` are every model's, or one per model: only their seeds may differ, so that a stack
    holds the runs of several training seeds, each on its own draws (`run_draws`). Every model is
    scored on the same draws as alone: each distinct draw's generators draw for the stack as they
    draw for one model, each model's vmap lane reads its own draw's numbers (`lanes.draw`), and
    its figures go on from its generators' states after the passes. The numbers agree with
    `evaluate(model, ..., draws=its draws)` up to the rounding of batched matrix products
    (`tests/test_stacked.py`).

    Why: on a GPU one model's passes are launch-bound (small products, many kernels), so M models
    cost little more than one; on 2 CPU cores the passes are arithmetic-bound and stacking gains
    nothing, so the harness stacks evaluation where it stacks training. The models must share one
    architecture and `recon_loss`, and read no class labels (a conditional VAE: `evaluate()` it).
    A stack whose passes would hold more than `STACK_BYTES` is scored in parts (`stack_part`)."""
    return [score(s, only) for s in stacked_scorings(models, data, recon_loss, evaluator, iwae_k, only, draws)]


#: Memory the passes of one stack may hold at once (`stack_part`).
STACK_BYTES = 4 * 2**30


def stack_pass_bytes(data: Dataset, device: torch.device, draws: Draws = DEFAULT_DRAWS) -> int:
    """About the bytes one model adds to a stack's passes, float32: the images it keeps (the test
    split's reconstructions, the prior samples, midpoints, paths and path-length points, as many
    as `draws` sizes) and the IWAE's largest decoder pass (its logits and two element-wise
    temporaries)."""
    iwae_rows = CPU_DECODE_ROWS if device.type == "cpu" else IWAE_CHUNK * min(draws.iwae_images, len(data.test_x))
    images = (len(data.test_x) + 2 * draws.feature_samples + N_PATHS * N_PATH_STEPS
              + 2 * N_PATHS * draws.path_length_steps + 3 * iwae_rows)
    return 4 * data.n_pixels * images


def stack_part(data: Dataset, device: torch.device, draws: Draws = DEFAULT_DRAWS) -> int:
    """How many models `evaluate_stacked` scores at once on `data` with samples of `draws`' sizes:
    as many as `STACK_BYTES` holds (`stack_pass_bytes`), at least one."""
    return max(1, STACK_BYTES // stack_pass_bytes(data, device, draws))


def stacked_scorings(models: list[torch.nn.Module], data: Dataset, recon_loss: str = "bce",
                     evaluator: Evaluator | None = None, iwae_k: int = IWAE_K,
                     only: Iterable[str] | None = None,
                     draws: Draws | Sequence[Draws] = DEFAULT_DRAWS) -> Iterator[Scoring]:
    """One `Scoring` per model, in order, its model passes for the groups of `only` (all for
    None) run for its part of the stack (`stack_part`) at once and filled in, its generators in
    the state those passes leave: what `evaluate_stacked` scores (`score`). A part's passes run
    when its first model is asked for, so only one part's tensors need be held at a time."""
    draws = [draws] * len(models) if isinstance(draws, Draws) else list(draws)
    if len(draws) != len(models):
        raise ValueError(f"evaluate_stacked got {len(draws)} draws for {len(models)} models: give one each, or one")
    if len({replace(d, seed=EVAL_SEED) for d in draws}) > 1:
        raise ValueError("evaluate_stacked needs draws of one size (only their seeds may differ); "
                         "evaluate() the others alone")
    if not models:
        return
    part = stack_part(data, device_of(models[0], data.test_x.device), draws[0])  # one size, checked above
    for start in range(0, len(models), part):
        yield from _stacked_part(models[start : start + part], data, recon_loss, evaluator, iwae_k, only,
                                 draws[start : start + part])


@torch.no_grad()
def _stacked_part(models: list[torch.nn.Module], data: Dataset, recon_loss: str, evaluator: Evaluator | None,
                  iwae_k: int, only: Iterable[str] | None, draws: list[Draws]) -> list[Scoring]:
    first = models[0]
    layout = lambda m: [(k, tuple(v.shape), v.dtype) for k, v in m.state_dict().items()]  # noqa: E731
    if any(type(m) is not type(first) or layout(m) != layout(first) for m in models):
        raise ValueError("evaluate_stacked needs models of one architecture; evaluate() the others alone")
    if getattr(first, "n_classes", 0) > 0:
        raise ValueError("evaluate_stacked cannot stack a conditional model (its passes read labels); use evaluate()")
    for model in models:
        model.eval()
    params, buffers = stack_module_state(models)
    weights = {f"model.{k}": v for k, v in {**params, **buffers}.items()}
    # one set of generators per distinct draw, and each model's index into them (its vmap lane's)
    distinct = list(dict.fromkeys(draws))
    generators = [draw_generators(d) for d in distinct]
    lanes = torch.tensor([distinct.index(d) for d in draws])
    carrier = _Carrier(first)

    def passes(model: torch.nn.Module, lane: torch.Tensor) -> dict:
        gen = {p: LaneGenerators(tuple(g[p] for g in generators), lane) for p in PURPOSES}
        s = Scoring(model, data, recon_loss, evaluator, iwae_k, distinct[0], gen)
        for group in groups_for(only):
            if group.applies(s):
                for name in group.passes:
                    getattr(s, name)
        return {name: _as_tree(s.__dict__[name]) for name in _CACHED if s.__dict__.get(name) is not None}

    stacked = vmap(lambda w, lane: functional_call(carrier, w, (lambda m: passes(m, lane),)),
                   randomness="same")(weights, lanes)
    scorings = []
    for i, model in enumerate(models):
        s = Scoring(model, data, recon_loss, evaluator, iwae_k, draws[i])
        s.__dict__.update(_from_tree(_slice(stacked, i)))
        passed = generators[int(lanes[i])]
        for purpose, gen in s.gen.items():  # its figures go on drawing where its passes stopped
            gen.set_state(passed[purpose].get_state())
        scorings.append(s)
    return scorings


def _as_tree(value: object) -> object:
    """A cached tensor as vmap can return it: a `Posterior` as a dict, without an AE's `logvar`
    (vmap returns tensors only; a missing field is None again in `_from_tree`)."""
    if isinstance(value, Posterior):
        return {"mu": value.mu} if value.logvar is None else {"mu": value.mu, "logvar": value.logvar}
    return value


def _slice(value: object, i: int) -> object:
    """Model `i`'s part of what the stacked passes returned (tensors in dicts and tuples)."""
    if isinstance(value, torch.Tensor):
        return value[i]
    if isinstance(value, dict):
        return {k: _slice(v, i) for k, v in value.items()}
    return tuple(_slice(v, i) for v in value) if isinstance(value, tuple) else value


def _from_tree(kept: dict) -> dict:
    return {name: Posterior(**value) if name == "posterior" else value for name, value in kept.items()}


def _images(s: Scoring) -> dict[str, np.ndarray]:
    """Small arrays for the report's image grids, float16."""
    keep = lambda t: t.detach().float().cpu().numpy().astype(np.float16)  # noqa: E731
    x = s.test_x
    images = {"real": keep(x[:N_IMAGES_KEPT]), "recon": keep(s.recons[:N_IMAGES_KEPT]),
              "prior": keep(s.samples[:N_IMAGES_KEPT])}
    if not s.conditional:
        pairs = s.pairs[:6]
        images.update(paths=keep(s.paths[:6]), path_pairs=pairs.cpu().numpy(), path_ends=keep(x[pairs]))
    else:  # 8 samples per requested class, one class per row block
        n = 8 * s.model.n_classes
        order = torch.argsort(s.prior_y[:n], stable=True)
        images["cond_samples"] = keep(s.all_samples[:n][order])
    mu = s.posterior.mu
    if mu.shape[1] == 2:  # a 2-D latent space can be drawn as it is (chapter fig 1.13)
        images["test_mu"] = keep(mu)
        images["test_y"] = s.data.test_y.cpu().numpy().astype(np.int16)
    return images
