"""Beta sweeps read on the rate-distortion plane (Alemi et al. 2018, "Fixing a Broken ELBO").

The rate is the KL of the posterior from the prior (`test_kl`, nats / image); the distortion a
reconstruction error every decoder can be scored by (`test_recon_mse`). Two decoders at the same
beta need not sit at the same rate (summed squared error is a Gaussian NLL with variance 1/2, so
the KL weighs differently against it than against BCE), so a fair comparison of two losses reads
each sweep at one shared rate.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RATE, DISTORTION = "test_kl", "test_recon_mse"


def _log_rate(values: pd.Series) -> np.ndarray:
    return np.log(np.maximum(values.to_numpy(dtype=float), 1e-9))


def shared_rate(a: pd.DataFrame, b: pd.DataFrame) -> float | None:
    """The rate both sweeps reach: the middle, on a log scale, of the overlap of the ranges of
    their seed-mean rates; None when the ranges do not overlap."""
    ranges = []
    for sweep in (a, b):
        if RATE not in sweep:
            return None
        means = sweep.groupby("beta")[RATE].mean().dropna()
        if len(means) < 2:
            return None
        ranges.append((means.min(), means.max()))
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if not lo <= hi or hi <= 0:
        return None
    return math.exp((math.log(max(lo, 1e-9)) + math.log(hi)) / 2)


def at_shared_rate(a: pd.DataFrame, b: pd.DataFrame, metric: str
                   ) -> tuple[float, pd.DataFrame, pd.DataFrame] | None:
    """The rate both sweeps reach (`shared_rate`) and each sweep's `metric` read there per seed
    (`at_rate`); None when they reach no common rate."""
    rate = shared_rate(a, b)
    return None if rate is None else (rate, at_rate(a, metric, rate), at_rate(b, metric, rate))


def at_rate(sweep: pd.DataFrame, metric: str, rate: float) -> pd.DataFrame:
    """Per seed, `metric` interpolated linearly in log rate between that seed's sweep points, at
    `rate`: one row per seed (columns seed, metric), for `bench.stats`. A seed whose sweep does
    not reach `rate` is left out."""
    out = []
    for seed, runs in sweep.dropna(subset=[RATE, metric]).groupby("seed"):
        runs = runs.sort_values(RATE)
        x = _log_rate(runs[RATE])
        if len(runs) >= 2 and x[0] <= math.log(rate) <= x[-1]:
            out.append({"seed": seed, metric: float(np.interp(math.log(rate), x, runs[metric].to_numpy(float)))})
    return pd.DataFrame(out, columns=["seed", metric])
