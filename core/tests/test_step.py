"""`mixup_core.mixed_step`: how the model is called on the batch's inputs."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from mixup_core import create_mixer, mixed_step


class KeywordModel(nn.Module):
    """Takes keyword tensors, like a Hugging Face model: logits[b] = (sum of ids · mask, count of mask, 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        masked = (input_ids * attention_mask).sum(dim=1).float()
        count = attention_mask.sum(dim=1).float()
        return torch.stack([masked, count, torch.zeros_like(count)], dim=1) * self.scale


class Recorder(nn.Module):
    """Records the positional argument it was called with and returns fixed logits."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self.num_classes = num_classes

    def forward(self, x: Any) -> torch.Tensor:
        self.seen.append(x)
        return torch.zeros(x.shape[0], self.num_classes)


def test_baseline_step_unpacks_a_mapping_as_keywords() -> None:
    inputs = {"input_ids": torch.tensor([[1, 2, 3], [4, 5, 0]]), "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]])}
    step = mixed_step(KeywordModel(), inputs, torch.tensor([0, 1]), mixer=None, num_classes=3)
    # row 0: 1+2+3 = 6 over 3 tokens; row 1: 4+5 = 9 over 2 tokens (the padded 0 is masked)
    assert torch.equal(step.logits, torch.tensor([[6.0, 3.0, 0.0], [9.0, 2.0, 0.0]]))
    assert step.targets is None
    assert step.plan is None


def test_baseline_mapping_loss_is_cross_entropy_and_backpropagates() -> None:
    model = KeywordModel()
    inputs = {"input_ids": torch.tensor([[1, 0], [0, 0]]), "attention_mask": torch.tensor([[1, 0], [1, 1]])}
    step = mixed_step(model, inputs, torch.tensor([0, 1]), mixer=None, num_classes=3)
    # logits [[1, 1, 0], [0, 2, 0]]; CE = mean(-log(e/(2e+1)), -log(e²/(e²+2)))
    e = torch.e
    expected = (-torch.log(torch.tensor(e / (2 * e + 1))) - torch.log(torch.tensor(e**2 / (e**2 + 2)))) / 2
    loss = step.loss()
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert model.scale.grad is not None
    assert torch.isfinite(model.scale.grad)


def test_tensor_inputs_are_still_passed_positionally() -> None:
    model = Recorder()
    x = torch.randn(4, 5)
    mixed_step(model, x, torch.tensor([0, 1, 2, 0]), mixer=None, num_classes=3)
    assert len(model.seen) == 1
    assert model.seen[0] is x
    step = mixed_step(
        model, x, torch.tensor([0, 1, 2, 0]), mixer=create_mixer("mixup"), generator=torch.Generator().manual_seed(0),
        num_classes=3,
    )
    assert isinstance(model.seen[1], torch.Tensor)
    assert model.seen[1].shape == (4, 5)
    assert step.targets is not None


def test_targets_must_be_a_tensor() -> None:
    with pytest.raises(TypeError, match="targets must be a tensor"):
        mixed_step(Recorder(), torch.randn(2, 3), [0, 1], mixer=None, num_classes=3)  # type: ignore[arg-type]


def test_mixed_inputs_that_are_a_mapping_are_passed_as_keywords() -> None:
    from mixup_core import MixedBatch, Mixup

    class DictMixup(Mixup):
        """Mixes the tensor ``x`` of a mapping (a mixer whose inputs are keyword tensors)."""

        def __call__(self, inputs: Any, targets: Any = None, **kwargs: Any) -> MixedBatch:  # type: ignore[override]
            out = super().__call__(inputs["x"], targets, **kwargs)
            return MixedBatch({"x": out.inputs}, out.targets, out.plan)

    class XModel(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mixer = DictMixup(alpha=1.0)
    step = mixed_step(
        XModel(), {"x": x}, torch.tensor([0, 1]), mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=2
    )
    plan = step.plan
    assert plan is not None
    lam = plan.lam.view(-1, 1)
    # the model saw λ·x + (1 − λ)·x[index]: its output is exactly that mix
    assert torch.allclose(step.logits, lam * x + (1 - lam) * x[plan.index])
