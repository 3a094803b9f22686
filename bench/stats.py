"""Statistics over seeds: the mean with its 95% Student-t interval, the comparison "A beats B",
and how numbers are printed.

A comparison decides only when the two 95% intervals do not overlap; with fewer than two
seeds there is no interval and nothing is decided. Every verdict, sentence and table of the
reports goes through these few functions, so they all read numbers the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from vae_core.metrics import METRICS, metric_bounds

#: Seeds from which an interval is shown; with fewer, tables and figures show the seeds' range
#: (a Student-t interval over 2 seeds has a factor 12.7 and runs far outside what can be).
MIN_SEEDS_SHOWN_INTERVAL = 3
#: How tables and figures show the spread over seeds; printed beside them.
SPREAD = ("mean over seeds; brackets and whiskers: the 95% Student-t interval of the mean with 3 or more seeds, "
          "clipped to the values the metric can take; with 2 seeds their range (in parentheses), no interval; "
          "dots: the seeds, each trained and scored on its own random draws, so the spread holds both")


def spread(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float]:
    """What a figure's whisker shows (`Stat.whisker`): the t-interval (clipped to `bounds`)
    over 3 or more values, else their range."""
    return summary(values, bounds).whisker()


def whiskers(metric: str) -> Callable[[Sequence[float]], tuple[float, float]]:
    """seaborn's `errorbar` for `metric`: `spread` within the metric's bounds."""
    return partial(spread, bounds=metric_bounds(metric))


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
    """Mean, 95% t-interval (lo, hi) clipped to the metric's possible values, number of seeds,
    and the seeds' smallest and largest value, of one metric."""

    mean: float
    lo: float
    hi: float
    n: int
    low: float = math.nan
    high: float = math.nan

    def whisker(self) -> tuple[float, float]:
        """What a figure's whisker spans (see SPREAD): the interval, or over 2 seeds their range."""
        return (self.lo, self.hi) if self.n >= MIN_SEEDS_SHOWN_INTERVAL else (self.low, self.high)

    def __str__(self) -> str:
        """As tables show it (see SPREAD): `m [lo, hi]` over 3 or more seeds, `m (low-high)` over 2."""
        if self.n == 0:
            return "n/a"
        if self.n < 2:
            return fmt(self.mean)
        if self.n < MIN_SEEDS_SHOWN_INTERVAL:
            return f"{fmt(self.mean)} ({fmt(self.low)} to {fmt(self.high)})"
        return f"{fmt(self.mean)} [{fmt(self.lo)}, {fmt(self.hi)}]"


def summary(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> Stat:
    """The `Stat` of the finite `values`, its interval clipped to `bounds`."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return Stat(math.nan, math.nan, math.nan, 0)
    lo, hi = t_interval(v)
    return Stat(float(v.mean()), float(max(lo, bounds[0])), float(min(hi, bounds[1])), len(v), float(v.min()),
                float(v.max()))


def stat(df: pd.DataFrame, metric: str) -> Stat:
    """Mean, 95% t-interval and n of a metric over the rows (seeds) of `df`. The interval is
    clipped to the values the metric can take; that changes no comparison (`side`), since a
    mean lies within them."""
    return summary(df[metric].to_numpy(dtype=float) if metric in df else [], metric_bounds(metric))


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
