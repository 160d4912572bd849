"""Soft-label helpers for PyG graphs and batches.

Convention of this package: a graph's **soft** label is a float ``y`` of shape ``(1, C)``; a
**hard** label is a long ``y`` of shape ``(1,)`` or ``()``. `soft_labels` turns a list of graphs
(hard, soft, or both, e.g. a training set extended with G-Mixup graphs) into graphs with soft
labels only, so that a ``torch_geometric.loader.DataLoader`` can collate them; `batch_targets`
gives the dense ``(B, C)`` targets of a batch; `graph_soft_cross_entropy` is the loss.

Examples:
    >>> from torch_geometric.loader import DataLoader          # doctest: +SKIP
    >>> train = soft_labels(real_graphs + generated_graphs, num_classes=3)   # doctest: +SKIP
    >>> for batch in DataLoader(train, batch_size=32, shuffle=True):   # doctest: +SKIP
    ...     loss = graph_soft_cross_entropy(model(batch), batch)
"""

from __future__ import annotations

from ._targets import batch_targets, check_graph_labels, graph_soft_cross_entropy, soft_labels

__all__ = ["batch_targets", "check_graph_labels", "graph_soft_cross_entropy", "soft_labels"]
