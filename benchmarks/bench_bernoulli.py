"""Speed of G-Mixup's edge sampler: exact Bernoulli draws from random bytes against ``torch.rand(...) < p``.

``mixup_graph._graphon._bernoulli_flat`` draws ``rows × M`` independent Bernoulli(p_j) (the upper
triangles of ``rows`` graphs from one graphon) by reading one random byte per draw and a float only
on a tie (1 in 256); the plain form draws a float32 per pair, compares and takes the nonzero flat
indices. Both return the same kind of result (ascending flat indices of the successes), from a
``torch.Generator``. The cases run in rounds, in a shuffled order each round, and each time is
divided by the plain form's time in the same round.

    python benchmarks/bench_bernoulli.py            # 4 shapes, 15 rounds, one thread
    python benchmarks/bench_bernoulli.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from _harness import Case, run_rounds

from mixup_graph._graphon import _bernoulli_flat, _byte_thresholds

SHAPES = [(20, 40), (500, 40), (64, 200), (2000, 100)]  # (graphs, nodes): M = nodes·(nodes − 1)/2 pairs


def plain(p: torch.Tensor, rows: int, generator: torch.Generator) -> np.ndarray:
    """``torch.rand(rows, M) < p``, as flat indices of the successes."""
    hits = torch.rand(rows, p.numel(), generator=generator) < p
    return torch.nonzero(hits.reshape(-1)).squeeze(1).numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = 2 if args.quick else args.rounds
    shapes = SHAPES[:1] if args.quick else SHAPES
    print("| graphs × pairs | plain `torch.rand < p` median ms | bytes median ms | bytes / plain (median) | min–max |")
    print("|---|---:|---:|---:|---:|")
    for rows, n in shapes:
        m = n * (n - 1) // 2
        p = torch.rand(m, generator=torch.Generator().manual_seed(0)) * 0.3
        thresholds = _byte_thresholds(p)
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
        ref = Case("plain", lambda p=p, rows=rows, g=g1: plain(p, rows, g))
        ours = Case("bytes", lambda t=thresholds, rows=rows, g=g2: _bernoulli_flat(t, rows, g))
        run_rounds([ref, ours], rounds, torch.device("cpu"))
        ratios = [a / b for a, b in zip(ours.times, ref.times, strict=True)]
        print(
            f"| {rows} × {m} | {statistics.median(ref.times):.2f} | {statistics.median(ours.times):.2f} | "
            f"{statistics.median(ratios):.2f}× | {min(ratios):.2f}–{max(ratios):.2f} |"
        )


if __name__ == "__main__":
    main()
