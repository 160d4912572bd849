"""Random-number helpers: every draw comes from an explicit CPU ``torch.Generator``."""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

__all__ = ["check_generator", "numpy_rng"]


@overload
def check_generator(generator: torch.Generator) -> torch.Generator: ...


@overload
def check_generator(generator: None) -> None: ...


@overload
def check_generator(generator: torch.Generator | None) -> torch.Generator | None: ...


def check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """Return ``generator`` after checking that it is a CPU ``torch.Generator`` (or ``None``).

    Plans are sampled on the CPU in float32 so that a seed gives the same mix on every device;
    a CUDA generator would also force a host synchronisation.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}: {generator!r}")
    if generator.device.type != "cpu":
        raise ValueError(
            f"generator must live on the CPU (plans are sampled on the CPU), got a generator on "
            f"{generator.device}; use torch.Generator().manual_seed(seed)"
        )
    return generator


def numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A NumPy generator seeded from one draw of ``generator`` (the global torch RNG when ``None``).

    NumPy supplies the distributions torch cannot sample from an explicit generator (Beta, Gamma);
    seeding it from the torch generator keeps a single source of randomness.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return np.random.default_rng(seed)
