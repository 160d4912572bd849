"""Graphons for G-Mixup: degree alignment, estimators, sampling (the input checks are in `mixup_graph._graphset`).

Everything here works on all graphs at once: the graphs of a data set are concatenated into one
node-offset edge list (as a PyG ``Batch`` does), and alignment, class averages and sampled graphs are
computed with one sort of the nodes, ``bincount`` and gathers over that list. The only Python loops
are the one that reads the graphs' fields (with the checks that name a graph) and the one that wraps
the sampled edge lists into ``Data`` objects. The integer bookkeeping (repeats, offsets, gathers,
masks) runs in NumPy on zero-copy views of CPU tensors: for int64 arrays of this size, ``np.repeat``,
broadcasting, ``flatnonzero`` and fancy assignment are several times faster than their torch CPU
counterparts. The random draws all come from the caller's ``torch.Generator``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch_geometric.data import Data

from ._graphset import GraphSet, collect_graphs, describe

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


# ---------------------------------------------------------------------------------------------- alignment
def _aligned_positions(gs: GraphSet) -> torch.Tensor:
    """Each node's position in its graph after sorting the nodes by descending degree (ties: node order)."""
    total = int(gs.batch.numel())
    if not total:
        return torch.zeros(0, dtype=torch.long)
    batch = gs.batch.numpy()
    deg = np.bincount(gs.edge_index[0].numpy(), minlength=total)
    top = int(deg.max()) + 1
    # one sort on (graph, descending degree, node): the keys are distinct, so any sort is stable;
    # sorting the values is faster than a stable argsort, and the node comes back as key % total
    key = batch * top + (top - 1 - deg)
    if int(gs.num_graphs) * top * total < 2**62:
        order = np.sort(key * total + np.arange(total)) % total
    else:  # pragma: no cover - beyond 2**62 node-degree keys
        order = np.argsort(key, kind="stable")
    # the sort keeps every graph's nodes in its own block, so a node's aligned position is its
    # place in the sorted order minus the block's start
    ptr = gs.ptr.numpy()
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total) - ptr[batch]
    return torch.from_numpy(rank)


def _aligned_bins(
    gs: GraphSet, group: torch.Tensor, num_groups: int, resolution: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The bin ``(group, row, column)`` of each aligned edge in a ``num_groups × N × N`` grid, and every
    node's aligned position. Edges cut off by the truncation to N go to one extra bin at the end."""
    n = resolution
    rank = _aligned_positions(gs)
    rank_np = rank.numpy()
    ei = gs.edge_index.numpy()
    r = rank_np[ei[0]]
    c = rank_np[ei[1]]
    bins = group.numpy()[gs.edge_graph.numpy()] * n
    bins += r
    bins *= n
    bins += c
    if gs.max_nodes > n:
        bins[(r >= n) | (c >= n)] = num_groups * n * n
    return torch.from_numpy(bins), rank


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
    e_init: float | None = None
    e_prev = 0.0
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
        elif abs(e_prev - energy) < eps * e_init:
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
        raise ValueError(f"aligned must be a tensor of shape (G, N, N) or (N, N), got {describe(aligned)}")
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


def _byte_thresholds(probs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(k, frac)`` for `_bernoulli_flat`: ``256·p = k + frac`` with integer ``k <= 255`` (uint8) and
    ``frac`` in ``[0, 1]`` (float32)."""
    t = probs.detach().cpu().to(torch.float64).clamp(0.0, 1.0).numpy() * 256.0
    k = np.minimum(np.floor(t), 255.0)
    return k.astype(np.uint8), (t - k).astype(np.float32)


def _bernoulli_flat(
    thresholds: tuple[np.ndarray, np.ndarray], rows: int, generator: torch.Generator | None
) -> np.ndarray:
    """Flat indices (int64, ascending) of the successes of ``rows × M`` independent Bernoulli(p_j)
    draws, one probability per column.

    Exact, and faster than ``torch.rand(rows, M) < p`` on the CPU (``benchmarks/bench_bernoulli.py``:
    0.2–0.7× its time on one thread, 20–2,000 graphs of 40–200 nodes): each draw first reads one uniform
    random byte ``U`` (seven per 63-bit ``random_`` word of the generator: bits 0–55, which are
    uniform and independent). With ``256·p = k + frac``, ``U < k`` is a success and ``U > k`` a
    failure; only on a tie ``U = k`` (probability 1/256) is a float32 uniform drawn, succeeding
    below ``frac``: P = k/256 + frac/256 = p.
    """
    k8, frac = thresholds
    m = k8.size
    size = rows * m
    words = torch.empty((size + 6) // 7, dtype=torch.int64).random_(generator=generator)
    low = slice(0, 7) if sys.byteorder == "little" else slice(1, 8)  # the bytes of bits 0–55
    u = words.numpy().view(np.uint8).reshape(-1, 8)[:, low].reshape(-1)[:size]
    flat = np.flatnonzero(u.reshape(rows, m) <= k8)
    col = flat % m
    tie = np.flatnonzero(u[flat] == k8[col])
    if tie.size:
        draw = torch.rand(tie.size, generator=generator).numpy()
        keep = np.ones(flat.size, dtype=bool)
        keep[tie[draw >= frac[col[tie]]]] = False
        flat = flat[keep]
    return flat


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
    renumbered in grid order. All graphs of a graphon are drawn by one batched call (split into
    chunks of at most ``chunk_elements`` node pairs; exact Bernoulli draws from random bytes, see
    ``_bernoulli_flat``), so the result depends on the ``generator`` only.
    """
    k, n = graphons.shape[0], graphons.shape[-1]
    counts_t = torch.as_tensor(counts, dtype=torch.long)
    if counts_t.shape != (k,):
        raise ValueError(f"counts must have one entry per graphon ({k}), got shape {tuple(counts_t.shape)}")
    iu0, iu1 = np.triu_indices(n, 1)
    upper = graphons[:, torch.from_numpy(iu0), torch.from_numpy(iu1)]  # (K, M)
    m = upper.shape[1]
    per_chunk = max(1, chunk_elements // max(m, 1))
    graph_ids: list[np.ndarray] = []
    pair_ids: list[np.ndarray] = []
    start = 0
    for kk, c in enumerate(counts_t.tolist()):
        done = 0
        thresholds = _byte_thresholds(upper[kk])
        while done < c and m > 0:
            b = min(per_chunk, c - done)
            flat = _bernoulli_flat(thresholds, b, generator)  # sorted by graph, then pair
            gi = flat // m
            pair_ids.append(flat - gi * m)
            gi += start + done
            graph_ids.append(gi)
            done += b
        start += c
    total = start
    # the bookkeeping below is integer work on arrays, several times faster in NumPy on the CPU
    gi = np.concatenate(graph_ids) if graph_ids else np.zeros(0, dtype=np.int64)
    pi = np.concatenate(pair_ids) if pair_ids else np.zeros(0, dtype=np.int64)
    gu = iu0[pi] + gi * n
    gv = iu1[pi] + gi * n
    degree_grid = np.bincount(gu, minlength=total * n) + np.bincount(gv, minlength=total * n)
    if drop_isolated:
        keep = degree_grid > 0
        new_id = np.cumsum(keep) - 1
        kept = np.flatnonzero(keep)
        nodes_per_graph = np.count_nonzero(keep.reshape(total, n), axis=1)
    else:
        new_id = kept = np.arange(total * n)
        nodes_per_graph = np.full(total, n, dtype=np.int64)
    node_ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(nodes_per_graph, out=node_ptr[1:])
    base = node_ptr[gi]
    a = new_id[gu] - base
    b = new_id[gv] - base
    # each undirected edge as (u, v) then (v, u), graph by graph
    edge_index = np.empty((2, 2 * a.size), dtype=np.int64)
    edge_index[0, 0::2] = a
    edge_index[0, 1::2] = b
    edge_index[1, 0::2] = b
    edge_index[1, 1::2] = a
    edge_ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(2 * np.bincount(gi, minlength=total), out=edge_ptr[1:])
    return SampledGraphs(
        edge_index=torch.from_numpy(edge_index),
        edge_ptr=torch.from_numpy(edge_ptr),
        node_ptr=torch.from_numpy(node_ptr),
        position=torch.from_numpy(kept % n),
        node_graph=torch.from_numpy(kept // n),
        degree=torch.from_numpy(degree_grid[kept]),
    )
