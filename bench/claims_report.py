"""The claims report (`reports/claims.html`): for each claim C1-C13 the statement, the
experiment, the rule, the verdict with its reason, the measured figures with 95% intervals and a
figure, all computed from the claims suite's stored runs (the rules live in `bench.claims`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from bench import figures
from bench.claims import (
    BASE_LATENT,
    C1_FIGURES,
    CLAIMS,
    beta_sweep,
    c5_runs,
    judge_c10,
    main_data,
    mmd_null_level,
    rows,
)
from bench.report import axis_frames, common_context, fmt, records_frame, section_latent, stat
from bench.store import RunRecord

Figures = list[dict]  # {"img", "caption"} as the report macros show them


def _match(records: list[RunRecord], df: pd.DataFrame) -> RunRecord | None:
    """The lowest-seed record among the rows of `df`."""
    keys = set(df.key)
    hits = [r for r in records if r.key in keys and r.status == "ok" and r.images]
    return min(hits, key=lambda r: r.config.seed) if hits else None


def _image_figure(rows_and_labels: list[tuple[np.ndarray, str]], caption: str, cell: float = 0.55) -> Figures:
    rows_and_labels = [(r, label) for r, label in rows_and_labels if r is not None]
    if not rows_and_labels:
        return []
    return [{"img": figures.image_rows([r for r, _ in rows_and_labels], [label for _, label in rows_and_labels],
                                       cell), "caption": caption}]


def fig_c1(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    main = main_data(df)
    out = [{"img": figures.metric_panels(main, "model", list(C1_FIGURES), hue="arch", kind="bar"),
            "caption": "AE vs VAE for the MLP and the conv network (bars: mean over seeds, 95% t-interval)."}]
    lines = df[df.dataset == "lines"]
    ae, vae = _match(recs, rows(lines, model="ae")), _match(recs, rows(lines, model="vae"))
    if ae is not None and vae is not None and "paths" in ae.images:
        pairs = []
        for i in range(3):
            start, end = ae.images["path_ends"][i]
            for name, r in (("AE", ae), ("VAE", vae)):
                pairs.append((np.concatenate([start[None], r.images["paths"][i], end[None]]), f"{name} path {i + 1}"))
        out += _image_figure(pairs, "Lines data: the same pairs of test lines (first and last column) and the images "
                                    "decoded along the straight latent path between their codes; a smooth space "
                                    "turns the line evenly from one angle to the other (seed 0).", 0.45)
    return out


def fig_c2(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    return [{"img": f["img"], "caption": f["caption"]} for f in section_latent(df, recs)[:1]]


def fig_c3(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    d = rows(main_data(df), arch="mlp", recon_weight=1.0)
    out = [{"img": figures.metric_panels(d, "label", ["posterior_var", *C1_FIGURES], kind="bar"),
            "caption": "The AE, the VAE trained on reconstruction only (beta = 0) and the baseline VAE (beta = 1)."}]
    return out + _variance_curves(recs, set(rows(d, model="vae").key),
                                  "Mean posterior variance over training with and without the KL term.")


def _variance_curves(recs: list[RunRecord], keys: set[str], caption: str) -> Figures:
    """Mean posterior variance per epoch, one curve per beta, over the runs with these keys."""
    curves = [r.history.assign(beta=r.config.beta) for r in recs
              if r.key in keys and r.status == "ok" and not r.history.empty]
    if not curves:
        return []
    return [{"img": figures.history_panel(pd.concat(curves, ignore_index=True), "posterior_var", "beta",
                                          "mean posterior variance"), "caption": caption}]


def fig_c4(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    kl_only = _match(recs, rows(main_data(df), recon_weight=0.0))
    base = _match(recs, rows(main_data(df), recon_weight=1.0, beta=1.0))
    out = [{"img": figures.compare_bars(main_data(df), ["test_recon_mse", "mean_image_mse"],
                                        "squared error / image (lower better)", hue="label"),
            "caption": "Test reconstruction error of the KL-only and the baseline VAE, and the error of answering "
                       "the mean training image."}]
    out += _image_figure([(base.images["real"] if base else None, "real test"),
                          (kl_only.images["recon"] if kl_only else None, "KL only: recon"),
                          (base.images["recon"] if base else None, "both terms: recon")],
                         "Reconstructions with the KL term only and with both terms (seed 0).")
    return out


def fig_c5(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    panels, footers = [], []
    for name, g in c5_runs(df).items():
        r = _match(recs, g)
        if r is None or "test_mu" not in r.images:
            continue
        panels.append((name, r.images["test_mu"].astype(np.float32), r.images["test_y"]))
        footers.append(f"kNN accuracy {fmt(stat(g, 'latent_knn_accuracy')[0])}, silhouette "
                       f"{fmt(stat(g, 'latent_silhouette')[0])}\nprior coverage {fmt(stat(g, 'prior_coverage')[0])}"
                       f" (means over {len(g)} seeds)")
    if not panels:
        return []
    return [{"img": figures.latent_scatter(panels, footers=footers),
             "caption": "Chapter fig 1.13 re-measured: posterior means of the test set in a 2-D latent space, by "
                        "class, for reconstruction only, KL only and both (seed 0), with the prior's 1- and 2-sigma "
                        "circles; under each panel the class separation and prior coverage, seed means."}]


def fig_c6(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    d = rows(df, model="vae", recon_loss="bce")
    out = [{"img": figures.metric_panels(d, "label", ["recon_laplacian_ratio", "test_recon_mse"], kind="bar"),
            "caption": "Moment penalties (mom = the ratio) vs the closed-form KL: sharpness of reconstructions (ratio "
                       "to real, lower = blurrier) and reconstruction error."}]
    moments = rows(d, regularizer="moments")
    if not moments.empty:
        by_ratio = moments.groupby("moment_ratio")["recon_laplacian_ratio"].mean()
        pick = [(by_ratio.idxmin(), "blurriest"), (by_ratio.idxmax(), "sharpest")]
        kl = _match(recs, rows(d, regularizer="kl", beta=1.0))
        items = [(kl.images["real"][:8] if kl else None, "real test"),
                 (kl.images["recon"][:8] if kl else None, "closed-form KL")]
        for ratio, what in pick:
            r = _match(recs, rows(moments, moment_ratio=ratio))
            items.append((r.images["recon"][:8] if r else None, f"ratio {ratio:g} ({what})"))
        out += _image_figure(items, "Reconstructions with the closed-form KL and the blurriest and sharpest "
                                    "moment ratios, enlarged (seed 0).", 0.8)
    return out


def fig_c7(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    pooled, vae = _match(recs, rows(df, model="pooled")), _match(recs, rows(df, model="vae"))
    out = [{"img": figures.compare_bars(df, ["test_recon_mse", "mean_image_mse"],
                                        "squared error / image (lower better)", hue="model"),
            "caption": "Reconstruction error of the pooled and the per-sample posterior, and of the mean image."}]
    out += _image_figure([(vae.images["real"] if vae else None, "real test"),
                          (vae.images["recon"] if vae else None, "per-sample posterior"),
                          (pooled.images["recon"] if pooled else None, "pooled posterior")],
                         "Reconstructions of the same test images (seed 0).")
    return out


def fig_c8(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    sweep = pd.concat(beta_sweep(df).values()) if beta_sweep(df) else df.iloc[0:0]
    out = [{"img": figures.metric_panels(sweep, "beta", ["test_recon_mse", "test_kl", "interp_jump_ratio",
                                                         "posterior_var"], even_x=True),
            "caption": "The tug of war (chapter fig 1.9) against the KL weight beta (95% t-intervals over seeds)."}]
    return out + _variance_curves(recs, set(sweep.key),
                                  "Mean posterior variance over training, one curve per beta (mean over seeds).")


def fig_c9(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    d = rows(main_data(df), model="vae", regularizer="kl", recon_weight=1.0, latent_dim=20, arch="mlp")
    hi = d.beta.max()
    shown = d[(d.beta == 1.0) | ((d.beta == hi) & (d.recon_loss == "bce"))]
    out = [{"img": figures.metric_panels(shown, "label", ["recon_laplacian_ratio", "recon_hf_ratio", "recon_fid"],
                                         kind="bar"),
            "caption": "Sharpness of reconstructions (ratio to real; lower = blurrier) and their Frechet distance to "
                       "real images in the evaluator's features, for BCE, MSE, MSE with the adversarial loss, and "
                       "the largest KL weight."}]
    items = []
    for name, sub in (("BCE", rows(shown, recon_loss="bce", beta=1.0)), ("MSE", rows(shown, recon_loss="mse",
                                                                                     adv_weight=0.0)),
                      ("MSE + adversarial", shown[(shown.recon_loss == "mse") & (shown.adv_weight > 0)]),
                      (f"BCE beta={hi:g}", rows(shown, recon_loss="bce", beta=hi))):
        r = _match(recs, sub)
        if r is not None:
            if not items:
                items.append((r.images["real"][:8], "real test"))
            items.append((r.images["recon"][:8], name))
    out += _image_figure(items, "Reconstructions of the same test images, enlarged (seed 0).", 0.8)
    return out


def fig_c10(df: pd.DataFrame, recs: list[RunRecord], mmd_null: float) -> Figures:
    vae = rows(main_data(df), model="vae", beta=1.0)
    out = [{"img": figures.compare_bars(vae, ["recon_fid", "prior_fid"], "Frechet distance to real test images\n"
                                        "[evaluator feature units^2] (lower better)"),
            "caption": "Reconstructions vs decoded prior samples, measured in the evaluator's features."},
           {"img": figures.compare_bars(vae, ["agg_posterior_mmd"], "MMD^2 to N(0, I) (lower better)",
                                        reference=(mmd_null, "two N(0, I) samples (95th pct.)")),
            "caption": "Distance of the aggregate posterior from the prior against what two prior samples show."}]
    r = _match(recs, vae)
    if r is not None:
        out += _image_figure([(r.images["real"], "real test"), (r.images["recon"], "reconstructions"),
                              (r.images["prior"], "prior samples")], "Reconstructions and prior samples (seed 0).")
    return out


def fig_c11(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    out = []
    groups = sorted(rows(df, model="cvae").groupby("latent_dim"), key=lambda item: item[0] != BASE_LATENT)
    for z, g in groups:  # the size the rule judges first
        r = _match(recs, g)
        if r is None or "cond_samples" not in r.images:
            continue
        samples = r.images["cond_samples"]
        per_class = len(samples) // 10
        out += _image_figure([(samples[i * per_class:(i + 1) * per_class], f"asked for {i}") for i in range(10)],
                             f"Conditional VAE, latent size {z}: z ~ N(0, I) decoded with each requested class, "
                             f"one row per class (seed 0).", 0.45)
    return out


def fig_c12(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    vae = rows(df, model="vae", beta=1.0)
    cols = [c for c in vae.columns if c.startswith("iwae_nll_k")]
    if vae.empty or not cols:
        return []
    long = vae.melt(id_vars=["seed"], value_vars=cols, var_name="k", value_name="nll")
    long["k"] = long["k"].str.removeprefix("iwae_nll_k").astype(int)
    return [{"img": figures.xy_lines(long, "k", "nll", "seed", "k (importance samples; k = 1 is the ELBO)",
                                     "-IWAE_k [nats / image] (lower = tighter)", logx=True),
             "caption": "The negative importance-weighted bound against k, one line per seed: each k is a bound on "
                        "-log p(x), tighter as k grows."}]


def fig_c13(df: pd.DataFrame, recs: list[RunRecord]) -> Figures:
    d = df[df.test_kl_mc.notna()] if "test_kl_mc" in df else df.iloc[0:0]
    if d.empty:
        return []
    return [{"img": figures.estimate_check(d.test_kl_mc.to_numpy(), d.test_kl_mc_se.to_numpy(),
                                           d.test_kl.to_numpy(), "closed-form KL, eq. 1.6 [nats / image]",
                                           "Monte-Carlo estimate [nats / image]"),
             "caption": "Closed-form KL of each VAE of the beta sweep against its Monte-Carlo estimate, with "
                        "+-3 standard errors, on the identity line."}]


FIGURES: dict[str, Callable[..., Figures]] = {
    "C1": fig_c1, "C2": fig_c2, "C3": fig_c3, "C4": fig_c4, "C5": fig_c5, "C6": fig_c6, "C7": fig_c7,
    "C8": fig_c8, "C9": fig_c9, "C11": fig_c11, "C12": fig_c12, "C13": fig_c13,
}


def build_claims_context(suite_name: str, records: list[RunRecord], manifest: dict) -> dict:
    """Judge every claim on its runs and lay out the ledger."""
    df = records_frame(records)
    by_axis = axis_frames(df, records, manifest)
    claims = []
    for claim_id, claim in CLAIMS.items():
        sub, recs = by_axis.get(claim_id, (df.iloc[0:0], []))
        if claim_id == "C10":
            d = main_data(sub)
            null = mmd_null_level(int(d.latent_dim.iloc[0]) if not d.empty else 20)
            finding, figs = judge_c10(sub, null), fig_c10(sub, recs, null) if not sub.empty else []
        else:
            finding = claim.judge(sub)
            figs = FIGURES[claim_id](sub, recs) if not sub.empty else []
        claims.append({"id": claim_id, "statement": claim.statement, "experiment": claim.experiment,
                       "rule": claim.rule, "verdict": finding.verdict, "reason": finding.reason,
                       "measured": finding.measured, "figures": figs,
                       "runs": sorted(set(sub.label)) if not sub.empty else []})
    accuracy = df.evaluator_accuracy.dropna() if "evaluator_accuracy" in df else pd.Series(dtype=float)
    evaluators = {ds: float(g.evaluator_accuracy.dropna().iloc[0]) for ds, g in df.groupby("dataset")
                  if g.evaluator_accuracy.notna().any()} if not accuracy.empty else {}
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("confirmed", "refuted", "inconclusive")}
    return {**common_context(suite_name, records, manifest, df), "claims": claims, "counts": counts,
            "evaluators": evaluators}
