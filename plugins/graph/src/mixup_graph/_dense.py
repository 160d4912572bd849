"""Graph-batch helpers of `IfMixup`: checks, the padded dense form and back, and the mix itself.

A batch of ``B`` graphs in dense form is node features ``(B, N, F)``, a weighted adjacency
``(B, N, N)`` (``edge_weight``, 1 where a graph has none) and a node mask ``(B, N)``, with ``N`` the
largest node count; node ``k`` of graph ``b`` sits at row ``k`` (the order given), so each mask row
is a prefix. `from_dense` turns such tensors back into a `torch_geometric.data.Batch`. `mix_graphs`
computes the mix of the dense forms, ``λ·G_i + (1 − λ)·G_j``, directly on the node and edge lists
(same numbers, no ``(B, N, N)`` tensor). Nothing here loops over graphs, except the per-graph checks
of a Python list of graphs, which has to be walked once anyway to be collated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch_geometric.data import Batch, Data, HeteroData
from torch_geometric.utils import to_dense_adj, to_dense_batch

__all__ = [
    "DenseGraphs",
    "as_graph_batch",
    "assemble_batch",
    "from_dense",
    "graph_labels",
    "is_graph_input",
    "lerp_pairs",
    "mix_graphs",
    "node_counts",
    "to_dense",
]


@dataclass(frozen=True)
class DenseGraphs:
    """A batch of graphs padded to ``N`` nodes.

    Args:
        x: node features ``(B, N, F)``, zero on padding rows.
        adj: weighted adjacency ``(B, N, N)``; duplicate edges are summed.
        mask: ``(B, N)`` boolean, ``True`` on real nodes (a prefix of each row).
    """

    x: torch.Tensor
    adj: torch.Tensor
    mask: torch.Tensor


def is_graph_input(inputs: object) -> bool:
    """Whether ``inputs`` is a PyG batch or a non-empty sequence of PyG graphs (not a tensor)."""
    if isinstance(inputs, (Batch, Data, HeteroData)):
        return True
    return (
        isinstance(inputs, (list, tuple)) and len(inputs) > 0 and all(isinstance(d, (Data, HeteroData)) for d in inputs)
    )


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def _check_graph(data: Data, i: int, first: Data | None, name: str) -> None:
    """Per-graph checks of a list of graphs, before collating (errors name the graph and field)."""
    where = f"{name}[{i}] (graph {i})"
    if isinstance(data, HeteroData):
        raise TypeError(f"{where} is a HeteroData; ifMixup mixes homogeneous graphs (torch_geometric.data.Data)")
    x = data.x
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{where} has no node features: field x is {x!r}; give every graph x (N_i, F), e.g. one-hot degrees"
        )
    if x.ndim != 2:
        raise ValueError(f"{where}: field x must have shape (num_nodes, F), got {_describe(x)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{where}: field x must be floating point, got {_describe(x)}; convert with data.x = data.x.float()"
        )
    n_edges = (
        data.edge_index.shape[1] if isinstance(data.edge_index, torch.Tensor) and data.edge_index.ndim == 2 else None
    )
    weight = getattr(data, "edge_weight", None)
    if weight is not None and (not isinstance(weight, torch.Tensor) or weight.ndim != 1 or weight.shape[0] != n_edges):
        raise ValueError(
            f"{where}: field edge_weight must have shape (E,) = ({n_edges},), one weight per edge of edge_index, "
            f"got {_describe(weight)}"
        )
    if first is None:
        return
    if x.shape[1] != first.x.shape[1]:
        raise ValueError(
            f"{where}: field x has {x.shape[1]} features (shape {tuple(x.shape)}), but graph 0 has "
            f"{first.x.shape[1]} (shape {tuple(first.x.shape)}); every graph needs the same feature width"
        )
    for field in ("edge_weight", "edge_attr"):
        a, b = getattr(data, field, None), getattr(first, field, None)
        if (a is None) != (b is None):
            has, lacks = (i, 0) if a is not None else (0, i)
            raise ValueError(
                f"{name}: graph {has} has field {field} but graph {lacks} has none; give it to every graph or to none"
            )
    attr, attr0 = getattr(data, "edge_attr", None), getattr(first, "edge_attr", None)
    if isinstance(attr, torch.Tensor) and isinstance(attr0, torch.Tensor) and attr.shape[1:] != attr0.shape[1:]:
        raise ValueError(
            f"{where}: field edge_attr has shape {tuple(attr.shape)}, but graph 0 has {tuple(attr0.shape)}; "
            "every graph needs the same edge feature width"
        )
    y, y0 = getattr(data, "y", None), getattr(first, "y", None)
    if isinstance(y, torch.Tensor) and isinstance(y0, torch.Tensor) and y.shape != y0.shape:
        raise ValueError(f"{where}: field y has shape {tuple(y.shape)}, but graph 0 has {tuple(y0.shape)}")


def _first_graph_with_bad_count(batch: Batch, field: str) -> int | None:
    """The first graph whose ``field`` has not one row per edge (from the batch's slices), if known."""
    slices = getattr(batch, "_slice_dict", None)
    if not isinstance(slices, dict) or field not in slices or "edge_index" not in slices:
        return None
    a, b = slices[field], slices["edge_index"]
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return None
    bad = (a.diff() != b.diff()).nonzero()
    return int(bad[0, 0]) if bad.numel() else None


def _check_batch(batch: Batch, name: str) -> None:
    """Structural checks of a collated batch; errors name the field (and the graph where one is to blame)."""
    if isinstance(batch, HeteroData):
        raise TypeError(
            f"{name} is a batch of HeteroData; ifMixup mixes homogeneous graphs (torch_geometric.data.Data)"
        )
    x = batch.x
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} has no node features: field x is {x!r}; give every graph x (N_i, F), e.g. one-hot degrees"
        )
    if x.ndim != 2:
        raise ValueError(f"{name}: field x must have shape (num_nodes, F), got {_describe(x)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: field x must be floating point, got {_describe(x)} (every graph, from graph 0); "
            "convert with data.x = data.x.float()"
        )
    vec = batch.batch
    if not isinstance(vec, torch.Tensor) or vec.shape != (x.shape[0],):
        raise ValueError(
            f"{name}: field batch must be a vector of shape ({x.shape[0]},) assigning each node to its graph, "
            f"got {_describe(vec)}"
        )
    ei = batch.edge_index
    if not isinstance(ei, torch.Tensor) or ei.ndim != 2 or ei.shape[0] != 2 or ei.dtype != torch.long:
        raise ValueError(f"{name}: field edge_index must be a long tensor of shape (2, E), got {_describe(ei)}")
    n_edges = ei.shape[1]
    if n_edges and (int(ei.min()) < 0 or int(ei.max()) >= x.shape[0]):
        bad = int(ei.min()) if int(ei.min()) < 0 else int(ei.max())
        raise ValueError(
            f"{name}: field edge_index refers to node {bad}, but the batch has {x.shape[0]} nodes (field x)"
        )
    weight = getattr(batch, "edge_weight", None)
    if weight is not None:
        if not isinstance(weight, torch.Tensor) or weight.ndim != 1 or weight.shape[0] != n_edges:
            graph = _first_graph_with_bad_count(batch, "edge_weight") if isinstance(weight, torch.Tensor) else None
            if graph is None and isinstance(weight, torch.Tensor) and weight.ndim != 1:
                graph = 0
            at = f" (graph {graph} is the first with a wrong edge_weight)" if graph is not None else ""
            raise ValueError(
                f"{name}: field edge_weight must have shape (E,) = ({n_edges},), one weight per edge of edge_index, "
                f"got {_describe(weight)}{at}"
            )
        if not weight.is_floating_point():
            raise TypeError(f"{name}: field edge_weight must be floating point, got {_describe(weight)}")
    attr = getattr(batch, "edge_attr", None)
    if attr is not None:
        if not isinstance(attr, torch.Tensor) or attr.ndim == 0 or attr.shape[0] != n_edges:
            graph = _first_graph_with_bad_count(batch, "edge_attr") if isinstance(attr, torch.Tensor) else None
            at = f" (graph {graph} is the first with a wrong edge_attr)" if graph is not None else ""
            raise ValueError(
                f"{name}: field edge_attr must have one row per edge, shape ({n_edges}, ...), got {_describe(attr)}{at}"
            )
        if not attr.is_floating_point():
            raise TypeError(
                f"{name}: field edge_attr must be floating point to be mixed, got {_describe(attr)}; "
                "one-hot encode categorical edge types first"
            )


def as_graph_batch(inputs: object, *, name: str = "inputs") -> Batch:
    """A checked `Batch` from a `Batch` or a sequence of `Data` (collated after per-graph checks)."""
    if isinstance(inputs, Batch):
        batch = inputs
    elif isinstance(inputs, (Data, HeteroData)):
        raise TypeError(
            f"{name} is a single graph ({type(inputs).__name__}); pass a torch_geometric Batch (from "
            "torch_geometric.loader.DataLoader or Batch.from_data_list) or a list of Data"
        )
    elif isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ValueError(f"{name} is an empty list of graphs")
        data_list: Sequence[Data] = inputs
        for i, data in enumerate(data_list):  # input conversion: a list has to be walked once to be collated
            if not isinstance(data, (Data, HeteroData)):
                raise TypeError(f"{name}[{i}] must be a torch_geometric Data, got {type(data).__name__}")
            _check_graph(data, i, data_list[0] if i else None, name)
        batch = Batch.from_data_list(list(data_list))
    else:
        raise TypeError(f"{name} must be a torch_geometric Batch or a list of Data, got {type(inputs).__name__}")
    if batch.num_graphs == 0:
        raise ValueError(f"{name} is an empty batch (no graphs)")
    _check_batch(batch, name)
    return batch


def node_counts(batch: Batch) -> torch.Tensor:
    """The number of nodes of each graph, long ``(B,)`` on the batch's device."""
    ptr = getattr(batch, "ptr", None)
    if isinstance(ptr, torch.Tensor) and ptr.shape == (batch.num_graphs + 1,):
        return ptr.diff()
    return torch.bincount(batch.batch, minlength=batch.num_graphs)


def to_dense(batch: Batch, *, max_num_nodes: int | None = None) -> DenseGraphs:
    """Pad every graph of a checked batch to ``N`` nodes (default: the largest graph's count)."""
    b = batch.num_graphs
    counts = node_counts(batch)
    largest = int(counts.max())
    if max_num_nodes is None:
        max_num_nodes = largest
    elif max_num_nodes < largest:
        raise ValueError(
            f"max_num_nodes={max_num_nodes} is smaller than the largest graph of the batch ({largest} nodes)"
        )
    x, mask = to_dense_batch(batch.x, batch.batch, max_num_nodes=max_num_nodes, batch_size=b)
    weight = getattr(batch, "edge_weight", None)
    if weight is None:
        weight = torch.ones(batch.edge_index.shape[1], dtype=batch.x.dtype, device=batch.x.device)
    adj = to_dense_adj(batch.edge_index, batch.batch, edge_attr=weight, max_num_nodes=max_num_nodes, batch_size=b)
    return DenseGraphs(x=x, adj=adj, mask=mask)


def _weight_view(
    lam: torch.Tensor, scalar_lam: float | None, rows: torch.Tensor | None, like: torch.Tensor
) -> float | torch.Tensor:
    """λ for ``torch.lerp``: the plan's scalar, or one value per row of ``like`` (``lam[rows]``)."""
    if scalar_lam is not None:
        return scalar_lam
    w = lam.to(device=like.device, dtype=like.dtype, non_blocking=True)
    if rows is not None:
        w = w[rows]
    return w.view((-1,) + (1,) * (like.ndim - 1))


def lerp_pairs(t: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, scalar_lam: float | None) -> torch.Tensor:
    """``λ·t + (1 − λ)·t[index]`` along dim 0, out of place; exact at λ = 1 (the anchor itself)."""
    index = index.to(t.device, non_blocking=True)
    # gather the partners, then move them towards the anchors by λ (torch.lerp returns `end` at weight 1)
    return t[index].lerp_(t, _weight_view(lam, scalar_lam, None, t))


def _segments(lengths: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Enumerate ``lengths[b]`` consecutive items from ``starts[b]`` for every ``b``, without a loop.

    Returns the owner ``b``, the position ``k`` within its run and the item ``starts[b] + k`` of each.
    """
    total = int(lengths.sum())
    owner = torch.repeat_interleave(torch.arange(lengths.shape[0], device=lengths.device), lengths, output_size=total)
    k = torch.arange(total, device=lengths.device) - (lengths.cumsum(0) - lengths)[owner]
    return owner, k, starts[owner] + k


def _check_symmetric(
    keys: torch.Tensor,
    weight: torch.Tensor,
    edge_keys: torch.Tensor,
    edge_slots: torch.Tensor,
    transposed_keys: torch.Tensor,
    m: int,
    name: str,
) -> None:
    """Refuse, naming the graph, an adjacency that is not symmetric.

    ``keys`` (sorted, unique) → ``weight`` is the adjacency; ``edge_keys`` are the keys of the edges,
    ``edge_slots`` their positions in ``keys`` and ``transposed_keys`` the keys of the reversed edges.
    Every non-zero entry is the key of an edge, so checking the edges is enough.
    """
    if edge_keys.numel() == 0:
        return
    pos = torch.searchsorted(keys, transposed_keys).clamp_(max=keys.numel() - 1)
    own = weight[edge_slots]
    mirror = torch.where(keys[pos] == transposed_keys, weight[pos], torch.zeros_like(own))
    bad = (own != mirror).nonzero()
    if bad.numel() == 0:
        return
    i = int(bad[0, 0])
    key = int(edge_keys[i])
    g, u, v = key // (m * m), key % (m * m) // m, key % m
    raise ValueError(
        f"{name}: graph {g} is directed (fields edge_index/edge_weight): edge ({u}, {v}) has weight "
        f"{float(own[i]):g} but ({v}, {u}) has {float(mirror[i]):g}. ifMixup assumes undirected graphs: make "
        "them undirected (torch_geometric.utils.to_undirected) or pass check_undirected=False to mix the "
        "directed adjacency as given"
    )


def mix_graphs(
    batch: Batch,
    index: torch.Tensor,
    lam: torch.Tensor,
    scalar_lam: float | None,
    *,
    check_undirected: bool = True,
    name: str = "inputs",
) -> Batch:
    """Mix every graph ``b`` of a checked batch with graph ``index[b]``: ``λ_b·G_b + (1 − λ_b)·G_index[b]``.

    The same numbers as padding both graphs with zero nodes, mixing node features and adjacency
    densely with `lerp_pairs` and reading the result back with `from_dense`, computed on the node
    and edge lists instead: the cost grows with the nodes and edges, not with ``B·N²``, so one large
    graph in a batch of small ones costs no ``(B, N, N)`` tensor. Edges of both graphs are put on
    keys ``(b·m + u)·m + v`` (local node ids, ``m`` the largest node count), weights of equal keys
    are summed (duplicate edges, as ``to_dense_adj`` does), and each key gets
    ``lerp(w_partner, w_anchor, λ_b)``; keys of weight 0 are dropped.
    """
    x = batch.x
    dev = x.device
    b = batch.num_graphs
    n = node_counts(batch)
    ptr = torch.cat([n.new_zeros(1), n.cumsum(0)])
    index = index.to(dev, non_blocking=True)
    lam = lam.to(dev, non_blocking=True)
    partner_on = lam < 1  # a graph with λ = 1 stays itself: no partner nodes, no partner edges
    n_hat = torch.where(partner_on, torch.maximum(n, n[index]), n)
    ptr_hat = torch.cat([n.new_zeros(1), n_hat.cumsum(0)])
    total = int(ptr_hat[-1])

    # nodes: anchor node k of graph g and partner node k both land on row ptr_hat[g] + k
    owner = batch.batch
    local = torch.arange(x.shape[0], device=dev) - ptr[owner]
    anchor_x = x.new_zeros((total, *x.shape[1:])).index_copy(0, ptr_hat[owner] + local, x)
    p_owner, p_local, p_src = _segments(torch.where(partner_on, n[index], 0), ptr[index])
    partner_x = x.new_zeros((total, *x.shape[1:])).index_copy(0, ptr_hat[p_owner] + p_local, x[p_src])
    batch_hat = torch.repeat_interleave(torch.arange(b, device=dev), n_hat, output_size=total)
    x_hat = partner_x.lerp_(anchor_x, _weight_view(lam, scalar_lam, batch_hat, anchor_x))

    # edges, grouped by graph (a collated batch already is)
    edge_index = batch.edge_index
    weight = getattr(batch, "edge_weight", None)
    if weight is None:
        weight = torch.ones(edge_index.shape[1], dtype=x.dtype, device=dev)
    attr = getattr(batch, "edge_attr", None)
    e_owner = owner[edge_index[0]]
    cross = (owner[edge_index[1]] != e_owner).nonzero()
    if cross.numel():
        e = int(cross[0, 0])
        s, t = int(edge_index[0, e]), int(edge_index[1, e])
        raise ValueError(
            f"{name}: field edge_index: edge {e} joins node {s} of graph {int(owner[s])} to node {t} of graph "
            f"{int(owner[t])}; the edges of a batch must stay within their graphs"
        )
    if e_owner.numel() > 1 and not bool((e_owner[1:] >= e_owner[:-1]).all()):
        order = torch.argsort(e_owner, stable=True)
        edge_index, weight, e_owner = edge_index[:, order], weight[order], e_owner[order]
        attr = None if attr is None else attr[order]
    m = max(int(n.max()), 1)
    first = ptr[e_owner]
    u, v = edge_index[0] - first, edge_index[1] - first
    local = u * m + v  # key of an edge within its graph
    n_edges = torch.bincount(e_owner, minlength=b)
    e_start = n_edges.cumsum(0) - n_edges
    q_owner, _, q_src = _segments(torch.where(partner_on, n_edges[index], 0), e_start[index])
    anchor_keys = e_owner * (m * m) + local
    keys = torch.cat([anchor_keys, q_owner * (m * m) + local[q_src]])
    uniq, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    n_anchor = edge_index.shape[1]
    w_anchor = weight.new_zeros(uniq.shape[0]).index_add(0, inverse[:n_anchor], weight)
    if check_undirected:
        # every graph is the anchor of its own output, so w_anchor holds every input adjacency
        transposed = e_owner * (m * m) + v * m + u
        _check_symmetric(uniq, w_anchor, anchor_keys, inverse[:n_anchor], transposed, m, name)
    w_partner = weight.new_zeros(uniq.shape[0]).index_add(0, inverse[n_anchor:], weight[q_src])
    key_graph = None if scalar_lam is not None else uniq // (m * m)
    w_hat = w_partner.lerp_(w_anchor, _weight_view(lam, scalar_lam, key_graph, w_anchor))
    keep = (w_hat.detach() != 0).nonzero().squeeze(1)
    kept = uniq[keep]
    g, rest = kept // (m * m), kept % (m * m)
    fields = {
        "edge_index": torch.stack([ptr_hat[g] + rest // m, ptr_hat[g] + rest % m]),
        "edge_weight": w_hat[keep],
    }
    if attr is not None:
        a_anchor = attr.new_zeros((uniq.shape[0], *attr.shape[1:])).index_add(0, inverse[:n_anchor], attr)
        a_partner = attr.new_zeros((uniq.shape[0], *attr.shape[1:])).index_add(0, inverse[n_anchor:], attr[q_src])
        fields["edge_attr"] = a_partner.lerp_(a_anchor, _weight_view(lam, scalar_lam, key_graph, a_anchor))[keep]
    return assemble_batch(x_hat, n_hat, fields, torch.bincount(g, minlength=b), batch_vector=batch_hat)


def assemble_batch(
    x: torch.Tensor,
    num_nodes: torch.Tensor,
    edge_fields: dict[str, torch.Tensor],
    edge_counts: torch.Tensor,
    *,
    batch_vector: torch.Tensor | None = None,
) -> Batch:
    """A `Batch` of graphs stored one after the other, with the slices that ``to_data_list()`` needs.

    ``edge_fields`` holds ``edge_index`` (global node ids) and the other per-edge fields.
    """
    b = num_nodes.shape[0]
    zero = num_nodes.new_zeros(1)
    ptr = torch.cat([zero, num_nodes.cumsum(0)])
    edge_ptr = torch.cat([zero, edge_counts.cumsum(0)])
    if batch_vector is None:
        batch_vector = torch.repeat_interleave(torch.arange(b, device=x.device), num_nodes, output_size=x.shape[0])
    out = Batch(x=x, **edge_fields, batch=batch_vector, ptr=ptr)
    zeros = num_nodes.new_zeros(b)
    out._num_graphs = b
    out._slice_dict = {"x": ptr, **{k: edge_ptr for k in edge_fields}}
    out._inc_dict = {"x": zeros, **{k: (ptr[:-1] if k == "edge_index" else zeros) for k in edge_fields}}
    return out


def from_dense(x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> Batch:
    """A `Batch` of the masked nodes, with an edge wherever ``adj`` is non-zero between two kept nodes.

    The mask rows must be prefixes (node ``k`` of a graph at row ``k``). Edges come out coalesced
    (sorted by graph, source, target) with ``edge_weight = adj[b, u, v]`` (differentiable).
    """
    b, n = mask.shape
    counts = mask.sum(dim=1)
    keep = (adj.detach() != 0) & mask[:, :, None] & mask[:, None, :]
    flat = keep.view(-1).nonzero().squeeze(1)
    g, rest = flat // (n * n), flat % (n * n)
    offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)])[:-1]
    fields = {
        "edge_index": torch.stack([offsets[g] + rest // n, offsets[g] + rest % n]),
        "edge_weight": adj.reshape(-1)[flat],
    }
    return assemble_batch(x[mask], counts, fields, torch.bincount(g, minlength=b))


def graph_labels(batch: Batch, name: str = "inputs") -> torch.Tensor | None:
    """The graph labels ``batch.y`` as ``(B,)`` class indices or ``(B, ...)`` float targets (``None`` if absent)."""
    y = getattr(batch, "y", None)
    if y is None:
        return None
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name}: field y must be a tensor of graph labels, got {type(y).__name__}")
    b = batch.num_graphs
    if y.ndim == 0 or y.shape[0] != b:
        raise ValueError(
            f"{name}: field y has shape {tuple(y.shape)}, but the batch has {b} graphs; ifMixup needs one label per "
            "graph (class indices (B,) or soft labels (B, C)); node-level labels cannot follow a graph mix"
        )
    if not y.is_floating_point() and y.ndim == 2 and y.shape[1] == 1:
        return y.view(b)  # per-graph y of shape (1, 1) collates to (B, 1)
    return y
