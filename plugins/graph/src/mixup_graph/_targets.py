"""Graph labels: hard and soft labels of PyG graphs, their collation, and the soft cross-entropy.

Convention of this package: a graph's **soft** label is a float ``y`` of shape ``(1, C)`` (so a
PyG ``Batch`` stacks them to ``(B, C)``); a **hard** label is a long ``y`` of shape ``(1,)`` or
``()`` (stacked to ``(B,)``). torch_geometric is imported on first use only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F

from mixup_core import soft_cross_entropy

if TYPE_CHECKING:
    from torch_geometric.data import Data
    from torch_geometric.data.data import BaseData

__all__ = ["batch_targets", "check_graph_labels", "graph_soft_cross_entropy", "num_graphs_of", "soft_labels"]

_HARD_HINT = "hard labels are long y of shape (1,) or () per graph, soft labels float y of shape (1, C)"


def _check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return num_classes


def _describe(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)} and dtype {t.dtype}"


def num_graphs_of(batch: object, *, name: str = "batch") -> int:
    """The number of graphs of a PyG ``Batch`` (``batch.num_graphs``), 1 for a single ``Data``.

    Raises a ``TypeError`` naming ``name`` for anything else.
    """
    from torch_geometric.data import Batch, Data

    if isinstance(batch, Batch):
        return int(batch.num_graphs)
    if isinstance(batch, Data):
        return 1
    raise TypeError(
        f"{name} must be a torch_geometric Batch (or a single Data), got {type(batch).__name__}; "
        "collate graphs with torch_geometric.loader.DataLoader or Batch.from_data_list"
    )


def check_graph_labels(y: object, num_graphs: int, num_classes: int | None, *, name: str = "batch.y") -> torch.Tensor:
    """Validate the graph labels of a batch of ``num_graphs`` graphs and return them unchanged.

    Accepted: long class indices ``(B,)`` or float soft labels ``(B, C)`` (finite, non-negative).
    Errors name ``name`` and, for a class index out of ``[0, num_classes)``, the graph.

    Args:
        y: the labels (``batch.y``).
        num_graphs: ``B``.
        num_classes: ``C``; ``None`` skips the upper range check of class indices.
        name: how the labels are called in error messages.
    """
    if y is None:
        raise ValueError(f"{name} is missing: every graph needs a label y ({_HARD_HINT})")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(y).__name__}: {y!r}")
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"{name} must be long class indices or float soft labels, got {_describe(y)}")
    if y.is_floating_point():
        if y.ndim != 2 or y.shape[0] != num_graphs:
            hint = ""
            if y.ndim == 1 and num_graphs and y.shape[0] % num_graphs == 0 and y.shape[0] != num_graphs:
                hint = (f"; the graphs' soft labels look like y of shape ({y.shape[0] // num_graphs},): "
                        "store them as (1, C)")
            elif y.ndim == 1:
                hint = "; class indices must be long (convert with y.long())"
            raise ValueError(
                f"{name} of float dtype must be soft labels of shape ({num_graphs}, C) for {num_graphs} graphs, "
                f"got {_describe(y)}{hint} ({_HARD_HINT})"
            )
        if num_classes is not None and y.shape[1] != num_classes:
            raise ValueError(f"{name} has {y.shape[1]} classes (shape {tuple(y.shape)}), but num_classes={num_classes}")
        if y.device.type == "cpu" and y.numel():
            bad = ~torch.isfinite(y) | (y < 0)
            if bool(bad.any()):
                g = int(bad.any(dim=1).nonzero()[0])
                raise ValueError(f"{name}[{g}] must be finite and non-negative soft labels, got {y[g].tolist()}")
        return y
    if y.ndim != 1 or y.shape[0] != num_graphs:
        raise ValueError(
            f"{name} of integer dtype must be class indices of shape ({num_graphs},) for {num_graphs} graphs, "
            f"got {_describe(y)} ({_HARD_HINT})"
        )
    if y.device.type == "cpu" and y.numel():
        upper = num_classes if num_classes is not None else None
        bad = (y < 0) if upper is None else ((y < 0) | (y >= upper))
        if bool(bad.any()):
            g = int(bad.nonzero()[0])
            raise ValueError(
                f"{name}[{g}] = {int(y[g])} (graph {g}) is outside [0, {upper if upper is not None else '∞'}) "
                f"(num_classes={num_classes})"
            )
    return y


def soft_labels(data_list: Iterable[BaseData], num_classes: int, *, dtype: torch.dtype = torch.float32) -> list[Data]:
    """Copies of graphs whose ``y`` is a float soft label of shape ``(1, num_classes)``.

    Hard labels (long ``y`` of shape ``(1,)`` or ``()``) become one-hot rows; soft labels (float
    ``y`` of shape ``(1, C)``, e.g. graphs generated by G-Mixup) are kept (cast to ``dtype``). Hard and soft graphs
    cannot be collated together (PyG would concatenate ``(1,)`` with ``(1, C)``); after this they
    can, and a ``torch_geometric.loader.DataLoader`` yields ``batch.y`` of shape ``(B, C)``.

    The copies are shallow: only ``y`` is new, the other tensors (``x``, ``edge_index`` …) are
    shared with the originals, which are left unchanged.

    Args:
        data_list: the graphs (a list, a PyG dataset or any iterable of ``Data``).
        num_classes: ``C``.
        dtype: floating dtype of the soft labels (default float32).

    Returns:
        A new list of ``Data``.

    Examples:
        >>> from torch_geometric.data import Data
        >>> graphs = [Data(num_nodes=2, y=torch.tensor([1])), Data(num_nodes=3, y=torch.tensor([[0.25, 0.75]]))]
        >>> [g.y.tolist() for g in soft_labels(graphs, 2)]
        [[[0.0, 1.0]], [[0.25, 0.75]]]
    """
    from torch_geometric.data import Batch, Data

    k = _check_num_classes(num_classes)
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    if isinstance(data_list, (Data, Batch)):
        raise TypeError(
            f"data_list must be a list of Data, got a single {type(data_list).__name__}; "
            "pass [data] or batch.to_data_list()"
        )
    out: list[Data] = []
    for i, data in enumerate(data_list):  # data preparation, once per data set: one O(1) step per graph
        if not isinstance(data, Data):
            raise TypeError(f"data_list[{i}] must be a torch_geometric Data, got {type(data).__name__}")
        y = getattr(data, "y", None)
        where = f"data_list[{i}].y"
        if y is None:
            raise ValueError(f"data_list[{i}] has no y: every graph needs a label ({_HARD_HINT})")
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"{where} must be a tensor, got {type(y).__name__}: {y!r}")
        if y.is_floating_point():
            if tuple(y.shape) != (1, k):
                raise ValueError(f"{where} of float dtype must be a soft label of shape (1, {k}), got {_describe(y)}")
            check_graph_labels(y, 1, k, name=where)
            soft = y.to(dtype)
        elif y.dtype == torch.bool or y.is_complex() or y.numel() != 1 or y.ndim > 1:
            raise ValueError(
                f"{where} must be a hard label (long, shape (1,) or ()) or a soft label "
                f"(float, shape (1, {k})), got {_describe(y)}"
            )
        else:
            label = int(y.reshape(()))
            if not 0 <= label < k:
                raise ValueError(f"{where} = {label} is outside [0, {k}) (num_classes={num_classes})")
            soft = F.one_hot(y.reshape(1).long(), k).to(dtype)
        copied = copy.copy(data)
        copied.y = soft
        out.append(copied)
    return out


def _labels_of(batch_or_y: object) -> tuple[object, int, str]:
    if isinstance(batch_or_y, torch.Tensor):
        n = int(batch_or_y.shape[0]) if batch_or_y.ndim else 0
        return batch_or_y, n, "y"
    n = num_graphs_of(batch_or_y, name="batch_or_y")
    return getattr(batch_or_y, "y", None), n, "batch.y"


def batch_targets(
    batch_or_y: BaseData | torch.Tensor, num_classes: int, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Dense ``(B, C)`` float targets of a batch of graphs.

    Long class indices ``(B,)`` are one-hot encoded; float soft labels ``(B, C)`` are returned (cast to
    ``dtype``). Use it to feed a loss, or as the float targets of a mixer call.

    Args:
        batch_or_y: a PyG ``Batch`` (its ``y``), or the labels tensor itself.
        num_classes: ``C``.
        dtype: floating dtype of the result (default float32).

    Examples:
        >>> batch_targets(torch.tensor([2, 0]), 3)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """
    k = _check_num_classes(num_classes)
    y, n, name = _labels_of(batch_or_y)
    if isinstance(y, torch.Tensor) and y.ndim == 0:
        raise ValueError(f"{name} must have the graphs as first dimension, got a scalar {_describe(y)}")
    y = check_graph_labels(y, n, k, name=name)
    if y.is_floating_point():
        return y.to(dtype)
    return F.one_hot(y.long(), k).to(dtype)


def graph_soft_cross_entropy(
    logits: torch.Tensor,
    batch: BaseData | torch.Tensor,
    num_classes: int | None = None,
    *,
    label_smoothing: float = 0.0,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """Cross-entropy of graph logits against the batch's hard or soft labels.

    ``batch.y`` may be long ``(B,)`` or float ``(B, C)`` (a training set that mixes real graphs with
    G-Mixup graphs, made collatable by `soft_labels`); the loss is `mixup_core.soft_cross_entropy`
    against `batch_targets`.

    Args:
        logits: ``(B, C)`` scores, one row per graph.
        batch: a PyG ``Batch``, or its ``y``.
        num_classes: ``C`` (default: ``logits.shape[-1]``).
        label_smoothing: ε of label smoothing (default 0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Examples:
        >>> graph_soft_cross_entropy(torch.zeros(2, 4), torch.tensor([1, 3]))
        tensor(1.3863)
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        got = _describe(logits) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a (B, C) tensor with one row per graph, got {got}")
    k = logits.shape[1] if num_classes is None else _check_num_classes(num_classes)
    if k != logits.shape[1]:
        raise ValueError(
            f"logits have {logits.shape[1]} classes (shape {tuple(logits.shape)}), but num_classes={num_classes}"
        )
    targets = batch_targets(batch, k)
    if targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"logits have {logits.shape[0]} rows (shape {tuple(logits.shape)}), but the batch has "
            f"{targets.shape[0]} graphs"
        )
    return soft_cross_entropy(logits, targets, label_smoothing=label_smoothing, reduction=reduction)
