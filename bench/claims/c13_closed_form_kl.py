"""C13: the KL of a Gaussian posterior from N(0, I) has the closed form of chapter eq. 1.6,
checked against a Monte-Carlo estimate."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import CHECK, CONFIRMED, INCONCLUSIVE, REFUTED, Baseline, Claim, Finding, Groups
from bench.figures import Panel, estimate_check
from bench.stats import fmt
from bench.store import RunRecord
from vae_core.config import RunConfig
from vae_core.metrics import KL_MC_SAMPLES

KL_MC_CONFIRM_Z, KL_MC_REFUTE_Z = 3.0, 5.0


class ClosedFormKL(Claim):
    id = "C13"
    statement = "The KL has the closed form of eq. 1.6."
    kind = CHECK
    why_check = "An identity: it fails only on a bug in the closed-form KL or in the sampling code."
    experiment = ("Every VAE of the KL-weight sweep: the closed-form KL of the test posteriors vs a Monte-Carlo "
                  f"estimate with {KL_MC_SAMPLES} draws per image.")
    rule = (f"Confirmed if in every run the two differ by at most {KL_MC_CONFIRM_Z:g} standard errors of the "
            f"estimate; refuted if any differs by more than {KL_MC_REFUTE_Z:g}; otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        return [c for c in base.beta_sweep() if c.beta > 0]

    def select(self, df: pd.DataFrame) -> Groups:
        return {"VAE": df[df.test_kl_mc.notna()] if "test_kl_mc" in df else df.iloc[0:0]}

    def judge(self, groups: Groups) -> Finding:
        d = groups["VAE"]
        if d.empty:
            return Finding(INCONCLUSIVE, "no VAE run finished")
        z = ((d.test_kl - d.test_kl_mc).abs() / d.test_kl_mc_se.clip(lower=1e-12)).to_numpy()
        measured = [(f"beta={b:g} seed {s}: closed form vs Monte Carlo [nats / image]",
                     f"{fmt(c)} vs {fmt(m)} +- {fmt(se)} (|z| = {zz:.2f})")
                    for b, s, c, m, se, zz in zip(d.beta, d.seed, d.test_kl, d.test_kl_mc, d.test_kl_mc_se, z,
                                                  strict=True)]
        reason = (f"in {len(z)} runs the closed form differs from the Monte-Carlo estimate by at most "
                  f"{z.max():.2f} standard errors (confirmed if every |z| <= {KL_MC_CONFIRM_Z:g}, refuted if any > "
                  f"{KL_MC_REFUTE_Z:g})")
        if (z <= KL_MC_CONFIRM_Z).all():
            return Finding(CONFIRMED, reason, measured)
        if (z > KL_MC_REFUTE_Z).any():
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        d = groups["VAE"]
        if d.empty:
            return []
        return [Panel(estimate_check(d.test_kl_mc.to_numpy(), d.test_kl_mc_se.to_numpy(), d.test_kl.to_numpy(),
                                     "closed-form KL, eq. 1.6 [nats / image]", "Monte-Carlo estimate [nats / image]"),
                      f"Closed-form KL of each VAE of the beta sweep against its Monte-Carlo estimate, with "
                      f"+-{KL_MC_CONFIRM_Z:g} standard errors, on the identity line.")]
