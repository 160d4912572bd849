"""Token-classification targets with -100 ignore positions: the mixing rule and the loss, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from mixup_core import MixPlan
from mixup_text import TokenTargets, check_token_labels, mix_token_labels, token_soft_cross_entropy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IGN = -100


def test_rule_by_hand() -> None:
    labels = torch.tensor(
        [
            [0, 1, IGN, IGN],
            [2, IGN, 1, IGN],
        ]
    )
    plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.75, 0.75]))
    t = mix_token_labels(labels, plan, num_classes=3)
    assert t.probs.shape == (2, 4, 3)
    expected = torch.tensor(
        [
            # both | anchor only | partner only | none
            [[0.75, 0.0, 0.25], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
            [[0.25, 0.0, 0.75], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
        ]
    )
    torch.testing.assert_close(t.probs, expected)
    assert t.valid.tolist() == [[True, True, True, False], [True, True, True, False]]
    sums = t.probs.sum(dim=-1)
    torch.testing.assert_close(sums, t.valid.float())  # distributions where valid, zero rows elsewhere


def test_per_sample_lambda_and_unmixed_samples_keep_their_labels() -> None:
    labels = torch.tensor([[0, IGN], [1, 1], [2, 0]])
    plan = MixPlan(index=torch.tensor([1, 1, 0]), lam=torch.tensor([0.6, 0.3, 1.0]))
    t = mix_token_labels(labels, plan, num_classes=3)
    # row 0 mixed with row 1 at λ = 0.6; its ignored position takes the partner's label in full
    torch.testing.assert_close(t.probs[0], torch.tensor([[0.6, 0.4, 0.0], [0.0, 1.0, 0.0]]))
    # row 1 is paired with itself, row 2 has λ = 1: their own one-hot labels, their own ignore positions
    torch.testing.assert_close(t.probs[1], torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
    torch.testing.assert_close(t.probs[2], torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    row = torch.tensor([[5, IGN]])
    alone = mix_token_labels(row, MixPlan(index=torch.tensor([0]), lam=torch.tensor([0.5])), num_classes=6)
    assert alone.valid.tolist() == [[True, False]]
    torch.testing.assert_close(alone.probs[0, 0], torch.nn.functional.one_hot(torch.tensor(5), 6).float())


def test_loss_by_hand() -> None:
    probs = torch.tensor([[[0.75, 0.25], [0.0, 0.0], [0.0, 1.0]]])
    valid = torch.tensor([[True, False, True]])
    logits = torch.tensor([[[1.0, 0.0], [9.0, -9.0], [0.0, 2.0]]])
    t = TokenTargets(probs=probs, valid=valid)
    lse0 = math.log(math.exp(1.0) + 1.0)
    lse2 = math.log(1.0 + math.exp(2.0))
    ce0 = 0.75 * (lse0 - 1.0) + 0.25 * lse0
    ce2 = lse2 - 2.0
    per = token_soft_cross_entropy(logits, t, reduction="none")
    torch.testing.assert_close(per, torch.tensor([[ce0, 0.0, ce2]]))
    torch.testing.assert_close(token_soft_cross_entropy(logits, t), torch.tensor((ce0 + ce2) / 2))
    torch.testing.assert_close(token_soft_cross_entropy(logits, t, reduction="sum"), torch.tensor(ce0 + ce2))
    nothing = TokenTargets(probs=torch.zeros(1, 3, 2), valid=torch.zeros(1, 3, dtype=torch.bool))
    assert float(token_soft_cross_entropy(logits, nothing)) == 0.0


def test_loss_with_smoothing_and_gradients() -> None:
    labels = torch.tensor([[0, 1, IGN]])
    t = mix_token_labels(labels, MixPlan.identity(1), num_classes=2)
    logits = torch.zeros(1, 3, 2, requires_grad=True)
    loss = token_soft_cross_entropy(logits, t, label_smoothing=0.2)
    torch.testing.assert_close(loss, torch.tensor(math.log(2.0)))
    loss.backward()
    assert logits.grad is not None
    assert float(logits.grad[0, 2].abs().sum()) == 0.0  # ignored position: no gradient
    assert float(logits.grad[0, :2].abs().sum()) > 0


def test_bad_labels() -> None:
    with pytest.raises(ValueError, match=r"shape of input_ids \(2, 4\).*\(2, 3\)"):
        check_token_labels(torch.zeros(2, 3, dtype=torch.long), 2, 4)
    with pytest.raises(TypeError, match="integer class ids"):
        check_token_labels(torch.zeros(2, 4), 2, 4)
    with pytest.raises(ValueError, match="label 7"):
        check_token_labels(torch.tensor([[0, 7, IGN, IGN]]), 1, 4, num_classes=3)
    with pytest.raises(ValueError, match="label -3"):
        check_token_labels(torch.tensor([[0, -3, IGN, IGN]]), 1, 4, num_classes=3)
    with pytest.raises(ValueError, match="do not match"):
        token_soft_cross_entropy(
            torch.zeros(1, 3, 4), mix_token_labels(torch.tensor([[0, 1, 2]]), MixPlan.identity(1), num_classes=3)
        )
    with pytest.raises(TypeError, match="TokenTargets"):
        token_soft_cross_entropy(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3))  # type: ignore[arg-type]
