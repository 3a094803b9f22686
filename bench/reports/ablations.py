"""The ablations report (kind "axes"): a summary table, one section per axis of the suite
(AE vs VAE, loss, beta, latent size; any other axis gets the headline metrics of its runs),
and the limitations the chapter names (blur, the posterior-prior mismatch), measured. Every
sentence is computed from the numbers it states."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from bench.claims.base import SHARPNESS, SMOOTHNESS_FIGURES
from bench.figures import (
    Panel,
    beta_histories,
    image_panel,
    image_rows,
    latent_path_rows,
    latent_scatter,
    latent_size_panels,
    metric_panels,
    posterior_variance_curves,
    rate_distortion_plane,
)
from bench.frames import axis_frames, lowest_seed, records_frame, records_of, rows
from bench.rate import DISTORTION, RATE, at_shared_rate
from bench.reports.html import common_context
from bench.stats import MIN_SEEDS_SHOWN_INTERVAL, Stat, fmt, stat
from bench.store import Manifest, RunRecord
from vae_core.config import RECON_LOSSES
from vae_core.metrics import METRICS

SUMMARY_METRICS = ("test_recon_mse", "test_recon_bce", "recon_mse_gap", "test_kl", "path_length_excess",
                   "midpoint_precision", "prior_confidence_ratio", "prior_fid", "recon_laplacian_ratio",
                   "train_images_per_s")
Section = Callable[[pd.DataFrame, list[RunRecord]], list[Panel]]


def compare(df: pd.DataFrame, metric: str, col: str, a: object, b: object, name_a: str, name_b: str) -> str:
    """A sentence comparing a metric between two groups, with intervals and whether they overlap."""
    sa, sb = stat(df[df[col] == a], metric), stat(df[df[col] == b], metric)
    if sa.n == 0 or sb.n == 0:
        return f"{metric}: not available for both groups."
    info = METRICS[metric]
    text = f"{metric} ({info.unit}, {info.better} is better)" if info.better in ("lower", "higher") \
        else f"{metric} ({info.unit})"
    text += f": {name_a} {sa} vs {name_b} {sb}"
    if sa.n < 2 or sb.n < 2:
        return text + " (one seed: no interval)."
    overlap = not (sa.hi < sb.lo or sb.hi < sa.lo)
    rel = (sb.mean - sa.mean) / abs(sa.mean) if sa.mean else math.nan
    direction = "higher" if sb.mean > sa.mean else "lower"
    which = "95% intervals" if min(sa.n, sb.n) >= MIN_SEEDS_SHOWN_INTERVAL else "95% t-intervals (not shown at 2 seeds)"
    verdict = f"the {which} overlap, so the difference is not clear at this number of seeds" if overlap \
        else f"the {which} do not overlap"
    return text + f"; {name_b} is {abs(rel):.0%} {direction}, and {verdict}."


def trend(df: pd.DataFrame, metric: str, x: str, x_name: str) -> str:
    """A sentence on how a metric's seed-mean moves along an axis, and whether monotonically."""
    means = df.groupby(x)[metric].mean().dropna()
    if len(means) < 2:
        return f"{metric}: too few points for a trend."
    diffs = np.diff(means.to_numpy())
    shape = "rises monotonically" if (diffs > 0).all() else "falls monotonically" if (diffs < 0).all() \
        else "is not monotone"
    text = (f"{metric} [{METRICS[metric].unit}] {shape} from {fmt(means.iloc[0])} at {x_name} = {means.index[0]:g} "
            f"to {fmt(means.iloc[-1])} at {x_name} = {means.index[-1]:g}")
    better = METRICS[metric].better
    if better in ("lower", "higher"):
        best = means.idxmin() if better == "lower" else means.idxmax()
        text += f"; best ({better}) at {x_name} = {best:g} ({fmt(means[best])})"
    return text + "."


def baseline_latent(df: pd.DataFrame) -> int:
    """The baseline latent size (the most common one in the frame)."""
    return int(df["latent_dim"].mode().iloc[0])


def section_model(df: pd.DataFrame, recs: list[RunRecord]) -> list[Panel]:
    # ground-truth smoothness where the data set's factors are known (lines: the angle, shapes: the centre)
    known = [m for m in ("angle_path_error_deg", "position_path_error_px") if m in df and df[m].notna().any()]
    out = [Panel(metric_panels(df, "model", list(SMOOTHNESS_FIGURES), kind="bar"),
                 "AE vs VAE with the same MLP and BCE loss, in the evaluator's features: how evenly decoded images "
                 "move along straight latent paths (1 = straight and even), how many decoded path midpoints look "
                 "real, and holes in the prior with blur divided out (prior samples' classifier confidence over "
                 "reconstructions'); whiskers: the spread over seeds, dots: the seeds.",
                 [compare(df, m, "model", "ae", "vae", "AE", "VAE") for m in SMOOTHNESS_FIGURES]),
           Panel(metric_panels(df, "model", ["test_recon_bce", "interp_jump_ratio", "midpoint_nn_ratio",
                                             "prior_nn_ratio", "prior_fid", *known], kind="bar"),
                 "The same models in pixels (jump ratio of latent paths; nearest-train distance of path midpoints and "
                 "prior samples, which favours blurry images) and the Frechet distance of prior samples in features "
                 "(which penalises blur)" + (", and against the data set's known factors: how evenly the decoded "
                                              "images follow the true path between the endpoints" if known else "")
                 + ".",
                 [compare(df, m, "model", "ae", "vae", "AE", "VAE") for m in
                  ("interp_jump_ratio", "midpoint_nn_ratio", "prior_nn_ratio", "prior_fid", "test_recon_bce", *known)])]
    ae, vae = (lowest_seed(recs, rows(df, model=m, recon_loss="bce", latent_dim=baseline_latent(df)))
               for m in ("ae", "vae"))
    if ae and vae:
        out += image_panel(latent_path_rows([("AE", ae), ("VAE", vae)], 4),
                           "The same pairs of test images (first and last column, as they are), encoded and decoded "
                           "along a straight latent path by the AE and by the VAE (seed 0, 16 steps between the "
                           "two codes, endpoints included).", 0.45,
                             [f"Mean pixel change per step: AE {fmt(ae.metrics['interp_step_l2'])}, VAE "
                            f"{fmt(vae.metrics['interp_step_l2'])}; largest/mean step: AE "
                            f"{fmt(ae.metrics['interp_jump_ratio'])}, VAE {fmt(vae.metrics['interp_jump_ratio'])}."])
        out.append(Panel(image_rows([ae.images["prior"], vae.images["prior"]], ["AE samples", "VAE samples"]),
                         "Decoded random codes: N(0, I) for the VAE (its prior); for the AE, which has no prior, a "
                         "diagonal Gaussian fitted to its training codes.",
                         [compare(df, "prior_nn_ratio", "model", "ae", "vae", "AE", "VAE")]))
    return out


LOSS_NAMES = {"bce": "BCE", "mse": "MSE", "gaussian": "calibrated Gaussian"}


def section_loss(df: pd.DataFrame, recs: list[RunRecord]) -> list[Panel]:
    text = [compare(df[df.model == m], metric, "recon_loss", "bce", other, f"{m.upper()} BCE",
                    f"{m.upper()} {LOSS_NAMES[other]}")
            for m in ("ae", "vae") for other in ("mse", "gaussian") for metric in ("test_recon_mse", SHARPNESS)]
    sigma = stat(rows(df, recon_loss="gaussian", model="vae"), "decoder_sigma")
    if sigma.n:
        text.append(f"The calibrated decoder's standard deviation (VAE) settled at {sigma} of the pixel range, "
                    f"i.e. a variance of {fmt(sigma.mean ** 2)} where the MSE loss implies 0.5.")
    out = [Panel(metric_panels(df, "recon_loss", ["test_recon_mse", SHARPNESS, "recon_hf_ratio",
                                                  "prior_laplacian_ratio"], hue="model", kind="bar"),
                 "Reconstruction loss, for the AE and the VAE: MSE (a Gaussian decoder with its variance fixed at "
                 "1/2), BCE (Bernoulli) and the calibrated Gaussian decoder (its shared variance set to the "
                 "maximum-likelihood value, Rybkin et al. 2021). Test MSE is the same yardstick for all; sharpness is "
                 "relative to real test images (1 = as sharp as real). At the same beta the KL weighs differently "
                 "against each likelihood, so the VAE's losses are compared at equal rate in the KL-weight section; "
                 "the AE, which has no KL, compares the losses alone.", text)]
    items = []
    for m in ("ae", "vae"):
        for loss in RECON_LOSSES:
            r = lowest_seed(recs, rows(df, model=m, recon_loss=loss, latent_dim=baseline_latent(df)))
            if r is not None:
                if not items:
                    items.append((r.images["real"], "real test"))
                items.append((r.images["recon"], f"{m.upper()} {LOSS_NAMES[loss]}"))
    return out + image_panel(items, "Reconstructions of the same test images by each model and loss (seed 0).")


def matched_rate(df: pd.DataFrame, metric: str) -> str:
    """A sentence comparing the BCE and MSE beta sweeps on `metric` at the rate both reach."""
    reading = at_shared_rate(rows(df, recon_loss="bce"), rows(df, recon_loss="mse"), metric)
    if reading is None:
        return f"{metric}: the BCE and MSE sweeps reach no common rate, so they cannot be compared at equal rate."
    rate, at_bce, at_mse = reading
    read = pd.concat([at_bce.assign(recon_loss="bce"), at_mse.assign(recon_loss="mse")])
    return (f"At equal rate, {fmt(rate)} nats / image (the middle of the rates both sweeps reach, log scale; each "
            "seed's sweep interpolated in log rate): "
            + compare(read, metric, "recon_loss", "bce", "mse", "BCE", "MSE"))


def section_beta(df: pd.DataFrame, recs: list[RunRecord]) -> list[Panel]:
    swept = df[df.groupby("recon_loss").beta.transform("nunique") > 1]
    trends = lambda metric: [f"{LOSS_NAMES[loss]}: " + trend(sub, metric, "beta", "beta")  # noqa: E731
                             for loss, sub in swept.groupby("recon_loss")]
    out = [Panel(rate_distortion_plane(df, RATE, DISTORTION, "recon_loss"),
                 "The rate-distortion plane (Alemi et al. 2018, \"Fixing a Broken ELBO\"): test reconstruction error "
                 "against the KL per image, one line per reconstruction loss through its beta sweep (beta by each "
                 "point), seed means with their spread; the calibrated Gaussian decoder, which has no variance to "
                 "choose and so no hidden beta, as one point at beta = 1. Lower-left is better; the same beta puts "
                 "the two fixed decoders at different rates.",
                 [matched_rate(df, m) for m in (DISTORTION, SHARPNESS)]),
           Panel(metric_panels(df, "beta", ["test_recon_mse", "test_kl", "path_length_excess"], hue="recon_loss",
                               even_x=True),
                 "Reconstruction against rate: test MSE and KL per image against the KL weight beta, and the "
                 "evenness of latent paths in the evaluator's features (whiskers: the spread over seeds), per "
                 "reconstruction loss.",
                 [t for m in ("test_recon_mse", "test_kl", "path_length_excess") for t in trends(m)]),
           Panel(metric_panels(df, "beta", ["posterior_var", "active_units", "midpoint_nn_ratio"], hue="recon_loss",
                               even_x=True),
                 "The tug of war (chapter fig 1.9): as beta grows, the posterior variance moves toward the prior's 1 "
                 "and fewer latent dimensions carry information.",
                 [t for m in ("posterior_var", "active_units", "midpoint_nn_ratio") for t in trends(m)])]
    bce = rows(df, recon_loss="bce")
    history = beta_histories(records_of(recs, bce))
    if (img := posterior_variance_curves(history)) is not None:
        last = history[history.epoch == history.epoch.max()].groupby("beta")["posterior_var"].mean()
        out.append(Panel(img, "Mean posterior variance over training, one curve per beta (BCE, mean over seeds).",
                         ["After the last epoch the mean posterior variance is "
                          + ", ".join(f"{v:.3g} at beta = {b:g}" for b, v in last.items()) + "."]))
    return out


def section_latent(df: pd.DataFrame, recs: list[RunRecord]) -> list[Panel]:
    text = []
    for m in ("ae", "vae"):
        sub = df[df.model == m]
        if not sub.empty:
            text += [f"{m.upper()}: " + trend(sub, metric, "latent_dim", "latent size")
                     for metric in ("test_recon_mse", "recon_mse_gap")]
    out = [Panel(latent_size_panels(df), "Train and test reconstruction error against latent size for the AE and the "
                 "VAE (left), and the test-minus-train gap, the over-fitting (right).", text)]
    panels = [(f"{m.upper()}, latent size 2", r.images["test_mu"].astype(np.float32), r.images["test_y"])
              for m in ("ae", "vae") if (r := lowest_seed(recs, rows(df, model=m, latent_dim=2, recon_loss="bce")))
              is not None and "test_mu" in r.images]
    if panels:
        out.append(Panel(latent_scatter(panels), "Posterior means of the test set in a 2-D latent space, coloured by "
                         "class, with the prior's 1- and 2-sigma circles (chapter fig 1.13)."))
    return out


def section_runs(df: pd.DataFrame, recs: list[RunRecord]) -> list[Panel]:
    """Any list of configs (a suite file, a config file, a re-run trial): the headline metrics
    per config and their images."""
    out = [Panel(metric_panels(df, "label", ["test_recon_mse", "interp_jump_ratio", "prior_nn_ratio",
                                             "recon_laplacian_ratio"], kind="bar"),
                 "Headline metrics of each configuration (whiskers: the spread over seeds, dots: the seeds).",
                 [f"{label}: " + ", ".join(f"{m} {stat(g, m)}" for m in
                                           ("test_recon_mse", "test_kl", "interp_jump_ratio", "prior_nn_ratio"))
                  for label, g in df.groupby("label", sort=False)])]
    items = []
    for label, group in df.groupby("label", sort=False):
        if (r := lowest_seed(recs, group)) is not None:
            if not items:
                items.append((r.images["real"], "real test"))
            items += [(r.images["recon"], f"{label} recon"), (r.images["prior"], f"{label} samples")]
    return out + image_panel(items, "Reconstructions of test images and decoded prior samples (lowest seed).")


#: The section of each known axis; any other axis gets `section_runs`.
SECTIONS: dict[str, Section] = {"model": section_model, "loss": section_loss, "beta": section_beta,
                                "latent": section_latent}


def limitations(ok: pd.DataFrame, by_axis: dict[str, pd.DataFrame], records: list[RunRecord]) -> list[Panel]:
    """Blur (chapter fig 1.14) and the posterior-prior mismatch, from the loss and beta axes."""
    out = []
    loss_df, beta_df = by_axis.get("loss"), by_axis.get("beta")
    if loss_df is not None and not loss_df.empty:
        vae = loss_df[loss_df.model == "vae"]
        out.append(Panel(metric_panels(vae, "recon_loss", ["recon_laplacian_ratio", "recon_hf_ratio",
                                                           "prior_laplacian_ratio", "prior_hf_ratio"], kind="bar"),
                         "Blur (chapter fig 1.14): sharpness of VAE reconstructions and prior samples as a ratio to "
                         "real test images, MSE vs BCE. 1.0 = as sharp as real; lower = blurrier.",
                         [compare(vae, m, "recon_loss", "bce", "mse", "BCE", "MSE")
                          for m in ("recon_laplacian_ratio", "prior_laplacian_ratio")]
                         + ["These compare the losses at the same beta, where they sit at different rates. "
                            + matched_rate(beta_df, SHARPNESS) if beta_df is not None and not beta_df.empty
                            else "No beta sweep ran, so the losses are not compared at equal rate."]))
    if beta_df is not None and not beta_df.empty:
        bce = rows(beta_df, recon_loss="bce")
        out.append(Panel(metric_panels(bce, "beta", ["recon_laplacian_ratio", "prior_laplacian_ratio",
                                                     "recon_hf_ratio"], even_x=True),
                         "Sharpness ratios across the KL weight beta (BCE; the MSE sweep at equal rate is in the KL "
                         "weight section).",
                         [trend(bce, m, "beta", "beta") for m in ("recon_laplacian_ratio", "prior_laplacian_ratio")]))
    crops = []
    for loss in ("bce", "mse"):
        r = lowest_seed(records, rows(ok, model="vae", recon_loss=loss, beta=1.0, latent_dim=baseline_latent(ok)))
        if r is not None:
            if not crops:
                crops.append((r.images["real"][:8], "real test"))
            crops += [(r.images["recon"][:8], f"VAE {loss.upper()} recon"),
                      (r.images["prior"][:8], f"VAE {loss.upper()} sample")]
    out += image_panel(crops, "Crops, shown enlarged: real images, reconstructions and prior samples of the baseline "
                              "VAE with each loss.", 0.8)
    if beta_df is not None and not beta_df.empty:
        beta_df = rows(beta_df, recon_loss="bce")
        out.append(Panel(metric_panels(beta_df, "beta", ["agg_posterior_kl", "prior_nn_ratio", "recon_nn_ratio"],
                                       even_x=True),
                         "Posterior vs prior (BCE): KL from N(0, I) of a Gaussian fitted to the aggregate posterior, "
                         "and how "
                         "far decoded prior samples and reconstructions are from the nearest training image (ratio "
                         "to real test images).",
                         [trend(beta_df, m, "beta", "beta") for m in ("agg_posterior_kl", "prior_nn_ratio")]
                         + [prior_gap_sentence(beta_df)]))
    vae2 = lowest_seed(records, rows(ok, model="vae", latent_dim=2, recon_loss="bce"))
    if vae2 is not None and "test_mu" in vae2.images:
        mu = vae2.images["test_mu"].astype(np.float32)
        radius = np.linalg.norm(mu, axis=1)
        out.append(Panel(latent_scatter([("VAE, latent size 2: test posterior means", mu, vae2.images["test_y"])]),
                         "Where the aggregate posterior lies against the prior in a 2-D latent space.",
                         [f"{(radius <= 1).mean():.0%} of test means lie within the prior's 1-sigma circle, where a "
                          f"2-D N(0, I) puts 39% of its mass; {(radius > 2).mean():.0%} lie beyond 2 sigma "
                          f"(prior: 14%)."]))
    return out


def prior_gap_sentence(beta_df: pd.DataFrame) -> str:
    base = beta_df[beta_df.beta == 1.0] if (beta_df.beta == 1.0).any() else beta_df
    p, r = stat(base, "prior_nn_ratio"), stat(base, "recon_nn_ratio")
    return (f"At beta = {base.beta.iloc[0]:g}, prior samples lie {p} times as far from the nearest training image as "
            f"real test images do, reconstructions {r} times: "
            + ("samples from the prior are farther from the data than reconstructions." if p.mean > r.mean
               else "samples from the prior are not farther from the data than reconstructions."))


#: Marks the best mean of a metric within an axis in the summary table.
BEST = "\u2605"


def best_index(metric: str, stats: list[Stat]) -> int | None:
    """Which of `stats` has the best mean by the metric's direction (closest to 1 for a ratio
    to real images); None for a descriptive metric or fewer than two values to compare."""
    better = METRICS[metric].better
    means = [(i, s.mean) for i, s in enumerate(stats) if s.n and math.isfinite(s.mean)]
    if better == "descriptive" or len(means) < 2:
        return None
    key = {"lower": lambda m: m, "higher": lambda m: -m,
           "closer to 1": lambda m: abs(math.log(m)) if m > 0 else math.inf}[better]
    return min(means, key=lambda im: key(im[1]))[0]


def summary_table(df: pd.DataFrame, manifest: Manifest, metrics: Sequence[str] = SUMMARY_METRICS
                  ) -> tuple[list[str], list[list[str]]]:
    """One row per configuration, grouped by axis (the axis named on its first row; a run of
    several axes is listed under each), each cell as `Stat` prints it; within an axis the best
    mean of each metric that has a direction is starred (a star is no test: the sections give
    the intervals and the comparisons)."""
    ok = df[df.status == "ok"]
    metrics = [m for m in metrics if m in ok and ok[m].notna().any()]
    header = ["axis", "run", "seeds"] + [f"{m} [{METRICS[m].unit}] ({METRICS[m].better})" for m in metrics]
    rows = []
    for axis, title in manifest.axes.items():
        groups = list(ok[ok.key.isin(manifest.keys(axis))].groupby("label", sort=False))
        stats = {m: [stat(g, m) for _, g in groups] for m in metrics}
        best = {m: best_index(m, stats[m]) for m in metrics}
        rows += [[title if i == 0 else "", label, str(len(g))]
                 + [f"{BEST} {stats[m][i]}" if best[m] == i else str(stats[m][i]) for m in metrics]
                 for i, (label, g) in enumerate(groups)]
    return header, rows


def context(records: list[RunRecord], manifest: Manifest) -> dict:
    """Everything the ablations report shows, computed from the stored runs."""
    df = records_frame(records, manifest.labels())
    by_axis = axis_frames(df, records, manifest)
    sections = [{"id": axis, "title": manifest.axes[axis], "figures": SECTIONS.get(axis, section_runs)(sub, recs)}
                for axis, (sub, recs) in by_axis.items() if not sub.empty]
    ok = df[df.status == "ok"]
    panels = limitations(ok, {a: f for a, (f, _) in by_axis.items()}, records) if not ok.empty else []
    summary_header, summary_rows = summary_table(df, manifest)
    return {**common_context(records, manifest, df), "summary_header": summary_header, "summary_rows": summary_rows,
            "sections": sections, "limitations": panels}
