"""C4: with the KL term only, nothing is learned."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    CHECK,
    CONFIRMED,
    INCONCLUSIVE,
    MEAN_IMAGE_SHARE,
    REFUTED,
    Baseline,
    Claim,
    Finding,
    Groups,
    concat,
    figure,
    like_baseline,
    main_data,
    missing,
)
from bench.figures import Panel, compare_bars, image_panel
from bench.frames import lowest_seed
from bench.stats import fmt, mean
from bench.store import RunRecord
from vae_core.config import RunConfig

KL_NEAR_ZERO = 0.1  # nats per image
LEARNED_SHARE = 0.8  # an error below 80% of the mean image's means something was learned


class KLOnly(Claim):
    id = "C4"
    statement = "With KL only, nothing is learned."
    kind = CHECK
    why_check = ("With the reconstruction weight at 0 the decoder gets no gradient and the KL alone is minimised by "
                 "q(z|x) = N(0, I): the numbers confirm it unless the training code is wrong.")
    experiment = ("VAE with reconstruction weight 0: KL, active units, reconstruction error against the error of the "
                  "mean training image.")
    rule = (f"Confirmed if the test KL is below {KL_NEAR_ZERO} nats/image, no seed has an active unit, and the "
            f"reconstruction error is at least {MEAN_IMAGE_SHARE:.0%} of the mean image's. Refuted if a unit is "
            f"active or the error is below {LEARNED_SHARE:.0%} of the mean image's. Otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        return [base.plain.replace(recon_weight=0.0), base.vae]

    def select(self, df: pd.DataFrame) -> Groups:
        main = main_data(df)
        return {"KL only": like_baseline(main, recon_weight=0.0), "both terms": like_baseline(main)}

    def judge(self, groups: Groups) -> Finding:
        kl_only = groups["KL only"]
        if (f := missing(kl_only)) is not None:
            return f
        kl, au = mean(kl_only, "test_kl"), kl_only.active_units.max()
        err, ref = mean(kl_only, "test_recon_mse"), mean(kl_only, "mean_image_mse")
        measured = [figure("KL only", kl_only, m) for m in ("test_kl", "active_units", "test_recon_mse",
                                                           "mean_image_mse")]
        reason = (f"KL {fmt(kl)} nats/image (near 0: below {KL_NEAR_ZERO}), active units at most {au:g}, "
                  f"reconstruction error {fmt(err)} vs {fmt(ref)} for the mean training image "
                  f"({err / ref:.0%} of it)")
        if kl < KL_NEAR_ZERO and au == 0 and err >= MEAN_IMAGE_SHARE * ref:
            return Finding(CONFIRMED, reason, measured)
        if au >= 1 or err < LEARNED_SHARE * ref:
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        kl_only, base = lowest_seed(records, groups["KL only"]), lowest_seed(records, groups["both terms"])
        both = concat(groups["KL only"], groups["both terms"])
        out = [Panel(compare_bars(both, ["test_recon_mse"], "squared error / image (lower better)", hue="label",
                                  reference=(mean(both, "mean_image_mse"), "answering the mean training image")),
                     "Test reconstruction error of the KL-only and the baseline VAE; the dashed line is the error of "
                     "answering the mean training image (a constant of the data, not a model).")]
        return out + image_panel([(base.images["real"] if base else None, "real test"),
                                  (kl_only.images["recon"] if kl_only else None, "KL only: recon"),
                                  (base.images["recon"] if base else None, "both terms: recon")],
                                 "Reconstructions with the KL term only and with both terms (seed 0).")
