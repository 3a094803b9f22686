"""C11: conditioning the VAE on the class controls what it generates (conditional VAE, Sohn et al. 2015)."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    BASE_LATENT,
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
from bench.figures import Panel, image_panel
from bench.frames import lowest_seed, rows
from bench.stats import fmt, stat
from bench.store import RunRecord
from vae_core.config import RunConfig

COND_CONFIRM, COND_REFUTE = 5 * CHANCE, 2 * CHANCE  # conditional accuracy: 5x and 2x chance with 10 classes


class Conditioning(Claim):
    id = "C11"
    statement = "Conditioning the VAE on the class controls what it generates."
    experiment = ("Conditional VAE (label to encoder and decoder), latent size 20 as the baseline: the evaluator's "
                  "accuracy on samples decoded with a requested class, and on test codes decoded with another class. "
                  "Latent size 2 is reported beside it (added after the first full run; not part of the rule).")
    history = ("The rule is unchanged since it was first written; latent size 2 was added to the runs after the "
               "first full run showed the label ignored at size 20, and is reported beside the rule, not in it.")
    rule = (f"Confirmed if the 95% interval of the conditional accuracy lies above {COND_CONFIRM:g} (5x chance); "
            f"refuted if it lies below {COND_REFUTE:g}; otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        # the rule judges the baseline latent size; latent size 2 was added after the first full run
        # showed the label ignored at size 20 (the code carries the class), and is reported beside it
        cvae = base.plain.replace(model="cvae")
        return [cvae, cvae.replace(latent_dim=2)]

    def select(self, df: pd.DataFrame) -> Groups:
        cvae = like_baseline(main_data(df), vary=("latent_dim",), model="cvae")
        return {"judged": rows(cvae, latent_dim=BASE_LATENT), "beside": cvae[cvae.latent_dim != BASE_LATENT]}

    def judge(self, groups: Groups) -> Finding:
        cvae = groups["judged"]
        if (f := missing(cvae)) is not None:
            return f
        acc = stat(cvae, "cond_accuracy")
        measured = [figure(f"conditional VAE z={BASE_LATENT}", cvae, m) for m in ("cond_accuracy",
                                                                              "cond_swap_accuracy")]
        for z, g in groups["beside"].groupby("latent_dim"):
            measured += [figure(f"conditional VAE z={z} (not part of the rule)", g, m)
                         for m in ("cond_accuracy", "cond_swap_accuracy")]
        if "evaluator_accuracy" in cvae:
            measured.append(("evaluator accuracy on real test images (the ceiling)",
                             fmt(cvae.evaluator_accuracy.mean())))
        reason = (f"the evaluator assigns {acc} of class-conditioned samples to the requested class "
                  f"(chance {CHANCE:g}; confirmed above {COND_CONFIRM:g}, refuted below {COND_REFUTE:g})")
        if acc.n >= 2 and acc.lo > COND_CONFIRM:
            return Finding(CONFIRMED, reason, measured)
        if acc.n >= 2 and acc.hi < COND_REFUTE:
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        out = []
        for z, g in [(BASE_LATENT, groups["judged"]), *groups["beside"].groupby("latent_dim")]:  # the judged size first
            r = lowest_seed(records, g)
            if r is None or "cond_samples" not in r.images:
                continue
            samples = r.images["cond_samples"]
            per_class = len(samples) // 10
            out += image_panel([(samples[i * per_class:(i + 1) * per_class], f"asked for {i}") for i in range(10)],
                               f"Conditional VAE, latent size {z}: z ~ N(0, I) decoded with each requested class, "
                               f"one row per class (seed 0).", 0.45)
        return out
