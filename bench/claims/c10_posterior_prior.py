"""C10: the posterior does not match the prior: prior samples fall in holes (chapter fig 1.14)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from bench.claims.base import (
    BASE_LATENT,
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Baseline,
    Claim,
    Finding,
    Groups,
    figure,
    like_baseline,
    main_data,
    missing,
)
from bench.figures import Panel, compare_bars, image_panel
from bench.frames import lowest_seed
from bench.stats import fmt, stat
from bench.store import RunRecord
from vae_core.config import RunConfig
from vae_core.metrics.rate import mmd_to_standard_normal

NULL_PERCENTILE = 95


@lru_cache(maxsize=8)
def mmd_null_level(latent_dim: int, n: int = 1000, draws: int = 20, seed: int = 0) -> float:
    """95th percentile of the MMD^2 estimate between two N(0, I) samples of `n` points in
    `latent_dim` dimensions: what `agg_posterior_mmd` reads when the posterior does match."""
    gen = torch.Generator().manual_seed(seed)
    values = [mmd_to_standard_normal(torch.randn((n, latent_dim), generator=gen), gen) for _ in range(draws)]
    return float(np.percentile(values, NULL_PERCENTILE))


class PosteriorPrior(Claim):
    id = "C10"
    statement = "The posterior does not match the prior: prior samples fall in holes."
    experiment = ("Baseline VAE: aggregate posterior vs N(0, I) (MMD, moment gap, active units, coverage), and prior "
                  "samples vs reconstructions in the evaluator's feature space (Frechet distance).")
    rule = ("Confirmed if (a) the aggregate-posterior MMD^2's 95% interval lies above the "
            f"{NULL_PERCENTILE}th percentile of MMD^2 between two N(0, I) samples of the same size, and (b) prior "
            "samples are farther from real images than reconstructions (prior_fid above recon_fid, intervals apart). "
            "Refuted if the MMD^2 mean is within the null and (b) fails. Otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        return [base.vae]

    def select(self, df: pd.DataFrame) -> Groups:
        return {"VAE": like_baseline(main_data(df))}

    @staticmethod
    def null_level(vae: pd.DataFrame) -> float:
        return mmd_null_level(int(vae.latent_dim.iloc[0]) if not vae.empty else BASE_LATENT)

    def judge(self, groups: Groups) -> Finding:
        vae = groups["VAE"]
        if (f := missing(vae)) is not None:
            return f
        mmd_null = self.null_level(vae)
        mmd = stat(vae, "agg_posterior_mmd")
        mismatch = mmd.n >= 2 and mmd.lo > mmd_null
        use_fid = vae.prior_fid.notna().any() if "prior_fid" in vae else False
        pair = ("prior_fid", "recon_fid") if use_fid else ("prior_nn_ratio", "recon_nn_ratio")
        samples_worse = stat(vae, pair[0]).lo > stat(vae, pair[1]).hi if len(vae) >= 2 else False
        measured = [figure("VAE", vae, m) for m in ("agg_posterior_mmd", "agg_posterior_kl", "active_units",
                                                    "prior_coverage", *pair, "prior_precision", "prior_recall")]
        measured.insert(1, (f"MMD^2 of two N(0, I) samples of the same size (null, {NULL_PERCENTILE}th percentile)",
                            fmt(mmd_null)))
        reason = (f"aggregate-posterior MMD^2 to N(0, I) is {mmd}, "
                  f"{'above' if mismatch else 'not clearly above'} the {fmt(mmd_null)} two prior samples reach; "
                  f"prior samples are {'worse' if samples_worse else 'not clearly worse'} than reconstructions by "
                  f"{pair[0]} vs {pair[1]}")
        if mismatch and samples_worse:
            return Finding(CONFIRMED, reason, measured)
        if mmd.mean <= mmd_null and not samples_worse:
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        vae = groups["VAE"]
        null = (self.null_level(vae), f"two N(0, I) samples ({NULL_PERCENTILE}th pct.)")
        out = [Panel(compare_bars(vae, ["recon_fid", "prior_fid"], "Frechet distance to real test images\n"
                                  "[evaluator feature units^2] (lower better)"),
                     "Reconstructions vs decoded prior samples, measured in the evaluator's features."),
               Panel(compare_bars(vae, ["agg_posterior_mmd"], "MMD^2 to N(0, I) (lower better)", reference=null),
                     "Distance of the aggregate posterior from the prior against what two prior samples show.")]
        r = lowest_seed(records, vae)
        if r is not None:
            out += image_panel([(r.images["real"], "real test"), (r.images["recon"], "reconstructions"),
                                (r.images["prior"], "prior samples")], "Reconstructions and prior samples (seed 0).")
        return out
