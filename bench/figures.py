"""Figures for the report: seaborn panels with 95% t-intervals over seeds, image grids and
latent scatters, each returned as a base64 PNG `data:` URI (the report stays one file).

Figures are built from `matplotlib.figure.Figure` directly, never pyplot, so a long session
does not accumulate open figures.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from vae_core.metrics import METRICS  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")


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


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def axis_label(metric: str) -> str:
    info = METRICS.get(metric)
    if info is None:
        return metric
    arrow = {"lower": " (lower better)", "higher": " (higher better)", "closer to 1": " (1 = real)"}
    return f"{metric}\n[{info.unit}]{arrow.get(info.better, '')}"


def metric_panels(
    df: pd.DataFrame, x: str, metrics: Sequence[str], hue: str | None = None,
    kind: str = "point", even_x: bool = False,
) -> str:
    """One panel per metric: mean over seeds against `x`, with 95% t-intervals; `even_x` spaces
    the x values evenly (for grids such as beta = 0, 0.1, ..., 8)."""
    metrics = [m for m in metrics if m in df and df[m].notna().any()]
    if even_x:  # grids like beta in {0, 0.1, ..., 8}: evenly spaced, labelled with the values
        values = sorted(df[x].unique())
        df = df.assign(**{x: df[x].map({v: i for i, v in enumerate(values)})})
    fig = Figure(figsize=(3.3 * len(metrics), 3.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        data = df[df[metric].notna()]
        if kind == "bar":
            sns.barplot(data=data, x=x, y=metric, hue=hue, errorbar=t_interval, ax=ax, capsize=0.1)
        else:
            sns.lineplot(data=data, x=x, y=metric, hue=hue, errorbar=t_interval, marker="o", ax=ax,
                         err_style="bars", err_kws={"capsize": 3})
            if even_x:
                ax.set_xticks(range(len(values)), [f"{v:g}" for v in values])
        ax.set_ylabel(axis_label(metric))
        if ax.get_legend() is not None and ax is not axes[-1]:
            ax.get_legend().remove()
    return to_data_uri(fig)


def history_panel(history: pd.DataFrame, y: str, hue: str, ylabel: str) -> str:
    """A per-epoch curve per value of `hue` (mean over seeds), one colour per value."""
    fig = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = fig.subplots()
    order = [f"{v:g}" for v in sorted(history[hue].unique())]
    sns.lineplot(data=history.assign(**{hue: history[hue].map("{:g}".format)}), x="epoch", y=y, hue=hue,
                 hue_order=order, errorbar=None, ax=ax, palette="viridis")
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


def latent_scatter(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], prior_ring: bool = True) -> str:
    """2-D codes of the test set coloured by class, one panel per model, with the 1 and 2
    sigma circles of the N(0, I) prior."""
    fig = Figure(figsize=(3.6 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, codes, labels) in zip(axes, panels, strict=True):
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
