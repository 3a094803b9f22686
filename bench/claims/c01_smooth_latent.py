"""C1: a VAE's latent space interpolates smoothly; an AE's does not (chapter fig 1.10-1.12)."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    SMOOTHNESS_FIGURES,
    Baseline,
    Claim,
    Finding,
    Groups,
    concat,
    figure,
    main_data,
)
from bench.figures import Panel, image_panel, latent_path_rows, metric_panels
from bench.frames import lowest_seed, rows
from bench.stats import beats
from bench.store import RunRecord
from vae_core.config import RunConfig

WIN_SHARE = 0.5  # wins must be more than this share of the figures
WIN_MARGIN = 2  # and at least this many times the losses (and likewise for a refutation)


class SmoothLatent(Claim):
    id = "C1"
    statement = "A VAE's latent space interpolates smoothly; an AE's does not."
    experiment = ("AE vs VAE with the same network (MLP and conv), BCE, latent size 20: evenness of latent paths "
                  "(jump ratio), realism of decoded path midpoints and of prior samples (nearest-train distance "
                  "ratio); on the synthetic lines data, the decoded angle along a path against the true even sweep.")
    rule = ("Count the figures (3 per architecture, plus the lines angle error) on which the VAE beats the AE with "
            "non-overlapping 95% intervals (wins) and loses (losses). Confirmed if wins are more than half of the "
            "figures and at least twice the losses; refuted if losses are more than half and at least twice the "
            "wins; otherwise inconclusive.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        ae, vae = base.ae, base.vae
        conv_ae, conv_vae = ae.replace(arch="conv"), base.plain.replace(arch="conv")
        lines_ae, lines_vae = (c.replace(dataset="lines", data_dir=None) for c in (ae, base.plain))
        return [ae, vae, conv_ae, conv_vae, lines_ae, lines_vae]

    def select(self, df: pd.DataFrame) -> Groups:
        main, lines = main_data(df), df[df.dataset == "lines"]
        groups = {f"{arch.upper()} {model.upper()}": rows(main, arch=arch, model=model)
                  for arch in ("mlp", "conv") for model in ("ae", "vae")}
        return {**groups, "lines AE": rows(lines, model="ae"), "lines VAE": rows(lines, model="vae")}

    def judge(self, groups: Groups) -> Finding:
        comparisons, measured = [], []
        for arch in ("MLP", "CONV"):
            ae, vae = groups[f"{arch} AE"], groups[f"{arch} VAE"]
            if ae.empty or vae.empty:
                continue
            for metric in SMOOTHNESS_FIGURES:
                comparisons.append((f"{arch} {metric}", beats(vae, ae, metric)))
                measured += [figure(f"{arch} AE", ae, metric), figure(f"{arch} VAE", vae, metric)]
        ae, vae = groups["lines AE"], groups["lines VAE"]
        if not ae.empty and not vae.empty:
            comparisons.append(("lines angle_path_error_deg", beats(vae, ae, "angle_path_error_deg")))
            measured += [figure("lines AE", ae, "angle_path_error_deg"),
                         figure("lines VAE", vae, "angle_path_error_deg")]
        if not comparisons:
            return Finding(INCONCLUSIVE, "no AE/VAE pair finished")
        wins = [name for name, o in comparisons if o > 0]
        losses = [name for name, o in comparisons if o < 0]
        n = len(comparisons)
        reason = (f"the VAE beats the AE on {len(wins)} of {n} figures ({', '.join(wins) or 'none'}) and loses on "
                  f"{len(losses)} ({', '.join(losses) or 'none'}); the rest are undecided at this number of seeds")
        if len(wins) > WIN_SHARE * n and len(wins) >= WIN_MARGIN * len(losses):
            return Finding(CONFIRMED, reason, measured)
        if len(losses) > WIN_SHARE * n and len(losses) >= WIN_MARGIN * len(wins):
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        main = concat(*(groups[f"{a} {m}"] for a in ("MLP", "CONV") for m in ("AE", "VAE")))
        out = [Panel(metric_panels(main, "model", list(SMOOTHNESS_FIGURES), hue="arch", kind="bar"),
                     "AE vs VAE for the MLP and the conv network (bars: mean over seeds, 95% t-interval).")]
        ae, vae = lowest_seed(records, groups["lines AE"]), lowest_seed(records, groups["lines VAE"])
        if ae is not None and vae is not None and "paths" in ae.images:
            out += image_panel(latent_path_rows([("AE", ae), ("VAE", vae)], 3),
                               "Lines data: the same pairs of test lines (first and last column) and the images "
                               "decoded along the straight latent path between their codes; a smooth space turns the "
                               "line evenly from one angle to the other (seed 0).", 0.45)
        return out
