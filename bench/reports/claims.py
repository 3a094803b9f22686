"""The claims report: the ledger of verdicts, then each claim with its experiment, its rule
(quoted from its module in `bench.claims`), its verdict with the reason, the measured figures
with 95% intervals, and its figures; all computed from the claims suite's stored runs."""

from __future__ import annotations

import pandas as pd

from bench.claims import CLAIMS
from bench.claims.base import CHECK, CLAIM, VERDICTS
from bench.frames import axis_frames, records_frame
from bench.reports.html import common_context
from bench.store import Manifest, RunRecord


def context(records: list[RunRecord], manifest: Manifest) -> dict:
    """Judge every claim on its runs and lay out the ledger."""
    df = records_frame(records, manifest.labels())
    by_axis = axis_frames(df, records, manifest)
    claims = []
    for claim_id, claim in CLAIMS.items():
        sub, recs = by_axis.get(claim_id, (df.iloc[0:0], []))
        groups = claim.select(sub)
        finding = claim.judge(groups)
        claims.append({"id": claim_id, "statement": claim.statement, "experiment": claim.experiment,
                       "kind": claim.kind, "why_check": claim.why_check, "history": claim.history,
                       "changed": claim.changed_after_numbers,
                       "rule": claim.rule, "verdict": finding.verdict, "reason": finding.reason,
                       "measured": finding.measured, "figures": claim.figures(groups, recs) if not sub.empty else [],
                       "runs": sorted(set(sub.label)) if not sub.empty else []})
    accuracy = df.evaluator_accuracy.dropna() if "evaluator_accuracy" in df else pd.Series(dtype=float)
    evaluators = {ds: float(g.evaluator_accuracy.dropna().iloc[0]) for ds, g in df.groupby("dataset")
                  if g.evaluator_accuracy.notna().any()} if not accuracy.empty else {}
    counts = {kind: {v: sum(c["verdict"] == v and c["kind"] == kind for c in claims) for v in VERDICTS}
              for kind in (CLAIM, CHECK)}
    return {**common_context(records, manifest, df), "claims": claims, "counts": counts, "evaluators": evaluators,
            "changed_rules": [c["id"] for c in claims if c["changed"]]}
