"""C9: MSE (and a strong KL) make outputs blurry; an adversarial loss sharpens them (chapter fig 1.14)."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
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
    like_baseline,
    main_data,
    missing,
    off_real,
    word,
)
from bench.figures import Panel, image_panel, metric_panels, rate_distortion_plane
from bench.frames import lowest_seed, rows
from bench.rate import RATE, at_shared_rate
from bench.stats import fmt, mean, side, stat
from bench.store import RunRecord
from vae_core.config import RunConfig

ADV_WEIGHT = 10.0  # the adversarial term ~7 nats/image against an MSE of ~25: comparable, not dominant


class Blur(Claim):
    id = "C9"
    statement = "MSE (and a strong KL) make outputs blurry; an adversarial loss sharpens them."
    experiment = ("Sharpness (variance of the Laplacian, ratio to real) of reconstructions: MSE vs BCE on the AE (no "
                  "KL to confound them) and on the VAE at equal rate (both beta sweeps read at one KL), the largest "
                  "beta vs beta = 1, and MSE with an adversarial loss (a discriminator, weight "
                  f"{ADV_WEIGHT:g}) vs plain MSE. The calibrated Gaussian decoder (Rybkin et al. 2021) is shown "
                  "beside them, outside the rule.")
    rule = (f"Four parts, each decided by non-overlapping intervals of the distance of {SHARPNESS} from 1 (the "
            "ratio's registered direction: 1 = as sharp as real images): the AE with MSE further from 1 than with "
            "BCE; the VAE with MSE further from 1 than with BCE at equal rate (each seed's sweep interpolated in log "
            "KL at the middle, log scale, of the rates both sweeps reach; no common rate decides nothing); the "
            "largest beta further than beta = 1; the adversarial variant nearer than plain MSE. Confirmed if all "
            "four hold; refuted if any is the opposite; otherwise inconclusive.")
    changed_after_numbers = True
    history = ("Changed twice after numbers were seen. After the first full run of the claims suite: the first "
               "version read any higher ratio as sharper (and said confirmed); the adversarial variant overshot 1 "
               "with noise, not detail (see the crops), so the rule reads the ratio's registered direction, "
               "closeness to 1. Then, on review of that run: MSE and BCE were compared at the same beta, where the KL "
               "weighs differently against each likelihood (squared error is a Gaussian NLL with variance 1/2), so "
               "the VAE sat at different rates (the review's reading: VAE-MSE at KL 7.7 had sharpness 0.103, while "
               "VAE-BCE at beta 4, KL 5.8, had 0.075). The rule now compares the losses on the AE, which has no KL, "
               "and on the VAE at equal rate.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        mse = base.plain.replace(recon_loss="mse")
        return [base.ae, base.ae.replace(recon_loss="mse"), mse.replace(adv_weight=ADV_WEIGHT),
                base.plain.replace(recon_loss="gaussian"), *base.beta_sweep("bce"), *base.beta_sweep("mse")]

    def select(self, df: pd.DataFrame) -> Groups:
        d = off_real(main_data(df))
        sweep = off_real(beta_sweep_rows(df))
        strong = rows(sweep, beta=sweep.beta.max()) if not sweep.empty else sweep
        ae = {"model": "ae", "beta": 0.0}
        return {"AE BCE": like_baseline(d, **ae), "AE MSE": like_baseline(d, **ae, recon_loss="mse"),
                "VAE BCE": like_baseline(d), "VAE MSE": like_baseline(d, recon_loss="mse"),
                "VAE MSE + adversarial": like_baseline(d, recon_loss="mse", adv_weight=ADV_WEIGHT),
                "strong KL": strong, "VAE calibrated Gaussian": like_baseline(d, recon_loss="gaussian"),
                "sweep": sweep, "MSE sweep": off_real(beta_sweep_rows(df, "mse"))}

    def judge(self, groups: Groups) -> Finding:
        names = ("AE BCE", "AE MSE", "VAE BCE", "VAE MSE", "VAE MSE + adversarial", "strong KL")
        ae_bce, ae_mse, bce, mse, adv, strong = (groups[k] for k in names)
        if (f := missing(ae_bce, ae_mse, bce, mse, adv)) is not None:
            return f
        sweeps = groups["sweep"], groups["MSE sweep"]
        if min(len(by_value(s, "beta")) for s in sweeps) < 2:
            return Finding(INCONCLUSIVE, "the KL-weight sweeps did not finish")
        reading = at_shared_rate(*sweeps, OFF_REAL)
        if reading is None:
            equal_rate, equal_rate_side = "VAE at equal rate: the two sweeps reach no common rate", 0
        else:
            rate, at_bce, at_mse = reading
            equal_rate = f"VAE at equal rate ({fmt(rate)} nats / image): MSE further from it than BCE"
            equal_rate_side = side(at_mse, at_bce, OFF_REAL)
        hi = strong.beta.max()
        parts = {"AE: MSE further from real sharpness than BCE": side(ae_mse, ae_bce, OFF_REAL),
                 equal_rate: equal_rate_side,
                 f"strong KL (beta={hi:g}) further from it than beta=1": side(strong, bce, OFF_REAL),
                 "adversarial loss nearer to it than plain MSE": side(mse, adv, OFF_REAL)}
        named = {"AE BCE": ae_bce, "AE MSE": ae_mse, "VAE BCE": bce, "VAE MSE": mse, "VAE MSE + adversarial": adv,
                 f"VAE BCE beta={hi:g}": strong, "VAE calibrated Gaussian": groups["VAE calibrated Gaussian"]}
        measured = [figure(name, g, m) for m in (SHARPNESS, "recon_fid") for name, g in named.items() if not g.empty]
        if reading is not None:
            measured += [(f"{name} at rate {fmt(rate)} nats / image: |{SHARPNESS} - 1|", str(stat(a, OFF_REAL)))
                         for name, a in (("VAE BCE sweep", at_bce), ("VAE MSE sweep", at_mse))]
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
        named = {name: groups[name] for name in ("AE BCE", "AE MSE", "VAE BCE", "VAE MSE", "VAE MSE + adversarial",
                                                 "VAE calibrated Gaussian")}
        strong = groups["strong KL"]
        if not strong.empty:
            named[f"VAE BCE beta={strong.beta.max():g}"] = strong
        named = {name: g.assign(label=name) for name, g in named.items() if not g.empty}
        out = [Panel(metric_panels(concat(*named.values()), "label", [SHARPNESS, "recon_hf_ratio", "recon_fid"],
                                   kind="bar"),
                     "Sharpness of reconstructions (ratio to real; 1 = as sharp as real, lower = blurrier) and their "
                     "Frechet distance to real images in the evaluator's features: the AE with each loss, and the VAE "
                     "with BCE, MSE, MSE with the adversarial loss, the calibrated Gaussian decoder and the largest KL "
                     "weight (whiskers: the spread over seeds).")]
        sweeps = concat(groups["sweep"], groups["MSE sweep"], groups["VAE calibrated Gaussian"])
        if not sweeps.empty:
            out.append(Panel(rate_distortion_plane(sweeps, RATE, OFF_REAL, "recon_loss"),
                             f"Distance of {SHARPNESS} from 1 (0 = as sharp as real images) against the rate, one line "
                             "per loss through its beta sweep (beta by each point); the calibrated Gaussian decoder "
                             "as one point. The rule reads the two lines at one shared rate."))
        items = []
        for name, sub in named.items():
            if (r := lowest_seed(records, sub)) is not None:
                if not items:
                    items.append((r.images["real"][:8], "real test"))
                items.append((r.images["recon"][:8], name))
        return out + image_panel(items, "Reconstructions of the same test images, enlarged (seed 0).", 0.8)
