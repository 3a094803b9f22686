"""C7: pooling the batch into one posterior (the chapter's misconception, fig 1.7) breaks reconstruction."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
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
from bench.stats import beats, fmt, mean
from bench.store import RunRecord
from vae_core.config import RunConfig


class PooledPosterior(Claim):
    id = "C7"
    statement = "Pooling the batch into one posterior (the misconception) breaks reconstruction."
    experiment = "Chapter fig 1.7 vs 1.8: a VAE whose batch is pooled into one Gaussian vs the per-sample posterior."
    rule = ("Confirmed if the pooled model's test reconstruction error is worse than the per-sample VAE's "
            f"(intervals apart) and at least {MEAN_IMAGE_SHARE:.0%} of the mean training image's. Refuted if it is "
            "not worse and below the mean image's. Otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        return [base.plain.replace(model="pooled"), base.vae]

    def select(self, df: pd.DataFrame) -> Groups:
        d = main_data(df)
        return {"pooled posterior": like_baseline(d, model="pooled"), "per-sample posterior": like_baseline(d)}

    def judge(self, groups: Groups) -> Finding:
        pooled, vae = groups["pooled posterior"], groups["per-sample posterior"]
        if (f := missing(pooled, vae)) is not None:
            return f
        worse = beats(vae, pooled, "test_recon_mse") > 0
        err, ref = mean(pooled, "test_recon_mse"), mean(pooled, "mean_image_mse")
        broken = err >= MEAN_IMAGE_SHARE * ref
        measured = [figure("per-sample posterior", vae, "test_recon_mse"),
                    figure("pooled posterior", pooled, "test_recon_mse"),
                    figure("mean training image", pooled, "mean_image_mse"),
                    figure("pooled posterior", pooled, "latent_knn_accuracy"),
                    figure("per-sample posterior", vae, "latent_knn_accuracy")]
        reason = (f"the pooled posterior reconstructs with error {fmt(err)} vs {fmt(mean(vae, 'test_recon_mse'))} "
                  f"per sample ({'worse, intervals apart' if worse else 'not clearly worse'}), {err / ref:.0%} of "
                  f"the mean image's {fmt(ref)}")
        if worse and broken:
            return Finding(CONFIRMED, reason, measured)
        if not worse and err < ref:
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        pooled_rows, vae_rows = groups["pooled posterior"], groups["per-sample posterior"]
        pooled, vae = lowest_seed(records, pooled_rows), lowest_seed(records, vae_rows)
        both = concat(pooled_rows, vae_rows)
        out = [Panel(compare_bars(both, ["test_recon_mse"], "squared error / image (lower better)", hue="model",
                                  reference=(mean(both, "mean_image_mse"), "answering the mean training image")),
                     "Reconstruction error of the pooled and the per-sample posterior; the dashed line is the error "
                     "of answering the mean training image (a constant of the data, not a model).")]
        return out + image_panel([(vae.images["real"] if vae else None, "real test"),
                                  (vae.images["recon"] if vae else None, "per-sample posterior"),
                                  (pooled.images["recon"] if pooled else None, "pooled posterior")],
                                 "Reconstructions of the same test images (seed 0).")
