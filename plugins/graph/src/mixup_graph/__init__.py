"""mixup-graph: graph mixers for mixup-core, registered under the prefix ``graph:``.

Importing the package is cheap: its modules (and torch-geometric) are imported on first use of a
name, so listing mixers (``mixup mixers``) does not pay for torch-geometric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixup_core.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "GMixup": ".gmixup",
    "GraphEmbeddingMixup": ".embedding",
    "IfMixup": ".ifmixup",
    "MixupTransform": ".transforms",
    "NodeContext": ".node",
    "NodeFeatureMixup": ".node",
    "NodePlan": ".node",
    "align_graphs": ".gmixup",
    "batch_targets": ".targets",
    "check_edge_weight_model": ".ifmixup",
    "estimate_graphon": ".gmixup",
    "find_readout": ".embedding",
    "from_dense_graph_tensor": ".ifmixup",
    "graph_soft_cross_entropy": ".targets",
    "soft_labels": ".targets",
    "to_dense_graph_tensor": ".ifmixup",
}

__all__ = [
    "GMixup",
    "GraphEmbeddingMixup",
    "IfMixup",
    "MixupTransform",
    "NodeContext",
    "NodeFeatureMixup",
    "NodePlan",
    "__version__",
    "align_graphs",
    "batch_targets",
    "check_edge_weight_model",
    "estimate_graphon",
    "find_readout",
    "from_dense_graph_tensor",
    "graph_soft_cross_entropy",
    "soft_labels",
    "to_dense_graph_tensor",
]

if TYPE_CHECKING:
    from .embedding import GraphEmbeddingMixup, find_readout
    from .gmixup import GMixup, align_graphs, estimate_graphon
    from .ifmixup import IfMixup, check_edge_weight_model, from_dense_graph_tensor, to_dense_graph_tensor
    from .node import NodeContext, NodeFeatureMixup, NodePlan
    from .targets import batch_targets, graph_soft_cross_entropy, soft_labels
    from .transforms import MixupTransform


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
