"""Tensor-level text mixers: conformance kit, the padding rule and union mask by hand, bad input."""

from __future__ import annotations

import pytest
import torch

from mixup_core import MixPlan, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_text import EmbedMix, SentenceMixup, SSMix, TextPlan, TMix, WordMixup, union_attention_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------- conformance kit (B, L, D) tensors
class TestWordMixupPlainSampleKit(MixerConformanceTests):
    mixer_name = "text:embedding"
    mixer_params = {"padding": "embedding", "mode": "sample", "alpha": 0.4}


class TestTMixKit(MixerConformanceTests):
    mixer_name = "text:tmix"
    mixer_params = {"layer": [1, 2], "mask_policy": "anchor", "mode": "sample"}


class TestSentencePooledKit(MixerConformanceTests):
    mixer_name = "text:sentence"
    sample_shape = (16,)
    feature_dim = 1


class TestSSMixKit(MixerConformanceTests):
    mixer_name = "text:ssmix"
    mixer_params = {"ss_winsize": 0.5}
    sample_shape = (10, 8)


def test_registered_with_modality_and_paper() -> None:
    for name, cls in [
        ("embedding", WordMixup),
        ("embed-output", EmbedMix),
        ("tmix", TMix),
        ("sentence", SentenceMixup),
        ("ssmix", SSMix),
    ]:
        mixer = create_mixer(f"text:{name}")
        assert type(mixer) is cls
        assert cls.modality == "text"
        assert "arxiv.org/abs/" in cls.paper
        assert cls.example_shape == (6, 8)
        assert cls.feature_dim == 2
        assert "Examples:" in (cls.__doc__ or "")


def test_paper_defaults() -> None:
    tmix, embed = TMix(), EmbedMix()
    assert tmix.lam_max
    assert tmix.alpha == 16.0
    assert tmix.mask_policy == "union"
    assert embed.lam_max
    assert embed.alpha == 0.2
    g = torch.Generator().manual_seed(0)
    lam = torch.stack([tmix.draw(4, generator=g)[1] for _ in range(50)])
    assert bool((lam >= 0.5).all()), "lam_max keeps the anchor dominant"


# ---------------------------------------------------------------------- wordMixup padding rule, by hand
def _two_rows() -> tuple[torch.Tensor, torch.Tensor, TextPlan]:
    # row 0: 2 real tokens; row 1: 1 real token; L = 3, D = 2
    x = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], [[4.0, 40.0], [5.0, 50.0], [6.0, 60.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    plan = TextPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.75, 0.75]), attention_mask=mask.bool())
    return x, mask, plan


def test_zero_padding_rule_by_hand() -> None:
    x, mask, plan = _two_rows()
    out = WordMixup(padding="zeros").apply(x, plan)
    expected = torch.tensor(
        [
            # anchor 0 (tokens a0 a1 pad) with partner 1 (tokens b0 pad pad)
            [[0.75 * 1 + 0.25 * 4, 0.75 * 10 + 0.25 * 40], [0.75 * 2, 0.75 * 20], [3.0, 30.0]],
            # anchor 1 with partner 0: position 1 is padding in the anchor, a real token in the partner
            [[0.75 * 4 + 0.25 * 1, 0.75 * 40 + 0.25 * 10], [0.25 * 2, 0.25 * 20], [6.0, 60.0]],
        ]
    )
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(union_attention_mask(mask, plan), torch.tensor([[1, 1, 0], [1, 1, 0]]))
    assert WordMixup().mixed_attention_mask(plan).tolist() == [[1, 1, 0], [1, 1, 0]]


def test_embedding_padding_rule_is_the_plain_mix() -> None:
    x, _, plan = _two_rows()
    out = WordMixup(padding="embedding").apply(x, plan)
    torch.testing.assert_close(out, 0.75 * x + 0.25 * x[[1, 0]])


def test_unmixed_samples_and_double_padding_are_untouched() -> None:
    x, mask, _ = _two_rows()
    plan = TextPlan(index=torch.tensor([1, 0]), lam=torch.tensor([1.0, 0.6]), attention_mask=mask.bool())
    out = WordMixup().apply(x, plan)
    torch.testing.assert_close(out[0], x[0], rtol=0, atol=0)  # λ = 1: nothing changes, padding included
    torch.testing.assert_close(out[1, 2], x[1, 2], rtol=0, atol=0)  # padding on both sides
    assert union_attention_mask(mask, plan).tolist() == [[1, 1, 0], [1, 1, 0]]
    assert union_attention_mask(mask.bool(), plan).dtype == torch.bool


def test_mask_goes_into_the_plan_and_replays() -> None:
    x, mask, _ = _two_rows()
    mixer = WordMixup(lam=0.75)
    out = mixer(x, torch.tensor([0, 1]), attention_mask=mask, generator=torch.Generator().manual_seed(0), num_classes=2)
    assert isinstance(out.plan, TextPlan)
    assert out.plan.attention_mask.tolist() == mask.bool().tolist()
    torch.testing.assert_close(mixer.apply(x, out.plan), out.inputs, rtol=0, atol=0)
    torch.testing.assert_close(out.inputs[0, 1], 0.75 * x[0, 1])  # zero padding of the partner
    again = mixer.sample(x, attention_mask=mask, generator=torch.Generator().manual_seed(0))
    assert again.to_dict() == out.plan.to_dict()


def test_mixer_is_not_modified_by_a_call() -> None:
    x, mask, _ = _two_rows()
    mixer = WordMixup()
    mixer(x, attention_mask=mask, generator=torch.Generator().manual_seed(0))
    assert "_call_values" not in mixer.__dict__
    plan = mixer.sample(x, generator=torch.Generator().manual_seed(0))
    assert plan.attention_mask is None


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["embedding", "embed-output", "tmix", "sentence", "ssmix"])
def test_token_ids_are_refused(name: str) -> None:
    mixer = create_mixer(f"text:{name}")
    extra = {"saliency": torch.rand(4, 8)} if name == "ssmix" else {}
    with pytest.raises(TypeError, match=r"token ids are never mixed.*get_input_embeddings"):
        mixer(torch.randint(0, 100, (4, 8, 1)), **extra)
    with pytest.raises(TypeError, match="token ids"):
        mixer(torch.randint(0, 100, (4, 8)), **extra)


@pytest.mark.parametrize("name", ["embedding", "embed-output", "tmix", "sentence", "ssmix"])
def test_mask_of_the_wrong_shape(name: str) -> None:
    mixer = create_mixer(f"text:{name}")
    x = torch.randn(4, 8, 6)
    extra = {"saliency": torch.rand(4, 8)} if name == "ssmix" else {}
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(B, L\) = \(4, 8\).*\(4, 7\)"):
        mixer(x, attention_mask=torch.ones(4, 7), **extra)
    with pytest.raises(ValueError, match="only 0 and 1"):
        mixer(x, attention_mask=torch.full((4, 8), 2), **extra)


def test_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"\(B, L, D\).*\(4, 8\)"):
        TMix()(torch.randn(4, 8))
    with pytest.raises(ValueError, match=r"\(B, D\) or \(B, L, D\)"):
        SentenceMixup()(torch.randn(4, 2, 3, 5))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="layer"):
        TMix(layer=[])
    with pytest.raises(ValueError, match="layer"):
        TMix(layer="middle")
    with pytest.raises(ValueError, match="mask_policy"):
        TMix(mask_policy="or")
    with pytest.raises(ValueError, match="padding"):
        WordMixup(padding="mean")
    with pytest.raises(ValueError, match="ss_winsize"):
        SSMix(ss_winsize=0.0)


def test_tmix_layer_draws() -> None:
    mixer = TMix(layer=[7, 9, 12])
    drawn = {mixer.draw_layer(12, torch.Generator().manual_seed(s)) for s in range(40)}
    assert drawn == {7, 9, 12}
    assert {TMix().draw_layer(3, torch.Generator().manual_seed(s)) for s in range(40)} == {1, 2, 3}
    assert TMix(layer=-1).draw_layer(4) == 4
    assert TMix(layer=0).draw_layer(4) == 0
    with pytest.raises(ValueError, match=r"layer 5 is out of range for a model with 2 encoder layers"):
        TMix(layer=5).draw_layer(2)
    with pytest.raises(ValueError, match="out of range"):
        TMix(layer=[1, -3]).draw_layer(2)


def test_union_mask_without_sync_keeps_device_and_dtype() -> None:
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]], dtype=torch.int32)
    plan = MixPlan(index=torch.tensor([2, 0, 1]), lam=torch.tensor([0.5, 0.5, 0.5]))
    out = union_attention_mask(mask, plan)
    assert out.dtype == torch.int32
    assert out.tolist() == [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0]]
