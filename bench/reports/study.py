"""The HTML report of an Optuna study: history, Pareto front, parameter importances and the
best trials, in the suite reports' style (same base template, figures inline, offline)."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from bench import figures
from bench.environment import environment
from bench.reports.html import write_html
from bench.search_space import OBJECTIVES, SEARCH_SPACE
from bench.stats import fmt
from bench.tune import redact
from vae_core.metrics import METRICS


def trials_frame(study: optuna.Study, objectives: list[str]) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(), **t.params,
               "epochs_run": len(t.intermediate_values) or None,
               "seconds": t.duration.total_seconds() if t.duration else None}
        for i, name in enumerate(objectives):
            row[name] = t.values[i] if t.values is not None else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _history_figure(df: pd.DataFrame, objectives: list[str], reference: dict | None) -> str:
    fig = figures.Figure(figsize=(4.2 * len(objectives), 3.2), layout="constrained")
    axes = fig.subplots(1, len(objectives), squeeze=False)[0]
    done = df[df.state == "complete"]
    for ax, name in zip(axes, objectives, strict=True):
        objective = OBJECTIVES[name]
        figures.sns.scatterplot(data=done, x="trial", y=name, ax=ax, color="C0", label="complete")
        best = done[name].cummin() if objective.direction == "minimize" else done[name].cummax()
        ax.plot(done["trial"], best, color="C3", lw=1.5, label="best so far")
        if reference is not None and math.isfinite(value := reference["values"][objectives.index(name)]):
            ax.axhline(value, color="C2", ls="--", lw=1.2, label=reference["name"])
        ax.legend(fontsize=7)
        ax.set_ylabel(f"{name}: {objective.label}\n[{METRICS[objective.metric].unit}] ({objective.direction})")
    return figures.to_data_uri(fig)


def _pareto_figure(df: pd.DataFrame, front: list[int], objectives: list[str], reference: dict | None) -> str:
    x, y = objectives[:2]
    done = df[df.state == "complete"]
    on_front = done[done.trial.isin(front)].sort_values(x)
    fig = figures.Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    ax.scatter(done[x], done[y], color="0.6", s=18, label="complete trials")
    ax.plot(on_front[x], on_front[y], "o-", color="C3", label="Pareto front")
    for _, row in on_front.iterrows():
        ax.annotate(str(int(row.trial)), (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if reference is not None and all(map(math.isfinite, reference["values"][:2])):
        ax.scatter(*reference["values"][:2], marker="*", s=160, color="C2", zorder=3, label=reference["name"])
    ax.set_xlabel(f"{x} ({OBJECTIVES[x].direction})")
    ax.set_ylabel(f"{y} ({OBJECTIVES[y].direction})")
    ax.legend(fontsize=8)
    return figures.to_data_uri(fig)


def _importances(study: optuna.Study, objectives: list[str]) -> tuple[str | None, list[str]]:
    """fANOVA importances per objective (Hutter et al. 2014, Optuna's default evaluator)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 4:
        return None, [f"Parameter importances need at least 4 complete trials; this study has {len(done)}."]
    rows, text = [], []
    for i, name in enumerate(objectives):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                imp = optuna.importance.get_param_importances(study, target=lambda t, i=i: t.values[i])
            except (RuntimeError, ValueError) as exc:
                text.append(f"{name}: importances unavailable ({exc}).")
                continue
        rows += [{"objective": name, "parameter": p, "importance": v} for p, v in imp.items()]
        top = max(imp, key=imp.get)
        text.append(f"{name}: {top} explains the largest share of the variance ({imp[top]:.0%}).")
    if not rows:
        return None, text
    fig = figures.Figure(figsize=(5.5, 0.5 + 0.35 * len(rows)), layout="constrained")
    ax = fig.subplots()
    figures.sns.barplot(data=pd.DataFrame(rows), y="parameter", x="importance", hue="objective", ax=ax)
    return figures.to_data_uri(fig), text


def build_context(study: optuna.Study, storage_url: str) -> dict:
    objectives = list(study.user_attrs.get("objectives") or [f"objective_{i}" for i in range(len(study.directions))])
    setup = study.user_attrs.get("setup", {})
    df = trials_frame(study, objectives)
    counts = df.state.value_counts().to_dict() if not df.empty else {}
    done = df[df.state == "complete"]
    sections = []
    reference = study.user_attrs.get("reference")
    if not done.empty:
        sections.append(figures.Panel(_history_figure(df, objectives, reference),
                                     "Objective value of each complete trial, and the best so far; dashed, the "
                                     "reference run: the calibrated Gaussian decoder (its variance fitted to the data, "
                                     "so no beta to tune) with every tuned setting at its default.",
                                     [_best_sentence(done, name) for name in objectives]
                                     + _reference_sentences(done, objectives, reference)))
    single = len(objectives) == 1
    best = [t.number for t in study.best_trials] if not done.empty else []
    if not single and len(best) > 0:
        sections.append(figures.Panel(_pareto_figure(df, best, objectives, reference),
                                      f"Trade-off between {objectives[0]} and {objectives[1]}: every complete "
                                      "trial, and the Pareto front (no other trial is better on both).",
                                      [f"{len(best)} of {len(done)} complete trials are on the Pareto front."]))
    img, text = _importances(study, objectives) if not done.empty else (None, [])
    if img:
        sections.append(figures.Panel(img, "Parameter importances (fANOVA) for each objective.", text))
    pruned = df[df.state == "pruned"]
    notes = []
    if single:
        epochs = setup.get("epochs")
        notes.append(f"Single objective: median pruning on the objective measured after each epoch; "
                     f"{len(pruned)} trial(s) pruned" + (f", after {pruned.epochs_run.mean():.1f} of {epochs} epochs "
                                                         "on average." if len(pruned) else "."))
    else:
        notes.append("Several objectives: no pruning (Optuna's pruning does not support multi-objective studies).")
    order = done.sort_values(objectives[0], ascending=OBJECTIVES.get(objectives[0], OBJECTIVES["test_recon"]).direction
                             == "minimize") if not done.empty else done
    shown = order[order.trial.isin(best)] if not single else order.head(5)
    params = [p.name for p in SEARCH_SPACE]
    header = ["trial", *(f"{o} ({OBJECTIVES[o].direction})" for o in objectives), *params, "re-run on the test split"]
    rows = [[str(int(r.trial))] + [fmt(r[o]) for o in objectives]
            + [fmt(r[p]) if isinstance(r[p], float) else str(r[p]) for p in params]
            + [f"python -m bench run --from-study {study.study_name} --trial {int(r.trial)}"]
            for _, r in shown.iterrows()]
    return {
        "study": study.study_name, "storage": redact(storage_url),
        "objectives": [{"name": o, "metric": OBJECTIVES[o].label, "unit": METRICS[OBJECTIVES[o].metric].unit,
                        "direction": OBJECTIVES[o].direction} for o in objectives if o in OBJECTIVES],
        "counts": counts, "n_trials": len(df), "setup": setup,
        "search_space": [p.describe() for p in SEARCH_SPACE],
        "best_title": "Pareto front" if not single else "Best trials",
        "best_header": header, "best_rows": rows, "sections": sections, "notes": notes,
        "env": environment(), "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _reference_sentences(done: pd.DataFrame, objectives: list[str], reference: dict | None) -> list[str]:
    """Where the untuned reference run lands among the tuned trials, per objective."""
    if reference is None:
        return ["No reference run is stored with this study (it is measured when `tune` finishes)."]
    if reference["status"] != "ok":
        return [f"The reference run ({reference['name']}) did not finish: {reference['status']}."]
    out = []
    for name, value in zip(objectives, reference["values"], strict=False):
        values = done[name].dropna()
        if not math.isfinite(value) or values.empty:
            continue
        better = (values < value).sum() if OBJECTIVES[name].direction == "minimize" else (values > value).sum()
        out.append(f"The {reference['name']} (beta 1, nothing tuned) reaches {name} {fmt(value)}; {better} of "
                   f"{len(values)} complete tuned trials do better.")
    return out


def _best_sentence(done: pd.DataFrame, name: str) -> str:
    objective = OBJECTIVES[name]
    values = done[name].dropna()
    if values.empty:
        return f"{name}: no finite value yet."
    idx = values.idxmin() if objective.direction == "minimize" else values.idxmax()
    row = done.loc[idx]
    params = ", ".join(f"{p.name}={fmt(row[p.name]) if isinstance(row[p.name], float) else row[p.name]}"
                       for p in SEARCH_SPACE)
    first = values.iloc[: max(1, len(values) // 4)]
    start = first.min() if objective.direction == "minimize" else first.max()
    return (f"Best {name} ({objective.label}, {objective.direction}): {fmt(row[name])} at trial {int(row.trial)} "
            f"({params}); the best of the first quarter of trials was {fmt(start)}, the median of all "
            f"{len(values)} is {fmt(float(np.median(values)))}.")


def write_study_report(study: optuna.Study, storage_url: str, reports_dir: Path) -> Path:
    return write_html(Path(reports_dir) / f"study-{study.study_name}.html", build_context(study, storage_url),
                      "study.html.j2")
