"""Timing helpers shared by the benchmark scripts: cases timed in rounds, in a fresh order each round."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["Case", "run_rounds", "sync"]


@dataclass
class Case:
    """One timed call, with its time per round in milliseconds."""

    name: str
    fn: Callable[[], object]
    times: list[float] = field(default_factory=list)  # ms per round


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a round times the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_rounds(cases: list[Case], rounds: int, device: torch.device, warmup: int = 2) -> None:
    """Time every case once per round, after ``warmup`` untimed rounds, appending to ``case.times``."""
    order = random.Random(0)
    for r in range(rounds + warmup):
        for case in order.sample(cases, len(cases)):  # a fresh order each round: no case is always first
            sync(device)
            t0 = time.perf_counter()
            case.fn()
            sync(device)
            if r >= warmup:
                case.times.append((time.perf_counter() - t0) * 1e3)
