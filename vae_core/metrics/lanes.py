"""Random draws for a stack of models scored at once (`evaluate_stacked`), each on its own draws.

Evaluation draws its random numbers on the CPU from seeded generators, so that a model's figures
are the same on every device and whichever other groups run. A stack runs its models' passes in
one `torch.func.vmap`, where a draw from one generator is one tensor that every model reads
(randomness="same"). For models of different training seeds, each scored on its own draws
(`run_draws`), the stack holds one generator per distinct draw and each vmap lane an index into
them: `draw` samples every generator as it would alone, in the same order and shapes, and the
lane picks its own sample. Each model thus sees exactly the numbers `evaluate()` gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LaneGenerators:
    """One generator per distinct draw of a stack, and the index (a 0-d tensor, batched over
    the stack by vmap) of the one the current model draws from."""

    generators: tuple[torch.Generator, ...]
    lane: torch.Tensor


GeneratorLike = torch.Generator | LaneGenerators | None  # what a pass draws from


def draw(generator: GeneratorLike, sampler: Callable[..., torch.Tensor], *args: object,
         **kwargs: object) -> torch.Tensor:
    """`sampler(*args, generator=generator, **kwargs)` (`torch.randn`, `torch.randint`, ...); for
    `LaneGenerators`, every generator's sample, of which each lane reads its own (one generator:
    its sample, which every lane shares, as vmap broadcasts it)."""
    if not isinstance(generator, LaneGenerators):
        return sampler(*args, generator=generator, **kwargs)
    samples = [sampler(*args, generator=g, **kwargs) for g in generator.generators]
    return samples[0] if len(samples) == 1 else torch.stack(samples)[generator.lane]
