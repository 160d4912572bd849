"""Soft-label helpers: hard, soft and mixed graph lists through a PyG DataLoader; bad labels are named."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from mixup_graph import batch_targets, graph_soft_cross_entropy, soft_labels
from mixup_graph import targets as targets_module

C = 3


def graph(n: int, y: torch.Tensor | None) -> Data:
    ring = torch.arange(n)
    data = Data(x=torch.randn(n, 2), edge_index=torch.stack([ring, (ring + 1) % n]))
    if y is not None:
        data.y = y
    return data


def hard_graphs() -> list[Data]:
    return [
        graph(3, torch.tensor([0])),
        graph(4, torch.tensor([2])),
        graph(5, torch.tensor([1])),
        graph(2, torch.tensor([2])),
    ]


def soft_graphs() -> list[Data]:
    # as G-Mixup generates them: λ-mixed one-hot rows of two classes, shape (1, C)
    return [graph(6, torch.tensor([[0.3, 0.7, 0.0]])), graph(3, torch.tensor([[0.0, 0.25, 0.75]]))]


def test_public_module_lists_the_helpers() -> None:
    assert set(targets_module.__all__) >= {"batch_targets", "graph_soft_cross_entropy", "soft_labels"}
    assert targets_module.soft_labels is soft_labels


def test_soft_labels_makes_hard_and_soft_graphs_collatable() -> None:
    hard, soft = hard_graphs(), soft_graphs()
    hard[1].y = torch.tensor(2)  # a 0-d hard label is accepted too
    with pytest.raises(RuntimeError):  # the reason for soft_labels: (1,) and (1, C) labels do not concatenate
        Batch.from_data_list([hard[0], soft[0]])
    converted = soft_labels(hard + soft, C)
    assert all(g.y.dtype == torch.float32 and g.y.shape == (1, C) for g in converted)
    # copies: only y is new, the originals keep their labels and share the other tensors
    assert hard[1].y.dtype == torch.long
    assert hard[1].y.shape == ()
    assert converted[0].x is hard[0].x
    assert converted[0] is not hard[0]
    loader = DataLoader(converted, batch_size=6, shuffle=False)
    (batch,) = list(loader)
    expected = torch.cat(
        [F.one_hot(torch.tensor([0, 2, 1, 2]), C).float(), torch.tensor([[0.3, 0.7, 0.0], [0.0, 0.25, 0.75]])]
    )
    torch.testing.assert_close(batch.y, expected)
    torch.testing.assert_close(batch_targets(batch, C), expected)
    torch.testing.assert_close(batch_targets(batch, C).sum(dim=1), torch.ones(6))


def test_batch_targets_of_hard_and_soft_batches() -> None:
    (hard,) = list(DataLoader(hard_graphs(), batch_size=4))
    assert hard.y.shape == (4,)
    torch.testing.assert_close(batch_targets(hard, C), F.one_hot(torch.tensor([0, 2, 1, 2]), C).float())
    assert batch_targets(hard.y, C, dtype=torch.float64).dtype == torch.float64
    (soft,) = list(DataLoader(soft_graphs(), batch_size=2))
    torch.testing.assert_close(batch_targets(soft, C), soft.y)


def test_graph_soft_cross_entropy_matches_the_definitions() -> None:
    (hard,) = list(DataLoader(hard_graphs(), batch_size=4))
    logits = torch.randn(4, C, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(graph_soft_cross_entropy(logits, hard), F.cross_entropy(logits, hard.y))
    (mixed,) = list(DataLoader(soft_labels(hard_graphs() + soft_graphs(), C), batch_size=6))
    logits = torch.randn(6, C, generator=torch.Generator().manual_seed(1))
    manual = -(mixed.y * logits.log_softmax(dim=1)).sum(dim=1)
    torch.testing.assert_close(graph_soft_cross_entropy(logits, mixed, C, reduction="none"), manual)
    torch.testing.assert_close(graph_soft_cross_entropy(logits, mixed), manual.mean())
    logits.requires_grad_(True)
    graph_soft_cross_entropy(logits, mixed).backward()
    assert logits.grad is not None
    assert logits.grad.abs().sum() > 0


def test_soft_labels_names_the_bad_graph() -> None:
    with pytest.raises(ValueError, match=r"data_list\[1\] has no y"):
        soft_labels([graph(3, torch.tensor([0])), graph(3, None)], C)
    with pytest.raises(ValueError, match=r"data_list\[0\].y = 3 is outside \[0, 3\)"):
        soft_labels([graph(3, torch.tensor([3]))], C)
    with pytest.raises(ValueError, match=r"data_list\[0\].y = -1"):
        soft_labels([graph(3, torch.tensor([-1]))], C)
    with pytest.raises(ValueError, match=r"data_list\[0\].y must be a hard label.*shape \(2,\)"):
        soft_labels([graph(3, torch.tensor([0, 1]))], C)
    with pytest.raises(
        ValueError, match=r"data_list\[1\].y of float dtype must be a soft label of shape \(1, 3\), got shape \(3,\)"
    ):
        soft_labels([graph(3, torch.tensor([0])), graph(3, torch.tensor([0.2, 0.3, 0.5]))], C)
    with pytest.raises(ValueError, match=r"shape \(1, 3\), got shape \(1, 4\)"):
        soft_labels([graph(3, torch.full((1, 4), 0.25))], C)
    with pytest.raises(ValueError, match=r"data_list\[0\].y\[0\] must be finite and non-negative"):
        soft_labels([graph(3, torch.tensor([[1.5, -0.5, 0.0]]))], C)
    with pytest.raises(TypeError, match=r"data_list\[1\] must be a torch_geometric Data, got Tensor"):
        soft_labels([graph(3, torch.tensor([0])), torch.zeros(3)], C)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="to_data_list"):
        soft_labels(Batch.from_data_list(hard_graphs()), C)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        soft_labels(hard_graphs(), 0)


def test_batch_targets_and_loss_name_bad_labels() -> None:
    (hard,) = list(DataLoader(hard_graphs(), batch_size=4))
    with pytest.raises(ValueError, match=r"batch.y\[1\] = 2 \(graph 1\) is outside \[0, 2\)"):
        batch_targets(hard, 2)
    no_y = Batch.from_data_list([graph(3, None), graph(2, None)])
    with pytest.raises(ValueError, match=r"batch\.y is missing"):
        batch_targets(no_y, C)
    flat = Batch.from_data_list([graph(3, torch.tensor([0.2, 0.3, 0.5])), graph(2, torch.tensor([1.0, 0.0, 0.0]))])
    with pytest.raises(ValueError, match=r"soft labels of shape \(2, C\).*got shape \(6,\).*store them as \(1, C\)"):
        batch_targets(flat, C)
    with pytest.raises(ValueError, match=r"batch.y has 4 classes \(shape \(2, 4\)\), but num_classes=3"):
        batch_targets(Batch.from_data_list([graph(3, torch.full((1, 4), 0.25))] * 2), C)
    with pytest.raises(ValueError, match=r"y of integer dtype must be class indices of shape \(2,\).*\(2, 1\)"):
        batch_targets(torch.tensor([[0], [1]]), C)
    with pytest.raises(TypeError, match="long class indices or float soft labels"):
        batch_targets(torch.tensor([True, False]), C)
    with pytest.raises(TypeError, match="batch_or_y must be a torch_geometric Batch"):
        batch_targets([0, 1], C)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"logits have 3 classes \(shape \(4, 3\)\), but num_classes=2"):
        graph_soft_cross_entropy(torch.zeros(4, C), hard, 2)
    with pytest.raises(ValueError, match=r"logits have 3 rows \(shape \(3, 3\)\), but the batch has 4 graphs"):
        graph_soft_cross_entropy(torch.zeros(3, C), hard)
    with pytest.raises(ValueError, match=r"logits must be a \(B, C\) tensor"):
        graph_soft_cross_entropy(torch.zeros(4), hard)
