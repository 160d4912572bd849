"""TMix: the single-stream hook equals the two-stream reference of MixText, for each mask policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from mixup_core import create_mixer
from mixup_text import TMix

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = torch.tensor([0, 1, 2, 1])


def _layer_hook_target(model: torch.nn.Module, arch: str, k: int) -> tuple[torch.nn.Module, int]:
    """(module, call) whose output is the hidden state after layer k, written out per architecture."""
    if k == 0:
        return model.base_model.embeddings, 0
    if arch == "albert":
        return model.albert.encoder.albert_layer_groups[0], k - 1  # one shared group, called once per layer
    if arch == "distilbert":
        return model.distilbert.transformer.layer[k - 1], 0
    return model.base_model.encoder.layer[k - 1], 0


def _first(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else value[0]


def _with_value(value: Any, tensor: torch.Tensor) -> Any:
    return tensor if isinstance(value, torch.Tensor) else type(value)([tensor, *value[1:]])


def _run_with_hook(
    model: torch.nn.Module, module: torch.nn.Module, call: int, fn: Callable[[Any], Any], **inputs: Any
) -> Any:
    count = 0

    def hook(mod: torch.nn.Module, args: Any, output: Any) -> Any:
        nonlocal count
        count += 1
        return fn(output) if count - 1 == call else None

    handle = module.register_forward_hook(hook)
    try:
        return model(**inputs)
    finally:
        handle.remove()


def two_stream(
    model: torch.nn.Module, arch: str, ids: torch.Tensor, pre_a: torch.Tensor, pre_b: torch.Tensor,
    post: torch.Tensor, k: int, index: torch.Tensor, lam: torch.Tensor,
) -> torch.Tensor:
    """MixText's computation: sentence i (mask pre_a[i]) and its partner (mask pre_b[i]) each run alone,
    one sentence per forward pass, up to layer k; their states are mixed; the mix continues with mask post[i]."""
    module, call = _layer_hook_target(model, arch, k)
    rows = []
    for i in range(ids.shape[0]):
        states = []
        for row, mask in ((i, pre_a[i]), (int(index[i]), pre_b[i])):
            seen: list[torch.Tensor] = []
            _run_with_hook(
                model,
                module,
                call,
                lambda out, seen=seen: seen.append(_first(out)),
                input_ids=ids[row : row + 1],
                attention_mask=mask[None],
            )
            states.append(seen[0])
        w = lam[i].to(states[0].dtype)
        rows.append(w * states[0] + (1 - w) * states[1])
    mixed = torch.cat(rows)
    out = _run_with_hook(
        model, module, call, lambda value: _with_value(value, mixed), input_ids=ids, attention_mask=post
    )
    return out.logits


CASES = [
    ("bert", 1),
    ("bert", 2),
    ("bert", 0),
    ("distilbert", 1),
    ("albert", 1),
    ("albert", 2),
    ("deberta-v2", 2),
    ("roberta", 1),
]


@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize(("arch", "k"), CASES)
def test_anchor_policy_equals_the_two_stream_reference(
    arch: str, k: int, mode: str, make_tiny_model, make_tiny_batch
) -> None:
    model = make_tiny_model(arch, dtype=torch.float64)
    ids, mask = make_tiny_batch(model)
    mixer = TMix(layer=k, mask_policy="anchor", mode=mode, alpha=1.0)
    res = mixer.forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(11))
    plan = res.plan
    assert not plan.is_identity
    # the reference code: each stream with its own mask, then the anchor's mask after the mix
    expected = two_stream(model, arch, ids, mask, mask[plan.index], mask, k, plan.index, plan.lam)
    torch.testing.assert_close(res.logits, expected, atol=1e-10, rtol=1e-9)
    assert torch.equal(res.attention_mask, mask)


@pytest.mark.parametrize(("arch", "k"), CASES)
def test_union_policy_equals_the_two_stream_reference(arch: str, k: int, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch, dtype=torch.float64)
    ids, mask = make_tiny_batch(model)
    res = TMix(layer=k, alpha=1.0).forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(12))
    plan = res.plan
    union = (mask.bool() | mask.bool()[plan.index]).long()
    # one stream: each row runs with its own union mask from the start, so the partner's state is
    # the one computed with the partner's union mask (its own pair's)
    expected = two_stream(model, arch, ids, union, union[plan.index], union, k, plan.index, plan.lam)
    torch.testing.assert_close(res.logits, expected, atol=1e-10, rtol=1e-9)
    assert torch.equal(res.attention_mask, union)
    # with padding of different lengths the union policy really differs from the anchor policy
    anchor = TMix(layer=k, alpha=1.0, mask_policy="anchor").forward(
        model, ids, mask, LABELS, generator=torch.Generator().manual_seed(12)
    )
    assert anchor.plan.to_dict() == plan.to_dict()
    assert not torch.allclose(anchor.logits, res.logits, atol=1e-8)


def test_union_policy_with_mutual_pairs_is_the_pair_union_in_both_streams(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert", dtype=torch.float64)
    ids, mask = make_tiny_batch(model)
    res = TMix(layer=1, alpha=1.0, pairing="flip").forward(
        model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0)
    )
    plan = res.plan
    assert torch.equal(plan.index[plan.index], torch.arange(4))
    pair_union = (mask.bool() | mask.bool()[plan.index]).long()
    # both streams of pair i run with the same mask m_i ∨ m_j
    expected = two_stream(model, "bert", ids, pair_union, pair_union, pair_union, 1, plan.index, plan.lam)
    torch.testing.assert_close(res.logits, expected, atol=1e-10, rtol=1e-9)


def test_layer_names_and_random_layer(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("albert", num_hidden_layers=3)
    ids, mask = make_tiny_batch(model)
    seen = set()
    for seed in range(12):
        res = create_mixer("text:tmix").forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(seed))
        seen.add(res.layer)
    assert seen == {
        "albert.encoder.albert_layer_groups.0#0",
        "albert.encoder.albert_layer_groups.0#1",
        "albert.encoder.albert_layer_groups.0#2",
    }
    res = TMix(layer=-1).forward(model, ids, mask, LABELS)
    assert res.layer == "albert.encoder.albert_layer_groups.0#2"
    res = TMix(layer=0).forward(model, ids, mask, LABELS)
    assert res.layer == "albert.embeddings"


def test_the_hooks_are_removed(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("albert")
    ids, mask = make_tiny_batch(model)
    TMix(layer=2).forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0))
    group = model.albert.encoder.albert_layer_groups[0]
    assert not group._forward_hooks
    assert not model.albert.embeddings._forward_hooks
    with pytest.raises(ValueError, match="out of range"):
        TMix(layer=3).forward(model, ids, mask, LABELS)
    assert not group._forward_hooks


@pytest.mark.parametrize(
    "spec", [{"name": "text:tmix", "layer": 1}, {"name": "text:embed-output"}, {"name": "text:sentence"}]
)
def test_gradient_checkpointing_gives_the_same_gradients(spec: dict, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(
        "bert", dtype=torch.float64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    ).train()
    ids, mask = make_tiny_batch(model)
    grads = []
    for checkpointing in (False, True):
        if checkpointing:
            model.activation_checkpointing_enable()
        model.zero_grad()
        create_mixer(spec).forward(
            model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0)
        ).loss().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    model.activation_checkpointing_disable()
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)
