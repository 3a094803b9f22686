"""The sweeps the built-in suites share, full and `--quick`, and the seeds and epochs they
default to. One place, so the ablations and the claims suites sweep the same values and share
their cached runs."""

from __future__ import annotations

from dataclasses import dataclass

from bench.options import SuiteOptions
from vae_core.config import RunConfig

BETAS = (0.0, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0)
LATENT_DIMS = (2, 4, 8, 16, 32, 64)
MOMENT_RATIOS = (0.005, 0.05, 0.5, 5.0, 50.0)
QUICK_BETAS = (0.0, 1.0, 4.0)
QUICK_LATENT_DIMS = (2, 8, 32)
QUICK_MOMENT_RATIOS = (0.05, 5.0)
SWEPT_LOSSES = ("bce", "mse")  # the beta sweep runs for both fixed decoders: the rate-distortion plane has a line each


@dataclass(frozen=True)
class Grid:
    seeds: tuple[int, ...]
    betas: tuple[float, ...]
    latent_dims: tuple[int, ...]
    moment_ratios: tuple[float, ...]
    base: RunConfig  # the classic example's VAE with the options' data set, device and epochs

    def seed_configs(self) -> list[RunConfig]:
        return [self.base.replace(seed=seed) for seed in self.seeds]


def grid_for(opts: SuiteOptions) -> Grid:
    """The grid of a built-in suite: 3 seeds and 20 epochs, or with --quick 2 seeds, 5 epochs
    and fewer sweep points; --seeds (or --seed-list), --epochs, --dataset, --device and --precision
    override."""
    quick = opts.quick
    epochs = opts.epochs or (5 if quick else 20)
    base = RunConfig(epochs=epochs, dataset=opts.dataset or "mnist5k", data_dir=opts.data_dir,
                     image_size=opts.image_size or 0, device=opts.device or "auto", precision=opts.precision or "fp32")
    return Grid(seeds=opts.seed_values(2 if quick else 3), betas=QUICK_BETAS if quick else BETAS,
                latent_dims=QUICK_LATENT_DIMS if quick else LATENT_DIMS,
                moment_ratios=QUICK_MOMENT_RATIOS if quick else MOMENT_RATIOS, base=base)
