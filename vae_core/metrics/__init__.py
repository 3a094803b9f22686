"""The metric registry and `evaluate()`, which computes every metric of one trained model.

Each metric is defined in its own module (the docstring there cites the source); this module
lists them once, with unit and direction, so the report, the summary table and the tuner all
read the same definitions. Evaluation draws its random numbers (interpolation endpoints,
prior samples, ELBO noise) from a fixed generator, independent of the run's seed, so every
model of a suite is scored on the same test images, endpoints and prior draws. A metric that
does not apply to a model (the KL of an AE) or needs what was not given (the evaluator network,
a known angle) is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae_core.data import Dataset
from vae_core.evaluator import Evaluator
from vae_core.metrics.angles import angle_path_error_deg
from vae_core.metrics.blur import sharpness_ratios
from vae_core.metrics.feature_space import frechet_distance, precision_recall
from vae_core.metrics.latent import knn_accuracy, prior_coverage, silhouette
from vae_core.metrics.likelihood import decoder_log_likelihood, iwae_nll_by_k
from vae_core.metrics.rate import (
    kl_closed_vs_monte_carlo,
    mmd_to_standard_normal,
    posterior_figures,
    prior_samples,
)
from vae_core.metrics.realism import nn_distance_ratio
from vae_core.metrics.reconstruction import mean_image_mse, recon_errors
from vae_core.metrics.smoothness import interpolation_paths, smoothness_figures
from vae_core.metrics.throughput import inference_images_per_s


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
                            "training loss: Bernoulli (BCE) or Gaussian with variance 1/2 (MSE) (VAE only)"),
    "test_iwae_nll": Metric("nats / image", "lower", "-IWAE_k, k = the run's iwae_k (default 100), same "
                            "likelihood, first 256 test images: an NLL bound tighter than the ELBO (Burda et al. "
                            "2016; VAE only)"),
    "iwae_nll_by_k": Metric("nats / image", "lower", "[k, -IWAE_k] for k = 1 (the ELBO), 10, 100, ... up to iwae_k, "
                            "from the same draws split into groups of k (VAE only; claim C12)"),
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
    "interp_jump_ratio": Metric("ratio", "lower", "largest step / mean step on a latent path (1 = even)"),
    "midpoint_nn_ratio": Metric("ratio", "lower",
                                "nearest-train distance of decoded path midpoints / that of real test images"),
    "prior_nn_ratio": Metric("ratio", "lower", "same for decoded prior samples"),
    "recon_nn_ratio": Metric("ratio", "lower", "same for test reconstructions"),
    "angle_path_error_deg": Metric("degrees", "lower", "`lines` data only: mean error of the decoded line angle "
                                   "along latent paths against the even sweep between the true angles"),
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

EVAL_SEED = 1234
IWAE_K = 100
IWAE_IMAGES = 256  # k decoder passes per image: the first 256 test images keep it to a fraction of a second
KL_MC_SAMPLES = 256
N_PATHS = 100
N_PATH_STEPS = 16
N_PRIOR_SAMPLES = 256  # pixel-space figures
N_FEATURE_SAMPLES = 1000  # evaluator-feature figures (Frechet distance, precision/recall)
N_IMAGES_KEPT = 16


@dataclass
class Evaluation:
    metrics: dict  # METRICS names -> float, int, list or None (not applicable)
    images: dict[str, np.ndarray]  # small arrays for the report's image grids, float16


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Dataset, recon_loss: str = "bce", evaluator: Evaluator | None = None,
             iwae_k: int = IWAE_K) -> Evaluation:
    """Every metric of `METRICS` (but the training ones) for a trained model on `data`, which
    must be on the model's device. `recon_loss` names the decoder likelihood for the ELBO and
    IWAE; `evaluator` (on the same device) gives the feature-space figures."""
    model.eval()
    # one generator per purpose, so an AE and a VAE get the same endpoints and prior draws
    # although only the VAE draws ELBO noise
    gen = {purpose: torch.Generator().manual_seed(EVAL_SEED + i)
           for i, purpose in enumerate(("elbo", "pairs", "prior", "iwae", "mmd", "kl_mc", "coverage"))}
    test_x, train_x = data.test_x, data.train_x
    conditional = getattr(model, "n_classes", 0) > 0
    test_y, train_y = (data.test_y, data.train_y) if conditional else (None, None)
    m: dict = {}

    test, train = recon_errors(model, test_x, y=test_y), recon_errors(model, train_x, y=train_y)
    m.update(test_recon_mse=test["mse"], train_recon_mse=train["mse"],
             recon_mse_gap=test["mse"] - train["mse"], test_recon_bce=test["bce"],
             train_recon_bce=train["bce"], recon_bce_gap=test["bce"] - train["bce"],
             mean_image_mse=mean_image_mse(train_x, test_x))

    post = posterior_figures(model, test_x, gen["elbo"], decoder_log_likelihood(recon_loss), test_y)
    m.update(test_neg_elbo=post["neg_elbo"], test_kl=post["kl"], kl_per_dim=post["kl_per_dim"],
             posterior_var=post["posterior_var"], active_units=post["active_units"],
             agg_posterior_kl=post["agg_posterior_kl"])

    stochastic = post["neg_elbo"] is not None
    posterior = model.encode(test_x, test_y)
    test_mu = posterior.mu
    m["test_iwae_nll"] = m["iwae_nll_by_k"] = m["test_kl_mc"] = m["test_kl_mc_se"] = None
    if stochastic:
        by_k = iwae_nll_by_k(model, test_x[:IWAE_IMAGES], recon_loss, iwae_k, gen["iwae"],
                             None if test_y is None else test_y[:IWAE_IMAGES])
        m["iwae_nll_by_k"] = [[k, v] for k, v in by_k.items()]
        m["test_iwae_nll"] = by_k[iwae_k]
        kl = kl_closed_vs_monte_carlo(posterior, KL_MC_SAMPLES, gen["kl_mc"])
        m.update(test_kl_mc=kl["mc"], test_kl_mc_se=kl["mc_se"])
    agg = posterior.sample(torch.randn(test_mu.shape, generator=gen["mmd"]).to(test_mu.device)) if stochastic \
        else test_mu
    m["agg_posterior_mmd"] = mmd_to_standard_normal(agg, gen["mmd"])
    m["prior_coverage"] = prior_coverage(agg, gen["coverage"])
    m["latent_knn_accuracy"] = knn_accuracy(test_mu, data.test_y)
    m["latent_silhouette"] = silhouette(test_mu, data.test_y)

    # latent paths between test codes; a conditional decoder also reads a label, so it has none
    pairs = torch.randint(0, test_x.shape[0], (N_PATHS, 2), generator=gen["pairs"]).to(test_x.device)
    paths = None
    m.update(interp_step_l2=None, interp_jump_ratio=None, midpoint_nn_ratio=None, angle_path_error_deg=None)
    if not conditional:
        paths = interpolation_paths(model, test_mu[pairs[:, 0]], test_mu[pairs[:, 1]], N_PATH_STEPS)
        smooth = smoothness_figures(paths)
        m.update(interp_step_l2=smooth["step_l2_mean"], interp_jump_ratio=smooth["jump_ratio"],
                 midpoint_nn_ratio=nn_distance_ratio(paths[:, N_PATH_STEPS // 2], test_x, train_x))
        if data.test_t is not None:
            m["angle_path_error_deg"] = angle_path_error_deg(paths, data.test_t[pairs[:, 0]], data.test_t[pairs[:, 1]])

    recons = torch.sigmoid(model.decode(test_mu, test_y))
    z_prior = prior_samples(model, model.encode(train_x, train_y).mu, N_FEATURE_SAMPLES, gen["prior"])
    # a conditional model is asked for each class in turn: 0, 1, ..., 9, 0, 1, ...
    prior_y = torch.arange(N_FEATURE_SAMPLES, device=test_x.device) % model.n_classes if conditional else None
    all_samples = torch.sigmoid(model.decode(z_prior, prior_y))
    samples = all_samples[:N_PRIOR_SAMPLES]
    m.update(prior_nn_ratio=nn_distance_ratio(samples, test_x, train_x),
             recon_nn_ratio=nn_distance_ratio(recons, test_x, train_x))
    for prefix, images in (("recon", recons), ("prior", samples)):
        ratios = sharpness_ratios(images, test_x)
        m[f"{prefix}_laplacian_ratio"] = ratios["laplacian_ratio"]
        m[f"{prefix}_hf_ratio"] = ratios["hf_energy_ratio"]

    m.update(recon_fid=None, prior_fid=None, prior_precision=None, prior_recall=None, cond_accuracy=None,
             cond_swap_accuracy=None)
    if evaluator is not None:
        real_f = evaluator.features(test_x)
        prior_f = evaluator.features(all_samples)
        pr = precision_recall(real_f, prior_f)
        m.update(recon_fid=frechet_distance(real_f, evaluator.features(recons)),
                 prior_fid=frechet_distance(real_f, prior_f), prior_precision=pr["precision"],
                 prior_recall=pr["recall"])
        if conditional:
            m["cond_accuracy"] = (evaluator.predict(all_samples) == prior_y).double().mean().item()
            swapped = (test_y + 3) % model.n_classes
            swapped_images = torch.sigmoid(model.decode(test_mu, swapped))
            m["cond_swap_accuracy"] = (evaluator.predict(swapped_images) == swapped).double().mean().item()
    m["infer_images_per_s"] = inference_images_per_s(model, test_x, test_y)

    keep = lambda t: t.detach().float().cpu().numpy().astype(np.float16)  # noqa: E731
    images = {"real": keep(test_x[:N_IMAGES_KEPT]), "recon": keep(recons[:N_IMAGES_KEPT]),
              "prior": keep(samples[:N_IMAGES_KEPT])}
    if paths is not None:
        images.update(paths=keep(paths[:6]), path_pairs=pairs[:6].cpu().numpy(), path_ends=keep(test_x[pairs[:6]]))
    if conditional:  # 8 samples per requested class, one class per row block
        order = torch.argsort(prior_y[: 8 * model.n_classes], stable=True)
        images["cond_samples"] = keep(all_samples[: 8 * model.n_classes][order])
    if test_mu.shape[1] == 2:  # a 2-D latent space can be drawn as it is (chapter fig 1.13)
        images["test_mu"] = keep(test_mu)
        images["test_y"] = data.test_y.cpu().numpy().astype(np.int16)
    return Evaluation(m, images)
