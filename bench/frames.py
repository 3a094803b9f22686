"""Run records as pandas DataFrames, and the selections every report and claim makes of them.

One row per run and seed: its label, its config fields, its status and its scalar metrics
(`iwae_nll_by_k` spread into `iwae_nll_k<k>` columns). Reports, claims and analyses read this
frame, never the records' dicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.store import Manifest, RunRecord
from vae_core.config import config_dict
from vae_core.metrics import METRICS


def records_frame(records: list[RunRecord], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run: its label (from `labels` by key, else the config's), config fields,
    status and scalar metrics (every registered metric a column, NaN where a run has none)."""
    labels = labels or {}
    out = []
    for r in records:
        row = {"key": r.key, "label": labels.get(r.key, r.config.label), **config_dict(r.config), "status": r.status,
               "device_used": r.info.get("device"), "diverged_epoch": r.info.get("diverged_epoch"),
               "stacked_with": r.info.get("stacked_with", 1), "compile_seconds": r.info.get("compile_seconds", 0.0),
               "evaluator_accuracy": r.info.get("evaluator", {}).get("test_accuracy"),
               "eval_seconds": r.info.get("eval_seconds"),
               "error": r.info.get("error")}
        row.update({k: v for k, v in r.metrics.items() if not isinstance(v, list)})
        row.update({f"iwae_nll_k{k}": v for k, v in r.metrics.get("iwae_nll_by_k") or []})
        out.append(row)
    df = pd.DataFrame(out)
    for metric in METRICS:  # a metric no run has (runs stored by an older version) is a column of NaN
        df[metric] = pd.to_numeric(df[metric], errors="coerce") if metric in df else np.nan
    return df


def rows(df: pd.DataFrame, **match: object) -> pd.DataFrame:
    """The rows whose columns equal the given values."""
    mask = pd.Series(True, index=df.index)
    for column, value in match.items():
        mask &= df[column] == value
    return df[mask]


def records_of(records: list[RunRecord], df: pd.DataFrame) -> list[RunRecord]:
    """The successful records among the rows of `df`."""
    keys = set(df.key) if "key" in df else set()
    return [r for r in records if r.key in keys and r.status == "ok"]


def lowest_seed(records: list[RunRecord], df: pd.DataFrame) -> RunRecord | None:
    """The lowest-seed successful record with images among the rows of `df`: the one whose
    pictures a report shows."""
    hits = [r for r in records_of(records, df) if r.images]
    return min(hits, key=lambda r: r.config.seed) if hits else None


def axis_frames(df: pd.DataFrame, records: list[RunRecord], manifest: Manifest
                ) -> dict[str, tuple[pd.DataFrame, list[RunRecord]]]:
    """Per axis of the manifest, in its order: the successful runs' rows and their records."""
    by_key = {r.key: r for r in records}
    out = {}
    for axis in manifest.axes:
        keys = manifest.keys(axis)
        out[axis] = (df[df.key.isin(keys) & (df.status == "ok")] if not df.empty else df,
                     [by_key[k] for k in keys if k in by_key])
    return out
