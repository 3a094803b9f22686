"""Statistics over seeds: the mean with its 95% Student-t interval, the comparison "A beats B",
and how numbers are printed.

A comparison decides only when the two 95% intervals do not overlap; with fewer than two
seeds there is no interval and nothing is decided. Every verdict, sentence and table of the
reports goes through these few functions, so they all read numbers the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from vae_core.metrics import METRICS


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; a single value gives (v, v)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (np.nan, np.nan)
    if len(v) < 2:
        return (v[0], v[0])
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return (v.mean() - half, v.mean() + half)


class Stat(NamedTuple):
    """Mean, 95% t-interval (lo, hi) and number of seeds of one metric."""

    mean: float
    lo: float
    hi: float
    n: int

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a"
        return fmt(self.mean) if self.n < 2 else f"{fmt(self.mean)} [{fmt(self.lo)}, {fmt(self.hi)}]"


def stat(df: pd.DataFrame, metric: str) -> Stat:
    """Mean, 95% t-interval and n of a metric over the rows (seeds) of `df`."""
    values = df[metric].dropna().to_numpy(dtype=float) if metric in df else np.array([])
    if len(values) == 0:
        return Stat(math.nan, math.nan, math.nan, 0)
    lo, hi = t_interval(values)
    return Stat(float(values.mean()), float(lo), float(hi), len(values))


def mean(df: pd.DataFrame, metric: str) -> float:
    return stat(df, metric).mean


def side(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> int:
    """+1 if a's 95% interval of `metric` lies wholly above b's, -1 if wholly below, 0 if they
    overlap or either has fewer than 2 seeds."""
    sa, sb = stat(a, metric), stat(b, metric)
    if sa.n < 2 or sb.n < 2 or not all(map(math.isfinite, sa[:3] + sb[:3])):
        return 0
    return 1 if sa.lo > sb.hi else -1 if sa.hi < sb.lo else 0


def beats(a: pd.DataFrame, b: pd.DataFrame, metric: str, better: str | None = None) -> int:
    """+1 if a is better than b on `metric` with non-overlapping intervals, -1 if worse, 0 if
    undecided. `better` ("lower"/"higher") defaults to the registry's direction."""
    better = better or METRICS[metric].better
    s = side(a, b, metric)
    return s if better == "higher" else -s


def fmt(x: float | None) -> str:
    """Three significant digits, thousands separated above 1,000; "n/a" for a missing value."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
