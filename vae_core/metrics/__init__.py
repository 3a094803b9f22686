"""The metric registry and `evaluate()`, which computes every metric of one trained model.

Each metric is defined in its own module (the docstring there cites the source); this module
lists them once, with unit and direction, so the report, the summary table and the tuner all
read the same definitions. Evaluation draws its random numbers (interpolation endpoints,
prior samples, ELBO noise) from a fixed generator, independent of the run's seed, so every
model of a suite is scored on the same test images, endpoints and prior draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae_core.data import Dataset
from vae_core.metrics.blur import sharpness_ratios
from vae_core.metrics.likelihood import decoder_log_likelihood, iwae_nll
from vae_core.metrics.rate import mmd_to_standard_normal, posterior_figures, prior_samples
from vae_core.metrics.realism import nn_distance_ratio
from vae_core.metrics.reconstruction import recon_errors
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
    "test_iwae_nll": Metric("nats / image", "lower", "-IWAE_k, k = 100, same likelihood, first 256 test "
                            "images: an NLL bound tighter than the ELBO (Burda et al. 2016; VAE only)"),
    "test_kl": Metric("nats / image", "descriptive", "KL(q(z|x) || N(0, I)) on test images: the rate (VAE only)"),
    "kl_per_dim": Metric("nats / dimension", "descriptive", "mean KL per latent dimension (VAE only)"),
    "posterior_var": Metric("latent units^2", "descriptive",
                            "mean posterior variance sigma^2; 0 = collapsed to an AE, 1 = the prior"),
    "active_units": Metric("dimensions", "higher", "latent dimensions with Cov_x E[z_d] > 0.01 (Burda et al. 2016)"),
    "agg_posterior_kl": Metric("nats", "lower",
                               "KL of a Gaussian fitted to the aggregate posterior from N(0, I)"),
    "agg_posterior_mmd": Metric("MMD^2", "lower", "kernel two-sample distance of aggregate-posterior samples "
                                "from N(0, I) draws (Gretton et al. 2012); sees holes the moments miss"),
    "interp_step_l2": Metric("pixel L2 / step", "descriptive",
                             "mean change between consecutive images on a latent path"),
    "interp_jump_ratio": Metric("ratio", "lower", "largest step / mean step on a latent path (1 = even)"),
    "midpoint_nn_ratio": Metric("ratio", "lower",
                                "nearest-train distance of decoded path midpoints / that of real test images"),
    "prior_nn_ratio": Metric("ratio", "lower", "same for decoded prior samples"),
    "recon_nn_ratio": Metric("ratio", "lower", "same for test reconstructions"),
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
N_PATHS = 100
N_PATH_STEPS = 16
N_PRIOR_SAMPLES = 256
N_IMAGES_KEPT = 16


@dataclass
class Evaluation:
    metrics: dict  # METRICS names -> float, int, list or None (not applicable)
    images: dict[str, np.ndarray]  # small arrays for the report's image grids, float16


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Dataset, recon_loss: str = "bce") -> Evaluation:
    """Every metric of `METRICS` (but the training ones) for a trained model on `data`,
    which must be on the model's device; `recon_loss` names the decoder likelihood for IWAE."""
    model.eval()
    # one generator per purpose, so an AE and a VAE get the same endpoints and prior draws
    # although only the VAE draws ELBO noise
    gen = {purpose: torch.Generator().manual_seed(EVAL_SEED + i)
           for i, purpose in enumerate(("elbo", "pairs", "prior", "iwae", "mmd"))}
    test_x, train_x = data.test_x, data.train_x
    m: dict = {}

    test, train = recon_errors(model, test_x), recon_errors(model, train_x)
    m.update(test_recon_mse=test["mse"], train_recon_mse=train["mse"],
             recon_mse_gap=test["mse"] - train["mse"], test_recon_bce=test["bce"],
             train_recon_bce=train["bce"], recon_bce_gap=test["bce"] - train["bce"])

    post = posterior_figures(model, test_x, gen["elbo"], decoder_log_likelihood(recon_loss))
    m.update(test_neg_elbo=post["neg_elbo"], test_kl=post["kl"], kl_per_dim=post["kl_per_dim"],
             posterior_var=post["posterior_var"], active_units=post["active_units"],
             agg_posterior_kl=post["agg_posterior_kl"])

    stochastic = post["neg_elbo"] is not None
    m["test_iwae_nll"] = (iwae_nll(model, test_x[:IWAE_IMAGES], recon_loss, IWAE_K, gen["iwae"])
                          if stochastic else None)
    test_mu = model.encode(test_x).mu
    agg = test_mu if not stochastic else model.encode(test_x).sample(
        torch.randn(test_mu.shape, generator=gen["mmd"]).to(test_mu.device))
    m["agg_posterior_mmd"] = mmd_to_standard_normal(agg, gen["mmd"])
    pairs = torch.randint(0, test_x.shape[0], (N_PATHS, 2), generator=gen["pairs"]).to(test_x.device)
    paths = interpolation_paths(model, test_mu[pairs[:, 0]], test_mu[pairs[:, 1]], N_PATH_STEPS)
    smooth = smoothness_figures(paths)
    m.update(interp_step_l2=smooth["step_l2_mean"], interp_jump_ratio=smooth["jump_ratio"])

    recons = torch.sigmoid(model.decode(test_mu))
    z_prior = prior_samples(model, model.encode(train_x).mu, N_PRIOR_SAMPLES, gen["prior"])
    samples = torch.sigmoid(model.decode(z_prior))
    midpoints = paths[:, N_PATH_STEPS // 2]
    m.update(midpoint_nn_ratio=nn_distance_ratio(midpoints, test_x, train_x),
             prior_nn_ratio=nn_distance_ratio(samples, test_x, train_x),
             recon_nn_ratio=nn_distance_ratio(recons, test_x, train_x))
    for prefix, images in (("recon", recons), ("prior", samples)):
        ratios = sharpness_ratios(images, test_x)
        m[f"{prefix}_laplacian_ratio"] = ratios["laplacian_ratio"]
        m[f"{prefix}_hf_ratio"] = ratios["hf_energy_ratio"]
    m["infer_images_per_s"] = inference_images_per_s(model, test_x)

    keep = lambda t: t.detach().float().cpu().numpy().astype(np.float16)  # noqa: E731
    images = {"real": keep(test_x[:N_IMAGES_KEPT]), "recon": keep(recons[:N_IMAGES_KEPT]),
              "prior": keep(samples[:N_IMAGES_KEPT]), "paths": keep(paths[:6]),
              "path_pairs": pairs[:6].cpu().numpy(), "path_ends": keep(test_x[pairs[:6]])}
    if test_mu.shape[1] == 2:  # a 2-D latent space can be drawn as it is (chapter fig 1.13)
        images["test_mu"] = keep(test_mu)
        images["test_y"] = data.test_y.cpu().numpy().astype(np.int16)
    return Evaluation(m, images)
