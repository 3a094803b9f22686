"""C5: with both terms, classes are continuous and dense in latent space (chapter fig 1.13)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.claims.base import (
    CHANCE,
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
from bench.figures import Panel, latent_scatter
from bench.frames import lowest_seed
from bench.stats import beats, fmt, mean
from bench.store import RunRecord
from vae_core.config import RunConfig

NOTHING_LEARNED = 2 * CHANCE  # kNN accuracy of the KL-only codes below this: no class structure
KL_ONLY_LEARNED = 0.5  # kNN accuracy of the KL-only codes at or above this refutes the claim


class BothTerms(Claim):
    id = "C5"
    statement = "With both terms, classes are continuous and dense in latent space."
    experiment = ("Chapter fig 1.13: latent size 2, three trainings (reconstruction only, KL only, both); the test "
                  "set's posterior means by class, with class separation (5-NN accuracy, silhouette) and prior "
                  "coverage.")
    rule = ("Confirmed if (a) both terms cover the prior better than reconstruction only, (b) both terms separate "
            "classes better than KL only (kNN accuracy), both with non-overlapping intervals, and (c) KL only "
            "separates classes below twice chance. Refuted if reconstruction only covers the prior better (intervals "
            f"apart) or KL only reaches {KL_ONLY_LEARNED} kNN accuracy. Otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        return [base.plain.replace(latent_dim=2, **change) for change in ({"beta": 0.0}, {"recon_weight": 0.0}, {})]

    def select(self, df: pd.DataFrame) -> Groups:
        d = main_data(df)
        return {"reconstruction only": like_baseline(d, latent_dim=2, beta=0.0),
                "KL only": like_baseline(d, latent_dim=2, recon_weight=0.0), "both": like_baseline(d, latent_dim=2)}

    def judge(self, groups: Groups) -> Finding:
        if (f := missing(*groups.values())) is not None:
            return f
        rec, kl, both = groups["reconstruction only"], groups["KL only"], groups["both"]
        measured = [figure(name, g, m) for m in ("latent_knn_accuracy", "latent_silhouette", "prior_coverage")
                    for name, g in groups.items()]
        dense = beats(both, rec, "prior_coverage")
        learned = beats(both, kl, "latent_knn_accuracy")
        kl_accuracy = mean(kl, "latent_knn_accuracy")
        coverage = "higher than" if dense > 0 else "lower than" if dense < 0 else "not clearly different from"
        separation = ("better than" if learned > 0 else "worse than" if learned < 0
                      else "not clearly differently from")
        reason = (f"prior coverage with both terms is {coverage} with reconstruction only; KL only separates "
                  f"classes at {fmt(kl_accuracy)} kNN accuracy (chance {CHANCE:g}; 'nothing learned' below "
                  f"{NOTHING_LEARNED:g}); both terms separate them {separation} KL only")
        if dense > 0 and learned > 0 and kl_accuracy < NOTHING_LEARNED:
            return Finding(CONFIRMED, reason, measured)
        if dense < 0 or kl_accuracy >= KL_ONLY_LEARNED:
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        panels, footers = [], []
        for name, g in groups.items():
            r = lowest_seed(records, g)
            if r is None or "test_mu" not in r.images:
                continue
            panels.append((name, r.images["test_mu"].astype(np.float32), r.images["test_y"]))
            footers.append(f"kNN accuracy {fmt(mean(g, 'latent_knn_accuracy'))}, silhouette "
                           f"{fmt(mean(g, 'latent_silhouette'))}\nprior coverage {fmt(mean(g, 'prior_coverage'))}"
                           f" (means over {len(g)} seeds)")
        if not panels:
            return []
        return [Panel(latent_scatter(panels, footers=footers),
                      "Chapter fig 1.13 re-measured: posterior means of the test set in a 2-D latent space, by class, "
                      "for reconstruction only, KL only and both (seed 0), with the prior's 1- and 2-sigma circles; "
                      "under each panel the class separation and prior coverage, seed means.")]
