"""TransMix: conformance (area labels until relabelled), attention masses on a hand-made attention
tensor, composition with cutting mixers, and the forward-hook recipe on a tiny timm ViT."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from mixup_core import (
    ConfigError,
    MixedBatch,
    MixedTargets,
    Mixer,
    MixPlan,
    create_mixer,
    get_registry,
    mixer_dataclass,
)
from mixup_core.testing import MixerConformanceTests, identity_inputs, source_shares
from mixup_image import AttentiveMix, BoxPlan, TransMix


class TestTransMixCutMix(MixerConformanceTests):
    mixer_name = "image:transmix"
    mixer_params = {"base": {"name": "image:cutmix"}}


class TestTransMixCutMixSample(MixerConformanceTests):
    mixer_name = "transmix"
    mixer_params = {"base": {"name": "image:cutmix", "mode": "sample", "alpha": 0.5}, "ratio": 0.5}
    sample_shape = (3, 15, 9)


class TestTransMixSwitch(MixerConformanceTests):
    mixer_name = "transmix"
    mixer_params = {
        "base": {"name": "core:choice", "mixers": ["image:cutmix", {"name": "core:mixup", "mode": "sample"}]}
    }


def _out(boxes: list[list[int]], size: tuple[int, int], lam_area: list[float]) -> MixedBatch:
    """A batch mixed by hand with one box per sample (partner = the next sample)."""
    n = len(boxes)
    plan = BoxPlan(index=torch.arange(n).roll(-1), lam=torch.tensor(lam_area), boxes=torch.tensor(boxes), size=size)
    targets = MixedTargets.from_plan(torch.arange(n), plan, num_classes=n)
    return MixedBatch(inputs=torch.zeros(n, 3, *size), targets=targets, plan=plan)


def test_relabel_gives_the_attention_mass_on_anchor_patches() -> None:
    # 8×8 images, 2×2 patches of 4×4; sample 0's box covers patch 0, sample 1's covers patches 1 and 3
    out = _out([[0, 4, 0, 4], [0, 8, 4, 8]], (8, 8), [0.75, 0.5])
    attention = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    relabelled = TransMix(ratio=0.0).relabel(out, attention)
    expected = torch.tensor([0.3 + 0.2 + 0.1, 0.1 + 0.3])  # anchor patches: {1, 2, 3} and {0, 2}
    torch.testing.assert_close(relabelled.weights, torch.stack([expected, 1 - expected], dim=1))
    # sample 1 is y=1, its partner y=0
    torch.testing.assert_close(relabelled.dense()[:, :2], torch.tensor([[0.6, 0.4], [0.6, 0.4]]))
    # heads are averaged, and masses need not be normalised
    heads = torch.stack([attention * 2, attention * 4], dim=1)  # (B, heads, N)
    torch.testing.assert_close(TransMix(ratio=0.0).relabel(out, heads).weights[:, 0], expected)
    # ratio blends in the area λ; the default 0.5 is the authors' code and OpenMixup
    # (``lam = ratio·lam_area + (1 − ratio)·lam_attention``)
    assert TransMix().ratio == 0.5
    torch.testing.assert_close(
        TransMix().relabel(out, attention).weights[:, 0], 0.5 * torch.tensor([0.75, 0.5]) + 0.5 * expected
    )
    torch.testing.assert_close(TransMix(ratio=1.0).relabel(out, attention).weights[:, 0], torch.tensor([0.75, 0.5]))
    # the targets of the call itself are untouched (area labels)
    torch.testing.assert_close(out.targets.lam, torch.tensor([0.75, 0.5]))  # type: ignore[union-attr]


def test_mask_resize_nearest_and_area() -> None:
    # a box over rows 0..1 of an 8×8 image: on a 2×2 grid the top patches are a quarter partner
    plan = BoxPlan(
        index=torch.tensor([1, 0]), lam=torch.tensor([0.75, 0.75]), boxes=torch.tensor([[0, 2, 0, 8]] * 2), size=(8, 8)
    )
    attention = torch.full((2, 4), 0.25)
    # nearest samples each patch's top-left pixel (row 0 is the partner's): 2 of 4 patches are the anchor's
    torch.testing.assert_close(TransMix().attention_lam(plan, attention, (8, 8)), torch.tensor([0.5, 0.5]))
    # area averages over each patch: (0.5 + 0.5 + 1 + 1) / 4
    torch.testing.assert_close(
        TransMix(mask_resize="area").attention_lam(plan, attention, (8, 8)), torch.tensor([0.75, 0.75])
    )


def _check_composition(base: dict[str, Any], size: tuple[int, int] = (16, 16), grid: int = 4) -> None:
    """Relabelled weights equal the attention on each patch times its anchor share, read from the
    mixed identity inputs (channel j of a mixed image is source j's weight at each pixel)."""
    n = 6
    mixer = TransMix(base=base, mask_resize="area", ratio=0.0)
    x = identity_inputs(n, (3, *size))
    y = torch.arange(n)
    attention = torch.rand(n, 3, grid * grid, generator=torch.Generator().manual_seed(0)).softmax(dim=-1)
    mixed_any = False
    for seed in range(4):
        out = mixer(x, y, num_classes=n, generator=torch.Generator().manual_seed(seed))
        # before relabelling: the base's area labels
        torch.testing.assert_close(out.targets.dense(), source_shares(out.inputs), atol=1e-5, rtol=0)  # type: ignore[union-attr]
        anchor = out.inputs[torch.arange(n), torch.arange(n)]  # (B, H, W): the anchor's weight per pixel
        per_patch = torch.nn.functional.adaptive_avg_pool2d(anchor[:, None], grid).reshape(n, -1)
        attn = attention.mean(dim=1)
        expected = (attn * per_patch).sum(dim=1) / attn.sum(dim=1)
        relabelled = mixer.relabel(out, attention, grid=None if size[0] == size[1] else (grid, grid))
        torch.testing.assert_close(relabelled.lam, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(relabelled.weights.sum(dim=1), torch.ones(n))
        mixed_any |= bool((out.plan.lam < 1).any())
    assert mixed_any


def test_composes_with_cutmix() -> None:
    _check_composition({"name": "image:cutmix"})
    _check_composition({"name": "image:cutmix", "mode": "sample"}, size=(12, 20), grid=2)


def test_composes_with_fmix() -> None:
    if not any(info.name == "image:fmix" for info in get_registry().list("image:fmix")):
        pytest.skip("image:fmix is not registered")
    _check_composition({"name": "image:fmix", "mode": "sample"})


def test_composes_with_the_cutmix_mixup_switch() -> None:
    _check_composition({"name": "core:choice", "mixers": ["image:cutmix", "core:mixup"]})
    # with mixup every patch carries λ: the label stays λ whatever the attention
    mixer = TransMix(base="core:mixup")
    out = mixer(torch.rand(4, 3, 8, 8), torch.arange(4), num_classes=4, generator=torch.Generator().manual_seed(0))
    relabelled = mixer.relabel(out, torch.rand(4, 16))
    torch.testing.assert_close(relabelled.lam, out.plan.lam)


def test_composes_with_a_guided_base() -> None:
    def trunk(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x.float(), 4)

    _check_composition({"name": "image:attentivemix", "model": trunk, "top_k": None})
    mixer = TransMix(base=AttentiveMix(model=trunk))
    assert "model" not in str(mixer.to_config())


def test_unmixed_rows_and_zero_attention() -> None:
    mixer = TransMix()
    out = mixer(torch.rand(1, 3, 8, 8), torch.tensor([0]), num_classes=2)
    torch.testing.assert_close(mixer.relabel(out, torch.rand(1, 4)).weights, torch.tensor([[1.0, 0.0]]))
    out = _out([[0, 4, 0, 4], [0, 8, 4, 8]], (8, 8), [0.75, 0.5])
    relabelled = mixer.relabel(out, torch.zeros(2, 4))  # no attention at all: the area λ
    torch.testing.assert_close(relabelled.lam, torch.tensor([0.75, 0.5]))


def test_errors_name_the_argument() -> None:
    mixer = TransMix()
    out = mixer(torch.rand(4, 3, 16, 16), torch.arange(4), num_classes=4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="out must be the MixedBatch"):
        mixer.relabel(out.targets, torch.rand(4, 16))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no targets"):
        mixer.relabel(mixer(torch.rand(4, 3, 16, 16)), torch.rand(4, 16))
    with pytest.raises(ValueError, match=r"attention must be a floating.*\(4, 2, 3, 16\)"):
        mixer.relabel(out, torch.rand(4, 2, 3, 16))
    with pytest.raises(ValueError, match=r"batch size 4.*\(3, 16\)"):
        mixer.relabel(out, torch.rand(3, 16))
    with pytest.raises(ValueError, match=r"N=17.*grid=.*num_prefix_tokens"):
        mixer.relabel(out, torch.rand(4, 17))  # the class token left in
    with pytest.raises(ValueError, match=r"grid=\(2, 4\) has 8 patches"):
        mixer.relabel(out, torch.rand(4, 16), grid=(2, 4))
    attention = torch.rand(4, 16)
    torch.testing.assert_close(mixer.relabel(out, attention, grid=(4, 4)).lam, mixer.relabel(out, attention).lam)
    with pytest.raises(ValueError, match="ratio"):
        TransMix(ratio=1.5)

    @mixer_dataclass
    class Opaque(Mixer):
        name: ClassVar[str] = "opaque"

        def _sample(self, inputs, targets, *, generator, protected, groups):  # type: ignore[no-untyped-def]
            return MixPlan.identity(inputs.shape[0])

    with pytest.raises(ValueError, match="each pixel's source"):
        TransMix(base=Opaque())
    with pytest.raises(ConfigError, match="each pixel's source"):
        create_mixer({"name": "image:transmix", "base": Opaque()})


def test_config_roundtrip_keeps_the_base() -> None:
    mixer = TransMix(base={"name": "image:cutmix", "mode": "sample", "alpha": 0.4}, ratio=0.5, num_classes=10)
    config = mixer.to_config()
    assert config["base"] == {"name": "image:cutmix", "alpha": 0.4, "mode": "sample"}
    assert create_mixer(config) == mixer


def test_timm_vit_forward_hook_recipe_end_to_end() -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    vit = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=8,
        num_classes=10,
        depth=2,
        embed_dim=48,
        num_heads=3,
    ).eval()
    # the recipe of the TransMix docstring
    store: dict[str, torch.Tensor] = {}
    attn = vit.blocks[-1].attn
    attn.fused_attn = False
    handle = attn.attn_drop.register_forward_hook(lambda mod, args, output: store.update(attn=args[0]))
    mixer = TransMix(base={"name": "image:cutmix", "mode": "sample"}, num_classes=10, ratio=0.0)
    x, y = torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(1))
    out = mixer(x, y, generator=torch.Generator().manual_seed(2))
    logits = vit(out.inputs)
    handle.remove()
    full = store["attn"]
    assert full.shape == (6, 3, 17, 17)  # (B, heads, 1 + 16, 1 + 16): a 4×4 patch grid and the class token
    torch.testing.assert_close(full.sum(dim=-1), torch.ones(6, 3, 17))
    attention = full[:, :, 0, vit.num_prefix_tokens :]
    targets = mixer.relabel(out, attention)
    # by hand: the class token's mean attention on the anchor's patches (nearest mask sampling)
    a = attention.mean(dim=1)
    mask = torch.ones(6, 32, 32, dtype=torch.bool)
    for i, (y0, y1, x0, x1) in enumerate(out.plan.boxes.tolist()):
        mask[i, y0:y1, x0:x1] = False
    per_patch = mask[:, ::8, ::8].reshape(6, 16).float()
    torch.testing.assert_close(targets.lam, (a * per_patch).sum(1) / a.sum(1))
    assert not torch.allclose(targets.lam, out.targets.lam)  # type: ignore[union-attr]
    loss = torch.nn.functional.cross_entropy(logits, targets.dense())
    loss.backward()
    assert torch.isfinite(loss)
