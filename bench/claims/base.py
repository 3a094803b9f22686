"""What every claim of the ledger is made of, and the helpers their rules share.

A `Claim` keeps together its statement, the runs it needs, the rows it reads, the rule that
decides its verdict (as text, with the thresholds inserted from the named constants the code
uses, so prose and code cannot drift), the judge that applies it, and its figures. Rules compare
seed means with 95% Student-t intervals (`bench.stats`): "A beats B" means A's interval lies
wholly on the better side of B's; overlapping intervals decide nothing. A verdict is
"confirmed", "refuted" or "inconclusive", always with the reason. A refuted claim is a result:
never change a rule to make a claim come out confirmed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from bench.figures import Panel
from bench.frames import rows
from bench.grids import Grid
from bench.stats import stat
from bench.store import RunRecord
from vae_core.config import RunConfig, config_dict
from vae_core.metrics import METRICS

CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE)
IWAE_K_CLAIMS = 1000  # the baseline's IWAE curve runs to k = 1000 (claim C12)
BASE_LATENT = RunConfig().latent_dim  # the classic example's latent size, 20
# C1's deciding figures, declared before their numbers were seen (C3 reads them too): evenness of latent paths, realism
# of path midpoints and holes in the prior, each in the evaluator's features and none rewarding blur
PATH_EVENNESS = "path_length_excess"  # C8's smoothness figure too
SMOOTHNESS_FIGURES = (PATH_EVENNESS, "midpoint_precision", "prior_confidence_ratio")
# shown beside them, deciding nothing: the pixel figures C1 read before (pixel distance favours blur), the raw
# perceptual path length (it scales with how far apart the ends decode) and the blur-sensitive feature figures
SHOWN_SMOOTHNESS = ("interp_jump_ratio", "midpoint_nn_ratio", "prior_nn_ratio", "perceptual_path_length",
                    "midpoint_fid", "prior_fid", "prior_precision")
MEAN_IMAGE_SHARE = 0.95  # "no better than the mean image": error at least 95% of the mean image's
CHANCE = 0.1  # accuracy of guessing one of 10 classes

Groups = dict[str, pd.DataFrame]  # named selections of a claim's rows: what its judge and figures read


@dataclass
class Finding:
    verdict: str
    reason: str
    measured: list[tuple[str, str]] = field(default_factory=list)  # (figure, value with interval)


@dataclass(frozen=True)
class Baseline:
    """What a claim builds its runs from, for one seed: the classic example's VAE on the suite's
    data, with the suite's epochs, and the suite's sweeps."""

    plain: RunConfig
    grid: Grid

    @property
    def vae(self) -> RunConfig:
        """The baseline VAE; its IWAE curve runs to k = 1000. Other VAEs keep the default k,
        which keeps evaluation short."""
        return self.plain.replace(iwae_k=IWAE_K_CLAIMS)

    @property
    def ae(self) -> RunConfig:
        return self.plain.replace(model="ae", beta=0.0)  # beta means nothing to an AE; 0 keeps one cache key

    def beta_sweep(self, recon_loss: str = "bce") -> list[RunConfig]:
        """The KL-weight sweep of the VAE with `recon_loss`, the BCE one with the baseline itself
        at beta = 1."""
        plain = self.plain.replace(recon_loss=recon_loss)
        return [self.vae if b == 1.0 and recon_loss == "bce" else plain.replace(beta=b) for b in self.grid.betas]


CLAIM, CHECK = "claim", "check"
UNCHANGED = "Written before any run of the claims suite; unchanged since."


class Claim(ABC):
    """One statement of the chapter: its runs, its row selection, its rule and judge, its figures.

    `kind` is CLAIM for an empirical statement the data can confirm or refute, CHECK for a
    mathematical fact that the numbers can only confirm unless the code is wrong (a check of the
    harness, not evidence about the chapter; the ledger counts the two apart). `history` says
    whether the rule changed after numbers were seen, when and why."""

    id: ClassVar[str]
    statement: ClassVar[str]
    experiment: ClassVar[str]
    rule: ClassVar[str]
    kind: ClassVar[str] = CLAIM
    why_check: ClassVar[str] = ""  # for a CHECK: why the numbers can only confirm it
    history: ClassVar[str] = UNCHANGED
    changed_after_numbers: ClassVar[bool] = False  # True when `history` tells of a change after numbers were seen

    @abstractmethod
    def runs(self, base: Baseline) -> list[RunConfig]:
        """The runs this claim needs, for one seed."""

    @abstractmethod
    def select(self, df: pd.DataFrame) -> Groups:
        """The rows the judge and the figures read, by name (one row per run and seed)."""

    @abstractmethod
    def judge(self, groups: Groups) -> Finding:
        """The verdict of the rule on the selected rows."""

    def figures(self, groups: Groups, records: list[RunRecord]) -> list[Panel]:
        """The figures that show the measured numbers (none by default)."""
        return []

    def decide(self, df: pd.DataFrame) -> Finding:
        """The verdict on a frame of runs (`bench.frames.records_frame`)."""
        return self.judge(self.select(df))


def figure(name: str, df: pd.DataFrame, metric: str) -> tuple[str, str]:
    """A row of the measured table: the name, metric and unit, and the mean with its interval."""
    info = METRICS.get(metric)
    unit = f" [{info.unit}]" if info else ""
    return (f"{name}: {metric}{unit}", str(stat(df, metric)))


def word(outcome: int, yes: str, no: str, tie: str) -> str:
    return yes if outcome > 0 else no if outcome < 0 else tie


def missing(*frames: pd.DataFrame) -> Finding | None:
    if any(f.empty for f in frames):
        return Finding(INCONCLUSIVE, "some runs this rule needs are missing or failed; see the problems above")
    return None


def main_data(df: pd.DataFrame) -> pd.DataFrame:
    """The rows on the suite's main data set (not the synthetic `lines`)."""
    return df[df.dataset != "lines"]


def by_value(df: pd.DataFrame, column: str) -> dict:
    """The rows of `df` grouped by the values of `column`, in ascending order."""
    return {value: group for value, group in df.groupby(column)}


def concat(*frames: pd.DataFrame) -> pd.DataFrame:
    """Several selections of one frame as one, in the frame's own row order (the suite's), so a
    figure shows its runs in the order the suite lists them."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames).sort_index() if frames else pd.DataFrame()


SHARPNESS = "recon_laplacian_ratio"  # the sharpness of reconstructions C6 and C9 read, a ratio to real images
OFF_REAL = f"{SHARPNESS}_off_real"


def off_real(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with a column `OFF_REAL` = |sharpness ratio - 1|: for a ratio to real images, whose
    registered direction is "closer to 1", the distance from real (0 = as sharp as real images)."""
    values = (df[SHARPNESS] - 1).abs() if SHARPNESS in df else float("nan")  # absent when no run finished
    return df.assign(**{OFF_REAL: values})


#: What a suite sets for all its runs (or a claim varies on purpose within a sweep); `like_baseline` leaves these free.
SUITE_FIELDS = ("seed", "dataset", "data_dir", "epochs", "device", "precision", "iwae_k")


def like_baseline(df: pd.DataFrame, vary: tuple[str, ...] = (), **changes: object) -> pd.DataFrame:
    """The rows whose config is the baseline VAE's (the classic example's, `RunConfig()`) but for
    `changes`, with the suite's fields (data set, epochs, device, precision, seed, IWAE samples) and the
    swept fields `vary` free. Every claim selects its groups this way, so a group never pools runs
    that another claim added to the suite (a conv VAE, a latent sweep, a moment penalty)."""
    wanted = config_dict(RunConfig().replace(**changes))
    return rows(df, **{k: v for k, v in wanted.items() if k not in SUITE_FIELDS and k not in vary and k in df})


def beta_sweep_rows(df: pd.DataFrame, recon_loss: str = "bce") -> pd.DataFrame:
    """The rows of the KL-weight sweep: the baseline VAE with `recon_loss` at each beta, nothing
    else varied."""
    return like_baseline(main_data(df), vary=("beta",), recon_loss=recon_loss)
