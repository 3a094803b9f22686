"""What the evaluation's sample sizes buy (`python -m bench perf --sampling`).

Scoring draws random samples (prior samples, path midpoints, path-length positions, the test
images of the IWAE bound; `vae_core.metrics.Draws`) whose sizes set most of its cost. Halving
them would cut a run's evaluation, at the price of noisier figures. This module measures both
sides: the seconds of `evaluate()` at the suites' sizes and at half of them, and, for every
figure those sizes enter, how much it moves when only the evaluation's draw changes (the
draw's noise) against how much it moves between training seeds on one draw. A suite scores
the configurations of one training seed on the same draws (`vae_core.metrics.run_draws`), so
what a comparison sees is the draw's noise of a gap between two models, measured here for the
AE - VAE gap of the default networks. (This measurement is why each seed now has its own
draws: on one draw for all, the draw's noise of that gap matched the training seeds' spread,
which alone made the claims' intervals.)
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import pandas as pd
import torch

from bench.perf import machine_id
from vae_core.config import RunConfig
from vae_core.data import load_dataset
from vae_core.device import synchronize
from vae_core.evaluator import train_evaluator
from vae_core.metrics import DEFAULT_DRAWS, GROUPS, evaluate, run_draws
from vae_core.train import fit

#: The metric groups of an unconditional model whose samples `Draws` sizes (the others read fixed
#: splits or fixed sizes; the exact likelihood applies only to latents of at most 2 dimensions).
SIZED_GROUPS = ("likelihood", "exact_likelihood", "features", "feature_paths")
SIZED_METRICS = tuple(n for g in GROUPS if g.name in SIZED_GROUPS for n in g.produces if n != "iwae_nll_by_k")
MODELS = ("vae", "ae")


def draw_seeds(n_draws: int) -> list[int]:
    """The seeds of `n_draws` draws: those a suite scores training seeds 0, 1, ... on."""
    return [run_draws(d).seed for d in range(n_draws)]


def measure(device: str = "cpu", dataset: str = "mnist5k", epochs: int = 20, seeds: int = 4, n_draws: int = 10,
            repeats: int = 3) -> dict:
    """The default VAE and AE trained with `seeds` training seeds, each scored on the metrics of
    `SIZED_GROUPS` on `n_draws` draws (`draw_seeds`), at the suites' sizes ("suite") and at half
    of them ("half"), as rows; and the seconds of one whole `evaluate()` (every group) of the
    first VAE at each size, best of `repeats` interleaved rounds, beside a VAE's training (the
    quickest of its seeds')."""
    data = load_dataset(dataset).to(device)
    evaluator = train_evaluator(data, device)
    sizes = {"suite": DEFAULT_DRAWS, "half": DEFAULT_DRAWS.halved()}
    rows, vae_train_s, first = [], [], None
    for model_name in MODELS:
        for seed in range(seeds):
            start = time.perf_counter()
            model = fit(RunConfig(model=model_name, seed=seed, dataset=dataset, device=device, epochs=epochs),
                        data).model
            if model_name == "vae":
                vae_train_s.append(time.perf_counter() - start)
            first = model if first is None else first
            for size, draws in sizes.items():
                for d, draw_seed in enumerate(draw_seeds(n_draws)):
                    metrics = evaluate(model, data, evaluator=evaluator, only=SIZED_METRICS,
                                       draws=replace(draws, seed=draw_seed)).metrics
                    rows.append({"model": model_name, "seed": seed, "sizes": size, "draw": d,
                                 **{n: metrics[n] for n in SIZED_METRICS}})
    evaluate_s: dict[str, float] = {}
    for _ in range(repeats):
        for size, draws in sizes.items():
            start = time.perf_counter()
            evaluate(first, data, evaluator=evaluator, draws=draws)
            synchronize(device)
            seconds = time.perf_counter() - start
            evaluate_s[size] = min(seconds, evaluate_s.get(size, seconds))
    return {"device": device, "machine": machine_id(device), "torch": torch.__version__, "dataset": dataset,
            "epochs": epochs, "seeds": seeds, "draws": n_draws, "repeats": repeats,
            "sizes": {name: asdict(d) for name, d in sizes.items()},
            "train_s": min(vae_train_s), "evaluate_s": evaluate_s, "rows": rows}


def draw_sd(values: pd.Series, by: pd.Series) -> float:
    """The draw's noise: the standard deviation over draws within each group of `by` (a
    training seed), pooled (the root of the mean variance)."""
    return float(values.groupby(by).var().mean() ** 0.5)


def noise(result: dict) -> pd.DataFrame:
    """One row per metric of `measure`'s rows: the VAE's value at the suites' sizes on the first
    draw (mean over training seeds), the draw's noise of one VAE at each size (`draw_sd`), the
    spread between training seeds on that one draw, and the same three for the AE - VAE gap,
    paired on training seed and draw. NaN where the AE has no such figure (the IWAE bound); a metric
    neither model has (the exact likelihood of a 20-dimensional latent) is left out."""
    df = pd.DataFrame(result["rows"]).astype({n: float for n in SIZED_METRICS})
    out = []
    for metric in (n for n in SIZED_METRICS if df[n].notna().any()):
        row = {"metric": metric}
        for size in ("suite", "half"):
            frame = df[df["sizes"] == size].pivot(index=["seed", "draw"], columns="model", values=metric)
            vae, gap = frame["vae"], frame["ae"] - frame["vae"]  # both models score every metric (NaN: none)
            seeds = frame.index.get_level_values("seed")
            row[f"vae_draw_sd_{size}"] = draw_sd(vae, seeds)
            row[f"gap_draw_sd_{size}"] = draw_sd(gap, seeds)
            if size == "suite":
                first = frame.index.get_level_values("draw") == 0
                row["vae_value"], row["vae_seed_sd"] = float(vae[first].mean()), float(vae[first].std())
                row["gap"], row["gap_seed_sd"] = float(gap[first].mean()), float(gap[first].std())
        out.append(row)
    return pd.DataFrame(out)


def table(result: dict) -> str:
    """`measure`'s result as the text `bench perf --sampling` prints."""
    seconds, train = result["evaluate_s"], result["train_s"]
    share = {size: s / (s + train) for size, s in seconds.items()}
    lines = [f"== the evaluation's samples on {result['dataset']}: {result['seeds']} training seeds x "
             f"{result['draws']} draws ==",
             f"sizes: suite {result['sizes']['suite']}, half {result['sizes']['half']}",
             f"evaluate(), every group: {seconds['suite']:.2f} s at the suite's sizes ({share['suite']:.0%} of a run "
             f"with its {train:.2f} s of training), {seconds['half']:.2f} s at half ({share['half']:.0%})",
             f"{'metric':<24} {'VAE':>9} {'draw sd':>18} {'seed sd':>9} {'AE - VAE':>9} {'draw sd':>18} {'seed sd':>9}"]
    arrow = lambda a, b: f"{a:.3g} -> {b:.3g}"
    for r in noise(result).itertuples():
        lines.append(f"{r.metric:<24} {r.vae_value:9.4g} {arrow(r.vae_draw_sd_suite, r.vae_draw_sd_half):>18} "
                     f"{r.vae_seed_sd:9.3g} {r.gap:9.4g} {arrow(r.gap_draw_sd_suite, r.gap_draw_sd_half):>18} "
                     f"{r.gap_seed_sd:9.3g}")
    lines.append("draw sd: the figure's standard deviation over draws, the suites' sizes -> half; seed sd: over "
                 "training seeds on one draw")
    return "\n".join(lines)
