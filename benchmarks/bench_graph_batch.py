"""Speed of ifMixup on a batch of graphs, as a ratio to one forward pass of a GIN on that batch.

The batch: 128 Barabási–Albert graphs of 20–50 nodes (2 edges per new node, undirected), node
features one-hot degrees (16 wide), 2 classes, collated by ``Batch.from_data_list`` as a PyG
``DataLoader`` does. The reference: one forward pass (training mode, autograd on, no backward) of a
3-layer GIN (``GINConv`` with a 2-layer MLP, hidden 64, ReLU, sum pooling, a linear classifier).
Every ifMixup case returns the mixed ``Batch`` and dense soft targets. The cases run round-robin,
in a shuffled order each round after warm-up rounds, and each time is divided by the reference's
time in the same round, so load on a shared machine hits both sides of a ratio alike; the table
gives the median over rounds with the min–max.

    python benchmarks/bench_graph_batch.py                 # CPU, 15 rounds
    python benchmarks/bench_graph_batch.py --quick         # 5 rounds, a smoke run
    python benchmarks/bench_graph_batch.py --device cuda   # on a GPU (synchronised timing)

`run` is importable (the graph plugin's tests call it with a tiny budget).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv, global_add_pool

from mixup_core import create_mixer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness.py lies next to this script
from _harness import Case, run_rounds

NUM_CLASSES = 2
NUM_FEATURES = 16


def ba_graph(num_nodes: int, m: int, generator: torch.Generator) -> torch.Tensor:
    """``edge_index`` of an undirected Barabási–Albert graph (a clique of ``m + 1`` nodes, then each
    new node attaches to ``m`` distinct nodes with probability proportional to their degree)."""
    deg = torch.zeros(num_nodes)
    seed = torch.combinations(torch.arange(m + 1), 2)
    deg[: m + 1] = m
    pairs = [seed]
    for t in range(m + 1, num_nodes):  # data preparation, not timed
        targets = torch.multinomial(deg[:t], m, replacement=False, generator=generator)
        pairs.append(torch.stack([torch.full((m,), t), targets], dim=1))
        deg[targets] += 1
        deg[t] = m
    edges = torch.cat(pairs).t()
    return torch.cat([edges, edges.flip(0)], dim=1)


def make_graphs(num_graphs: int = 128, min_nodes: int = 20, max_nodes: int = 50, *, seed: int = 0) -> list[Data]:
    """``num_graphs`` BA graphs with one-hot degree features and random labels (deterministic)."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=g))
        edge_index = ba_graph(n, 2, g)
        degree = torch.bincount(edge_index[0], minlength=n).clamp(max=NUM_FEATURES - 1)
        x = nn.functional.one_hot(degree, NUM_FEATURES).float()
        y = torch.randint(0, NUM_CLASSES, (1,), generator=g)
        graphs.append(Data(x=x, edge_index=edge_index, y=y))
    return graphs


class GIN(nn.Module):
    """A 3-layer GIN (Xu et al., 2019) with sum pooling: the reference model of the benchmark."""

    def __init__(self, in_channels: int, hidden: int = 64, num_layers: int = 3, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for i in range(num_layers):
            mlp = nn.Sequential(
                nn.Linear(in_channels if i == 0 else hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)
            )
            self.convs.append(GINConv(mlp))
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x, edge_index).relu()
        return self.head(global_add_pool(x, batch))


def summarise(cases: list[Case], reference: Case) -> dict[str, dict[str, float]]:
    """Per case: median, min and max ms, and the median, min and max of the per-round ratio to ``reference``."""
    out = {}
    for case in cases:
        ratios = [t / r for t, r in zip(case.times, reference.times, strict=True)]
        out[case.name] = {
            "median_ms": statistics.median(case.times),
            "min_ms": min(case.times),
            "max_ms": max(case.times),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    return out


def run(
    *,
    rounds: int = 15,
    warmup: int = 2,
    num_graphs: int = 128,
    min_nodes: int = 20,
    max_nodes: int = 50,
    device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Time the cases and return `summarise`'s numbers (the first case is the reference)."""
    dev = torch.device(device)
    batch = Batch.from_data_list(make_graphs(num_graphs, min_nodes, max_nodes)).to(dev)
    model = GIN(NUM_FEATURES).to(dev).train()
    g = torch.Generator().manual_seed(0)

    def forward() -> object:
        return model(batch.x, batch.edge_index, batch.batch)

    def forward_backward() -> object:
        model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(batch.x, batch.edge_index, batch.batch), batch.y)
        loss.backward()
        return loss

    def mixer_case(name: str, spec: dict) -> Case:
        mixer = create_mixer({"name": "graph:ifmixup", "num_classes": NUM_CLASSES, **spec})

        def fn() -> object:
            out = mixer(batch, generator=g)
            return out.inputs, out.targets.dense()  # type: ignore[union-attr]

        return Case(name, fn)

    reference = Case("GIN forward, 3 layers, hidden 64, sum pooling (reference)", forward)
    cases = [
        reference,
        Case("GIN forward + backward (for scale)", forward_backward),
        mixer_case("graph:ifmixup, one λ per batch", {}),
        mixer_case("graph:ifmixup, one λ per graph (mode=sample)", {"mode": "sample"}),
        mixer_case("graph:ifmixup, check_undirected=False", {"check_undirected": False}),
    ]
    run_rounds(cases, rounds, dev, warmup=warmup)
    return summarise(cases, reference)


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| case | median ms | min–max ms | ratio to GIN forward (min–max) |",
        "|---|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['median_ms']:.2f} | {r['min_ms']:.2f}–{r['max_ms']:.2f} | "
            f"{r['ratio']:.2f}× ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--graphs", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="5 rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = 5 if args.quick else args.rounds
    import torch_geometric

    batch = Batch.from_data_list(make_graphs(args.graphs))
    print(
        f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, device {args.device}, "
        f"threads {torch.get_num_threads()}, rounds {rounds}; batch of {batch.num_graphs} BA graphs, "
        f"{batch.num_nodes} nodes, {batch.num_edges} directed edges, largest graph "
        f"{int(batch.ptr.diff().max())} nodes\n"
    )
    print(table(run(rounds=rounds, num_graphs=args.graphs, device=args.device)))


if __name__ == "__main__":
    main()
