"""Model-level text mixing on tiny Hugging Face encoders: gradients, shapes, masks, λ = 1, token labels, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mixup_core import create_mixer
from mixup_text import TextMixedForward, TokenTargets, union_attention_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MIXERS = {
    "embedding": {"name": "text:embedding"},
    "embed-output": {"name": "text:embed-output"},
    "tmix": {"name": "text:tmix", "layer": 1},
    "tmix-anchor": {"name": "text:tmix", "layer": 2, "mask_policy": "anchor"},
    "sentence": {"name": "text:sentence"},
    "ssmix": {"name": "text:ssmix", "ss_winsize": 0.3},
}
UNION = {"embedding", "embed-output", "tmix"}
ARCHS = ["bert", "roberta", "distilbert"]
LABELS = torch.tensor([0, 1, 2, 1])


def _grad_norms(model: torch.nn.Module) -> dict[str, float]:
    return {n: float(p.grad.abs().sum()) if p.grad is not None else 0.0 for n, p in model.named_parameters()}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", sorted(MIXERS))
def test_gradients_shapes_and_masks(arch: str, key: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch)
    ids, mask = make_tiny_batch(model)
    mixer = create_mixer(MIXERS[key])
    res = mixer.forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(3))
    assert isinstance(res, TextMixedForward)
    assert res.logits.shape == (4, 3)
    plan = res.plan
    assert not plan.is_identity
    # masks: the union for the mixers that mix positions before the encoder's attention, else the own mask
    expected = (mask.bool() | mask.bool()[plan.index]).long() if key in UNION else mask
    assert torch.equal(res.attention_mask, expected), key
    assert res.attention_mask.dtype == mask.dtype
    # targets: num_classes comes from model.config.num_labels; weights are the plan's
    dense = res.targets.dense()  # type: ignore[union-attr]
    onehot = F.one_hot(LABELS, 3).float()
    lam = plan.lam[:, None]
    torch.testing.assert_close(dense, lam * onehot + (1 - lam) * onehot[plan.index])
    # the mix changed the output
    clean = model(input_ids=ids, attention_mask=mask).logits
    assert float((res.logits - clean).detach().abs().max()) > 1e-6
    # gradients reach the word embeddings (or the first layer), the encoder and the head
    model.zero_grad()
    res.loss().backward()
    grads = _grad_norms(model)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    word = next(n for n, p in model.named_parameters() if p is model.get_input_embeddings().weight)
    first_layer = [v for n, v in grads.items() if ".0." in n and ("layer.0." in n)]
    head = [v for n, v in grads.items() if n.startswith("classifier")]
    assert grads[word] > 0, "no gradient reached the word embeddings"
    assert first_layer, "no first-layer parameters found"
    assert max(first_layer) > 0, "no gradient reached the first encoder layer"
    assert head, "no classifier parameters found"
    assert min(head) > 0, "no gradient reached the classifier"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("key", sorted(MIXERS))
def test_lambda_one_is_the_identity(arch: str, key: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch)
    ids, mask = make_tiny_batch(model)
    spec = dict(MIXERS[key])
    spec.update({"enabled": False} if key == "ssmix" else {"lam": 1.0})
    res = create_mixer(spec).forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0))
    assert res.plan.is_identity
    assert torch.equal(res.attention_mask, mask)
    with torch.no_grad():
        clean = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(res.logits, clean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(res.targets.dense(), F.one_hot(LABELS, 3).float())  # type: ignore[union-attr]


@pytest.mark.parametrize("arch", ["albert", "electra", "deberta-v2"])
def test_other_architectures(arch: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch)
    ids, mask = make_tiny_batch(model)
    with torch.no_grad():
        clean = model(input_ids=ids, attention_mask=mask).logits
    for key, spec in MIXERS.items():
        res = create_mixer(spec).forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(1))
        model.zero_grad()
        res.loss().backward()
        assert torch.isfinite(res.logits).all(), key
        assert model.get_input_embeddings().weight.grad.abs().sum() > 0, key
        off = create_mixer({**spec, "enabled": False}).forward(model, ids, mask, LABELS)
        torch.testing.assert_close(off.logits, clean, atol=1e-5, rtol=1e-5, msg=key)


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_sentence_mixes_only_the_head_input(arch: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch)
    ids, mask = make_tiny_batch(model)
    mixer = create_mixer({"name": "text:sentence", "mode": "sample"})
    res = mixer.forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(2))
    head = model.classifier if arch == "bert" else model.classifier.out_proj
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    handle.remove()
    s, plan = seen[0], res.plan
    lam = plan.lam[:, None]
    torch.testing.assert_close(res.logits, head(lam * s + (1 - lam) * s[plan.index]), atol=1e-6, rtol=1e-5)
    assert res.layer == ("classifier" if arch == "bert" else "classifier.out_proj")


def test_embed_output_mixes_the_embeddings_module_output(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model)
    res = create_mixer("text:embed-output").forward(
        model, ids, mask, LABELS, generator=torch.Generator().manual_seed(4)
    )
    plan = res.plan
    with torch.no_grad():
        e = model.bert.embeddings(input_ids=ids)
        lam = plan.lam[:, None, None]
        mixed = lam * e + (1 - lam) * e[plan.index]
        handle = model.bert.embeddings.register_forward_hook(lambda m, a, o: mixed)
        expected = model(input_ids=ids, attention_mask=union_attention_mask(mask, plan)).logits
        handle.remove()
    torch.testing.assert_close(res.logits, expected, atol=1e-6, rtol=1e-5)
    assert bool((plan.lam >= 0.5).all())  # lam_max, as the reference code


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_word_mixup_feeds_zero_padded_mixed_embeddings(arch: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch)
    ids, mask = make_tiny_batch(model)
    res = create_mixer("text:embedding").forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(5))
    plan = res.plan
    with torch.no_grad():
        e = model.get_input_embeddings()(ids)
        m = mask.bool()[..., None]
        lam = plan.lam[:, None, None]
        # the zero-padding rule written out: each side contributes only where it has a real token
        mixed = lam * e * m + (1 - lam) * e[plan.index] * m[plan.index]
        mixed = torch.where(m | m[plan.index], mixed, e)
        union = (mask.bool() | mask.bool()[plan.index]).long()
        expected = model(inputs_embeds=mixed, attention_mask=union).logits
    torch.testing.assert_close(res.logits, expected, atol=1e-6, rtol=1e-5)
    assert res.layer == "inputs_embeds"


def test_same_seed_same_result(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model)
    for spec in MIXERS.values():
        mixer = create_mixer({**spec, "layer": "random"} if spec["name"] == "text:tmix" else spec)
        a = mixer.forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(9))
        b = mixer.forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(9))
        assert a.layer == b.layer
        assert a.plan.to_dict() == b.plan.to_dict()
        torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)


def test_runs_under_no_grad(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("distilbert")
    ids, mask = make_tiny_batch(model)
    with torch.no_grad():
        for spec in MIXERS.values():
            res = create_mixer(spec).forward(model, ids, mask, LABELS, generator=torch.Generator().manual_seed(0))
            assert torch.isfinite(res.loss())


# ---------------------------------------------------------------------- token classification
@pytest.mark.parametrize("arch", ["bert", "distilbert"])
@pytest.mark.parametrize("key", ["embedding", "embed-output", "tmix", "tmix-anchor"])
def test_token_classification(arch: str, key: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model(arch, task="token", num_labels=4)
    ids, mask = make_tiny_batch(model)
    labels = torch.randint(0, 4, ids.shape, generator=torch.Generator().manual_seed(0))
    labels = labels.masked_fill(mask == 0, -100)
    labels[:, 0] = -100  # [CLS]
    res = create_mixer(MIXERS[key]).forward(model, ids, mask, labels, generator=torch.Generator().manual_seed(1))
    assert isinstance(res.targets, TokenTargets)
    assert res.logits.shape == (4, 8, 4)
    assert res.targets.probs.shape == (4, 8, 4)
    plan = res.plan
    valid = labels != -100
    assert torch.equal(res.targets.valid, valid | valid[plan.index])
    both = valid & valid[plan.index]
    lam = plan.lam[:, None, None]
    onehot = F.one_hot(labels.clamp(min=0), 4).float()
    mixed = lam * onehot + (1 - lam) * onehot[plan.index]
    torch.testing.assert_close(res.targets.probs[both], mixed[both])
    model.zero_grad()
    loss = res.loss()
    loss.backward()
    assert torch.isfinite(loss)
    assert model.classifier.weight.grad.abs().sum() > 0


def test_token_labels_of_the_wrong_length(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert", task="token", num_labels=4)
    ids, mask = make_tiny_batch(model)
    with pytest.raises(
        ValueError,
        match=r"labels for token classification must have the shape of input_ids \(4, 8\), got labels.shape=\(4, 7\)",
    ):
        create_mixer("text:embedding").forward(model, ids, mask, torch.zeros(4, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="label 9"):
        create_mixer("text:tmix").forward(model, ids, mask, torch.full((4, 8), 9))
    for name in ("text:sentence", "text:ssmix"):
        with pytest.raises(ValueError, match="no per-token targets"):
            create_mixer(name).forward(model, ids, mask, torch.zeros(4, 8, dtype=torch.long))


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("key", sorted(MIXERS))
def test_bad_input(key: str, make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model)
    mixer = create_mixer(MIXERS[key])
    with pytest.raises(TypeError, match=r"input_ids must be integer token ids.*mixer\(embeddings"):
        mixer.forward(model, model.get_input_embeddings()(ids), mask, LABELS)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(B, L\) = \(4, 8\).*\(4, 6\)"):
        mixer.forward(model, ids, mask[:, :6], LABELS)
    with pytest.raises(ValueError, match=r"labels must have the batch size 4.*\(3,\)"):
        mixer.forward(model, ids, mask, LABELS[:3])
    with pytest.raises(ValueError, match="label 3"):
        mixer.forward(model, ids, mask, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        mixer.forward("bert-base-uncased", ids, mask, LABELS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="generator"):
        mixer.forward(model, ids, mask, LABELS, generator=0)  # type: ignore[arg-type]


def test_out_of_range_layer(make_tiny_model, make_tiny_batch) -> None:
    model = make_tiny_model("bert")
    ids, mask = make_tiny_batch(model)
    for layer in (3, -3, [1, 7]):
        with pytest.raises(ValueError, match="out of range for a model with 2 encoder layers"):
            create_mixer({"name": "text:tmix", "layer": layer}).forward(model, ids, mask, LABELS)
