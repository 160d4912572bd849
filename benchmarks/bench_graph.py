"""Speed of G-Mixup (``graph:gmixup``) against per-graph implementations of the same steps.

The task: estimate one graphon per class (USVT, threshold 0.2, resolution = the median size) from
1,000 training graphs of about 50 nodes (stochastic block models, 3 classes), then generate 1,000
new graphs with one-hot degree features and soft labels, as PyG ``Data`` objects. Two baselines do
the same steps graph by graph, in the reference code's way:

* the reference (`reference_gmixup`): the calls of the authors' code (ahxt/g-mixup ``src/utils.py``,
  ``src/gmixup.py``): per graph ``to_dense_adj(...)[0].numpy()``, a deep copy and ``np.argsort``
  degree sort, padding; per class the mean and ``np.linalg.svd``; per new graph ``np.random`` draws
  of an ``N × N`` matrix, ``np.triu``, symmetrisation, removal of isolated nodes, ``dense_to_sparse``
  and a ``Data`` filled attribute by attribute; then ``degree`` + ``F.one_hot`` features;
* lean NumPy (`numpy_gmixup`): the same steps with NumPy only (dense adjacency by fancy indexing,
  ``np.nonzero`` edges, one-hot rows from ``np.eye``), a stronger per-graph baseline.

Ours (`mixup_graph.GMixup`) does the steps vectorised over all graphs in torch. The cases run in
rounds, in a shuffled order each round (one warm-up round first), and each case's time is divided
by the reference's time in the same round, so load on the machine affects both sides of a ratio
alike; the table gives the median ratio with its min–max over rounds, and the median time.

    python benchmarks/bench_graph.py            # 1,000 training and 1,000 new graphs, 7 rounds
    python benchmarks/bench_graph.py --quick    # a smoke run: 200 and 200 graphs, 2 rounds

Torch and NumPy's BLAS (through threadpoolctl) run on one thread by default (``--threads``), like
the per-graph baselines: the arrays are small, and on a busy machine multi-threaded small ops wait
for a free core. G-Mixup is an offline
data-set preparation step on the CPU, so there is no ``--device`` option.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from mixup_graph import GMixup

__all__ = ["make_dataset", "numpy_gmixup", "reference_gmixup", "run_benchmark", "torch_gmixup"]


# ---------------------------------------------------------------------------------------------- data
def make_dataset(num_graphs: int, mean_nodes: int = 50, num_classes: int = 3, seed: int = 0) -> list[Data]:
    """Stochastic-block-model graphs of ``mean_nodes ± 20 %`` nodes; the class sets the block matrix."""
    g = torch.Generator().manual_seed(seed)
    blocks = [
        torch.tensor([[0.5, 0.1], [0.1, 0.05]]),
        torch.tensor([[0.3, 0.05, 0.02], [0.05, 0.2, 0.05], [0.02, 0.05, 0.1]]),
        torch.tensor([[0.12]]),
    ]
    lo, hi = int(mean_nodes * 0.8), int(mean_nodes * 1.2)
    out = []
    for i in range(num_graphs):
        c = i % num_classes
        p = blocks[c % len(blocks)]
        n = int(torch.randint(lo, hi + 1, (1,), generator=g))
        member = torch.randint(0, p.shape[0], (n,), generator=g)
        a = torch.bernoulli(p[member][:, member], generator=g).triu(1)
        a = a + a.T
        out.append(Data(edge_index=a.nonzero().T.contiguous(), num_nodes=n, y=torch.tensor([c])))
    return out


# ---------------------------------------------------------------------------------------------- reference
def numpy_gmixup(
    graphs: list[Data],
    num_new: int,
    *,
    lam_range: tuple[float, float] = (0.005, 0.01),
    aug_num: int = 10,
    threshold: float = 0.2,
    seed: int = 0,
) -> list[Data]:
    """G-Mixup graph by graph with lean NumPy code: the reference's steps without its PyG per-graph calls.

    Dense adjacency by fancy indexing, degree sort, padding, per-class mean and ``np.linalg.svd``;
    per new graph ``rng.random`` against W, ``np.triu``, symmetrisation, isolated nodes dropped,
    ``np.nonzero`` edges and one-hot degree rows from ``np.eye``.
    """
    rng = np.random.default_rng(seed)
    labels = [int(g.y) for g in graphs]
    sizes = [int(g.num_nodes) for g in graphs]
    resolution = int(np.median(sizes))
    num_classes = max(labels) + 1
    dense = []
    max_degree = 0
    for g, n in zip(graphs, sizes, strict=True):
        a = np.zeros((n, n))
        ei = g.edge_index.numpy()
        a[ei[0], ei[1]] = 1.0
        max_degree = max(max_degree, int(np.bincount(ei[0], minlength=n).max()) if ei.size else 0)
        dense.append(a)
    graphons = []
    for c in range(num_classes):
        aligned = []
        for a, label in zip(dense, labels, strict=True):
            if label != c:
                continue
            n = a.shape[0]
            degree = 0.5 * a.sum(0) + 0.5 * a.sum(1)
            idx = np.argsort(degree)[::-1]
            sorted_a = a[idx, :][:, idx]
            size = max(n, resolution)
            padded = np.zeros((size, size))
            padded[:n, :n] = sorted_a
            aligned.append(padded[:resolution, :resolution])
        mean = np.mean(np.array(aligned), axis=0)
        u, s, vh = np.linalg.svd(mean)
        s[s < threshold * resolution**0.5] = 0.0
        w = np.clip(u @ np.diag(s) @ vh, 0.0, 1.0)
        graphons.append((np.eye(num_classes)[c], w))
    per_draw = [num_new // aug_num + (1 if d < num_new % aug_num else 0) for d in range(aug_num)]
    lams = rng.uniform(lam_range[0], lam_range[1], size=aug_num)
    out = []
    eye = np.eye(max_degree + 1, dtype=np.float32)
    for lam, count in zip(lams, per_draw, strict=True):
        i, j = rng.choice(num_classes, size=2, replace=False)
        label = lam * graphons[i][0] + (1 - lam) * graphons[j][0]
        w = lam * graphons[i][1] + (1 - lam) * graphons[j][1]
        y = torch.from_numpy(label).float().view(1, -1)
        for _ in range(count):
            a = (rng.random(w.shape) <= w).astype(np.int32)
            a = np.triu(a)
            a = a + a.T - np.diag(np.diag(a))
            keep = a.sum(axis=1) != 0
            a = a[keep][:, keep]
            if not a.shape[0]:
                continue
            src, dst = np.nonzero(a)
            degree = np.minimum(a.sum(axis=1), max_degree)
            x = torch.from_numpy(eye[degree])
            out.append(Data(x=x, edge_index=torch.from_numpy(np.stack([src, dst])).long(), y=y))
    return out


def reference_gmixup(
    graphs: list[Data],
    num_new: int,
    *,
    lam_range: tuple[float, float] = (0.005, 0.01),
    aug_num: int = 10,
    threshold: float = 0.2,
    seed: int = 0,
) -> list[Data]:
    """G-Mixup with the reference code's calls (ahxt/g-mixup ``src/utils.py``, ``src/gmixup.py``).

    Per graph ``to_dense_adj(edge_index)[0].numpy()`` (``split_class_graphs``), a deep copy before the
    degree sort (``align_graphs``), ``dense_to_sparse`` and attribute assignment on a new ``Data``
    (``two_graphons_mixup``) and ``degree`` + ``F.one_hot`` features (``prepare_dataset_x``). Unlike
    the reference, the per-class truncation to N is done once per graph (the reference re-slices the
    whole list inside its loop) and NumPy's ``default_rng`` replaces the global ``np.random``.
    """
    import copy

    import torch.nn.functional as F
    from torch_geometric.utils import degree, dense_to_sparse, to_dense_adj

    rng = np.random.default_rng(seed)
    labels = [int(g.y) for g in graphs]
    resolution = int(np.median([int(g.num_nodes) for g in graphs]))
    num_classes = max(labels) + 1
    dense = [to_dense_adj(g.edge_index)[0].numpy() for g in graphs]
    graphons = []
    for c in range(num_classes):
        class_graphs = [a for a, label in zip(dense, labels, strict=True) if label == c]
        max_num = max(max(a.shape[0] for a in class_graphs), resolution)
        aligned = []
        for a in class_graphs:
            n = a.shape[0]
            node_degree = 0.5 * np.sum(a, axis=0) + 0.5 * np.sum(a, axis=1)
            node_degree /= np.sum(node_degree)
            idx = np.argsort(node_degree)[::-1]
            sorted_a = copy.deepcopy(a)[idx, :][:, idx]
            padded = np.zeros((max_num, max_num))
            padded[:n, :n] = sorted_a
            aligned.append(padded[:resolution, :resolution])
        mean = np.mean(np.array(aligned), axis=0)
        u, s, vh = np.linalg.svd(mean)
        s[s < threshold * resolution**0.5] = 0.0
        graphons.append((np.eye(num_classes)[c], np.clip(u @ np.diag(s) @ vh, 0.0, 1.0)))
    per_draw = [num_new // aug_num + (1 if d < num_new % aug_num else 0) for d in range(aug_num)]
    lams = rng.uniform(lam_range[0], lam_range[1], size=aug_num)
    new_graphs = []
    for lam, count in zip(lams, per_draw, strict=True):
        i, j = rng.choice(num_classes, size=2, replace=False)
        label = torch.from_numpy(lam * graphons[i][0] + (1 - lam) * graphons[j][0]).float()
        w = lam * graphons[i][1] + (1 - lam) * graphons[j][1]
        for _ in range(count):
            a = (rng.random(w.shape) <= w).astype(np.int32)
            a = np.triu(a)
            a = a + a.T - np.diag(np.diag(a))
            a = a[a.sum(axis=1) != 0]
            a = a[:, a.sum(axis=0) != 0]
            edge_index, _ = dense_to_sparse(torch.from_numpy(a))
            if edge_index.numel() == 0:
                continue
            data = Data()
            data.y = label.view(1, -1)
            data.edge_index = edge_index
            data.num_nodes = int(torch.max(edge_index)) + 1
            new_graphs.append(data)
    max_degree = max(int(degree(g.edge_index[0], g.num_nodes, dtype=torch.long).max()) for g in graphs)
    for data in new_graphs:
        degs = degree(data.edge_index[0], data.num_nodes, dtype=torch.long).clamp(max=max_degree)
        data.x = F.one_hot(degs, num_classes=max_degree + 1).to(torch.float)
    return new_graphs


def torch_gmixup(graphs: list[Data], num_new: int, *, seed: int = 0) -> list[Data]:
    """`GMixup` fit and generate with the reference's defaults (USVT, threshold 0.2, median resolution)."""
    gm = GMixup(node_features="degree")
    return gm.fit(graphs).generate(num_new, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------- timing
def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def run_benchmark(
    num_train: int = 1000, num_new: int = 1000, mean_nodes: int = 50, rounds: int = 7, seed: int = 0
) -> dict[str, Any]:
    """Time the cases over ``rounds`` rounds (one warm-up round first); returns times (ms) and ratios.

    Returns a mapping with ``"cases"``: ``{name: {"median_ms", "min_ms", "max_ms", "ratio_median",
    "ratio_min", "ratio_max"}}`` (ratios to the reference of the same round), ``"speedup"`` (the
    median over rounds of reference time / our fit + generate time), ``"speedup_vs_lean_numpy"``
    (the same against lean NumPy) and the sizes used.
    """
    graphs = make_dataset(num_train, mean_nodes, seed=seed)
    gm = GMixup(node_features="degree").fit(graphs)
    cases: dict[str, Callable[[], object]] = {
        "reference: per-graph, ahxt/g-mixup calls (estimate + generate)": lambda: reference_gmixup(
            graphs, num_new, seed=seed
        ),
        "graph:gmixup fit + generate": lambda: torch_gmixup(graphs, num_new, seed=seed),
        "lean per-graph NumPy (estimate + generate)": lambda: numpy_gmixup(graphs, num_new, seed=seed),
        "graph:gmixup fit only": lambda: GMixup(node_features="degree").fit(graphs),
        "graph:gmixup generate only": lambda: gm.generate(num_new, generator=torch.Generator().manual_seed(seed)),
    }
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    order = list(range(len(names)))
    shuffler = random.Random(seed)
    for r in range(rounds + 1):
        shuffler.shuffle(order)
        for i in order:
            t = _time(cases[names[i]])
            if r >= 1:
                times[names[i]].append(t)
    ref = times[names[0]]
    result: dict[str, Any] = {
        "num_train": num_train,
        "num_new": num_new,
        "mean_nodes": mean_nodes,
        "rounds": rounds,
        "cases": {},
    }
    for name in names:
        t = times[name]
        ratios = [a / b for a, b in zip(t, ref, strict=True)]
        result["cases"][name] = {
            "median_ms": statistics.median(t),
            "min_ms": min(t),
            "max_ms": max(t),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    ours = times[names[1]]
    lean = times[names[2]]
    result["speedup"] = statistics.median(b / a for a, b in zip(ours, ref, strict=True))
    result["speedup_vs_lean_numpy"] = statistics.median(b / a for a, b in zip(ours, lean, strict=True))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--num-train", type=int, default=1000, help="training graphs (default 1000)")
    parser.add_argument("--num-new", type=int, default=1000, help="graphs to generate (default 1000)")
    parser.add_argument("--nodes", type=int, default=50, help="mean nodes per graph (default 50)")
    parser.add_argument(
        "--quick", action="store_true", help="200 training graphs, 200 new graphs, 2 rounds (a smoke run)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS threads (default 1: the per-graph baselines use one core)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:  # the same thread count for NumPy's BLAS (the baselines' SVD and products)
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        print("threadpoolctl is not installed: NumPy's BLAS keeps its default thread count")
    if args.quick:
        args.num_train, args.num_new, args.rounds = 200, 200, 2
    res = run_benchmark(args.num_train, args.num_new, args.nodes, args.rounds)
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}, rounds {args.rounds}")
    print(f"{args.num_train} training graphs of about {args.nodes} nodes (3 classes), {args.num_new} new graphs\n")
    print("| case | median ms | min–max ms | ratio to reference (median) | ratio min–max |")
    print("|---|---:|---:|---:|---:|")
    for name, c in res["cases"].items():
        print(
            f"| {name} | {c['median_ms']:.1f} | {c['min_ms']:.1f}–{c['max_ms']:.1f} | "
            f"{c['ratio_median']:.3f}× | {c['ratio_min']:.3f}–{c['ratio_max']:.3f} |"
        )
    print(
        f"\nspeed-up of graph:gmixup fit + generate (median over rounds): {res['speedup']:.1f}× over the reference's "
        f"calls, {res['speedup_vs_lean_numpy']:.1f}× over lean per-graph NumPy"
    )


if __name__ == "__main__":
    main()
