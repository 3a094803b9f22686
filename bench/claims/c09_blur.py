"""C9: MSE (and a strong KL) make outputs blurry; an adversarial loss sharpens them (chapter fig 1.14)."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    BASE_LATENT,
    CONFIRMED,
    INCONCLUSIVE,
    OFF_REAL,
    REFUTED,
    SHARPNESS,
    Baseline,
    Claim,
    Finding,
    Groups,
    beta_sweep_rows,
    by_value,
    concat,
    figure,
    main_data,
    missing,
    off_real,
    word,
)
from bench.figures import Panel, image_panel, metric_panels
from bench.frames import lowest_seed, rows
from bench.stats import fmt, mean, side
from bench.store import RunRecord
from vae_core.config import RunConfig

ADV_WEIGHT = 10.0  # the adversarial term ~7 nats/image against an MSE of ~25: comparable, not dominant


class Blur(Claim):
    id = "C9"
    statement = "MSE (and a strong KL) make outputs blurry; an adversarial loss sharpens them."
    experiment = ("Sharpness (variance of the Laplacian, ratio to real) of reconstructions: MSE vs BCE, the largest "
                  "beta vs beta = 1, and MSE with an adversarial loss (a discriminator, weight "
                  f"{ADV_WEIGHT:g}) vs plain MSE.")
    rule = (f"Three parts, each decided by non-overlapping intervals of the distance of {SHARPNESS} from 1 "
            "(the ratio's registered direction: 1 = as sharp as real images): MSE further from 1 than BCE; the "
            "largest beta further than beta = 1; the adversarial variant nearer than plain MSE. Confirmed if all "
            "three hold; refuted if any is the opposite; otherwise inconclusive.")
    changed_after_numbers = True
    history = ("Changed after the first full run of the claims suite: the first version read any higher ratio as "
               "sharper (and said confirmed); the adversarial variant overshot 1 with noise, not detail (see the "
               "crops), so the rule now reads the ratio's registered direction, closeness to 1.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        mse = base.plain.replace(recon_loss="mse")
        return [base.vae, mse, mse.replace(adv_weight=ADV_WEIGHT), *base.beta_sweep()]

    def select(self, df: pd.DataFrame) -> Groups:
        d = off_real(rows(main_data(df), model="vae", regularizer="kl", recon_weight=1.0, latent_dim=BASE_LATENT,
                          arch="mlp"))
        adv = rows(d, recon_loss="mse", beta=1.0)
        sweep = off_real(beta_sweep_rows(df))
        strong = rows(sweep, beta=sweep.beta.max()) if not sweep.empty else sweep
        return {"VAE BCE": rows(d, recon_loss="bce", beta=1.0, adv_weight=0.0),
                "VAE MSE": rows(d, recon_loss="mse", beta=1.0, adv_weight=0.0),
                "VAE MSE + adversarial": adv[adv.adv_weight > 0], "strong KL": strong, "sweep": sweep}

    def judge(self, groups: Groups) -> Finding:
        bce, mse, adv, strong = (groups[k] for k in ("VAE BCE", "VAE MSE", "VAE MSE + adversarial", "strong KL"))
        if (f := missing(bce, mse, adv)) is not None:
            return f
        if len(by_value(groups["sweep"], "beta")) < 2:
            return Finding(INCONCLUSIVE, "the KL-weight sweep did not finish")
        hi = strong.beta.max()
        parts = {"MSE further from real sharpness than BCE": side(mse, bce, OFF_REAL),
                 f"strong KL (beta={hi:g}) further from it than beta=1": side(strong, bce, OFF_REAL),
                 "adversarial loss nearer to it than plain MSE": side(mse, adv, OFF_REAL)}
        measured = [figure(name, g, m) for m in (SHARPNESS, "recon_fid") for name, g in
                    (("VAE BCE", bce), ("VAE MSE", mse), ("VAE MSE + adversarial", adv), (f"VAE BCE beta={hi:g}",
                                                                                          strong))]
        reason = "; ".join(f"{name}: {word(o, 'yes', 'no, the opposite', 'undecided (intervals overlap)')}"
                           for name, o in parts.items())
        if mean(adv, SHARPNESS) > 1:  # not part of the rule: what a reader must know to read the ratio
            reason += (f" (the adversarial variant's sharpness ratio {fmt(mean(adv, SHARPNESS))} is above 1: more "
                       f"Laplacian energy than real images; its recon_fid is {fmt(mean(adv, 'recon_fid'))} against "
                       f"{fmt(mean(mse, 'recon_fid'))} for plain MSE)")
        if all(o > 0 for o in parts.values()):
            return Finding(CONFIRMED, reason, measured)
        if any(o < 0 for o in parts.values()):
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        named = {"BCE": groups["VAE BCE"], "MSE": groups["VAE MSE"],
                 "MSE + adversarial": groups["VAE MSE + adversarial"]}
        strong = groups["strong KL"]
        if not strong.empty:
            named[f"BCE beta={strong.beta.max():g}"] = strong
        out = [Panel(metric_panels(concat(*named.values()), "label", [SHARPNESS, "recon_hf_ratio", "recon_fid"],
                                   kind="bar"),
                     "Sharpness of reconstructions (ratio to real; lower = blurrier) and their Frechet distance to "
                     "real images in the evaluator's features, for BCE, MSE, MSE with the adversarial loss, and the "
                     "largest KL weight.")]
        items = []
        for name, sub in named.items():
            if (r := lowest_seed(records, sub)) is not None:
                if not items:
                    items.append((r.images["real"][:8], "real test"))
                items.append((r.images["recon"][:8], name))
        return out + image_panel(items, "Reconstructions of the same test images, enlarged (seed 0).", 0.8)
