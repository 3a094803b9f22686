"""Each rewritten rule can come out each way on numbers made by the real metric code.

The rule tests in `test_claims.py` feed hand-written numbers; here every number a rule reads is
computed by the metric functions the harness uses (sharpness ratios of blurred digits, the KL
of constructed posteriors, the path length of constructed decoders, precision of shifted
features, confidence of constructed class probabilities, reconstruction errors of noisy
images), from inputs that differ by seed as runs do. For each rule, inputs for which it says
confirmed, refuted and inconclusive. A rule that cannot come out each way is a defect."""

import math

import pytest
import torch
from helpers import AE, VAE, frame

from bench.claims import CLAIMS
from vae_core.data import load_dataset
from vae_core.losses import kl_divergence, recon_mse
from vae_core.metrics.blur import sharpness_ratios
from vae_core.metrics.feature_space import precision_recall
from vae_core.metrics.holes import confidence_ratio
from vae_core.metrics.path_length import EPSILON, path_length_excess, squared_speeds
from vae_core.models import Posterior

SEEDS = 3


@pytest.fixture(scope="module")
def real():
    return load_dataset("digits").test_x


def per_seed(measure, *args) -> list[float]:
    """`measure(generator, *args)` for seeds 0, 1, 2: one value per run."""
    return [measure(torch.Generator().manual_seed(seed), *args) for seed in range(SEEDS)]


def decide(claim_id: str, *groups) -> str:
    return CLAIMS[claim_id].decide(frame(*groups)).verdict


# measurements made by the harness's metric code -------------------------------------------------------------------

def sharpness(gen: torch.Generator, real: torch.Tensor, width: int) -> float:
    """recon_laplacian_ratio of 200 digits box-blurred over `width` (odd) pixels (1 = not blurred)."""
    images = real[torch.randperm(real.shape[0], generator=gen)[:200]]
    if width > 1:
        kernel = torch.full((1, 1, width, width), 1 / width**2)
        images = torch.nn.functional.conv2d(images, kernel, padding=width // 2)  # odd widths keep the size
    return sharpness_ratios(images, real)["laplacian_ratio"]


def rate(gen: torch.Generator, nats: float) -> float:
    """test_kl of posteriors N(mu, 1) with |mu|^2 / 2 = `nats` on average over 20 dimensions."""
    mu = torch.randn(500, 20, generator=gen) * math.sqrt(nats / 10)
    return kl_divergence(Posterior(mu, torch.zeros_like(mu))).mean().item()


def recon_error(gen: torch.Generator, real: torch.Tensor, noise: float) -> float:
    """test_recon_mse of reconstructions that are the images plus Gaussian noise of `noise`."""
    x = real[:200]
    recon = (x + noise * torch.randn(x.shape, generator=gen)).clamp(1e-4, 1 - 1e-4)
    return recon_mse(torch.logit(recon), x).mean().item()


def path_excess(gen: torch.Generator, detour: float) -> float:
    """path_length_excess of a decoder that adds a bump of height `detour` (times a random factor
    per run) across 20 paths; 0 = a straight, even path."""
    height = detour * (0.8 + 0.4 * torch.rand((), generator=gen).item())
    decode = lambda z: torch.cat([z, height * torch.sin(math.pi * z)], dim=1)  # noqa: E731
    z0, z1 = torch.zeros(20, 1, dtype=torch.float64), torch.ones(20, 1, dtype=torch.float64)
    t = ((torch.arange(8) + torch.rand((20, 8), generator=gen)) / 8 * (1 - EPSILON)).double()
    speeds = squared_speeds(decode, lambda f: f, z0, z1, t)
    return path_length_excess(speeds, (decode(z0), decode(z1)))


def midpoint_precision(gen: torch.Generator, shift: float) -> float:
    """midpoint_precision of 200 features drawn like the real ones, moved by `shift`."""
    real_f = torch.randn(500, 4, generator=torch.Generator().manual_seed(99))
    return precision_recall(real_f, torch.randn(200, 4, generator=gen) + shift)["precision"]


def confidence(gen: torch.Generator, hole_share: float) -> float:
    """prior_confidence_ratio of samples of which `hole_share` are of no class (uniform
    probabilities), against sure reconstructions."""
    sure = torch.nn.functional.one_hot(torch.randint(0, 10, (200,), generator=gen), 10).float() * 0.9 + 0.01
    holes = int(hole_share * 200)
    prior = torch.cat([torch.full((holes, 10), 0.1), sure[holes:]])
    return confidence_ratio(prior, sure)


# the rules --------------------------------------------------------------------------------------------------------

def c9_groups(real, ae_widths, vae_sweeps, adv_width):
    """The AE with each loss (blur widths), the VAE's two beta sweeps as {loss: {beta: (rate,
    width)}} (the BCE one's largest beta is the strong-KL run) and the adversarial variant."""
    m = "recon_laplacian_ratio"
    groups = [({**AE, "recon_loss": loss}, {m: per_seed(sharpness, real, w)}) for loss, w in ae_widths.items()]
    for loss, sweep in vae_sweeps.items():
        groups += [({**VAE, "recon_loss": loss, "beta": beta},
                    {m: per_seed(sharpness, real, w), "test_kl": per_seed(rate, nats)})
                   for beta, (nats, w) in sweep.items()]
    groups += [({**VAE, "recon_loss": "mse", "adv_weight": 10.0}, {m: per_seed(sharpness, real, adv_width)})]
    return groups


def test_c9_three_ways_through_the_metric_code(real):
    bce = {1.0: (10.0, 3), 8.0: (2.0, 5)}
    blurrier_mse = {1.0: (10.0, 5), 8.0: (2.0, 7)}
    assert decide("C9", *c9_groups(real, {"bce": 1, "mse": 3}, {"bce": bce, "mse": blurrier_mse}, 1)) == "confirmed"
    # MSE sharper than BCE at equal rate: the opposite
    assert decide("C9", *c9_groups(real, {"bce": 1, "mse": 3}, {"bce": blurrier_mse, "mse": bce}, 1)) == "refuted"
    # the same blur for both losses everywhere: nothing apart
    same = {1.0: (10.0, 3), 8.0: (2.0, 3)}
    assert decide("C9", *c9_groups(real, {"bce": 3, "mse": 3}, {"bce": same, "mse": same}, 3)) == "inconclusive"


def c1_groups(vae: tuple[float, float, float], ae: tuple[float, float, float]):
    """Per architecture, the AE and the VAE with (path detour, midpoint shift, share of holes)."""
    groups = []
    for arch in ("mlp", "conv"):
        for changes, (detour, shift, holes) in (({**VAE, "arch": arch}, vae), ({**AE, "arch": arch}, ae)):
            groups.append((changes, {"path_length_excess": per_seed(path_excess, detour),
                                     "midpoint_precision": per_seed(midpoint_precision, shift),
                                     "prior_confidence_ratio": per_seed(confidence, holes)}))
    return groups


def test_c1_three_ways_through_the_metric_code():
    smooth, jumpy = (0.1, 0.0, 0.05), (2.0, 3.0, 0.5)
    assert decide("C1", *c1_groups(smooth, jumpy)) == "confirmed"
    assert decide("C1", *c1_groups(jumpy, smooth)) == "refuted"
    assert decide("C1", *c1_groups(smooth, smooth)) == "inconclusive"


def c8_groups(real, noise: dict[float, float], nats: dict[float, float], detour: dict[float, float]):
    return [({**VAE, "beta": b}, {"test_recon_mse": per_seed(recon_error, real, noise[b]),
                                  "test_kl": per_seed(rate, nats[b]), "path_length_excess": per_seed(path_excess,
                                                                                                       detour[b]),
                                  "posterior_var": [0.5] * SEEDS})
            for b in noise]


def test_c8_three_ways_through_the_metric_code(real):
    betas = (0.0, 1.0, 8.0)
    rising, falling = dict(zip(betas, (0.05, 0.1, 0.2), strict=True)), dict(zip(betas, (20.0, 10.0, 2.0),
                                                                                  strict=True))
    smoother = dict(zip(betas, (2.0, 1.0, 0.1), strict=True))
    assert decide("C8", *c8_groups(real, rising, falling, smoother)) == "confirmed"
    better = dict(zip(betas, (0.2, 0.1, 0.05), strict=True))
    assert decide("C8", *c8_groups(real, better, falling, smoother)) == "refuted"
    assert decide("C8", *c8_groups(real, rising, falling, dict.fromkeys(betas, 1.0))) == "inconclusive"


def c2_groups(real, test_noise: dict[int, float], train_noise: dict[int, float], small: bool = False):
    changes = {"train_images": 500, "epochs": 100} if small else {}
    groups = []
    for z in test_noise:
        test = per_seed(recon_error, real, test_noise[z])
        train = per_seed(recon_error, real, train_noise[z])
        groups.append(({**AE, **changes, "latent_dim": z},
                       {"test_recon_mse": test, "recon_mse_gap": [a - b for a, b in zip(test, train, strict=True)]}))
    return groups


def test_c2_three_ways_through_the_metric_code(real):
    u_shape, gap_grows = {2: 0.3, 8: 0.1, 32: 0.2}, {2: 0.3, 8: 0.08, 32: 0.05}
    falling, no_gap = {2: 0.3, 8: 0.2, 32: 0.1}, {2: 0.3, 8: 0.2, 32: 0.1}
    assert decide("C2", *c2_groups(real, falling, no_gap), *c2_groups(real, u_shape, gap_grows, small=True)) \
        == "confirmed"
    assert decide("C2", *c2_groups(real, falling, no_gap), *c2_groups(real, falling, no_gap, small=True)) \
        == "refuted"
    flat = {2: 0.3, 8: 0.1, 32: 0.1}
    assert decide("C2", *c2_groups(real, flat, flat), *c2_groups(real, flat, flat, small=True)) == "inconclusive"


def codes(gen: torch.Generator, spread: float, separation: float, dim: int = 2, n: int = 500):
    """n latent codes in `dim` dimensions: 10 class clusters `separation` apart, each of width
    `spread`; returns (codes, labels)."""
    labels = torch.arange(n) % 10
    centres = separation * torch.randn(10, dim, generator=torch.Generator().manual_seed(7))
    return centres[labels] + spread * torch.randn(n, dim, generator=gen), labels


def posterior_var(gen: torch.Generator, log_var: float) -> float:
    """posterior_var of posteriors whose log-variances scatter around `log_var`."""
    logvar = log_var + 0.1 * torch.randn(500, 20, generator=gen)
    return logvar.exp().mean().item()


def test_c3_three_ways_through_the_metric_code():
    def groups(b0_log_var, b0_like):
        figures = lambda detour, shift, holes: {"path_length_excess": per_seed(path_excess, detour),  # noqa: E731
                                                "midpoint_precision": per_seed(midpoint_precision, shift),
                                                "prior_confidence_ratio": per_seed(confidence, holes)}
        return [(AE, figures(2.0, 3.0, 0.5)), ({**VAE, "beta": 0.0}, {"posterior_var": per_seed(posterior_var,
                                                                                                   b0_log_var),
                                                                     **figures(*b0_like)}),
                (VAE, {"posterior_var": per_seed(posterior_var, -0.7), **figures(0.1, 0.0, 0.05)})]
    assert decide("C3", *groups(-9.0, (2.0, 3.0, 0.5))) == "confirmed"  # variance ~1e-4, like the AE
    assert decide("C3", *groups(-0.7, (2.0, 3.0, 0.5))) == "refuted"  # variance ~0.5: no collapse
    assert decide("C3", *groups(-3.0, (2.0, 3.0, 0.5))) == "inconclusive"  # ~0.05: neither


def test_c4_three_ways_through_the_metric_code(real):
    from vae_core.metrics.rate import active_units
    from vae_core.metrics.reconstruction import mean_image_mse

    train = load_dataset("digits").train_x
    mean_image = train.mean(0, keepdim=True)

    def kl_only(mu_scale: float, like_mean: bool, log_var: float = 0.0):
        def measure(gen):
            mu = mu_scale * torch.randn(300, 20, generator=gen)
            recon = mean_image.expand(200, -1, -1, -1) if like_mean else real[:200]
            return {"test_kl": kl_divergence(Posterior(mu, torch.full_like(mu, log_var))).mean().item(),
                    "active_units": active_units(mu),
                    "test_recon_mse": recon_mse(torch.logit(recon.clamp(1e-4, 1 - 1e-4)), real[:200]).mean().item(),
                    "mean_image_mse": mean_image_mse(train, real)}
        values = [measure(torch.Generator().manual_seed(s)) for s in range(SEEDS)]
        return ({**VAE, "recon_weight": 0.0}, {k: [v[k] for v in values] for k in values[0]})

    assert decide("C4", kl_only(0.001, like_mean=True)) == "confirmed"  # nothing in the code, the mean image out
    assert decide("C4", kl_only(1.0, like_mean=False)) == "refuted"  # active codes and real reconstructions
    # no unit active, the mean image out, but posteriors narrower than the prior: a KL of ~3.7 nats
    assert decide("C4", kl_only(0.001, like_mean=True, log_var=-1.0)) == "inconclusive"


def test_c5_three_ways_through_the_metric_code():
    from vae_core.metrics.latent import knn_accuracy, prior_coverage

    def group(changes, spread, separation):
        cs = [codes(torch.Generator().manual_seed(s), spread, separation) for s in range(SEEDS)]
        return ({**VAE, "latent_dim": 2, **changes},
                {"prior_coverage": [prior_coverage(c, torch.Generator().manual_seed(1)) for c, _ in cs],
                 "latent_knn_accuracy": [knn_accuracy(c, y) for c, y in cs], "latent_silhouette": [0.0] * SEEDS})

    rec_only, kl_only = {"beta": 0.0}, {"recon_weight": 0.0}
    # both terms: dense, prior-like clusters; reconstruction only: far-flung clusters; KL only: no classes
    assert decide("C5", group(rec_only, 0.3, 20.0), group(kl_only, 1.0, 0.0), group({}, 0.3, 1.0)) == "confirmed"
    assert decide("C5", group(rec_only, 0.3, 1.0), group(kl_only, 1.0, 0.0), group({}, 0.3, 20.0)) == "refuted"
    assert decide("C5", group(rec_only, 0.3, 1.0), group(kl_only, 1.0, 0.0), group({}, 0.3, 1.0)) \
        == "inconclusive"


def test_c6_three_ways_through_the_metric_code(real):
    def groups(widths: dict[float, int], kl_width: int):
        m = "recon_laplacian_ratio"
        return [({**VAE, "regularizer": "moments", "moment_ratio": r}, {m: per_seed(sharpness, real, w)})
                for r, w in widths.items()] + [(VAE, {m: per_seed(sharpness, real, kl_width)})]
    assert decide("C6", *groups({0.05: 3, 50.0: 7}, 3)) == "confirmed"  # a bad ratio blurs beyond the KL
    assert decide("C6", *groups({0.05: 1, 50.0: 3}, 7)) == "refuted"  # every ratio sharper than the KL
    assert decide("C6", *groups({0.05: 3, 50.0: 3}, 3)) == "inconclusive"


def test_c7_three_ways_through_the_metric_code(real):
    from vae_core.metrics.reconstruction import mean_image_mse

    train = load_dataset("digits").train_x
    reference = mean_image_mse(train, real)

    def groups(pooled_noise: float, vae_noise: float):
        return [({**VAE, "model": "pooled"}, {"test_recon_mse": per_seed(recon_error, real, pooled_noise),
                                              "mean_image_mse": [reference] * SEEDS}),
                (VAE, {"test_recon_mse": per_seed(recon_error, real, vae_noise),
                       "mean_image_mse": [reference] * SEEDS})]
    assert decide("C7", *groups(0.45, 0.1)) == "confirmed"  # as bad as (or worse than) the mean image
    assert decide("C7", *groups(0.1, 0.3)) == "refuted"
    assert decide("C7", *groups(0.25, 0.1)) == "inconclusive"  # worse, but well below the mean image's error


def test_c10_three_ways_through_the_metric_code(real):
    from vae_core.metrics.rate import mmd_to_standard_normal

    def group(shift: float, prior_noise: float):
        def measure(gen):
            z = torch.randn(1000, 20, generator=gen) + shift
            feats = torch.randn(400, 8, generator=torch.Generator().manual_seed(5))
            fake = lambda noise: torch.randn(400, 8, generator=gen) * (1 + noise)  # noqa: E731
            return {"agg_posterior_mmd": mmd_to_standard_normal(z, gen),
                    "prior_fid": frechet_distance(feats, fake(prior_noise)), "recon_fid": frechet_distance(feats,
                                                                                                       fake(0.0))}
        values = [measure(torch.Generator().manual_seed(s)) for s in range(SEEDS)]
        return (VAE, {k: [v[k] for v in values] for k in values[0]})

    from vae_core.metrics.feature_space import frechet_distance  # noqa: F401  (used in `measure`)
    assert decide("C10", group(0.5, 1.0)) == "confirmed"  # a shifted posterior; samples far from real
    assert decide("C10", group(0.0, 0.0)) == "refuted"  # posterior = prior; samples as good as reconstructions
    assert decide("C10", group(0.5, 0.0)) == "inconclusive"


def test_c11_three_ways_through_the_metric_code(real):
    from vae_core.evaluator import train_evaluator

    data = load_dataset("digits")
    evaluator = train_evaluator(data)

    def group(share_right: float):
        def accuracy(gen):
            idx = torch.randperm(data.test_x.shape[0], generator=gen)[:200]
            asked = data.test_y[idx].clone()
            wrong = torch.rand(200, generator=gen) >= share_right  # these samples show another class
            asked[wrong] = (asked[wrong] + 1 + torch.randint(0, 9, (int(wrong.sum()),), generator=gen)) % 10
            return (evaluator.predict(data.test_x[idx]) == asked).double().mean().item()
        return ({**VAE, "model": "cvae"}, {"cond_accuracy": per_seed(accuracy), "cond_swap_accuracy": [0.1] * SEEDS})
    assert decide("C11", group(1.0)) == "confirmed"
    assert decide("C11", group(0.0)) == "refuted"
    assert decide("C11", group(0.35)) == "inconclusive"


def test_c13_three_ways_through_the_metric_code():
    """A check of the code: only a fault (here: the closed form of one posterior against the
    Monte-Carlo estimate of another) can refute it."""
    from vae_core.metrics.rate import kl_closed_vs_monte_carlo

    def group(fault: float):
        def measure(gen):
            post = Posterior(torch.randn(200, 5, generator=gen), 0.3 * torch.randn(200, 5, generator=gen))
            mc = kl_closed_vs_monte_carlo(post, 256, gen)
            closed = kl_divergence(Posterior(post.mu * (1 + fault), post.logvar)).mean().item()
            return {"test_kl": closed, "test_kl_mc": mc["mc"], "test_kl_mc_se": mc["mc_se"]}
        values = [measure(torch.Generator().manual_seed(s)) for s in range(SEEDS)]
        return ({**VAE, "beta": 1.0}, {k: [v[k] for v in values] for k in values[0]})
    assert decide("C13", group(0.0)) == "confirmed"
    assert decide("C13", group(0.3)) == "refuted"
    assert decide("C13", group(0.008)) == "inconclusive"  # off by 3 to 5 standard errors


def test_c12_three_ways_through_the_metric_code():
    """A check of the estimator: for a small nonlinear decoder on a 2-D latent space, bounds from
    the prior as q lie above the exact -log p(x) (quadrature) and close in on it; a decoder that
    ignores z makes every bound exact (nothing to tighten); only a fault (here: the bounds scored
    with a likelihood 3 nats too high, the size of a dropped constant) puts them below it."""
    from vae_core.metrics.exact_likelihood import exact_nll
    from vae_core.metrics.likelihood import log_importance_weights, mean_bound

    w1 = torch.randn(2, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    w2 = torch.randn(8, 12, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    prior = lambda x: Posterior(torch.zeros(x.shape[0], 2, dtype=x.dtype), torch.zeros(x.shape[0], 2))  # noqa: E731
    log_lik = lambda logits, x: -torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
        logits, x, reduction="none").sum(1)

    def group(uses_z: bool, fault: float = 0.0, ks=(1, 10, 100)):
        decode = lambda z: torch.tanh(z.double() @ w1 * (1.0 if uses_z else 0.0)) @ w2 + 0.3  # noqa: E731

        def run(gen):
            z = torch.randn(64, 2, generator=gen, dtype=torch.float64)
            x = torch.bernoulli(torch.sigmoid(decode(z)), generator=gen)
            exact = exact_nll(decode, x, "bce", None, latent_dim=2)
            scored = lambda out, xb: log_lik(out, xb) + fault  # noqa: E731
            curve = {f"iwae_nll_k{k}": -mean_bound(log_importance_weights(prior, decode, scored, x, 100, gen), k)
                     for k in ks}
            return {**curve, "test_exact_nll": exact["nll"], "exact_nll_quadrature_error": exact["quadrature_error"]}
        values = [run(torch.Generator().manual_seed(s)) for s in range(SEEDS)]
        measured = {k: [v[k] for v in values] for k in values[0]}
        return [(VAE, measured), ({**VAE, "latent_dim": 2}, measured)]

    assert decide("C12", *group(uses_z=True)) == "confirmed"
    assert decide("C12", *group(uses_z=True, fault=3.0)) == "refuted"
    assert decide("C12", *group(uses_z=False)) == "inconclusive"
