"""SSMix: spans against a loop over the reference algorithm, the saliency pass, span replacement of ids, λ."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mixup_core import MixPlan, create_mixer
from mixup_text import SpanPlan, SSMix, replace_spans, saliency_spans

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = torch.tensor([0, 1, 2, 1])


def reference_spans(
    saliency: torch.Tensor, lengths: list[int], index: list[int], ratio: float
) -> list[tuple[int, int, int, float]]:
    """clovaai/ssmix ``SSMix.ssmix`` one sample at a time (avg_pool1d over the unpadded saliency,
    the first and last windows excluded, argmin for the anchor, argmax for the partner)."""
    out = []
    for i, j in enumerate(index):
        l1, l2 = lengths[i], lengths[j]
        size = max(int((l1 - 2) * ratio), 1)
        if l2 < size:  # the reference's "not enough tokens in the partner"
            out.append((0, 0, 0, 1.0))
            continue
        pool1 = F.avg_pool1d(saliency[i, :l1][None, None], size, stride=1)[0, 0].clone()
        pool2 = F.avg_pool1d(saliency[j, :l2][None, None], size, stride=1)[0, 0].clone()
        pool1[0], pool1[-1] = 100, 100
        pool2[0], pool2[-1] = -100, -100
        out.append((int(pool1.argmin()), int(pool2.argmax()), size, 1 - size / (l1 - 2)))
    return out


@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5])
def test_spans_match_the_reference_loop(ratio: float) -> None:
    g = torch.Generator().manual_seed(0)
    b, length = 9, 24
    saliency = torch.rand(b, length, generator=g, dtype=torch.float64)
    lengths = [24, 20, 12, 7, 24, 15, 9, 18, 11]
    index = torch.randperm(b, generator=g)
    index = torch.where(index == torch.arange(b), (index + 1) % b, index)
    start, source, width, lam = saliency_spans(saliency, torch.tensor(lengths), index, ratio)
    expected = reference_spans(saliency, lengths, index.tolist(), ratio)
    skipped = 0
    for i, (s, src, w, lam_i) in enumerate(expected):
        partner_content = lengths[int(index[i])] - 2
        if w and partner_content < w:
            # the reference would take a partner window that covers [CLS] or [SEP]; this one leaves the sample unmixed
            assert int(width[i]) == 0
            assert float(lam[i]) == 1.0
            skipped += 1
            continue
        if w == 0:
            assert int(width[i]) == 0
            assert float(lam[i]) == 1.0
            continue
        assert (int(start[i]), int(source[i]), int(width[i])) == (s, src, w), f"sample {i}"
        assert float(lam[i]) == pytest.approx(lam_i, abs=1e-6)
        # the window never touches [CLS] or [SEP]
        assert s >= 1
        assert s + w <= lengths[i] - 1
        assert src >= 1
        assert src + w <= lengths[int(index[i])] - 1
    assert lam.dtype == torch.float32
    assert start.device.type == "cpu"
    assert skipped <= 2
    assert int((width > 0).sum()) >= 6


def test_samples_without_room_are_not_mixed() -> None:
    saliency = torch.rand(3, 10, generator=torch.Generator().manual_seed(1))
    # row 1 has no content ([CLS] [SEP]); row 2 is its own partner; row 0's partner (row 1) has no room
    start, source, width, lam = saliency_spans(saliency, torch.tensor([10, 2, 6]), torch.tensor([1, 0, 2]), 0.3)
    assert width.tolist() == [0, 0, 0]
    assert lam.tolist() == [1.0, 1.0, 1.0]
    plan = SpanPlan(index=torch.tensor([1, 0, 2]), lam=lam, start=start, source_start=source, width=width, length=10)
    assert plan.is_identity


def test_replace_spans_by_hand() -> None:
    ids = torch.tensor([[101, 11, 12, 13, 14, 102], [101, 21, 22, 23, 102, 0]])
    plan = SpanPlan(
        index=torch.tensor([1, 0]), lam=torch.tensor([0.5, 2 / 3]), start=torch.tensor([2, 1]),
        source_start=torch.tensor([1, 3]), width=torch.tensor([2, 1]), length=6,
    )
    out = replace_spans(ids, plan)
    assert out.tolist() == [[101, 11, 21, 22, 14, 102], [101, 13, 22, 23, 102, 0]]
    emb = torch.randn(2, 6, 3)
    mixed = replace_spans(emb, plan)
    torch.testing.assert_close(mixed[0, 2:4], emb[1, 1:3])
    torch.testing.assert_close(mixed[0, [0, 1, 4, 5]], emb[0, [0, 1, 4, 5]])
    with pytest.raises(ValueError, match=r"\(B, L\) = \(2, 6\)"):
        replace_spans(ids[:, :5], plan)
    with pytest.raises(TypeError, match="SpanPlan"):
        replace_spans(ids, MixPlan.identity(2))


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_saliency_is_the_normalised_gradient_norm(arch: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch, dtype=torch.float64)
    ids, mask = make_tiny_batch(model)
    mixer = SSMix(saliency_at="input_embeddings")
    sal = mixer.saliency(model, ids, mask, LABELS)
    # the same gradient through the inputs_embeds path
    e = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    loss = F.cross_entropy(model(inputs_embeds=e, attention_mask=mask).logits, LABELS, reduction="sum")
    (grad,) = torch.autograd.grad(loss, e)
    norm = grad.norm(dim=-1)
    torch.testing.assert_close(sal, (norm / norm.amax(dim=1, keepdim=True)).float(), atol=1e-6, rtol=1e-5)
    assert sal.shape == (4, 8)
    assert sal.dtype == torch.float32
    torch.testing.assert_close(sal.amax(dim=1), torch.ones(4))
    assert float(sal[mask == 0].abs().max()) < 1e-6, "padding tokens are not attended, so they have no saliency"
    assert all(p.grad is None for p in model.parameters()), "the saliency pass must not touch .grad"
    out = SSMix().saliency(model, ids, mask, LABELS)  # at the embeddings module output (the reference code)
    assert out.shape == (4, 8)
    assert torch.isfinite(out).all()
    soft = SSMix().saliency(model, ids, mask, F.one_hot(LABELS, 3).double())
    torch.testing.assert_close(soft, out)
    assert torch.isfinite(SSMix().saliency(model, ids, mask, None)).all()


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_forward_replaces_token_spans(arch: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch)
    lengths = (8, 7, 6, 8)
    ids, mask = make_tiny_batch(model, lengths=lengths)
    mixer = SSMix(ss_winsize=0.5)
    calls: list[int] = []
    handle = model.register_forward_hook(lambda m, a, o: calls.append(1))
    res = mixer.forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0))
    handle.remove()
    assert len(calls) == 2, "one saliency pass and one training pass"
    plan = res.plan
    assert isinstance(plan, SpanPlan)
    assert not plan.is_identity
    sal = mixer.saliency(model, ids, mask, LABELS)
    start, source, _width, _lam = saliency_spans(sal, mask.sum(1), plan.index, 0.5)
    assert plan.start.tolist() == start.tolist()
    assert plan.source_start.tolist() == source.tolist()
    content = torch.tensor(lengths) - 2
    torch.testing.assert_close(plan.lam, 1 - (content * 0.5).floor() / content)
    mixed = ids.clone()
    for i in range(4):  # the expected ids, one row at a time
        s, src, w = int(plan.start[i]), int(plan.source_start[i]), int(plan.width[i])
        mixed[i, s : s + w] = ids[int(plan.index[i]), src : src + w]
    with torch.no_grad():
        expected = model(input_ids=mixed, attention_mask=mask).logits
    torch.testing.assert_close(res.logits, expected)
    assert torch.equal(res.attention_mask, mask)
    dense = res.targets.dense()  # type: ignore[union-attr]
    onehot = F.one_hot(LABELS, 3).float()
    torch.testing.assert_close(dense, plan.lam[:, None] * onehot + (1 - plan.lam[:, None]) * onehot[plan.index])


def test_no_saliency_pass_when_nothing_is_mixed(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model)
    for spec in ({"p": 0.0}, {"enabled": False}):
        calls: list[int] = []
        handle = model.register_forward_hook(lambda m, a, o, calls=calls: calls.append(1))
        res = create_mixer({"name": "text:ssmix", **spec}).forward(
            model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0)
        )
        handle.remove()
        assert len(calls) == 1
        assert res.plan.is_identity
    single = SSMix().forward(model, ids[:1], mask[:1], LABELS[:1])
    assert single.plan.is_identity


def test_protected_samples_are_never_mixed_nor_partners(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model, lengths=(8, 8, 8, 8))
    protected = torch.tensor([True, False, False, False])
    for seed in range(5):
        res = SSMix(ss_winsize=0.5).forward(
            model, ids, mask, LABELS, protected=protected, generator=torch.Generator().manual_seed(seed)
        )
        assert int(res.plan.index[0]) == 0
        assert float(res.plan.lam[0]) == 1.0
        assert 0 not in res.plan.index[1:].tolist()


def test_bad_input(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model)
    x = torch.randn(4, 8, 6)
    with pytest.raises(TypeError, match=r"SSMix needs token saliency.*forward\(model"):
        SSMix()(x, LABELS)
    with pytest.raises(ValueError, match=r"saliency must have shape \(B, L\) = \(4, 8\)"):
        SSMix()(x, LABELS, saliency=torch.rand(4, 7))
    with pytest.raises(TypeError, match="saliency must be a floating"):
        SSMix()(x, LABELS, saliency=torch.ones(4, 8, dtype=torch.long))
    left = mask.flip(1)
    with pytest.raises(ValueError, match="right-padded"):
        SSMix().forward(model, ids, left, LABELS, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="pairing"):
        SSMix(pairing="nearest")
