"""Graph mixers as PyG transforms: `MixupTransform`, usable in ``torch_geometric.transforms.Compose``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from mixup_core import Mixer, create_mixer

from .node import NodeFeatureMixup

__all__ = ["MixupTransform"]


class MixupTransform(BaseTransform):
    """A graph mixer as a PyG transform: mixes a batch and puts the mixed labels in ``y``.

    A ``torch_geometric.transforms.BaseTransform``, so it composes with PyG's own transforms
    (``T.Compose([T.ToUndirected(), MixupTransform(IfMixup(num_classes=2))])``) and, like them,
    never modifies its input (it works on a shallow copy; the mixer returns new tensors).

    - **Graph classification** (``graph:ifmixup``, or any mixer that takes a PyG `Batch`): apply
      it to a `Batch` (each batch of a ``DataLoader``), not to the graphs of a data set: a mix
      needs two graphs. The result is the mixer's mixed `Batch` with ``y`` set to the mixed soft
      labels, float ``(num_graphs, C)``.
    - **Node classification** (``graph:node``, `NodeFeatureMixup`): apply it to the one `Data`.
      Its labelled nodes (``data[mask]``, default ``train_mask``; every node when absent) are mixed
      (``x``), and ``y`` becomes float ``(N, C)``: the mixed soft labels on the labelled nodes, the
      one-hot labels elsewhere (zeros for a negative label).

    Train with a soft-label loss: ``soft_cross_entropy(model(b), b.y)``.

    Args:
        mixer: a graph mixer, or a spec for `mixup_core.create_mixer` (``"graph:ifmixup"``, a dict).
        num_classes: number of classes for class-index labels (default: the mixer's).
        generator: a CPU ``torch.Generator`` the mixes are drawn from (it advances with every call),
            or ``None`` for torch's global generator.
        mask: name of the boolean node attribute marking the labelled nodes (node mixers only).

    Examples:
        >>> from torch_geometric.data import Batch, Data
        >>> import torch_geometric.transforms as T
        >>> ring = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> graphs = [Data(x=torch.rand(3, 4), edge_index=ring, y=torch.tensor([k % 2])) for k in range(4)]
        >>> transform = T.Compose([T.ToUndirected(), MixupTransform("graph:ifmixup", num_classes=2)])
        >>> mixed = transform(Batch.from_data_list(graphs))
        >>> mixed.y.shape, mixed.num_graphs
        (torch.Size([4, 2]), 4)
    """

    def __init__(
        self,
        mixer: Mixer | str | dict[str, Any],
        *,
        num_classes: int | None = None,
        generator: torch.Generator | None = None,
        mask: str = "train_mask",
    ) -> None:
        self.mixer = mixer if isinstance(mixer, Mixer) else create_mixer(mixer)
        if getattr(self.mixer, "modality", None) != "graph":
            raise ValueError(f"mixer must be a graph mixer (graph:…), got {type(self.mixer).__name__}")
        self.num_classes = num_classes if num_classes is not None else self.mixer.num_classes
        self.generator = generator
        self.mask = mask

    def forward(self, data: Any) -> Any:
        if isinstance(self.mixer, NodeFeatureMixup):
            return self._mix_nodes(data)
        if not isinstance(data, Batch):
            raise TypeError(
                f"{type(self.mixer).__name__} mixes a batch of graphs: apply MixupTransform to a torch_geometric Batch "
                f"(each batch of a DataLoader), not to the graphs of a data set; got {type(data).__name__}"
            )
        out = self.mixer(data, generator=self.generator, num_classes=self.num_classes)
        mixed: Any = out.inputs  # a torch_geometric Batch
        if out.targets is not None:
            mixed.y = out.targets.dense(self.num_classes if out.targets.is_index else None)
        return mixed

    def _mix_nodes(self, data: Any) -> Any:
        if not isinstance(data, Data) or isinstance(data, Batch):
            raise TypeError(
                f"a node mixer mixes the nodes of one graph: apply MixupTransform to a Data, got {type(data).__name__}"
            )
        mask = getattr(data, self.mask, None)
        out = self.mixer(data.x, data.y, mask=mask, generator=self.generator, num_classes=self.num_classes)
        data.x = out.inputs
        if out.targets is not None:
            soft = out.targets.dense(self.num_classes if out.targets.is_index else None)
            y = data.y
            if y.is_floating_point():
                full = y.to(soft.dtype).clone()
            else:
                labels = y.reshape(-1).long()
                full = F.one_hot(labels.clamp(min=0), soft.shape[-1]).to(soft.dtype)
                full[labels < 0] = 0
            rows = torch.ones(full.shape[0], dtype=torch.bool) if mask is None else mask.to(torch.bool).cpu()
            full[rows.to(full.device)] = soft.to(full.device)
            data.y = full
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mixer!r})"
