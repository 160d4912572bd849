"""ifMixup: pad a pair of graphs with dummy nodes and interpolate features and adjacency."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, ClassVar, Literal, TypeAlias

import torch
from torch_geometric.data import Batch, Data

from mixup_core import MixedBatch, MixPlan, PairMixer, check_targets, mixer_dataclass

from ._dense import as_graph_batch, from_dense, is_graph_input, lerp_pairs, mix_graphs, to_dense
from ._dense import graph_labels as _graph_labels

__all__ = ["IfMixup", "check_edge_weight_model", "from_dense_graph_tensor", "to_dense_graph_tensor"]

GraphInputs: TypeAlias = Batch | list[Data] | torch.Tensor
"""What `IfMixup` mixes: a PyG `Batch`, a list of `Data`, or the dense graph tensor ``(B, N, N + F)``."""


def _reads_edge_weight(layer: torch.nn.Module) -> bool:
    try:
        parameters = inspect.signature(layer.forward).parameters
    except (TypeError, ValueError):  # a forward without a signature: assume it does
        return True
    return "edge_weight" in parameters


def check_edge_weight_model(model: torch.nn.Module) -> None:
    """Refuse a model whose message-passing layers all ignore ``edge_weight`` (warn if only some do).

    ifMixup's mixed graphs carry their mixed adjacency in ``edge_weight`` (λ or 1 − λ on an edge of
    one graph only); a layer whose ``forward`` takes no ``edge_weight`` (PyG's ``GINConv``,
    ``GATConv``, ``EdgeConv`` …) sees every such edge at full weight, i.e. trains on the union graph.
    The check reads the ``forward`` signatures of the model's
    ``torch_geometric.nn.MessagePassing`` layers: it cannot tell whether your ``forward`` passes the
    weights on, and a model without such layers passes unchecked.

    Raises:
        ValueError: every message-passing layer of ``model`` ignores ``edge_weight``; the message
            names them.

    Warns:
        UserWarning: some of them do.
    """
    from torch_geometric.nn import MessagePassing

    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, MessagePassing)]
    if not layers:
        return
    blind = [f"{name or 'model'} ({type(m).__name__})" for name, m in layers if not _reads_edge_weight(m)]
    if len(blind) == len(layers):
        raise ValueError(
            "graph:ifmixup mixes the adjacency into edge_weight, but no message-passing layer of "
            f"{type(model).__name__} reads edge_weight: {', '.join(blind)}; the model would train on the union of "
            "each pair's edges. Use layers that take edge_weight (GCNConv, GraphConv, SAGEConv with a weighted "
            "aggregation, or mixup_graph.lab's weighted GIN layer), or another graph mixer"
        )
    if blind:
        warnings.warn(
            f"graph:ifmixup: these message-passing layers of {type(model).__name__} ignore edge_weight and see the "
            f"union of each pair's edges: {', '.join(blind)}",
            UserWarning,
            stacklevel=2,
        )


def _shape_proxy(num_graphs: int) -> torch.Tensor:
    # core's sampling reads its inputs for the batch size only: a (B, 0, 0) dense tensor stands in for a Batch
    return torch.empty((num_graphs, 0, 0))


@mixer_dataclass
class IfMixup(PairMixer):
    """ifMixup: mix two graphs by padding the smaller one with isolated zero-feature nodes.

    Guo & Mao, *Interpolating Graph Pair to Regularize Graph Classification* (AAAI 2023,
    arXiv:2110.09344, first titled *Intrusion-Free Graph Mixup*). Each graph ``i`` of a batch is
    mixed with a partner ``j``: both are padded with dummy nodes (zero features, no edges) to
    ``n = max(n_i, n_j)`` nodes, keeping node order **as given** (no alignment), and

    ``X̂ = λ·X_i + (1 − λ)·X_j``, ``Â = λ·A_i + (1 − λ)·A_j``, ``ŷ = λ·y_i + (1 − λ)·y_j``.

    ``A`` holds the edge weights (``edge_weight`` when the graphs have it, else 1), so the mixed
    graph has weighted edges, with weights in [0, 1] when the inputs' are; the model needs layers
    that read ``edge_weight`` (``GCNConv``, ``GraphConv`` … or the paper's GIN with a weighted
    neighbour sum; PyG's ``GINConv`` ignores weights, so a GIN trains on the union of the pair's
    edges). The mixer never sees the model: call `check_edge_weight_model` on yours once (it
    refuses a model none of whose message-passing layers takes ``edge_weight``, and warns when
    only some do).

    **PyG inputs.** A `torch_geometric.data.Batch` (as a PyG ``DataLoader`` yields it) or a list of
    `Data` is mixed in one vectorised pass with no loop over graphs. The numbers are those of the
    padded dense mix below, computed on the node and edge lists (a sort of the edge keys), so the
    cost grows with nodes and edges and one large graph in a batch of small ones never allocates a
    ``(B, N, N)`` adjacency. ``MixedBatch.inputs`` is a new `Batch` with ``x``, ``edge_index``, ``edge_weight``
    (the mixed weights; entries of weight 0 are dropped: for unweighted graphs an edge of both has
    weight 1, an edge of one only λ or 1 − λ), ``batch``, ``ptr`` and ``num_graphs``; edges come out
    coalesced (sorted by source, target) and ``to_data_list()`` works. Mixed graph ``i`` has
    ``max(n_i, n_j)`` nodes (``n_i`` where its λ is 1: such graphs, and every graph of an unmixed
    batch, come back as given, with weight-1 edges where they had no weights). Targets come from
    ``batch.y`` (class indices ``(B,)`` or ``(B, 1)``, or float soft labels ``(B, C)``) unless ``targets`` is given, and
    are mixed by `MixedTargets`; the mixed batch itself carries no ``y``, so unmixed labels cannot be used by
    mistake. ``edge_attr`` (float) is mixed densely like the adjacency,
    ``λ·E_i[u, v] + (1 − λ)·E_j[u, v]`` with zeros where a graph has no edge ``(u, v)``, and kept on
    the edges of the mixed graph. Every other field (``pos``, node-level labels, masks, graph-level
    attributes other than ``y``) has no meaning on a mixed graph and is dropped. Duplicate edges are
    summed (coalesce them first). With ``check_undirected=True`` (default) a graph whose weighted
    adjacency is not symmetric is refused, naming its index.

    **Dense inputs.** A float tensor ``(B, N, N + F)`` is ``torch.cat([A, X], dim=-1)`` of graphs
    padded to ``N`` nodes (zero rows and columns for padding), as `to_dense_graph_tensor` builds it
    from a `Batch`; it is mixed linearly, ``λ·G_i + (1 − λ)·G_j``, which is exactly the maths of
    the `Batch` path, and `from_dense_graph_tensor` turns it back into a `Batch` given the node
    counts (`mixed_num_nodes` after a mix). The adjacency block of a dense tensor is mixed as given
    (``check_undirected`` applies to PyG inputs). ``feature_dim`` is the node dimension (1): the mix
    moves nothing along any dimension.

    λ: Beta(α, α) with α = 1 (uniform) by default, as core. The paper's ablation compares Beta(1, 1),
    Beta(2, 2), Beta(5, 1), Beta(10, 1) and Beta(20, 1), reports ifMixup robust to the choice and its
    best results with Beta(20, 1) (a mild mix; ``alpha=20, beta=1``). These settings come from a
    third-party summary of the paper, not checked against its PDF. Its invertibility lemma (the mixed
    graph determines the pair) needs λ ≠ 0.5.

    Args:
        check_undirected: refuse PyG graphs whose adjacency (with weights) is not symmetric.
        **kwargs: λ, pairing and protection options of `PairMixer` (``alpha``, ``beta``, ``lam``,
            ``mode``, ``pairing``, ``protect`` …), and ``p``, ``enabled``, ``num_classes`` of `Mixer`.

    Examples:
        >>> from torch_geometric.data import Batch, Data
        >>> ring = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
        >>> graphs = [Data(x=torch.ones(3, 4), edge_index=ring, y=torch.tensor([0])),
        ...           Data(x=torch.zeros(5, 4), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([1]))]
        >>> mixer = IfMixup(num_classes=2, lam=0.7)
        >>> out = mixer(Batch.from_data_list(graphs), generator=torch.Generator().manual_seed(0))
        >>> out.inputs.num_graphs, out.inputs.ptr.tolist()   # each mixed graph has max(3, 5) = 5 nodes
        (2, [0, 5, 10])
        >>> out.targets.dense()
        tensor([[0.7000, 0.3000],
                [0.3000, 0.7000]])
    """

    name: ClassVar[str] = "ifmixup"
    modality: ClassVar[str] = "graph"
    paper: ClassVar[str] = (
        "Guo & Mao, Interpolating Graph Pair to Regularize Graph Classification (ifMixup), AAAI 2023, "
        "https://arxiv.org/abs/2110.09344"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"
    min_ndim: ClassVar[int] = 3
    example_shape: ClassVar[tuple[int, ...]] = (6, 6 + 3)
    """Dense form of one graph: 6 nodes, adjacency (6, 6) next to 3 node features."""
    feature_dim: ClassVar[int] = 1

    check_undirected: bool = True

    # ------------------------------------------------------------------ public protocol
    def __call__(  # type: ignore[override]
        self,
        inputs: GraphInputs,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        out: torch.Tensor | None = None,
    ) -> MixedBatch:
        """Mix a batch of graphs.

        Args:
            inputs: a PyG `Batch`, a list of `Data`, or a dense graph tensor ``(B, N, N + F)``.
            targets: class indices ``(B,)`` or float targets ``(B, ...)``; default for PyG inputs:
                ``inputs.y`` (one label per graph).
            generator, num_classes, protected, groups: as in `mixup_core.Mixer.__call__`.
            out: a buffer for dense tensor inputs (not for PyG inputs).
        """
        if not is_graph_input(inputs):
            return PairMixer.__call__(
                self,
                inputs,  # type: ignore[arg-type]  # not graphs: PairMixer checks that it is a tensor
                targets,
                generator=generator,
                num_classes=num_classes,
                protected=protected,
                groups=groups,
                out=out,
            )
        batch = as_graph_batch(inputs)
        if out is not None:
            raise ValueError("out is only supported for dense tensor inputs; PyG inputs are mixed into a new Batch")
        if targets is None:
            targets = _graph_labels(batch)
            if targets is None:
                raise ValueError(
                    "inputs has no graph labels (field y is missing) and targets=None: set data.y on every graph "
                    "or pass targets=(B,) class indices or (B, C) soft labels"
                )
        n = batch.num_graphs
        k = num_classes if num_classes is not None else self.num_classes
        checked = check_targets(targets, n, k)
        assert checked is not None
        plan = PairMixer.sample(self, _shape_proxy(n), checked, generator=generator, protected=protected, groups=groups)
        mixed = self._mix_graphs(batch, plan)
        return MixedBatch(inputs=mixed, targets=self.mix_targets(checked, plan, num_classes=k), plan=plan)

    def sample(  # type: ignore[override]
        self,
        inputs: GraphInputs,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
    ) -> MixPlan:
        """Draw a plan for ``inputs`` (read for its number of graphs; PyG labels from ``y``)."""
        if not is_graph_input(inputs):
            return PairMixer.sample(  # not graphs: PairMixer checks that it is a tensor
                self, inputs, targets, generator=generator, protected=protected, groups=groups  # type: ignore[arg-type]
            )
        batch = as_graph_batch(inputs)
        if targets is None:
            targets = _graph_labels(batch)
        return PairMixer.sample(
            self, _shape_proxy(batch.num_graphs), targets, generator=generator, protected=protected, groups=groups
        )

    def apply(self, inputs: GraphInputs, plan: MixPlan, *, out: torch.Tensor | None = None) -> Any:  # type: ignore[override]
        """Mix ``inputs`` with ``plan``: a new `Batch` for PyG inputs, a tensor for dense inputs."""
        if not is_graph_input(inputs):
            return PairMixer.apply(self, inputs, plan, out=out)  # type: ignore[arg-type]  # not graphs: a tensor
        batch = as_graph_batch(inputs)
        if out is not None:
            raise ValueError("out is only supported for dense tensor inputs; PyG inputs are mixed into a new Batch")
        if not isinstance(plan, MixPlan):
            raise TypeError(f"plan must be a MixPlan, got {type(plan).__name__}")
        if plan.batch_size != batch.num_graphs or plan.index.ndim != 1:
            raise ValueError(
                f"plan is for a batch of {plan.batch_size} (index shape {tuple(plan.index.shape)}), but inputs has "
                f"{batch.num_graphs} graphs"
            )
        return self._mix_graphs(batch, plan)

    def check_inputs(self, inputs: object) -> torch.Tensor:
        """Validate a dense graph tensor ``(B, N, N + F)``; errors name ``inputs`` and quote its shape."""
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(
                "inputs must be a torch_geometric Batch, a list of Data or a dense graph tensor (B, N, N + F), "
                f"got {type(inputs).__name__}"
            )
        inputs = super().check_inputs(inputs)
        if inputs.ndim != 3 or inputs.shape[2] < inputs.shape[1]:
            raise ValueError(
                "dense graph inputs must have shape (B, N, N + F): adjacency (N, N) next to F node features, "
                f"got inputs.shape={tuple(inputs.shape)}"
            )
        return inputs

    @staticmethod
    def mixed_num_nodes(num_nodes: torch.Tensor, plan: MixPlan) -> torch.Tensor:
        """The node count of each mixed graph: ``max(n_i, n_j)``, or ``n_i`` where λ = 1.

        Args:
            num_nodes: long ``(B,)`` node counts of the batch that ``plan`` mixes.
            plan: the plan of the mix.
        """
        if not isinstance(num_nodes, torch.Tensor) or num_nodes.shape != (plan.batch_size,):
            raise ValueError(f"num_nodes must be a tensor of shape ({plan.batch_size},), got {num_nodes!r}")
        index = plan.index.to(num_nodes.device)
        mixed = (plan.lam < 1).to(num_nodes.device)
        return torch.where(mixed, torch.maximum(num_nodes, num_nodes[index]), num_nodes)

    # ------------------------------------------------------------------ internals
    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if plan.index.ndim != 1:
            raise ValueError(
                f"{type(self).__name__} mixes pairs; got a plan with index of shape {tuple(plan.index.shape)}"
            )
        return lerp_pairs(inputs, plan.index, plan.lam, plan.scalar_lam)

    def _mix_graphs(self, batch: Batch, plan: MixPlan) -> Batch:
        if plan.index.ndim != 1:
            raise ValueError(
                f"{type(self).__name__} mixes pairs; got a plan with index of shape {tuple(plan.index.shape)}"
            )
        return mix_graphs(batch, plan.index, plan.lam, plan.scalar_lam, check_undirected=self.check_undirected)


def to_dense_graph_tensor(batch: Batch | list[Data], *, max_num_nodes: int | None = None) -> torch.Tensor:
    """The dense form of a batch of graphs, ``(B, N, N + F)`` = ``torch.cat([A, X], dim=-1)``.

    ``A`` is the weighted adjacency (``edge_weight``, or 1 per edge; duplicates summed) and ``X`` the
    node features, both padded with zeros to ``N`` nodes (default: the largest graph's count) in the
    node order given, in the dtype of ``x``. ``edge_attr`` and other fields are not part of it.
    `IfMixup` mixes this tensor exactly as it mixes the `Batch`.

    Args:
        batch: a PyG `Batch` or a list of `Data` with float ``x``.
        max_num_nodes: pad to this many nodes (at least the largest graph's count).

    Examples:
        >>> from torch_geometric.data import Batch, Data
        >>> g = Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> to_dense_graph_tensor(Batch.from_data_list([g]), max_num_nodes=3)
        tensor([[[0., 1., 0., 1.],
                 [1., 0., 0., 1.],
                 [0., 0., 0., 0.]]])
    """
    checked = as_graph_batch(batch, name="batch")
    dense = to_dense(checked, max_num_nodes=max_num_nodes)
    return torch.cat([dense.adj.to(dense.x.dtype), dense.x], dim=-1)


def from_dense_graph_tensor(dense: torch.Tensor, num_nodes: torch.Tensor) -> Batch:
    """A PyG `Batch` from the dense form ``(B, N, N + F)`` (the inverse of `to_dense_graph_tensor`).

    Graph ``b`` keeps its first ``num_nodes[b]`` nodes; an edge ``(u, v)`` is made wherever the
    adjacency is non-zero between kept nodes, with ``edge_weight = A[b, u, v]``. After
    ``IfMixup.apply(dense, plan)`` the node counts are ``IfMixup.mixed_num_nodes(num_nodes, plan)``.

    Args:
        dense: float ``(B, N, N + F)``.
        num_nodes: integer ``(B,)`` node counts, each in ``[0, N]``.

    Examples:
        >>> from torch_geometric.data import Batch, Data
        >>> g = Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> back = from_dense_graph_tensor(to_dense_graph_tensor(Batch.from_data_list([g])), torch.tensor([2]))
        >>> back.edge_index.tolist(), back.edge_weight.tolist()
        ([[0, 1], [1, 0]], [1.0, 1.0])
    """
    if (
        not isinstance(dense, torch.Tensor)
        or dense.ndim != 3
        or dense.shape[2] < dense.shape[1]
        or not dense.is_floating_point()
    ):
        got = (
            f"shape {tuple(dense.shape)} and dtype {dense.dtype}"
            if isinstance(dense, torch.Tensor)
            else type(dense).__name__
        )
        raise ValueError(f"dense must be a float tensor of shape (B, N, N + F), got {got}")
    b, n = dense.shape[0], dense.shape[1]
    if (
        not isinstance(num_nodes, torch.Tensor)
        or num_nodes.is_floating_point()
        or num_nodes.shape != (b,)
        or (num_nodes.numel() and (int(num_nodes.min()) < 0 or int(num_nodes.max()) > n))
    ):
        got = (
            f"{num_nodes.tolist()}"
            if isinstance(num_nodes, torch.Tensor) and num_nodes.numel() <= 16
            else repr(num_nodes)
        )
        raise ValueError(f"num_nodes must be an integer tensor of shape ({b},) with values in [0, {n}], got {got}")
    mask = torch.arange(n, device=dense.device) < num_nodes.to(dense.device)[:, None]
    return from_dense(dense[..., n:], dense[..., :n], mask)
