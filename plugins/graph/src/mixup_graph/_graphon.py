"""Graphons for G-Mixup: graph collection and checks, degree alignment, estimators, sampling.

Everything here works on all graphs at once: the graphs of a data set are concatenated into one
node-offset edge list (as a PyG ``Batch`` does), and alignment, class averages and sampled graphs are
computed with one sort of the nodes, ``bincount``, ``index_select`` and ``index_add`` over that list.
The only Python loops are the one that reads the graphs' fields (with the checks that name a graph)
and the one that wraps the sampled edge lists into ``Data`` objects. ``index_select`` is used instead
of ``tensor[index]`` and boolean masks are avoided on the hot path: both are many times slower on the
CPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch_geometric.data import Data

__all__ = [
    "GraphSet",
    "SampledGraphs",
    "align_graphs",
    "class_means",
    "collect_graphs",
    "estimate_graphon",
    "sample_graphs",
    "sorted_smooth",
    "tv_denoise",
    "usvt",
]

Estimator = Literal["usvt", "sas"]
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


# ---------------------------------------------------------------------------------------------- graphs
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


def _shape(t: object) -> str:
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
            raise TypeError(f"{name}[{i}].edge_index must be an integer tensor of shape (2, E), got {_shape(ei)}")
        x = fields.get("x") if read_x else None
        n = fields.get("num_nodes")
        if n is None:
            n = x.shape[0] if isinstance(x, torch.Tensor) and x.ndim == 2 else g.num_nodes
        if n is None:
            raise ValueError(f"{name}[{i}] has neither num_nodes, x nor edge_index to tell its number of nodes")
        n = int(n)
        if x is not None:
            if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] != n:
                raise ValueError(f"{name}[{i}].x must be a tensor of shape (num_nodes={n}, F), got {_shape(x)}")
            if x.dtype == torch.bool or x.is_complex():
                raise TypeError(f"{name}[{i}].x must hold real numbers, got {_shape(x)}")
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
                        f"{name}[{i}].y must be an integer class label of shape () or (1,), got {_shape(y)}; "
                        "G-Mixup estimates one graphon per class from hard labels"
                    )
            elif not isinstance(y, int) or isinstance(y, bool):
                raise ValueError(f"{name}[{i}].y must be an integer class label of shape () or (1,), got {_shape(y)}")
            labels.append(y)
        edges.append(ei)
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

    num_nodes = torch.tensor(sizes, dtype=torch.long)
    ptr = torch.zeros(len(sizes) + 1, dtype=torch.long)
    torch.cumsum(num_nodes, 0, out=ptr[1:])
    total = int(ptr[-1])
    batch = torch.repeat_interleave(torch.arange(len(sizes)), num_nodes)
    edge_counts = torch.tensor([e.shape[1] for e in edges], dtype=torch.long)
    local = torch.hstack(edges).detach().cpu().long()
    edge_graph = torch.repeat_interleave(torch.arange(len(sizes)), edge_counts)
    n_e = torch.repeat_interleave(num_nodes, edge_counts)
    if local.numel() and (int(local.min()) < 0 or bool(torch.ge(local, n_e).any())):
        k = int(((local < 0) | (local >= n_e)).any(0).nonzero()[0])
        gi = int(edge_graph[k])
        raise ValueError(
            f"{name}[{gi}].edge_index has the edge ({int(local[0, k])}, {int(local[1, k])}) with a node id outside "
            f"[0, num_nodes={sizes[gi]})"
        )
    glob = torch.repeat_interleave(ptr[:-1], edge_counts).expand(2, -1) + local
    raw_degree = torch.bincount(glob[0], minlength=total)
    edge_index, edge_graph, missing = _simple_undirected(
        local, glob, edge_graph, edge_counts, n_e, num_nodes, batch, dense_budget
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
        edge_index=edge_index,
        edge_graph=edge_graph,
        num_nodes=num_nodes,
        ptr=ptr,
        batch=batch,
        raw_degree=raw_degree,
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
    local: torch.Tensor,
    glob: torch.Tensor,
    edge_graph: torch.Tensor,
    edge_counts: torch.Tensor,
    n_e: torch.Tensor,
    num_nodes: torch.Tensor,
    batch: torch.Tensor,
    dense_budget: int,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int] | None]:
    """The simple edge set (no duplicates, no self loops) of symmetric edge lists with each edge's
    graph, or the first edge ``(graph, u, v)`` whose reverse is missing."""
    num_edges = local.shape[1]
    squares = num_nodes * num_nodes
    size = int(squares.sum())
    if size <= dense_budget:
        # one flag per ordered node pair of each graph: no sort needed
        base = torch.repeat_interleave(torch.cumsum(squares, 0) - squares, edge_counts)
        slot = torch.mul(local[0], n_e).add_(base).add_(local[1])  # in place: fewer large allocations
        seen = torch.zeros(size, dtype=torch.bool).index_fill_(0, slot, True)
        has_reverse = seen.index_select(0, base.addcmul_(local[1], n_e).add_(local[0]))
        if not bool(has_reverse.all()):
            k = int((~has_reverse).nonzero()[0])
            return glob, edge_graph, (int(edge_graph[k]), int(local[0, k]), int(local[1, k]))
        loops = local[0] == local[1]
        duplicates = int(seen.count_nonzero()) < num_edges
        if not duplicates and not bool(loops.any()):
            return glob, edge_graph, None
        keep = ~loops
        if duplicates:  # keep one copy of each (whichever the scatter kept: the edge set is the same)
            owner = torch.full((size,), -1, dtype=torch.long).scatter_(0, slot, torch.arange(num_edges))
            keep &= owner.index_select(0, slot) == torch.arange(num_edges)
        idx = keep.nonzero().squeeze(1)
        return glob.index_select(1, idx), edge_graph.index_select(0, idx), None
    width = max(int(batch.numel()), 1)
    key = torch.unique(glob[0] * width + glob[1])  # sorted, deduplicated
    src, dst = key // width, key % width
    rev = dst * width + src
    pos = torch.searchsorted(key, rev).clamp(max=max(key.numel() - 1, 0))
    missing = key[pos] != rev if key.numel() else torch.zeros(0, dtype=torch.bool)
    if bool(missing.any()):
        k = int(missing.nonzero()[0])
        e = int(((glob[0] == src[k]) & (glob[1] == dst[k])).nonzero()[0])
        return glob, edge_graph, (int(edge_graph[e]), int(local[0, e]), int(local[1, e]))
    keep = src != dst
    src, dst = src[keep], dst[keep]
    return torch.stack([src, dst]), batch.index_select(0, src), None


# ---------------------------------------------------------------------------------------------- alignment
def _aligned_positions(gs: GraphSet) -> torch.Tensor:
    """Each node's position in its graph after sorting the nodes by descending degree (ties: node order)."""
    total = int(gs.batch.numel())
    deg = torch.bincount(gs.edge_index[0], minlength=total)
    top = int(deg.max()) + 1 if total else 1
    # one sort on (graph, descending degree); the stable sort keeps the node order among ties
    order = torch.sort(gs.batch * top + (top - 1 - deg), stable=True).indices
    first = gs.ptr.index_select(0, gs.batch.index_select(0, order))
    return torch.empty_like(order).index_copy_(0, order, torch.arange(total) - first)


def _aligned_bins(
    gs: GraphSet, group: torch.Tensor, num_groups: int, resolution: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The bin ``(group, row, column)`` of each aligned edge in a ``num_groups × N × N`` grid, and every
    node's aligned position. Edges cut off by the truncation to N go to one extra bin at the end."""
    n = resolution
    rank = _aligned_positions(gs)
    r = rank.index_select(0, gs.edge_index[0])
    c = rank.index_select(0, gs.edge_index[1])
    bins = group.index_select(0, gs.edge_graph).mul_(n).add_(r).mul_(n).add_(c)
    if gs.max_nodes > n:
        bins = torch.where((r < n) & (c < n), bins, num_groups * n * n)
    return bins, rank


def align_graphs(graphs: Iterable[Data] | GraphSet, resolution: int) -> torch.Tensor:
    """Degree-sorted, padded or truncated dense adjacencies of undirected graphs, ``(G, N, N)`` float32.

    Each graph's nodes are sorted by descending degree (ties keep the node order); the adjacency
    is zero-padded to ``N = resolution`` nodes, or truncated to its ``N`` highest-degree nodes
    (the reference code's ``align_graphs(padding=True, N=resolution)``). Duplicate edges count once
    and self loops are dropped.

    Args:
        graphs: PyG ``Data`` graphs (undirected: checked), or a `GraphSet`.
        resolution: N, the size of the aligned matrices (>= 1).

    Examples:
        >>> g = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
        >>> align_graphs([g], 4)[0]   # node 1 (degree 2) comes first
        tensor([[0., 1., 1., 0.],
                [1., 0., 0., 0.],
                [1., 0., 0., 0.],
                [0., 0., 0., 0.]])
    """
    resolution = _check_resolution(resolution)
    gs = graphs if isinstance(graphs, GraphSet) else collect_graphs(graphs)
    g, n2 = gs.num_graphs, resolution * resolution
    bins, _ = _aligned_bins(gs, torch.arange(g), g, resolution)
    dense = torch.bincount(bins, minlength=g * n2 + 1)[: g * n2].view(g, resolution, resolution)
    return dense.to(torch.float32)


def class_means(
    gs: GraphSet, labels: torch.Tensor, num_groups: int, resolution: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean aligned adjacency ``(K, N, N)`` and mean aligned features ``(K, N, F)`` of each group, float64.

    ``labels`` (long ``(G,)``, values in ``[0, num_groups)``) groups the graphs. The adjacency mean is
    over all graphs of a group (padding counts as no edge, as in the reference); the feature mean at
    position k is over the graphs that have a k-th node (the group's mean node feature where none
    has, e.g. beyond its largest graph). Computed with one
    ``bincount``/``index_add`` over all edges and nodes; no ``(G, N, N)`` tensor is built.
    """
    n = _check_resolution(resolution)
    n2 = n * n
    bins, rank = _aligned_bins(gs, labels, num_groups, n)
    sums = torch.bincount(bins, minlength=num_groups * n2 + 1)[: num_groups * n2]
    counts = torch.bincount(labels, minlength=num_groups).clamp(min=1).to(torch.float64)
    adj = sums.view(num_groups, n, n).to(torch.float64) / counts[:, None, None]
    feats = None
    if gs.x is not None:
        slot = labels.index_select(0, gs.batch) * n + rank
        if gs.max_nodes > n:
            slot = torch.where(rank < n, slot, num_groups * n)
        x = gs.x.to(torch.float64)
        fsum = torch.zeros(num_groups * n + 1, x.shape[1], dtype=torch.float64).index_add_(0, slot, x)
        fcount = torch.bincount(slot, minlength=num_groups * n + 1).to(torch.float64)
        fsum, fcount = fsum[: num_groups * n].view(num_groups, n, -1), fcount[: num_groups * n].view(num_groups, n, 1)
        # positions that no graph of the group reaches get the group's mean node feature
        group_nodes = torch.bincount(labels.index_select(0, gs.batch), minlength=num_groups).clamp(min=1)
        group_mean = torch.zeros(num_groups, x.shape[1], dtype=torch.float64).index_add_(
            0, labels.index_select(0, gs.batch), x
        )
        group_mean = group_mean / group_nodes[:, None].to(torch.float64)
        feats = torch.where(fcount > 0, fsum / fcount.clamp(min=1), group_mean[:, None, :])
    return adj, feats


def _check_resolution(resolution: object) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be an integer >= 1, got resolution={resolution!r}")
    return resolution


# ---------------------------------------------------------------------------------------------- estimators
def usvt(mean_adjacency: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """Universal singular value thresholding (Chatterjee, Ann. Statist. 2015) of ``(..., N, N)`` matrices.

    Singular values of the mean aligned adjacency below ``threshold · √N`` are set to zero and the
    result is clipped to ``[0, 1]``. This is the reference code's convention (``universal_svd``:
    ``threshold * num_nodes ** 0.5`` on the *mean* adjacency, hard-coded ``threshold=0.2``);
    Chatterjee's estimator for a single graph uses ``(2 + η)·√(N·p̂)``.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got threshold={threshold!r}")
    a = mean_adjacency.to(torch.float64)
    n = a.shape[-1]
    u, s, vh = torch.linalg.svd(a)
    s = torch.where(s >= threshold * math.sqrt(n), s, torch.zeros_like(s))
    return ((u * s.unsqueeze(-2)) @ vh).clamp_(0.0, 1.0)


def tv_denoise(image: torch.Tensor, weight: float, *, eps: float = 2e-4, max_iter: int = 200) -> torch.Tensor:
    """Total-variation denoising of ``(..., H, W)`` images by Chambolle's projection algorithm.

    Minimises ``½‖u − f‖² + weight · TV(u)`` per image (isotropic TV), as
    ``skimage.restoration.denoise_tv_chambolle`` does, with its stopping rule (relative change of
    the energy below ``eps``, here of the energy summed over the leading dimensions) and at most
    ``max_iter`` iterations. ``weight = 0`` returns the input.
    """
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got weight={weight!r}")
    f = image.to(torch.float64)
    if weight == 0 or f.shape[-1] * f.shape[-2] <= 1:
        return f.clone()
    p = torch.zeros((2, *f.shape), dtype=f.dtype)
    tau = 0.25
    out = f
    e_init = e_prev = None
    for it in range(max_iter):
        if it > 0:
            d = -p.sum(0)
            d[..., 1:, :] += p[0][..., :-1, :]
            d[..., :, 1:] += p[1][..., :, :-1]
            out = f + d
            energy = float((d * d).sum())
        else:
            energy = 0.0
        g = torch.zeros_like(p)
        g[0][..., :-1, :] = out[..., 1:, :] - out[..., :-1, :]
        g[1][..., :, :-1] = out[..., :, 1:] - out[..., :, :-1]
        norm = (g * g).sum(0).sqrt()
        energy = (energy + weight * float(norm.sum())) / f.numel()
        p = (p - tau * g) / (1.0 + norm * (tau / weight))
        if e_init is None:
            e_init = e_prev = energy
        elif abs(e_prev - energy) < eps * e_init:  # type: ignore[operator]
            break
        else:
            e_prev = energy
    return out


def sorted_smooth(mean_adjacency: torch.Tensor, block_size: int | None = None, smoothing: float = 0.02) -> torch.Tensor:
    """Sorting-and-smoothing (SAS, Chan & Airoldi, ICML 2014) of degree-sorted ``(..., N, N)`` matrices.

    The (already degree-sorted) mean adjacency is averaged over ``h × h`` blocks (``h = block_size``,
    default ``⌊log2 N⌋ + 1`` as in the SGWB-Graphon code the reference builds on; a last, smaller
    block takes the remainder), the block histogram is smoothed by total-variation denoising
    (`tv_denoise` with ``weight = smoothing``), and the result is returned as a step function on
    the ``N × N`` grid, clipped to ``[0, 1]``. The reference's ``sorted_smooth`` uses
    ``weight = h`` on a histogram with values in [0, 1], which flattens any block structure of a few
    blocks, so the weight is a separate parameter here.
    """
    a = mean_adjacency.to(torch.float64)
    n = a.shape[-1]
    h = int(math.log2(n)) + 1 if block_size is None else int(block_size)
    if h < 1:
        raise ValueError(f"block_size must be >= 1, got block_size={block_size!r}")
    h = min(h, n)
    blocks = torch.arange(n) // h
    k = int(blocks[-1]) + 1
    member = torch.nn.functional.one_hot(blocks, k).to(torch.float64)  # (N, K)
    member = member / member.sum(0, keepdim=True)
    hist = member.T @ a @ member  # (..., K, K) block means
    smooth = tv_denoise(hist, smoothing)
    return smooth[..., blocks, :][..., :, blocks].clamp_(0.0, 1.0)


def estimate_graphon(
    aligned: torch.Tensor,
    estimator: Estimator = "usvt",
    *,
    threshold: float = 0.2,
    block_size: int | None = None,
    smoothing: float = 0.02,
) -> torch.Tensor:
    """Estimate a step-function graphon ``(N, N)`` from aligned adjacencies ``(G, N, N)`` (or their mean ``(N, N)``).

    The adjacencies must already be aligned (degree-sorted and padded, see `align_graphs`).
    ``estimator="usvt"`` thresholds the singular values of their mean (`usvt`, with ``threshold``);
    ``"sas"`` block-averages and smooths it (`sorted_smooth`, with ``block_size`` and
    ``smoothing``). Values are probabilities in ``[0, 1]``; float32.

    Examples:
        >>> a = torch.ones(3, 4, 4) - torch.eye(4)
        >>> w = estimate_graphon(a)
        >>> tuple(w.shape), bool((w >= 0).all() and (w <= 1).all())
        ((4, 4), True)
    """
    if not isinstance(aligned, torch.Tensor) or aligned.ndim not in (2, 3) or aligned.shape[-1] != aligned.shape[-2]:
        raise ValueError(f"aligned must be a tensor of shape (G, N, N) or (N, N), got {_shape(aligned)}")
    if aligned.shape[-1] == 0 or (aligned.ndim == 3 and aligned.shape[0] == 0):
        raise ValueError(f"aligned is empty: shape {tuple(aligned.shape)}")
    mean = aligned.to(torch.float64)
    if mean.ndim == 3:
        mean = mean.mean(0)
    return _estimate(mean, estimator, threshold=threshold, block_size=block_size, smoothing=smoothing).to(torch.float32)


def _estimate(
    mean: torch.Tensor, estimator: str, *, threshold: float, block_size: int | None, smoothing: float
) -> torch.Tensor:
    if estimator == "usvt":
        return usvt(mean, threshold)
    if estimator == "sas":
        return sorted_smooth(mean, block_size, smoothing)
    raise ValueError(f"estimator must be 'usvt' or 'sas', got estimator={estimator!r}")


# ---------------------------------------------------------------------------------------------- sampling
@dataclass(frozen=True)
class SampledGraphs:
    """Graphs sampled from graphons, as one concatenated edge list.

    Args:
        edge_index: long ``(2, E)`` edges with *local* node ids, grouped by graph; each undirected
            edge appears as ``(u, v)`` followed by ``(v, u)``.
        edge_ptr: long ``(B + 1,)`` offsets of each graph's edges.
        node_ptr: long ``(B + 1,)`` offsets of each graph's nodes.
        position: long ``(num_nodes,)`` each kept node's position on the graphon grid (0 … N−1).
        node_graph: long ``(num_nodes,)`` graph id of each kept node.
        degree: long ``(num_nodes,)`` each kept node's degree.
    """

    edge_index: torch.Tensor
    edge_ptr: torch.Tensor
    node_ptr: torch.Tensor
    position: torch.Tensor
    node_graph: torch.Tensor
    degree: torch.Tensor

    @property
    def num_nodes(self) -> torch.Tensor:
        return self.node_ptr[1:] - self.node_ptr[:-1]


def sample_graphs(
    graphons: torch.Tensor,
    counts: torch.Tensor | list[int],
    *,
    generator: torch.Generator | None = None,
    drop_isolated: bool = True,
    chunk_elements: int = 1 << 24,
) -> SampledGraphs:
    """Sample undirected simple graphs from graphons ``(K, N, N)``: ``counts[k]`` graphs from graphon k.

    For each graph, A_uv ~ Bernoulli(W_uv) for u < v (the upper triangle; the lower one mirrors it),
    no self loops; with ``drop_isolated`` the nodes without an edge are removed and the others
    renumbered in grid order. All graphs of a graphon are drawn by one batched call (``U < W_uv``
    with float32 ``U = torch.rand(..., generator=generator)``, split into chunks of at most
    ``chunk_elements`` draws), so the result depends on the ``generator`` only.
    """
    k, n = graphons.shape[0], graphons.shape[-1]
    counts_t = torch.as_tensor(counts, dtype=torch.long)
    if counts_t.shape != (k,):
        raise ValueError(f"counts must have one entry per graphon ({k}), got shape {tuple(counts_t.shape)}")
    iu = torch.triu_indices(n, n, 1)
    upper = graphons[:, iu[0], iu[1]].clamp(0.0, 1.0).to(torch.float32)  # (K, M)
    m = upper.shape[1]
    per_chunk = max(1, chunk_elements // max(m, 1))
    graph_ids: list[torch.Tensor] = []
    pair_ids: list[torch.Tensor] = []
    start = 0
    for kk, c in enumerate(counts_t.tolist()):
        done = 0
        while done < c and m > 0:
            b = min(per_chunk, c - done)
            # Bernoulli(W_uv) drawn as U < W_uv (float32): the same distribution as torch.bernoulli,
            # several times faster for one probability row broadcast over many graphs
            bits = torch.rand(b, m, generator=generator) < upper[kk]
            gi, pi = bits.nonzero(as_tuple=True)  # sorted by graph
            graph_ids.append(gi + (start + done))
            pair_ids.append(pi)
            done += b
        start += c
    total = start
    gi = torch.cat(graph_ids) if graph_ids else torch.zeros(0, dtype=torch.long)
    pi = torch.cat(pair_ids) if pair_ids else torch.zeros(0, dtype=torch.long)
    gu = iu[0].index_select(0, pi).add_(gi, alpha=n)
    gv = iu[1].index_select(0, pi).add_(gi, alpha=n)
    degree_grid = torch.bincount(gu, minlength=total * n) + torch.bincount(gv, minlength=total * n)
    if drop_isolated:
        keep = degree_grid > 0
        new_id = torch.cumsum(keep, 0) - 1
        kept = keep.nonzero().squeeze(1)
        nodes_per_graph = keep.view(total, n).count_nonzero(1)
    else:
        new_id = kept = torch.arange(total * n)
        nodes_per_graph = torch.full((total,), n, dtype=torch.long)
    node_ptr = torch.zeros(total + 1, dtype=torch.long)
    torch.cumsum(nodes_per_graph, 0, out=node_ptr[1:])
    base = node_ptr.index_select(0, gi)
    a = new_id.index_select(0, gu).sub_(base)
    b = new_id.index_select(0, gv).sub_(base)
    # each undirected edge as (u, v) then (v, u), graph by graph
    edge_index = torch.empty(2, 2 * a.numel(), dtype=torch.long)
    edge_index[0, 0::2] = a
    edge_index[0, 1::2] = b
    edge_index[1, 0::2] = b
    edge_index[1, 1::2] = a
    edge_ptr = torch.zeros(total + 1, dtype=torch.long)
    torch.cumsum(2 * torch.bincount(gi, minlength=total), 0, out=edge_ptr[1:])
    return SampledGraphs(
        edge_index=edge_index,
        edge_ptr=edge_ptr,
        node_ptr=node_ptr,
        position=kept % n,
        node_graph=kept // n,
        degree=degree_grid.index_select(0, kept),
    )
