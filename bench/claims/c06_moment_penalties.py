"""C6: hand-made mean/variance penalties (chapter eq. 1.4/1.5) need a hand-picked ratio; a bad one blurs."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Baseline,
    Claim,
    Finding,
    Groups,
    by_value,
    concat,
    figure,
    missing,
)
from bench.figures import Panel, image_panel, metric_panels
from bench.frames import lowest_seed, rows
from bench.stats import fmt, mean, side
from bench.store import RunRecord
from vae_core.config import RunConfig

SHARPNESS = "recon_laplacian_ratio"


class MomentPenalties(Claim):
    id = "C6"
    statement = "Hand-made mean/variance penalties need a hand-picked ratio; a bad one blurs."
    experiment = ("The penalties of eq. 1.4/1.5, 0.5 (|mu|^2 + ratio |log sigma^2|^2), over several ratios (0.5 is "
                  "the KL's own balance near sigma = 1) vs the closed-form KL: sharpness and error of "
                  "reconstructions.")
    rule = (f"Confirmed if (a) the sharpest and the blurriest ratio differ in {SHARPNESS} and (b) the blurriest "
            "ratio is blurrier than the closed-form KL, both with non-overlapping intervals. Refuted if even the "
            "blurriest ratio is sharper than the KL (intervals apart). Otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        ratios = base.grid.moment_ratios
        return [base.plain.replace(regularizer="moments", moment_ratio=r) for r in ratios] + [base.vae]

    def select(self, df: pd.DataFrame) -> Groups:
        d = rows(df, model="vae", recon_loss="bce")
        return {"moments": rows(d, regularizer="moments"), "closed-form KL": rows(d, regularizer="kl", beta=1.0)}

    def judge(self, groups: Groups) -> Finding:
        kl, moments = groups["closed-form KL"], groups["moments"]
        if (f := missing(kl, moments)) is not None:
            return f
        by_ratio = by_value(moments, "moment_ratio")
        blurriest = min(by_ratio, key=lambda r: mean(by_ratio[r], SHARPNESS))
        sharpest = max(by_ratio, key=lambda r: mean(by_ratio[r], SHARPNESS))
        matters = side(by_ratio[sharpest], by_ratio[blurriest], SHARPNESS) > 0
        bad_blurs = side(kl, by_ratio[blurriest], SHARPNESS) > 0
        sharper_than_kl = side(by_ratio[blurriest], kl, SHARPNESS) > 0
        measured = [figure("closed-form KL", kl, SHARPNESS), figure("closed-form KL", kl, "test_recon_mse")]
        measured += [figure(f"moments ratio {r:g}", g, m) for r, g in by_ratio.items()
                     for m in (SHARPNESS, "test_recon_mse")]
        reason = (f"sharpness of reconstructions ranges from {fmt(mean(by_ratio[blurriest], SHARPNESS))} (ratio "
                  f"{blurriest:g}) to {fmt(mean(by_ratio[sharpest], SHARPNESS))} (ratio {sharpest:g}), "
                  f"{'intervals apart' if matters else 'intervals overlapping'}; the closed-form KL gives "
                  f"{fmt(mean(kl, SHARPNESS))}, and the blurriest ratio is "
                  f"{'blurrier than it (intervals apart)' if bad_blurs else 'not clearly blurrier'}")
        if matters and bad_blurs:
            return Finding(CONFIRMED, reason, measured)
        if sharper_than_kl:
            return Finding(REFUTED, reason + "; even the blurriest ratio is sharper than the KL (intervals apart)",
                           measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        moments, kl_rows = groups["moments"], groups["closed-form KL"]
        out = [Panel(metric_panels(concat(moments, kl_rows), "label", [SHARPNESS, "test_recon_mse"], kind="bar"),
                     "Moment penalties (mom = the ratio) vs the closed-form KL: sharpness of reconstructions (ratio "
                     "to real, lower = blurrier) and reconstruction error.")]
        if moments.empty:
            return out
        by_ratio = moments.groupby("moment_ratio")[SHARPNESS].mean()
        kl = lowest_seed(records, kl_rows)
        items = [(kl.images["real"][:8] if kl else None, "real test"),
                 (kl.images["recon"][:8] if kl else None, "closed-form KL")]
        for ratio, what in ((by_ratio.idxmin(), "blurriest"), (by_ratio.idxmax(), "sharpest")):
            r = lowest_seed(records, rows(moments, moment_ratio=ratio))
            items.append((r.images["recon"][:8] if r else None, f"ratio {ratio:g} ({what})"))
        return out + image_panel(items, "Reconstructions with the closed-form KL and the blurriest and sharpest "
                                        "moment ratios, enlarged (seed 0).", 0.8)
