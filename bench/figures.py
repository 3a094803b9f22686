"""Figures for the reports: seaborn panels with the spread over seeds (`bench.stats.SPREAD`), image grids and
latent scatters, each returned as a base64 PNG `data:` URI (a report stays one file), and the
`Panel` a report shows them in.

Figures are built from `matplotlib.figure.Figure` directly, never pyplot, so a long session
does not accumulate open figures. Text is never parsed as math text (`text.parse_math` off).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from bench.stats import spread, stat, whiskers  # noqa: E402
from bench.store import RunRecord  # noqa: E402
from vae_core.metrics import METRICS, metric_bounds  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")
# labels come from users' suite files: "$x$" in one must print as typed, not be parsed as math
# text (an unbalanced "$" made every figure of the report fail)
matplotlib.rcParams["text.parse_math"] = False


@dataclass(frozen=True)
class Panel:
    """One figure of a report: the image (a `data:` URI), its caption, and sentences computed
    from the numbers it shows."""

    img: str
    caption: str
    text: list[str] = field(default_factory=list)


def image_panel(rows_and_labels: Sequence[tuple[np.ndarray | None, str]], caption: str,
                cell_inches: float = 0.55, text: Sequence[str] = ()) -> list[Panel]:
    """Rows of images with their labels as one panel; rows that are None (a run that did not
    finish) are left out, and no row at all gives no panel."""
    kept = [(r, label) for r, label in rows_and_labels if r is not None]
    if not kept:
        return []
    return [Panel(image_rows([r for r, _ in kept], [label for _, label in kept], cell_inches), caption, list(text))]


def latent_path_rows(runs: Sequence[tuple[str, RunRecord]], n: int) -> list[tuple[np.ndarray, str]]:
    """The first `n` stored latent paths of each named run, each between the same two test
    images, shown as they are in the first and last column. The runs were scored on the same
    path endpoints (`vae_core.metrics.evaluate` draws them from a fixed generator)."""
    first = runs[0][1]
    out = []
    for i in range(min(n, len(first.images["paths"]))):
        start, end = first.images["path_ends"][i]
        out += [(np.concatenate([start[None], r.images["paths"][i], end[None]]), f"{name} path {i + 1}")
                for name, r in runs]
    return out


def to_data_uri(fig: Figure) -> str:
    """The figure as a PNG data URI. A figure with a layout engine (constrained) already fits its
    canvas; one without (the image mosaics, whose row labels lie left of the axes) is cropped to
    what it draws, which costs a second drawing."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if fig.get_layout_engine() is None else None)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def axis_label(metric: str) -> str:
    info = METRICS.get(metric)
    if info is None:
        return metric
    arrow = {"lower": " (lower better)", "higher": " (higher better)", "closer to 1": " (1 = real)"}
    return f"{metric}\n[{info.unit}]{arrow.get(info.better, '')}"


def no_values(metrics: Sequence[str]) -> str:
    """A panel saying that none of `metrics` has a value in these runs (results stored by an
    older version, or metrics that do not apply), instead of failing the whole report."""
    fig = Figure(figsize=(4.5, 0.8), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, f"no values of {', '.join(metrics)[:120]} in these runs", ha="center", va="center", fontsize=8)
    return to_data_uri(fig)


def reference_lines(ax: object, metric: str) -> None:
    """What a metric's value means on its axis: a ratio to real images gets its "1 = real"
    line (in view); a count of dimensions starts at 0, so a flat line at 20 is not drawn as a
    change on a 19-21 axis."""
    if METRICS[metric].better == "closer to 1":
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.set_ylim(top=max(ax.get_ylim()[1], 1.05))
        ax.annotate("1 = real", (0.02, 1.0), xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
    elif METRICS[metric].unit == "dimensions":
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1) * 1.1)


def seed_dots(ax: object, data: pd.DataFrame, x: str, y: str, hue: str | None) -> None:
    """The seeds as black dots over the bars of `x` (dodged like them by `hue`): a bar of two
    seeds would otherwise hide that there are two."""
    colour = {"palette": "dark:k"} if hue is not None else {"color": "k"}
    sns.stripplot(data=data, x=x, y=y, hue=hue, dodge=hue is not None, ax=ax, size=3, alpha=0.55, legend=False,
                  jitter=0.08, **colour)


def metric_panels(
    df: pd.DataFrame, x: str, metrics: Sequence[str], hue: str | None = None,
    kind: str = "point", even_x: bool = False,
) -> str:
    """One panel per metric: mean over seeds against `x`, with the spread and the seeds; `even_x` spaces
    the x values evenly (for grids such as beta = 0, 0.1, ..., 8)."""
    wanted, metrics = metrics, [m for m in metrics if m in df and df[m].notna().any()]
    if not metrics:
        return no_values(wanted)
    return to_data_uri(metric_figure(df, x, metrics, hue, kind, even_x))


#: A ratio to real images whose values span more than this factor is drawn on a log axis, where
#: 0.5 and 2 are equally far from 1: on a linear one an overshoot to 2 or 3 flattens the bars of
#: 0.05-0.5 beside it (C9's adversarial variant did).
LOG_SPAN = 10.0


def log_axis(values: pd.Series, metric: str) -> bool:
    """Whether `metric`'s panel is drawn on a log axis: a ratio to real whose values are all
    positive and span more than `LOG_SPAN`."""
    return METRICS[metric].better == "closer to 1" and len(values) > 0 and bool((values > 0).all()) \
        and bool(np.isfinite(values).all()) \
        and values.max() / values.min() > LOG_SPAN


def metric_figure(df: pd.DataFrame, x: str, metrics: Sequence[str], hue: str | None = None, kind: str = "point",
                  even_x: bool = False) -> Figure:
    """The figure of `metric_panels`, whose metrics all have values; one legend for the figure,
    beside its panels, when `hue` splits them."""
    if even_x:  # grids like beta in {0, 0.1, ..., 8}: evenly spaced, labelled with the values
        values = sorted(df[x].unique())
        df = df.assign(**{x: df[x].map({v: i for i, v in enumerate(values)})})
    fig = Figure(figsize=(3.3 * len(metrics) + (1.2 if hue else 0), 3.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        data = df[df[metric].notna()]
        log = log_axis(data[metric], metric)
        if kind == "bar" and not log:
            sns.barplot(data=data, x=x, y=metric, hue=hue, errorbar=whiskers(metric), ax=ax, capsize=0.1, alpha=0.8)
            seed_dots(ax, data, x, metric, hue)
        elif kind == "bar":  # a bar's length from 0 means nothing on a log axis: the mean as a point
            sns.pointplot(data=data, x=x, y=metric, hue=hue, errorbar=whiskers(metric), ax=ax, capsize=0.1,
                          linestyle="none", marker="D", dodge=0.4 if hue else False)
            seed_dots(ax, data, x, metric, hue)
        else:
            sns.lineplot(data=data, x=x, y=metric, hue=hue, errorbar=whiskers(metric), marker="o", ax=ax,
                         err_style="bars", err_kws={"capsize": 3})
            sns.scatterplot(data=data, x=x, y=metric, color="k", s=9, alpha=0.45, ax=ax, legend=False, zorder=3)
            if even_x:
                ax.set_xticks(range(len(values)), [f"{v:g}" for v in values])
        if log:  # ticks at 1, 2, 5 x 10^k written as plain numbers (math text is off)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(axis_label(metric) + ("\n(log scale)" if log else ""))
        reference_lines(ax, metric)
        if x == "label":  # run labels are long: slant them so they do not overlap
            ax.tick_params(axis="x", labelrotation=35, labelsize=7)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
    legends = [ax.get_legend() for ax in axes if ax.get_legend() is not None]
    if legends:  # the same hue in every panel: said once, beside them all
        first = legends[0]
        fig.legend(first.legend_handles, [t.get_text() for t in first.get_texts()], title=first.get_title().get_text(),
                   loc="outside right upper", fontsize=7, title_fontsize=7)
        for legend in legends:
            legend.remove()
    return fig


def beta_histories(records: Sequence[RunRecord]) -> pd.DataFrame:
    """The per-epoch histories of the successful runs among `records`, with each run's beta;
    empty when none has one."""
    curves = [r.history.assign(beta=r.config.beta) for r in records if r.status == "ok" and not r.history.empty]
    return pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()


def posterior_variance_curves(history: pd.DataFrame) -> str | None:
    """Mean posterior variance per epoch, one curve per beta (mean over seeds), from
    `beta_histories`; None when it is empty."""
    if history.empty:
        return None
    return history_panel(history, "posterior_var", "beta", "mean posterior variance")


def latent_size_panels(df: pd.DataFrame) -> str:
    """Train and test reconstruction error against latent size for each model (left), and the
    test-minus-train gap, the over-fitting (right)."""
    long = df.melt(id_vars=["model", "latent_dim", "seed"], value_vars=["train_recon_mse", "test_recon_mse"],
                   var_name="split", value_name="recon_mse")
    long["series"] = long["model"].str.upper() + " " + long["split"].str.replace("_recon_mse", "")
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    sns.lineplot(data=long, x="latent_dim", y="recon_mse", hue="series", errorbar=whiskers("test_recon_mse"),
                 marker="o", err_style="bars", ax=ax1)
    sns.lineplot(data=df, x="latent_dim", y="recon_mse_gap", hue="model", errorbar=whiskers("recon_mse_gap"),
                 marker="o", err_style="bars", ax=ax2)
    for ax, metric in ((ax1, "test_recon_mse"), (ax2, "recon_mse_gap")):
        ax.set_xscale("log", base=2)
        ax.set_ylabel(axis_label(metric))
    return to_data_uri(fig)


def history_panel(history: pd.DataFrame, y: str, hue: str, ylabel: str) -> str:
    """A per-epoch curve per value of `hue` (mean over seeds), one colour per value."""
    fig = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = fig.subplots()
    order = [f"{v:g}" for v in sorted(history[hue].unique())]
    sns.lineplot(data=history.assign(**{hue: history[hue].map("{:g}".format)}), x="epoch", y=y, hue=hue,
                 hue_order=order, errorbar=None, ax=ax, palette="viridis")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    ax.set_ylabel(ylabel)
    return to_data_uri(fig)


def image_rows(rows: Sequence[np.ndarray], labels: Sequence[str], cell_inches: float = 0.55) -> str:
    """Rows of images (each (n, C, H, W) in [0, 1]), one row per label, pixels shown as is.
    Drawn as one mosaic in one axes: a subplot per image would cost seconds per grid."""
    n_cols = max(len(r) for r in rows)
    c, h, w = np.asarray(rows[0]).shape[1:]
    pad = 1
    mosaic = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, c), 0.75, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, img in enumerate(np.asarray(row, dtype=np.float32)):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            mosaic[y : y + h, x : x + w] = img.transpose(1, 2, 0)
    fig = Figure(figsize=(cell_inches * n_cols + 1.4, cell_inches * len(rows) + 0.1))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([pad + i * (h + pad) + h / 2 for i in range(len(rows))], labels, fontsize=8)
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return to_data_uri(fig)


def latent_scatter(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], prior_ring: bool = True,
                   footers: Sequence[str] | None = None) -> str:
    """2-D codes of the test set coloured by class, one panel per model, with the 1 and 2
    sigma circles of the N(0, I) prior; `footers` are lines of figures printed under each panel."""
    fig = Figure(figsize=(3.6 * len(panels), 3.4 + (0.5 if footers else 0)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for i, (ax, (title, codes, labels)) in enumerate(zip(axes, panels, strict=True)):
        if footers:
            ax.annotate(footers[i], (0.5, -0.2), xycoords="axes fraction", ha="center", va="top", fontsize=8)
        sns.scatterplot(x=codes[:, 0], y=codes[:, 1], hue=labels.astype(int), palette="tab10", s=6,
                        linewidth=0, ax=ax, legend=ax is axes[-1])
        if prior_ring:
            theta = np.linspace(0, 2 * np.pi, 200)
            for r in (1, 2):
                ax.plot(r * np.cos(theta), r * np.sin(theta), "k--", lw=0.8, alpha=0.6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("z1"), ax.set_ylabel("z2")
        ax.set_aspect("equal", adjustable="datalim")
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1, 1), title="class", fontsize=7)
    return to_data_uri(fig)


def compare_bars(df: pd.DataFrame, metrics: Sequence[str], ylabel: str, hue: str | None = None,
                 reference: tuple[float, str] | None = None) -> str:
    """Several metrics of one unit side by side (mean over seeds, spread, the seeds), optionally
    split by `hue`, with an optional horizontal reference line (value, label)."""
    wanted, metrics = metrics, [m for m in metrics if m in df and df[m].notna().any()]
    if not metrics:
        return no_values(wanted)
    id_vars = [c for c in ("seed", hue) if c]
    long = df.melt(id_vars=id_vars, value_vars=metrics, var_name="metric", value_name="value")
    fig = Figure(figsize=(1.3 * len(metrics) + (2.0 if hue else 1.6), 3.0), layout="constrained")
    ax = fig.subplots()
    bounds = (min(metric_bounds(m)[0] for m in metrics), max(metric_bounds(m)[1] for m in metrics))
    sns.barplot(data=long, x="metric", y="value", hue=hue, errorbar=partial(spread, bounds=bounds), capsize=0.1,
                ax=ax, alpha=0.8)
    seed_dots(ax, long, "metric", "value", hue)
    if reference is not None and np.isfinite(reference[0]):
        ax.axhline(reference[0], color="k", ls="--", lw=0.8, label=reference[1])
        ax.legend(fontsize=7)
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelsize=7, rotation=15)
    return to_data_uri(fig)


def xy_lines(df: pd.DataFrame, x: str, y: str, hue: str, xlabel: str, ylabel: str, logx: bool = False) -> str:
    """One line per value of `hue` (e.g. a seed) through (x, y) points."""
    fig = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = fig.subplots()
    sns.lineplot(data=df.assign(**{hue: df[hue].astype(str)}), x=x, y=y, hue=hue, marker="o", ax=ax)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    return to_data_uri(fig)


def rate_distortion_plane(df: pd.DataFrame, rate: str, distortion: str, line: str) -> str:
    """Distortion against rate, one line per value of `line` through its beta sweep (seed means,
    their spread on both axes), each point marked with its beta (Alemi et al. 2018, fig 1)."""
    fig = Figure(figsize=(5.2, 3.6), layout="constrained")
    ax = fig.subplots()
    for (name, sweep), colour in zip(df.groupby(line, sort=False), sns.color_palette(), strict=False):
        points = sorted(((stat(g, rate), stat(g, distortion), beta) for beta, g in sweep.groupby("beta")),
                        key=lambda p: p[0].mean)
        x, y = np.array([p[0].mean for p in points]), np.array([p[1].mean for p in points])
        xerr = np.nan_to_num(np.array([[p[0].mean - p[0].whisker()[0], p[0].whisker()[1] - p[0].mean]
                                       for p in points]).T)
        yerr = np.nan_to_num(np.array([[p[1].mean - p[1].whisker()[0], p[1].whisker()[1] - p[1].mean]
                                       for p in points]).T)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="-o", ms=4, capsize=2, color=colour, label=str(name))
        for (_, _, beta), xi, yi in zip(points, x, y, strict=True):
            ax.annotate(f"{beta:g}", (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7, color=colour)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("rate: " + axis_label(rate).replace("\n", " "))
    ax.set_ylabel("distortion: " + axis_label(distortion).replace("\n", " "))
    ax.legend(title=f"{line} (points: beta)", fontsize=7)
    return to_data_uri(fig)


def estimate_check(estimate: np.ndarray, error: np.ndarray, exact: np.ndarray, xlabel: str, ylabel: str) -> str:
    """Estimates with +-3 standard-error bars against exact values, on the identity line."""
    fig = Figure(figsize=(3.8, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(exact, estimate, yerr=3 * error, fmt="o", ms=3, capsize=2)
    lo, hi = float(min(exact.min(), estimate.min())), float(max(exact.max(), estimate.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    return to_data_uri(fig)
