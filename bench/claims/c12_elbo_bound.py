"""C12: the ELBO is a lower bound of log p(x) (chapter eq. 1.3); the importance-weighted bound
IWAE_k (Burda et al. 2016) tightens toward it as k grows."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    CHECK,
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Baseline,
    Claim,
    Finding,
    Groups,
    like_baseline,
    main_data,
)
from bench.figures import Panel, xy_lines
from bench.stats import fmt, stat
from bench.store import RunRecord
from vae_core.config import RunConfig


def iwae_columns(df: pd.DataFrame) -> list[tuple[int, str]]:
    """(k, column) of the `iwae_nll_k<k>` columns, by k."""
    return sorted((int(c.removeprefix("iwae_nll_k")), c) for c in df.columns if c.startswith("iwae_nll_k"))


class ELBOBound(Claim):
    id = "C12"
    statement = "The ELBO is a lower bound of log p(x)."
    kind = CHECK
    why_check = ("Jensen's inequality: E[ELBO] <= E[IWAE_k] <= log p(x) for any model. Each k now has its own "
                 "draws, so sampling noise (or a fault in the bound's code) can reverse the curve, but no model can: "
                 "it checks the estimator, not the chapter.")
    experiment = ("Baseline VAE: -IWAE_k for k = 1 (the ELBO), 10, 100, 1000 on the same 256 test images, each k "
                  "from its own 1000 fresh draws per image.")
    rule = ("Confirmed if the seed-mean NLL bound falls monotonically with k and the ELBO's NLL exceeds the largest "
            "k's with a 95% interval above 0. Refuted if it is below (interval under 0). Otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        return [base.vae]

    def select(self, df: pd.DataFrame) -> Groups:
        return {"VAE": like_baseline(main_data(df))}

    def judge(self, groups: Groups) -> Finding:
        vae = groups["VAE"]
        cols = [(k, c) for k, c in iwae_columns(vae) if vae[c].notna().all()] if not vae.empty else []
        if len(cols) < 2:
            return Finding(INCONCLUSIVE, "no run with an importance-weighted curve finished")
        means = [vae[c].mean() for _, c in cols]
        monotone = all(b <= a for a, b in zip(means, means[1:], strict=False))
        gain = vae[cols[0][1]] - vae[cols[-1][1]]  # ELBO NLL minus IWAE_kmax NLL, per seed
        g = stat(pd.DataFrame({"gain": gain}), "gain")
        measured = [(f"-IWAE_{k} (k={k}{', the ELBO' if k == 1 else ''}) [nats / image]", str(stat(vae, c)))
                    for k, c in cols]
        measured.append((f"-ELBO minus -IWAE_{cols[-1][0]} [nats / image]", str(g)))
        reason = (f"the NLL bound {'falls' if monotone else 'does not fall'} monotonically with k in the seed means "
                  f"({', '.join(f'k={k}: {fmt(m)}' for (k, _), m in zip(cols, means, strict=True))}); the ELBO is "
                  f"{g} nats/image looser than IWAE_{cols[-1][0]}")
        if monotone and g.n >= 2 and g.lo > 0:
            return Finding(CONFIRMED, reason, measured)
        if g.n >= 2 and g.hi < 0:
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        vae = groups["VAE"]
        cols = [c for _, c in iwae_columns(vae)]
        if vae.empty or not cols:
            return []
        long = vae.melt(id_vars=["seed"], value_vars=cols, var_name="k", value_name="nll")
        long["k"] = long["k"].str.removeprefix("iwae_nll_k").astype(int)
        return [Panel(xy_lines(long, "k", "nll", "seed", "k (importance samples; k = 1 is the ELBO)",
                               "-IWAE_k [nats / image] (lower = tighter)", logx=True),
                      "The negative importance-weighted bound against k, one line per seed: each k is a bound on "
                      "-log p(x), tighter as k grows.")]
