"""Checks and collection of G-Mixup's input graphs: a list of PyG ``Data`` as one node-offset edge list.

`collect_graphs` reads each graph's fields once, names the graph and the field in every error, and
concatenates the graphs into a `GraphSet` (deduplicated, symmetric, no self loops). The estimators
and the sampler of `mixup_graph._graphon` work on that set. The per-edge integer work runs in NumPy
on zero-copy views of CPU tensors (several times faster there than their torch CPU counterparts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Data

__all__ = ["GraphSet", "collect_graphs", "describe"]

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


@dataclass(frozen=True)
class GraphSet:
    """A list of undirected graphs as one node-offset edge list (checked by `collect_graphs`).

    Args:
        edge_index: long ``(2, E)`` global node ids, deduplicated, without self loops, both directions.
        edge_graph: long ``(E,)`` the graph of each edge.
        num_nodes: long ``(G,)`` nodes per graph.
        ptr: long ``(G + 1,)`` offsets of each graph's first node.
        batch: long ``(num_nodes.sum(),)`` graph id of each node.
        raw_degree: long node degree counted as PyG's ``degree(edge_index[0])`` on the graphs' own
            edge lists (duplicates and self loops included, as ``T.OneHotDegree`` counts them).
        x: ``(num_nodes.sum(), F)`` node features, or ``None``.
        y: long ``(G,)`` class labels, or ``None``.
    """

    edge_index: torch.Tensor
    edge_graph: torch.Tensor
    num_nodes: torch.Tensor
    ptr: torch.Tensor
    batch: torch.Tensor
    raw_degree: torch.Tensor
    x: torch.Tensor | None
    y: torch.Tensor | None

    @property
    def num_graphs(self) -> int:
        return int(self.num_nodes.numel())

    @property
    def max_nodes(self) -> int:
        return int(self.num_nodes.max()) if self.num_graphs else 0


def describe(t: object) -> str:
    """``shape (…) and dtype …`` of a tensor, else its type and value: the words of the error messages."""
    if isinstance(t, torch.Tensor):
        return f"shape {tuple(t.shape)} and dtype {t.dtype}"
    return f"{type(t).__name__} {t!r}"


def collect_graphs(
    graphs: Iterable[Data],
    *,
    name: str = "graphs",
    need_y: bool = False,
    need_x: bool = False,
    read_x: bool = True,
    dense_budget: int = 1 << 24,
) -> GraphSet:
    """Check a list of undirected PyG graphs and concatenate them into a `GraphSet` (on the CPU).

    Args:
        graphs: ``Data`` objects (a list, or a PyG data set).
        name: the argument name used in error messages (``graphs[3].edge_index …``).
        need_y: every graph must carry an integer class label ``y`` of shape ``()`` or ``(1,)``.
        need_x: every graph must carry node features ``x``; otherwise ``x`` is used when every graph
            has it and ignored when none has it.
        read_x: ``False`` ignores node features altogether.
        dense_budget: when the graphs' squared sizes sum to at most this, symmetry and duplicates
            are checked with one counter per ordered node pair (no sort); above it, with sorted keys.

    Raises:
        TypeError: a graph is not a ``Data`` or a field has the wrong type or dtype.
        ValueError: an empty list, a missing or malformed label, an ``edge_index`` with a node id out
            of range or not symmetric (a directed graph), features of a different width than the
            first graph's, or features on some graphs only.
    """
    if isinstance(graphs, Data):
        raise TypeError(
            f"{name} must be a list of torch_geometric.data.Data graphs, got a single Data; wrap it in a list"
        )
    graph_list = list(graphs)
    if not graph_list:
        raise ValueError(f"{name} is empty: G-Mixup needs the training graphs")
    edges: list[torch.Tensor] = []
    edge_counts: list[int] = []
    sizes: list[int] = []
    labels: list[torch.Tensor | int] = []
    feats: list[torch.Tensor] = []
    with_x: list[int] = []
    without_x: list[int] = []
    width: int | None = None
    for i, g in enumerate(graph_list):
        if not isinstance(g, Data):
            raise TypeError(f"{name}[{i}] must be a torch_geometric.data.Data, got {type(g).__name__}")
        # read the fields from PyG's storage dict when it has one: Data.__getattr__ costs several
        # microseconds per field, which adds up over thousands of graphs
        fields = getattr(getattr(g, "_store", None), "_mapping", None)
        if not isinstance(fields, dict):
            fields = {"edge_index": g.edge_index, "x": g.x, "y": g.y}
        ei = fields.get("edge_index")
        if ei is None:
            raise ValueError(f"{name}[{i}].edge_index is missing; a graph without edges has edge_index of shape (2, 0)")
        if not isinstance(ei, torch.Tensor) or ei.dtype not in _INT_DTYPES or ei.ndim != 2 or ei.shape[0] != 2:
            raise TypeError(f"{name}[{i}].edge_index must be an integer tensor of shape (2, E), got {describe(ei)}")
        x = fields.get("x") if read_x else None
        n = fields.get("num_nodes")
        if n is None:
            n = x.shape[0] if isinstance(x, torch.Tensor) and x.ndim == 2 else g.num_nodes
        if n is None:
            raise ValueError(f"{name}[{i}] has neither num_nodes, x nor edge_index to tell its number of nodes")
        n = int(n)
        if x is not None:
            if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] != n:
                raise ValueError(f"{name}[{i}].x must be a tensor of shape (num_nodes={n}, F), got {describe(x)}")
            if x.dtype == torch.bool or x.is_complex():
                raise TypeError(f"{name}[{i}].x must hold real numbers, got {describe(x)}")
            if width is None:
                width = int(x.shape[1])
            elif x.shape[1] != width:
                raise ValueError(
                    f"{name}[{i}].x has {x.shape[1]} features (shape {tuple(x.shape)}), but {name}[{with_x[0]}].x has "
                    f"{width}: every graph needs the same node-feature width"
                )
            with_x.append(i)
            feats.append(x)
        elif read_x:
            without_x.append(i)
        if need_y:
            y = fields.get("y")
            if y is None:
                raise ValueError(f"{name}[{i}].y is missing: G-Mixup needs an integer class label y per training graph")
            if isinstance(y, torch.Tensor):
                if y.dtype not in _INT_DTYPES or y.numel() != 1 or y.ndim > 1:
                    raise ValueError(
                        f"{name}[{i}].y must be an integer class label of shape () or (1,), got {describe(y)}; "
                        "G-Mixup estimates one graphon per class from hard labels"
                    )
            elif not isinstance(y, int) or isinstance(y, bool):
                raise ValueError(f"{name}[{i}].y must be an integer class label of shape () or (1,), got {describe(y)}")
            labels.append(y)
        edges.append(ei)
        edge_counts.append(ei.shape[1])
        sizes.append(n)
    if need_x and without_x:
        raise ValueError(
            f"{name}[{without_x[0]}].x is missing: node_features='dataset' needs node features x on every graph"
        )
    if with_x and without_x:
        raise ValueError(
            f"{name}[{with_x[0]}] has node features x but {name}[{without_x[0]}].x is missing: "
            "give every graph features, or none (then one-hot degree features are used)"
        )

    # the per-edge integer work runs in NumPy on views of the tensors: np.repeat, broadcasting and
    # fancy assignment on int64 are several times faster there than their torch CPU counterparts
    sizes_np = np.asarray(sizes, dtype=np.int64)
    ptr_np = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes_np, out=ptr_np[1:])
    total = int(ptr_np[-1])
    graph_ids = np.arange(len(sizes), dtype=np.int64)
    counts_np = np.asarray(edge_counts, dtype=np.int64)
    local_t = torch.cat(edges, dim=1).detach().cpu()
    local = (local_t if local_t.dtype == torch.long else local_t.long()).numpy()
    edge_graph = np.repeat(graph_ids, counts_np)
    n_e = np.repeat(sizes_np, counts_np)
    if local.size and (int(local.min()) < 0 or bool((local >= n_e).any())):
        k = int(np.flatnonzero(((local < 0) | (local >= n_e)).any(0))[0])
        gi = int(edge_graph[k])
        raise ValueError(
            f"{name}[{gi}].edge_index has the edge ({int(local[0, k])}, {int(local[1, k])}) with a node id outside "
            f"[0, num_nodes={sizes[gi]})"
        )
    glob = local + np.repeat(ptr_np[:-1], counts_np)
    raw_degree = np.bincount(glob[0], minlength=total)
    batch = np.repeat(graph_ids, sizes_np)
    edge_index, edge_graph, missing = _simple_undirected(
        local, glob, edge_graph, counts_np, n_e, sizes_np, batch, dense_budget
    )
    if missing is not None:
        gi, u, v = missing
        raise ValueError(
            f"{name}[{gi}].edge_index is not symmetric: it has the edge ({u}, {v}) but not ({v}, {u}). "
            "G-Mixup assumes undirected graphs; make them undirected with torch_geometric.utils.to_undirected"
        )
    x = torch.cat(feats, dim=0).detach().cpu() if feats and not without_x else None
    y = _labels(labels, name) if need_y else None
    return GraphSet(
        edge_index=torch.from_numpy(edge_index),
        edge_graph=torch.from_numpy(edge_graph),
        num_nodes=torch.from_numpy(sizes_np),
        ptr=torch.from_numpy(ptr_np),
        batch=torch.from_numpy(batch),
        raw_degree=torch.from_numpy(raw_degree.astype(np.int64, copy=False)),
        x=x,
        y=y,
    )


def _labels(labels: list[torch.Tensor | int], name: str) -> torch.Tensor:
    """One long tensor of the (already shape-checked) labels; a negative one is an error."""
    if all(isinstance(t, torch.Tensor) and t.ndim == 1 for t in labels):
        y = torch.cat(labels).long().cpu()  # type: ignore[arg-type]  # the common PyG layout: y of shape (1,)
    else:
        y = torch.tensor([int(t) for t in labels], dtype=torch.long)
    if int(y.min()) < 0:
        i = int((y < 0).nonzero()[0])
        raise ValueError(f"{name}[{i}].y must be a class index >= 0, got y={int(y[i])}")
    return y


def _simple_undirected(
    local: np.ndarray,
    glob: np.ndarray,
    edge_graph: np.ndarray,
    edge_counts: np.ndarray,
    n_e: np.ndarray,
    num_nodes: np.ndarray,
    batch: np.ndarray,
    dense_budget: int,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int] | None]:
    """The simple edge set (no duplicates, no self loops) of symmetric edge lists with each edge's
    graph, or the first edge ``(graph, u, v)`` whose reverse is missing (int64 NumPy arrays)."""
    num_edges = local.shape[1]
    squares = num_nodes * num_nodes
    size = int(squares.sum())
    if size <= dense_budget:
        # one flag per ordered node pair of each graph: no sort needed
        base = np.repeat(np.cumsum(squares) - squares, edge_counts)
        slot = local[0] * n_e
        slot += base
        slot += local[1]
        seen = np.zeros(size, dtype=bool)
        seen[slot] = True
        base += local[1] * n_e  # now the slot of each reversed edge
        base += local[0]
        has_reverse = seen[base]
        if not has_reverse.all():
            k = int(np.flatnonzero(~has_reverse)[0])
            return glob, edge_graph, (int(edge_graph[k]), int(local[0, k]), int(local[1, k]))
        loops = local[0] == local[1]
        duplicates = int(np.count_nonzero(seen)) < num_edges
        if not duplicates and not loops.any():
            return glob, edge_graph, None
        keep = ~loops
        if duplicates:  # keep one copy of each (whichever the assignment kept: the edge set is the same)
            owner = np.full(size, -1, dtype=np.int64)
            owner[slot] = np.arange(num_edges)
            keep &= owner[slot] == np.arange(num_edges)
        idx = np.flatnonzero(keep)
        return np.ascontiguousarray(glob[:, idx]), edge_graph[idx], None
    width = max(int(batch.size), 1)
    key = np.unique(glob[0] * width + glob[1])  # sorted, deduplicated
    src, dst = key // width, key % width
    rev = dst * width + src
    pos = np.minimum(np.searchsorted(key, rev), max(key.size - 1, 0))
    missing = key[pos] != rev if key.size else np.zeros(0, dtype=bool)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        e = int(np.flatnonzero((glob[0] == src[k]) & (glob[1] == dst[k]))[0])
        return glob, edge_graph, (int(edge_graph[e]), int(local[0, e]), int(local[1, e]))
    keep = src != dst
    src, dst = src[keep], dst[keep]
    return np.stack([src, dst]), batch[src], None
