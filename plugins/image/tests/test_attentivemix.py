"""AttentiveMix: conformance, the partner's top-k attended cells are pasted, exact λ, fixed and λ-derived k."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_core import create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import AttentiveMix, AttentivePlan
from mixup_image.attentivemix import cells_to_pixels


class Extractor(nn.Module):
    """A parameter-free feature extractor for any channel count: (B, C, H, W) → (B, 2, 4, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = x.float()
        return F.adaptive_avg_pool2d(torch.cat([x.pow(2).mean(1, keepdim=True), x.mean(1, keepdim=True)], dim=1), 4)


EXTRACTOR = Extractor()


# the kit calls (and samples) with the mixer's example_call_kwargs: features= of the batch
class TestAttentiveMixSample(MixerConformanceTests):
    mixer_name = "attentivemix"
    mixer_params = {"mode": "sample", "top_k": None, "alpha": 0.5}
    sample_shape = (3, 15, 9)


def _spot_features(n: int, grid: int = 4, seed: int = 0) -> torch.Tensor:
    """(n, 3, grid, grid) features with distinct attention values (channel mean) per cell."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, grid, grid, generator=g)


def test_partner_top_k_cells_are_pasted_at_the_same_cells() -> None:
    n, size = 6, (16, 16)
    x = torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(1))
    feats = _spot_features(n)
    out = AttentiveMix(top_k=5)(
        x, torch.arange(n), features=feats, num_classes=n, generator=torch.Generator().manual_seed(2)
    )
    plan = out.plan
    assert isinstance(plan, AttentivePlan)
    attention = feats.mean(dim=1).reshape(n, 16)
    for i in range(n):
        j = int(plan.index[i])
        assert j != i
        top = set(attention[j].topk(5).indices.tolist())  # the partner's 5 most attended cells
        assert set(plan.cells[i].reshape(16).nonzero().flatten().tolist()) == top
        for cell in range(16):
            r, c = divmod(cell, 4)
            block = (slice(None), slice(4 * r, 4 * r + 4), slice(4 * c, 4 * c + 4))
            source = x[j] if cell in top else x[i]
            assert torch.equal(out.inputs[i][block], source[block])
    # λ = 1 − 5/16 exactly, the anchor's pixel share, and the label weight
    torch.testing.assert_close(plan.lam, torch.full((n,), 11 / 16), rtol=0, atol=1e-7)
    torch.testing.assert_close(out.targets.lam, plan.lam)  # type: ignore[union-attr]


def test_paper_default_is_six_cells_of_a_seven_by_seven_grid() -> None:
    trunk = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(7))
    out = AttentiveMix(model=trunk)(
        torch.rand(4, 3, 28, 28), torch.arange(4), num_classes=4, generator=torch.Generator().manual_seed(0)
    )
    assert out.plan.cells.shape == (4, 7, 7)  # type: ignore[attr-defined]
    assert (out.plan.cells.sum(dim=(1, 2)) == 6).all()  # type: ignore[attr-defined]
    torch.testing.assert_close(out.plan.lam, torch.full((4,), 1 - 6 / 49))


def test_lambda_derived_top_k_follows_lambda() -> None:
    n = 64
    x = torch.rand(n, 3, 16, 16)
    out = AttentiveMix(top_k=None, mode="sample")(
        x, features=_spot_features(n), generator=torch.Generator().manual_seed(3)
    )
    g = torch.Generator().manual_seed(3)
    _, lam = AttentiveMix(top_k=None, mode="sample").draw(n, generator=g)
    k = torch.round((1 - lam.double()) * 16)
    assert torch.equal(out.plan.cells.sum(dim=(1, 2)).double(), k)  # type: ignore[attr-defined]
    torch.testing.assert_close(out.plan.lam, (1 - k / 16).float(), rtol=0, atol=1e-7)
    assert (out.plan.lam - lam).abs().max() <= 0.5 / 16 + 1e-6
    # a fixed λ gives the matching number of cells
    fixed = AttentiveMix(top_k=None, lam=0.75)(
        x[:4], features=_spot_features(4), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(fixed.plan.lam, torch.full((4,), 0.75))


def test_lambda_is_exact_pixel_share_on_uneven_grids() -> None:
    # 4×4 cells on a 13×10 image cover unequal pixel counts
    n = 8
    x = torch.zeros(n, 1, 13, 10)
    x[:] = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    out = AttentiveMix(top_k=7, mode="sample")(
        x, features=_spot_features(n), generator=torch.Generator().manual_seed(5)
    )
    kept = (out.inputs == x).float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(out.plan.lam, kept, rtol=0, atol=1e-6)
    assert len(set(out.plan.lam.tolist())) > 1
    # the plan's anchor mask is the provenance of each pixel
    mixer = AttentiveMix()
    torch.testing.assert_close(mixer.anchor_mask(out.plan, (13, 10)), (out.inputs == x).float())


def test_cells_to_pixels_is_nearest_upsampling() -> None:
    cells = torch.rand(3, 5, 7) > 0.5
    ref = F.interpolate(cells[:, None].float(), size=(20, 21), mode="nearest").bool()
    assert torch.equal(cells_to_pixels(cells, (20, 21)), ref)


def test_model_and_features_give_the_same_plan() -> None:
    x, y = torch.rand(6, 3, 16, 16), torch.arange(6)
    a = AttentiveMix(model=EXTRACTOR).sample(x, y, generator=torch.Generator().manual_seed(9))
    b = AttentiveMix().sample(x, y, features=EXTRACTOR(x), generator=torch.Generator().manual_seed(9))
    c = AttentiveMix()(x, y, model=EXTRACTOR, num_classes=6, generator=torch.Generator().manual_seed(9)).plan
    assert a.to_dict() == b.to_dict() == c.to_dict()


def test_missing_model_is_a_type_error_naming_the_arguments() -> None:
    x, y = torch.rand(4, 3, 16, 16), torch.arange(4)
    with pytest.raises(TypeError, match=r"features=.*model="):
        AttentiveMix()(x, y, num_classes=4)
    with pytest.raises(TypeError, match="features"):
        AttentiveMix().sample(x, y)
    with pytest.raises(TypeError, match="model must be"):
        AttentiveMix()(x, y, model="resnet", num_classes=4)
    with pytest.raises(ValueError, match=r"batch size 4.*\(3, 2, 4, 4\)"):
        AttentiveMix()(x, y, features=torch.rand(3, 2, 4, 4), num_classes=4)
    with pytest.raises(ValueError, match=r"features must be a floating tensor.*\(4, 16\)"):
        AttentiveMix()(x, y, features=torch.rand(4, 16), num_classes=4)
    with pytest.raises(ValueError, match="top_k=20 exceeds the 4×4=16 cells"):
        AttentiveMix(top_k=20)(
            x, y, features=torch.rand(4, 2, 4, 4), num_classes=4, generator=torch.Generator().manual_seed(0)
        )


def test_model_runs_only_when_something_is_mixed() -> None:
    extractor = Extractor()
    mixer = AttentiveMix(model=extractor)
    x, y = torch.rand(4, 3, 16, 16), torch.arange(4)
    mixer(x, y, num_classes=4, generator=torch.Generator().manual_seed(0))
    assert extractor.calls == 1
    AttentiveMix(model=extractor, p=0.0)(x, y, num_classes=4, generator=torch.Generator().manual_seed(0))
    AttentiveMix(model=extractor, lam=1.0)(x, y, num_classes=4, generator=torch.Generator().manual_seed(0))
    mixer(x[:1], y[:1], num_classes=4)
    assert extractor.calls == 1


def test_protection_replan_reuses_the_features() -> None:
    extractor = Extractor()
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8)
    protected = torch.zeros(8, dtype=torch.bool)
    protected[:3] = True
    out = AttentiveMix(model=extractor, protect_floor=0.9)(
        x, y, protected=protected, num_classes=8, generator=torch.Generator().manual_seed(1)
    )
    share = out.plan.lam
    # 1 − 6/16 < 0.9: protected samples are neither anchors nor partners of a mix
    assert (share[protected] == 1).all()
    assert not protected[out.plan.index[share < 1]].any()
    assert extractor.calls == 1


def test_model_is_a_runtime_reference_not_configuration() -> None:
    mixer = AttentiveMix(model=EXTRACTOR, top_k=4, num_classes=3)
    config = mixer.to_config()
    assert config == {"name": "image:attentivemix", "top_k": 4, "num_classes": 3}
    rebuilt = create_mixer(config, model=EXTRACTOR)
    assert rebuilt == mixer
    assert rebuilt.model is EXTRACTOR  # type: ignore[attr-defined]
    assert "model" not in repr(mixer)
    # a call-time model overrides the constructor's without changing the mixer
    other = Extractor()
    mixer(
        torch.rand(4, 3, 16, 16), torch.arange(3).repeat(2)[:4], model=other, generator=torch.Generator().manual_seed(0)
    )
    assert other.calls == 1
    assert mixer.model is EXTRACTOR
