"""The typed options the command line hands down: what a suite is built with, how its runs
are executed, and how a tuning study runs. Plain frozen dataclasses; `cli.py` builds them
once from the arguments and nothing changes them afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vae_core.config import RunConfig


@dataclass(frozen=True)
class SuiteOptions:
    """What a suite's runs are built with; None = the suite's (or the config's) own value."""

    quick: bool = False
    seeds: int | None = None
    seed_list: tuple[int, ...] | None = None  # explicit seeds (--seed-list 3,7,11) instead of 0..seeds-1
    epochs: int | None = None
    dataset: str | None = None
    data_dir: str | None = None
    image_size: int | None = None
    device: str | None = None
    precision: str | None = None
    settings: tuple[tuple[str, tuple], ...] = ()  # --set FIELD=V1[,V2...]: (field, values); several values sweep

    def seed_values(self, default: int) -> tuple[int, ...]:
        """The seeds each run is trained with: --seed-list, else 0 to N-1 (N = --seeds or `default`)."""
        return self.seed_list or tuple(range(self.seeds or default))

    def overrides(self) -> dict:
        """The RunConfig fields these options set, for suites whose runs carry their own values:
        the data set, epochs, device and precision, and every --set with one value."""
        fields = ("dataset", "data_dir", "image_size", "device", "precision", "epochs")
        out = {k: v for k in fields if (v := getattr(self, k)) is not None}
        return out | {name: values[0] for name, values in self.settings if len(values) == 1}

    def sweep(self) -> list[dict]:
        """The product of the --set fields given several values: one dict of changes per point,
        in the order the values were given (the first field varies slowest)."""
        points: list[dict] = [{}]
        for name, values in self.settings:
            if len(values) > 1:
                points = [{**p, name: v} for p in points for v in values]
        return points


@dataclass(frozen=True)
class ExecOptions:
    """How a suite's runs are executed: where (`executor`: inline, process or ray), with how
    many processes (`jobs`, process pool) or which cluster (`address`, Ray), whether same-shaped
    runs train stacked (`stack`: None = where it wins, on a GPU) and with a compiled step
    (`compile`: `vae_core.stacked.fit_stacked(compile_step=True)`), and whether a bar shows progress."""

    executor: str = "inline"
    jobs: int | None = None
    address: str | None = None
    stack: bool | None = None
    compile: bool = False
    progress: bool = True
    keep_weights: bool = True  # store each run's trained weights (model.pt); False: run --no-weights


def default_storage_url(results: Path) -> str:
    """The study storage when none is given: a SQLite file in the results folder."""
    return f"sqlite:///{(Path(results) / 'optuna.db').resolve()}"


@dataclass(frozen=True)
class TuneOptions:
    study: str
    trials: int
    objectives: tuple[str, ...] = ("test_recon", "smoothness")
    storage: str | None = None  # None = default_storage_url(results)
    workers: int = 1
    timeout: float | None = None
    dataset: str = "mnist5k"
    data_dir: str | None = None
    image_size: int = 0
    device: str = "auto"
    precision: str = "fp32"
    epochs: int = 10
    results: Path = field(default_factory=lambda: Path("results"))

    @property
    def storage_url(self) -> str:
        return self.storage or default_storage_url(self.results)

    def base_config(self) -> RunConfig:
        return RunConfig(dataset=self.dataset, data_dir=self.data_dir, image_size=self.image_size, device=self.device,
                         precision=self.precision, epochs=self.epochs, eval_split="validation")


@dataclass(frozen=True)
class PerfOptions:
    device: str = "auto"
    repeats: int = 3
    json: Path | None = None  # write the measurements here
    compare: Path | None = None  # a stored baseline to gate against
    max_regression: float = 0.15  # allowed fall of each gated ratio, as a fraction
    profile: bool = False
    memory: bool = False  # measure peak memory (`bench.perf.memory`) instead of throughput
    evaluation: bool = False  # measure one run's evaluation against its training (`bench.perf.evaluation_share`)
    scaling: bool = False  # measure a suite's cost against data size and runs (`bench.perf.scaling`)
    sampling: bool = False  # measure what the evaluation's sample sizes buy and cost (`bench.sampling`)
