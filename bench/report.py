"""The HTML report of a suite: numbers from the stored runs, figures, and text computed from
the numbers. One self-contained, autoescaped file that opens offline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from bench import figures
from bench.store import RunRecord, write_atomic
from bench.suites import SUITES
from vae_core.config import config_dict
from vae_core.metrics import METRICS

SUMMARY_METRICS = ("test_recon_mse", "test_recon_bce", "recon_mse_gap", "test_kl", "interp_jump_ratio",
                   "midpoint_nn_ratio", "prior_nn_ratio", "prior_fid", "recon_laplacian_ratio", "train_images_per_s")


def records_frame(records: list[RunRecord], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run: its label (from `labels` by key, else the config's), config fields,
    status and scalar metrics."""
    labels = labels or {}
    rows = []
    for r in records:
        row = {"key": r.key, "label": labels.get(r.key, r.config.label), **config_dict(r.config), "status": r.status,
               "device_used": r.info.get("device"), "diverged_epoch": r.info.get("diverged_epoch"),
               "stacked_with": r.info.get("stacked_with", 1),
               "evaluator_accuracy": r.info.get("evaluator", {}).get("test_accuracy"),
               "error": r.info.get("error")}
        row.update({k: v for k, v in r.metrics.items() if not isinstance(v, list)})
        row.update({f"iwae_nll_k{k}": v for k, v in r.metrics.get("iwae_nll_by_k") or []})
        rows.append(row)
    df = pd.DataFrame(rows)
    for metric in METRICS:
        if metric in df:
            df[metric] = pd.to_numeric(df[metric], errors="coerce")
    return df


def stat(df: pd.DataFrame, metric: str) -> tuple[float, float, float, int]:
    """Mean, 95% t-interval and n of a metric over the rows (seeds) of `df`."""
    values = df[metric].dropna().to_numpy(dtype=float) if metric in df else np.array([])
    if len(values) == 0:
        return (math.nan, math.nan, math.nan, 0)
    lo, hi = figures.t_interval(values)
    return (float(values.mean()), float(lo), float(hi), len(values))


def fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def fmt_stat(s: tuple[float, float, float, int]) -> str:
    mean, lo, hi, n = s
    if n == 0:
        return "n/a"
    return fmt(mean) if n < 2 else f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


def compare(df: pd.DataFrame, metric: str, col: str, a: object, b: object, name_a: str, name_b: str) -> str:
    """A sentence comparing a metric between two groups, with intervals and whether they overlap."""
    sa, sb = stat(df[df[col] == a], metric), stat(df[df[col] == b], metric)
    if sa[3] == 0 or sb[3] == 0:
        return f"{metric}: not available for both groups."
    better = METRICS[metric].better
    text = f"{metric} ({METRICS[metric].unit}, {better} is better)" if better in ("lower", "higher") \
        else f"{metric} ({METRICS[metric].unit})"
    text += f": {name_a} {fmt_stat(sa)} vs {name_b} {fmt_stat(sb)}"
    if sa[3] < 2 or sb[3] < 2:
        return text + " (one seed: no interval)."
    overlap = not (sa[2] < sb[1] or sb[2] < sa[1])
    rel = (sb[0] - sa[0]) / abs(sa[0]) if sa[0] else math.nan
    direction = "higher" if sb[0] > sa[0] else "lower"
    verdict = "the 95% intervals overlap, so the difference is not clear at this number of seeds" if overlap \
        else "the 95% intervals do not overlap"
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


def first_seed(records: list[RunRecord], **match: object) -> RunRecord | None:
    """The lowest-seed successful run whose config has the given field values."""
    hits = [r for r in records if r.status == "ok" and r.images
            and all(getattr(r.config, k) == v for k, v in match.items())]
    return min(hits, key=lambda r: r.config.seed) if hits else None


def _section_model(df: pd.DataFrame, recs: list[RunRecord]) -> list[dict]:
    out = [{
        "img": figures.metric_panels(df, "model", ["test_recon_bce", "interp_jump_ratio", "midpoint_nn_ratio",
                                                   "prior_nn_ratio"], kind="bar"),
        "caption": "AE vs VAE with the same MLP and BCE loss: reconstruction, evenness of latent paths, and "
                   "how far decoded path midpoints and prior samples are from real digits (bars: 95% t-interval "
                   "over seeds).",
        "text": [compare(df, m, "model", "ae", "vae", "AE", "VAE")
                 for m in ("interp_jump_ratio", "midpoint_nn_ratio", "prior_nn_ratio", "test_recon_bce")],
    }]
    ae, vae = (first_seed(recs, model=m, recon_loss="bce", latent_dim=df_latent(df)) for m in ("ae", "vae"))
    if ae and vae:
        rows, labels = [], []
        for i in range(min(4, len(ae.images["paths"]))):
            start, end = ae.images["path_ends"][i]
            rows += [np.concatenate([start[None], r.images["paths"][i], end[None]]) for r in (ae, vae)]
            labels += [f"AE path {i + 1}", f"VAE path {i + 1}"]
        out.append({"img": figures.image_rows(rows, labels, 0.45),
                    "caption": "The same pairs of test images (first and last column, as they are), encoded "
                               "and decoded along a straight latent path by the AE and by the VAE (seed 0, 16 "
                               "steps between the two codes, endpoints included).",
                    "text": [f"Mean pixel change per step: AE {fmt(ae.metrics['interp_step_l2'])}, VAE "
                             f"{fmt(vae.metrics['interp_step_l2'])}; largest/mean step: AE "
                             f"{fmt(ae.metrics['interp_jump_ratio'])}, VAE {fmt(vae.metrics['interp_jump_ratio'])}."]})
        out.append({"img": figures.image_rows([ae.images["prior"], vae.images["prior"]],
                                              ["AE samples", "VAE samples"]),
                    "caption": "Decoded random codes: N(0, I) for the VAE (its prior); for the AE, which has no "
                               "prior, a diagonal Gaussian fitted to its training codes.",
                    "text": [compare(df, "prior_nn_ratio", "model", "ae", "vae", "AE", "VAE")]})
    return out


def df_latent(df: pd.DataFrame) -> int:
    """The baseline latent size (the most common one in the frame)."""
    return int(df["latent_dim"].mode().iloc[0])


def _section_loss(df: pd.DataFrame, recs: list[RunRecord]) -> list[dict]:
    out = [{
        "img": figures.metric_panels(df, "recon_loss", ["test_recon_mse", "recon_laplacian_ratio", "recon_hf_ratio",
                                                        "prior_laplacian_ratio"], hue="model", kind="bar"),
        "caption": "MSE vs BCE reconstruction loss, for the AE and the VAE: test MSE (same yardstick for both "
                   "losses) and sharpness relative to real test images (1 = as sharp as real). Note for the VAE: "
                   "squared error summed over pixels is the NLL of a Gaussian decoder with variance 1/2, whose "
                   "gradients are smaller than BCE's, so at the same beta the KL term weighs relatively more.",
        "text": [compare(df[df.model == m], metric, "recon_loss", "bce", "mse", f"{m.upper()} BCE", f"{m.upper()} MSE")
                 for m in ("ae", "vae") for metric in ("test_recon_mse", "recon_laplacian_ratio")],
    }]
    rows, labels = [], []
    for m in ("ae", "vae"):
        for loss in ("bce", "mse"):
            if (r := first_seed(recs, model=m, recon_loss=loss, latent_dim=df_latent(df))) is not None:
                if not rows:
                    rows.append(r.images["real"]), labels.append("real test")
                rows.append(r.images["recon"]), labels.append(f"{m.upper()} {loss.upper()}")
    if rows:
        out.append({"img": figures.image_rows(rows, labels),
                    "caption": "Reconstructions of the same test images by each model and loss (seed 0).", "text": []})
    return out


def _section_beta(df: pd.DataFrame, recs: list[RunRecord]) -> list[dict]:
    out = [{
        "img": figures.metric_panels(df, "beta", ["test_recon_mse", "test_kl", "interp_jump_ratio"], even_x=True),
        "caption": "Reconstruction against rate: test MSE and KL per image against the KL weight beta, and the "
                   "evenness of latent paths (95% t-intervals over seeds).",
        "text": [trend(df, m, "beta", "beta") for m in ("test_recon_mse", "test_kl", "interp_jump_ratio")],
    }, {
        "img": figures.metric_panels(df, "beta", ["posterior_var", "active_units", "midpoint_nn_ratio"], even_x=True),
        "caption": "The tug of war (chapter fig 1.9): as beta grows, the posterior variance moves toward the "
                   "prior's 1 and fewer latent dimensions carry information.",
        "text": [trend(df, m, "beta", "beta") for m in ("posterior_var", "active_units", "midpoint_nn_ratio")],
    }]
    curves = [r.history.assign(beta=r.config.beta) for r in recs if r.status == "ok" and not r.history.empty]
    history = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    if not history.empty:
        out.append({"img": figures.history_panel(history, "posterior_var", "beta", "mean posterior variance"),
                    "caption": "Mean posterior variance over training, one curve per beta (mean over seeds).",
                    "text": ["After the last epoch the mean posterior variance is "
                             + ", ".join(f"{v:.3g} at beta = {b:g}" for b, v in
                                         history[history.epoch == history.epoch.max()].groupby("beta")
                                         ["posterior_var"].mean().items()) + "."]})
    return out


def section_latent(df: pd.DataFrame, recs: list[RunRecord]) -> list[dict]:
    long = df.melt(id_vars=["model", "latent_dim", "seed"], value_vars=["train_recon_mse", "test_recon_mse"],
                   var_name="split", value_name="recon_mse")
    long["series"] = long["model"].str.upper() + " " + long["split"].str.replace("_recon_mse", "")
    fig = figures.Figure(figsize=(9, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    figures.sns.lineplot(data=long, x="latent_dim", y="recon_mse", hue="series", errorbar=figures.t_interval,
                         marker="o", err_style="bars", ax=ax1)
    figures.sns.lineplot(data=df, x="latent_dim", y="recon_mse_gap", hue="model", errorbar=figures.t_interval,
                         marker="o", err_style="bars", ax=ax2)
    for ax, metric in ((ax1, "test_recon_mse"), (ax2, "recon_mse_gap")):
        ax.set_xscale("log", base=2)
        ax.set_ylabel(figures.axis_label(metric))
    text = []
    for m in ("ae", "vae"):
        sub = df[df.model == m]
        if sub.empty:
            continue
        text.append(f"{m.upper()}: " + trend(sub, "test_recon_mse", "latent_dim", "latent size"))
        text.append(f"{m.upper()}: " + trend(sub, "recon_mse_gap", "latent_dim", "latent size"))
    out = [{"img": figures.to_data_uri(fig),
            "caption": "Train and test reconstruction error against latent size for the AE and the VAE (left), "
                       "and the test-minus-train gap, the over-fitting (right).", "text": text}]
    panels = [(f"{m.upper()}, latent size 2", r.images["test_mu"].astype(np.float32), r.images["test_y"])
              for m in ("ae", "vae") if (r := first_seed(recs, model=m, latent_dim=2, recon_loss="bce")) is not None
              and "test_mu" in r.images]
    if panels:
        out.append({"img": figures.latent_scatter(panels),
                    "caption": "Posterior means of the test set in a 2-D latent space, coloured by class, with the "
                               "prior's 1- and 2-sigma circles (chapter fig 1.13).", "text": []})
    return out


def _section_limitations(df: pd.DataFrame, by_axis: dict[str, pd.DataFrame], recs: list[RunRecord]) -> list[dict]:
    out = []
    loss_df, beta_df = by_axis.get("loss"), by_axis.get("beta")
    if loss_df is not None and not loss_df.empty:
        vae = loss_df[loss_df.model == "vae"]
        out.append({
            "img": figures.metric_panels(vae, "recon_loss", ["recon_laplacian_ratio", "recon_hf_ratio",
                                                            "prior_laplacian_ratio", "prior_hf_ratio"], kind="bar"),
            "caption": "Blur (chapter fig 1.14): sharpness of VAE reconstructions and prior samples as a ratio to "
                       "real test images, MSE vs BCE. 1.0 = as sharp as real; lower = blurrier.",
            "text": [compare(vae, m, "recon_loss", "bce", "mse", "BCE", "MSE")
                     for m in ("recon_laplacian_ratio", "prior_laplacian_ratio")],
        })
    if beta_df is not None and not beta_df.empty:
        out.append({
            "img": figures.metric_panels(beta_df, "beta", ["recon_laplacian_ratio", "prior_laplacian_ratio",
                                                           "recon_hf_ratio"], even_x=True),
            "caption": "Sharpness ratios across the KL weight beta.",
            "text": [trend(beta_df, m, "beta", "beta") for m in ("recon_laplacian_ratio", "prior_laplacian_ratio")],
        })
    crops, labels = [], []
    for loss in ("bce", "mse"):
        if (r := first_seed(recs, model="vae", recon_loss=loss, beta=1.0, latent_dim=df_latent(df))) is not None:
            if not crops:
                crops.append(r.images["real"][:8]), labels.append("real test")
            crops += [r.images["recon"][:8], r.images["prior"][:8]]
            labels += [f"VAE {loss.upper()} recon", f"VAE {loss.upper()} sample"]
    if crops:
        out.append({"img": figures.image_rows(crops, labels, 0.8),
                    "caption": "Crops, shown enlarged: real images, reconstructions and prior samples of the "
                               "baseline VAE with each loss.", "text": []})
    if beta_df is not None and not beta_df.empty:
        out.append({
            "img": figures.metric_panels(beta_df, "beta", ["agg_posterior_kl", "prior_nn_ratio", "recon_nn_ratio"],
                                         even_x=True),
            "caption": "Posterior vs prior: KL from N(0, I) of a Gaussian fitted to the aggregate posterior, and how "
                       "far decoded prior samples and reconstructions are from the nearest training image "
                       "(ratio to real test images).",
            "text": [trend(beta_df, m, "beta", "beta") for m in ("agg_posterior_kl", "prior_nn_ratio")]
                    + [_prior_gap_sentence(beta_df)],
        })
    vae2 = first_seed(recs, model="vae", latent_dim=2, recon_loss="bce")
    if vae2 is not None and "test_mu" in vae2.images:
        mu = vae2.images["test_mu"].astype(np.float32)
        radius = np.linalg.norm(mu, axis=1)
        out.append({"img": figures.latent_scatter([("VAE, latent size 2: test posterior means", mu,
                                                    vae2.images["test_y"])]),
                    "caption": "Where the aggregate posterior lies against the prior in a 2-D latent space.",
                    "text": [f"{(radius <= 1).mean():.0%} of test means lie within the prior's 1-sigma circle, where a "
                             f"2-D N(0, I) puts 39% of its mass; {(radius > 2).mean():.0%} lie beyond 2 sigma "
                             f"(prior: 14%)."]})
    return out


def _prior_gap_sentence(beta_df: pd.DataFrame) -> str:
    base = beta_df[beta_df.beta == 1.0] if (beta_df.beta == 1.0).any() else beta_df
    p, r = stat(base, "prior_nn_ratio"), stat(base, "recon_nn_ratio")
    return (f"At beta = {base.beta.iloc[0]:g}, prior samples lie {fmt_stat(p)} times as far from the nearest training "
            f"image as real test images do, reconstructions {fmt_stat(r)} times: "
            + ("samples from the prior are farther from the data than reconstructions." if p[0] > r[0]
               else "samples from the prior are not farther from the data than reconstructions."))


def _section_runs(df: pd.DataFrame, recs: list[RunRecord]) -> list[dict]:
    """Any list of configs (a config file, a re-run trial): the headline metrics per config and
    their images."""
    out = [{"img": figures.metric_panels(df, "label", ["test_recon_mse", "interp_jump_ratio", "prior_nn_ratio",
                                                      "recon_laplacian_ratio"], kind="bar"),
            "caption": "Headline metrics of each configuration (bars: 95% t-interval over seeds).",
            "text": [f"{label}: " + ", ".join(f"{m} {fmt_stat(stat(g, m))}" for m in
                                             ("test_recon_mse", "test_kl", "interp_jump_ratio", "prior_nn_ratio"))
                     for label, g in df.groupby("label", sort=False)]}]
    rows, labels = [], []
    by_key = {r.key: r for r in recs if r.status == "ok" and r.images}
    for label, group in df.groupby("label", sort=False):
        r = min((by_key[k] for k in group.key if k in by_key), key=lambda r: r.config.seed, default=None)
        if r is not None:
            if not rows:
                rows.append(r.images["real"]), labels.append("real test")
            rows += [r.images["recon"], r.images["prior"]]
            labels += [f"{label} recon", f"{label} samples"]
    if rows:
        out.append({"img": figures.image_rows(rows, labels), "text": [],
                    "caption": "Reconstructions of test images and decoded prior samples (lowest seed)."})
    return out


SECTIONS: dict[str, Callable[[pd.DataFrame, list[RunRecord]], list[dict]]] = {
    "model": _section_model, "loss": _section_loss, "beta": _section_beta, "latent": section_latent,
}


def summary_table(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    metrics = [m for m in SUMMARY_METRICS if m in df and df[m].notna().any()]
    header = ["run", "seeds"] + [f"{m} [{METRICS[m].unit}] ({METRICS[m].better})" for m in metrics]
    rows = []
    for label, group in df[df.status == "ok"].groupby("label", sort=False):
        rows.append([label, str(len(group))] + [fmt_stat(stat(group, m)) for m in metrics])
    return header, rows


def throughput_table(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["run", "device", "batch", "trained with", "train images/s (per model)", "inference images/s",
              "train s / run"]
    rows = []
    for label, g in df[df.status == "ok"].groupby("label", sort=False):
        stack = int(g.stacked_with.max()) if "stacked_with" in g and g.stacked_with.notna().any() else 1
        rows.append([label, ", ".join(sorted(set(g.device_used.dropna()))), str(g.batch_size.iloc[0]),
                     "alone" if stack == 1 else f"{stack} models stacked",
                     fmt_stat(stat(g, "train_images_per_s")), fmt_stat(stat(g, "infer_images_per_s")),
                     fmt_stat(stat(g, "train_seconds"))])
    return header, rows


def axis_frames(df: pd.DataFrame, records: list[RunRecord], manifest: dict
                ) -> dict[str, tuple[pd.DataFrame, list[RunRecord]]]:
    """Per axis of the manifest, in its order: the successful runs' rows and their records."""
    by_key = {r.key: r for r in records}
    out = {}
    for axis in manifest.get("axes") or {}:
        keys = list(dict.fromkeys(e["key"] for e in manifest["entries"] if e["axis"] == axis))
        out[axis] = (df[df.key.isin(keys) & (df.status == "ok")], [by_key[k] for k in keys if k in by_key])
    return out


def common_context(suite_name: str, records: list[RunRecord], manifest: dict, df: pd.DataFrame) -> dict:
    """What every suite report shows: environment, run counts, problems, throughput, metrics."""
    suite = SUITES.get(suite_name)
    labels = {e["key"]: e["label"] for e in manifest["entries"] if e.get("label")}
    problems = [{"label": labels.get(r.key, r.config.label), "seed": r.config.seed, "status": r.status,
                 "detail": f"non-finite loss at epoch {r.info.get('diverged_epoch')}" if r.status == "diverged"
                 else r.info.get("error", "")}
                for r in records if r.status != "ok"]
    tp_header, tp_rows = throughput_table(df)
    return {
        "suite": suite_name,
        "description": manifest.get("description") or (suite.description if suite else ""),
        "datasets": sorted(df.dataset.unique().tolist()) if not df.empty else [],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "env": manifest.get("environment", {}),
        "options": manifest.get("options", {}),
        "seeds": sorted(df.seed.unique().tolist()) if not df.empty else [],
        "devices": sorted(set(df.device_used.dropna())) if not df.empty else [],
        "n_runs": len(records),
        "trained": manifest.get("trained"), "cached": manifest.get("cached"),
        "wall_seconds": manifest.get("wall_seconds"),
        "train_seconds_total": float(df["train_seconds"].sum()) if "train_seconds" in df else 0.0,
        "eval_seconds_total": float(sum(r.info.get("eval_seconds", 0.0) for r in records)),
        "throughput_header": tp_header, "throughput_rows": tp_rows,
        "problems": problems,
        "metrics": [{"name": k, "unit": v.unit, "better": v.better, "description": v.description}
                    for k, v in METRICS.items()],
    }


def build_context(suite_name: str, records: list[RunRecord], manifest: dict) -> dict:
    """Everything the axes report shows, computed from the stored runs."""
    labels = {e["key"]: e["label"] for e in manifest["entries"] if e.get("label")}
    df = records_frame(records, labels)
    suite = SUITES.get(suite_name)
    manifest = {**manifest, "axes": manifest.get("axes") or (suite.axes if suite else {})}
    sections = []
    by_axis = axis_frames(df, records, manifest)
    for axis, (sub, recs) in by_axis.items():
        if not sub.empty:
            sections.append({"id": axis, "title": manifest["axes"][axis],
                             "figures": SECTIONS.get(axis, _section_runs)(sub, recs)})
    ok = df[df.status == "ok"]
    limitations = _section_limitations(ok, {a: f for a, (f, _) in by_axis.items()}, records) if not ok.empty else []
    summary_header, summary_rows = summary_table(df)
    return {**common_context(suite_name, records, manifest, df), "summary_header": summary_header,
            "summary_rows": summary_rows, "sections": sections, "limitations": limitations}


def render(context: dict, template: str = "report.html.j2") -> str:
    """Render a report template; autoescaping is on for every template (labels and config
    values are user text), and nothing is marked safe."""
    env = Environment(loader=PackageLoader("bench", "templates"), autoescape=select_autoescape(default=True))
    return env.get_template(template).render(**context)


def write_report(suite_name: str, records: list[RunRecord], manifest: dict, reports_dir: Path) -> Path:
    """Render the suite's report: the claims ledger for a claims suite, else a section per axis."""
    path = Path(reports_dir) / f"{suite_name}.html"
    if manifest.get("report") == "claims":
        from bench.claims_report import build_claims_context

        html = render(build_claims_context(suite_name, records, manifest), "claims.html.j2")
    else:
        html = render(build_context(suite_name, records, manifest))
    write_atomic(path, html.encode())
    return path
