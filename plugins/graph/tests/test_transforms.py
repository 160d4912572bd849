"""MixupTransform: graph mixers as PyG transforms in T.Compose, with the mixed labels in ``y``;
ifMixup's check of models that ignore edge weights."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.transforms as T
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATConv, GCNConv, GINConv

from mixup_core import create_mixer
from mixup_graph import IfMixup, MixupTransform, NodeFeatureMixup, check_edge_weight_model


def _graphs(n: int = 6) -> list[Data]:
    g = torch.Generator().manual_seed(0)
    out = []
    for k in range(n):
        nodes = 3 + k % 3
        ring = torch.stack([torch.arange(nodes), (torch.arange(nodes) + 1) % nodes])  # one direction only
        out.append(Data(x=torch.rand(nodes, 4, generator=g), edge_index=ring, y=torch.tensor([k % 2])))
    return out


def test_compose_with_pyg_transforms_equals_the_mixer_on_the_transformed_batch() -> None:
    batch = Batch.from_data_list(_graphs())
    before = batch.x.clone()
    transform = T.Compose(
        [T.ToUndirected(), MixupTransform(IfMixup(num_classes=2), generator=torch.Generator().manual_seed(4))]
    )
    mixed = transform(batch)
    # the peer's transform, then our mixer, by hand, with the same generator
    by_hand = IfMixup(num_classes=2)(T.ToUndirected()(batch), generator=torch.Generator().manual_seed(4))
    assert torch.equal(mixed.x, by_hand.inputs.x)
    assert torch.equal(mixed.edge_index, by_hand.inputs.edge_index)
    assert torch.equal(mixed.edge_weight, by_hand.inputs.edge_weight)
    assert torch.equal(mixed.y, by_hand.targets.dense())  # type: ignore[union-attr]
    assert mixed.y.shape == (6, 2)
    torch.testing.assert_close(mixed.y.sum(1), torch.ones(6))
    assert torch.equal(batch.x, before)  # the input batch is untouched
    assert "IfMixup" in repr(MixupTransform("graph:ifmixup"))


def test_a_single_graph_or_a_non_graph_mixer_is_refused() -> None:
    with pytest.raises(TypeError, match="apply MixupTransform to a torch_geometric Batch"):
        MixupTransform("graph:ifmixup", num_classes=2)(_graphs()[0])
    with pytest.raises(ValueError, match="graph mixer"):
        MixupTransform(create_mixer("core:mixup"))


def test_node_mixer_mixes_the_labelled_nodes_of_one_graph() -> None:
    x = torch.randn(8, 3)
    y = torch.tensor([0, 1, 0, 1, 2, -1, 2, 0])
    train = torch.tensor([True, True, True, True, False, False, True, True])
    data = Data(x=x, y=y, edge_index=torch.tensor([[0, 1], [1, 0]]), train_mask=train)
    transform = MixupTransform(NodeFeatureMixup(num_classes=3), generator=torch.Generator().manual_seed(1))
    mixed = transform(data)
    direct = NodeFeatureMixup(num_classes=3)(x, y, mask=train, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mixed.x, direct.inputs)
    assert mixed.y.shape == (8, 3)
    assert torch.equal(mixed.y[train], direct.targets.dense())  # type: ignore[union-attr]
    assert torch.equal(mixed.y[4], torch.tensor([0.0, 0.0, 1.0]))  # unlabelled: its one-hot label
    assert torch.equal(mixed.y[5], torch.zeros(3))  # label -1: zeros
    assert torch.equal(data.y, y)  # the input is untouched
    assert torch.equal(data.x, x)


class _Net(nn.Module):
    def __init__(self, *convs: nn.Module) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)


def test_models_that_ignore_edge_weight_are_refused_or_warned() -> None:
    gin = GINConv(nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"no message-passing layer of _Net reads edge_weight: convs.0 \(GINConv\)"):
        check_edge_weight_model(_Net(gin))
    with pytest.raises(ValueError, match="GATConv"):
        check_edge_weight_model(_Net(GATConv(4, 4)))
    with pytest.warns(UserWarning, match=r"convs.1 \(GINConv\)"):
        check_edge_weight_model(_Net(GCNConv(4, 4), GINConv(nn.Linear(4, 4))))
    check_edge_weight_model(_Net(GCNConv(4, 4)))  # reads edge_weight
    check_edge_weight_model(nn.Linear(3, 3))  # nothing to check


def test_a_gin_sees_the_union_graph_which_is_why_it_is_refused() -> None:
    """The behaviour the check guards against: GINConv cannot be given the mixed weights (it sees the union
    graph); GCNConv's output changes with them."""
    batch = Batch.from_data_list(_graphs(4))
    out = IfMixup(num_classes=2, lam=0.7)(T.ToUndirected()(batch), generator=torch.Generator().manual_seed(0)).inputs
    assert (out.edge_weight < 1).any()
    torch.manual_seed(0)
    gin, gcn = GINConv(nn.Linear(4, 4)), GCNConv(4, 4)
    with pytest.raises(TypeError):
        gin(out.x, out.edge_index, edge_weight=out.edge_weight)
    assert not torch.allclose(gcn(out.x, out.edge_index, out.edge_weight), gcn(out.x, out.edge_index))
