"""C1: a VAE's latent space interpolates smoothly; an AE's does not (chapter fig 1.10-1.12)."""

from __future__ import annotations

import pandas as pd

from bench.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    SHOWN_SMOOTHNESS,
    SMOOTHNESS_FIGURES,
    Baseline,
    Claim,
    Finding,
    Groups,
    concat,
    figure,
    like_baseline,
    main_data,
)
from bench.figures import Panel, image_panel, latent_path_rows, metric_panels
from bench.frames import lowest_seed
from bench.stats import beats, fmt, mean
from bench.store import RunRecord
from vae_core.config import RunConfig

WIN_SHARE = 0.5  # wins must be more than this share of the figures
WIN_MARGIN = 2  # and at least this many times the losses (and likewise for a refutation)


class SmoothLatent(Claim):
    id = "C1"
    statement = "A VAE's latent space interpolates smoothly; an AE's does not."
    experiment = ("AE vs VAE with the same network (MLP and conv), BCE, latent size 20, three figures in the "
                  "evaluator's features: how evenly decoded images move along straight latent paths between test "
                  "codes (path_length_excess, 1 = straight and even), how many decoded path midpoints look real "
                  "(midpoint_precision), and holes in the prior read apart from blur (prior_confidence_ratio: the "
                  "classifier's confidence on prior samples over that on the same decoder's reconstructions); on the "
                  "synthetic lines data, the decoded angle along a path against the true even sweep. Shown beside "
                  "them, deciding nothing: the pixel figures (jump ratio, nearest-train distance ratios), which "
                  "favour blur, and the blur-sensitive feature figures (Frechet distance, precision of prior "
                  "samples).")
    rule = ("Count the figures (3 per architecture, plus the lines angle error) on which the VAE beats the AE with "
            "non-overlapping 95% intervals (wins) and loses (losses). Confirmed if wins are more than half of the "
            "figures and at least twice the losses; refuted if losses are more than half and at least twice the "
            "wins; otherwise inconclusive.")
    changed_after_numbers = True
    history = ("The counting rule is unchanged; the figures it counts changed after numbers were seen. Before, it "
               "counted three pixel figures (jump ratio, nearest-train distance of path midpoints and of prior "
               "samples); review of the full run showed the jump ratio does not separate AE from VAE (1.30 vs 1.35) "
               "and that pixel distance favours blurry images. The three feature figures were chosen, and declared "
               "here, before any of their numbers were seen.")

    def runs(self, base: Baseline) -> list[RunConfig]:
        ae, vae = base.ae, base.vae
        conv_ae, conv_vae = ae.replace(arch="conv"), base.plain.replace(arch="conv")
        lines_ae, lines_vae = (c.replace(dataset="lines", data_dir=None, image_size=0) for c in (ae, base.plain))
        return [ae, vae, conv_ae, conv_vae, lines_ae, lines_vae]

    def select(self, df: pd.DataFrame) -> Groups:
        main, lines = main_data(df), df[df.dataset == "lines"]
        ae = {"model": "ae", "beta": 0.0}
        groups = {f"{arch.upper()} {name}": like_baseline(main, arch=arch, **changes)
                  for arch in ("mlp", "conv") for name, changes in (("AE", ae), ("VAE", {}))}
        return {**groups, "lines AE": like_baseline(lines, **ae), "lines VAE": like_baseline(lines)}

    def judge(self, groups: Groups) -> Finding:
        comparisons, measured = [], []
        for arch in ("MLP", "CONV"):
            ae, vae = groups[f"{arch} AE"], groups[f"{arch} VAE"]
            if ae.empty or vae.empty:
                continue
            for metric in SMOOTHNESS_FIGURES:
                comparisons.append((f"{arch} {metric}", beats(vae, ae, metric)))
            measured += [figure(f"{arch} {name}", g, metric) for metric in (*SMOOTHNESS_FIGURES, *SHOWN_SMOOTHNESS)
                         for name, g in (("AE", ae), ("VAE", vae))]
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
        mlp_ae, mlp_vae = groups["MLP AE"], groups["MLP VAE"]
        if not mlp_ae.empty and not mlp_vae.empty:  # the blur-vs-holes reading, shown, not counted
            reason += (f". Not counted: prior samples' pixel distance ratio (favours blur) AE "
                       f"{fmt(mean(mlp_ae, 'prior_nn_ratio'))} vs VAE {fmt(mean(mlp_vae, 'prior_nn_ratio'))}, their "
                       f"Frechet distance in features (penalises blur) AE {fmt(mean(mlp_ae, 'prior_fid'))} vs VAE "
                       f"{fmt(mean(mlp_vae, 'prior_fid'))} (MLP)")
        if len(wins) > WIN_SHARE * n and len(wins) >= WIN_MARGIN * len(losses):
            return Finding(CONFIRMED, reason, measured)
        if len(losses) > WIN_SHARE * n and len(losses) >= WIN_MARGIN * len(wins):
            return Finding(REFUTED, reason, measured)
        return Finding(INCONCLUSIVE, reason, measured)

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        main = concat(*(groups[f"{a} {m}"] for a in ("MLP", "CONV") for m in ("AE", "VAE")))
        out = [Panel(metric_panels(main, "model", list(SMOOTHNESS_FIGURES), hue="arch", kind="bar"),
                     "The figures the rule counts: AE vs VAE for the MLP and the conv network, in the evaluator's "
                     "features (bars: mean over seeds, whiskers: their spread, dots: the seeds)."),
               Panel(metric_panels(main, "model", ["interp_jump_ratio", "midpoint_nn_ratio", "prior_nn_ratio",
                                                   "prior_fid"], hue="arch", kind="bar"),
                     "Shown, not counted: the pixel figures (nearest-train distance favours blurry images) and the "
                     "Frechet distance of prior samples in features (which penalises blur). Where they disagree, "
                     "blur and holes pull apart; the counted prior_confidence_ratio divides blur out.")]
        ae, vae = lowest_seed(records, groups["lines AE"]), lowest_seed(records, groups["lines VAE"])
        if ae is not None and vae is not None and "paths" in ae.images:
            out += image_panel(latent_path_rows([("AE", ae), ("VAE", vae)], 3),
                               "Lines data: the same pairs of test lines (first and last column) and the images "
                               "decoded along the straight latent path between their codes; a smooth space turns the "
                               "line evenly from one angle to the other (seed 0).", 0.45)
        return out
