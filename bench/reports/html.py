"""Rendering: the Jinja2 environment every report uses, and what every suite report shows
(environment, run counts, problems, throughput, the metric definitions)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from bench.stats import SPREAD, stat
from bench.store import Manifest, RunRecord, remove_stale, write_atomic
from vae_core.metrics import GROUPS, METRICS

STALE_S = 600  # a report is written in seconds; a temporary file this old was left by a killed writer

_ENV = Environment(loader=PackageLoader("bench.reports", "templates"), autoescape=select_autoescape(default=True))


def render(context: dict, template: str) -> str:
    """Render a report template; autoescaping is on for every template (labels and config
    values are user text), and nothing is marked safe."""
    return _ENV.get_template(template).render(**context)


def write_html(path: Path, context: dict, template: str) -> Path:
    """Write a report atomically, removing the temporary files killed report writers left."""
    write_atomic(path, render(context, template).encode())
    remove_stale(path.parent, STALE_S)
    return path


def throughput_table(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Speed per configuration and data set (a label does not name the data set, and speeds on
    28x28 and 8x8 images must not be pooled)."""
    header = ["run", "data set", "device", "batch", "trained with", "train images/s (per model)",
              "inference images/s", "train s / run"]
    out = []
    for (label, dataset), g in df[df.status == "ok"].groupby(["label", "dataset"], sort=False):
        stack = int(g.stacked_with.max()) if "stacked_with" in g and g.stacked_with.notna().any() else 1
        compiled = float(g.compile_seconds.max()) if "compile_seconds" in g and g.compile_seconds.notna().any() else 0
        how = "alone" if stack == 1 else f"{stack} models stacked"
        out.append([label, dataset, ", ".join(sorted(set(g.device_used.dropna()))), str(g.batch_size.iloc[0]),
                    how + (f", step compiled in {compiled:.1f} s (not in train s)" if compiled else ""),
                    str(stat(g, "train_images_per_s")), str(stat(g, "infer_images_per_s")),
                    str(stat(g, "train_seconds"))])
    return header, out


def problems(records: list[RunRecord], manifest: Manifest) -> list[dict]:
    """The runs that did not finish normally, with what happened."""
    labels = manifest.labels()
    return [{"label": labels.get(r.key, r.config.label), "seed": r.config.seed, "status": r.status,
             "detail": f"non-finite loss at epoch {r.info.get('diverged_epoch')}" if r.status == "diverged"
             else r.info.get("error", "")}
            for r in records if r.status != "ok"]


def common_context(records: list[RunRecord], manifest: Manifest, df: pd.DataFrame) -> dict:
    """What every suite report shows: environment, run counts, problems, throughput, metrics."""
    tp_header, tp_rows = throughput_table(df)
    return {
        "suite": manifest.suite,
        "description": manifest.description,
        "datasets": sorted(df.dataset.unique().tolist()) if not df.empty else [],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "env": manifest.environment,
        "options": manifest.options,
        "spread": SPREAD,
        "seeds": sorted(df.seed.unique().tolist()) if not df.empty else [],
        "devices": sorted(set(df.device_used.dropna())) if not df.empty else [],
        "n_runs": len(records),
        "trained": manifest.trained, "cached": manifest.cached,
        "wall_seconds": manifest.wall_seconds,
        "train_seconds_total": float(df["train_seconds"].sum()) if "train_seconds" in df else 0.0,
        "eval_seconds_total": float(sum(r.info.get("eval_seconds", 0.0) for r in records)),
        "throughput_header": tp_header, "throughput_rows": tp_rows,
        "problems": problems(records, manifest),
        # data sets without two classes (a user's unlabelled arrays): no evaluator network was trained
        "unlabelled": sorted({r.config.dataset for r in records if r.status == "ok" and "evaluator" not in r.info}),
        "needs_labels": [m for g in GROUPS if {"evaluator", "two classes or more"} & set(g.needs) for m in g.produces],
        "metrics": [{"name": k, "unit": v.unit, "better": v.better, "description": v.description}
                    for k, v in METRICS.items()],
    }
