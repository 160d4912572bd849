"""Mosaic: conformance, the 2×2 canvas semantics, resized quadrants, centre range and area weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mixup_core import ConfigError, create_mixer, describe_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import Mosaic, TilePlan


class TestMosaicBatch(MixerConformanceTests):
    mixer_name = "image:mosaic"
    batch_sizes = (1, 2, 3, 5, 8)


class TestMosaicSample(MixerConformanceTests):
    mixer_name = "mosaic"
    mixer_params = {"mode": "sample", "center_range": [0.1, 0.9]}
    sample_shape = (3, 15, 9)
    batch_sizes = (1, 2, 3, 5, 8)


class TestMosaicResize(MixerConformanceTests):
    mixer_name = "image:mosaic"
    mixer_params = {"fill": "resize", "mode": "sample"}
    sample_shape = (3, 14, 11)
    batch_sizes = (1, 2, 3, 5, 8)


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_crop_fill_is_a_window_of_the_2x2_canvas(mode: str) -> None:
    n, h, w = 7, 12, 10
    x = torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = Mosaic(mode=mode, center_range=(0.1, 0.9))(x, generator=torch.Generator().manual_seed(1))
    plan = out.plan
    assert isinstance(plan, TilePlan)
    assert not plan.resize
    for i in range(n):
        a, p1, p2, p3 = (x[j] for j in [i, *plan.index[i].tolist()])
        canvas = torch.cat([torch.cat([a, p1], dim=2), torch.cat([p2, p3], dim=2)], dim=1)  # (3, 2H, 2W)
        cy, cx = (int(v) for v in plan.boundary[i])
        window = canvas[:, h - cy : 2 * h - cy, w - cx : 2 * w - cx]
        assert torch.equal(out.inputs[i], window), f"sample {i}"
        areas = torch.tensor([cy * cx, cy * (w - cx), (h - cy) * cx, (h - cy) * (w - cx)]) / (h * w)
        torch.testing.assert_close(plan.lam[i], areas.float(), atol=1e-7, rtol=0)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_resize_fill_scales_each_image_to_its_quadrant(dtype: torch.dtype, tol: float) -> None:
    n, h, w = 6, 16, 13
    x = torch.randn(n, 2, h, w, generator=torch.Generator().manual_seed(0)).to(dtype)
    out = Mosaic(fill="resize", mode="sample", center_range=(0.2, 0.8))(x, generator=torch.Generator().manual_seed(3))
    plan = out.plan
    assert isinstance(plan, TilePlan)
    assert plan.resize
    for i in range(n):
        cy, cx = (int(v) for v in plan.boundary[i])
        src = [i, *plan.index[i].tolist()]
        rects = [(0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w)]
        for t, (y0, y1, x0, x1) in enumerate(rects):
            if y1 == y0 or x1 == x0:
                continue
            ref = F.interpolate(x[src[t]][None], size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False)[0]
            torch.testing.assert_close(
                out.inputs[i, :, y0:y1, x0:x1], ref, atol=tol, rtol=0, msg=f"sample {i}, tile {t}"
            )


def test_resize_fill_keeps_channels_last_and_gradients() -> None:
    x = (
        torch.randn(5, 3, 12, 12, dtype=torch.float64)
        .contiguous(memory_format=torch.channels_last)
        .requires_grad_(True)
    )
    out = Mosaic(fill="resize")(x, generator=torch.Generator().manual_seed(0))
    assert out.inputs.is_contiguous(memory_format=torch.channels_last)
    out.inputs.sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    # every output pixel is a convex combination of one source's pixels: gradients sum to the pixel count
    assert x.grad.sum().item() == pytest.approx(out.inputs.numel())


def test_centre_stays_in_range() -> None:
    x = torch.rand(64, 1, 40, 50)
    plan = Mosaic(mode="sample", center_range=(0.3, 0.6)).sample(x, generator=torch.Generator().manual_seed(0))
    cy, cx = plan.boundary[:, 0], plan.boundary[:, 1]  # type: ignore[attr-defined]
    assert cy.min() >= 12
    assert cy.max() <= 24
    assert cx.min() >= 15
    assert cx.max() <= 30
    assert len(set(cy.tolist())) > 5  # drawn per sample
    fixed = Mosaic(center_range=(0.5, 0.5)).sample(x, generator=torch.Generator().manual_seed(0))
    assert (fixed.boundary == torch.tensor([20, 25])).all()  # type: ignore[attr-defined]
    torch.testing.assert_close(fixed.lam, torch.full((64, 4), 0.25))


def test_batch_of_four_uses_every_sample_in_every_quadrant() -> None:
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 8, 8).contiguous()
    out = Mosaic(center_range=(0.5, 0.5))(x, generator=torch.Generator().manual_seed(0))
    for i in range(4):
        assert set(out.inputs[i].unique().tolist()) == {0.0, 1.0, 2.0, 3.0}
        assert out.inputs[i, 0, 0, 0].item() == i  # the anchor's quadrant is the top-left one
    for q, (y, x_) in enumerate([(0, 0), (0, 7), (7, 0), (7, 7)]):
        assert sorted(out.inputs[:, 0, y, x_].tolist()) == [0.0, 1.0, 2.0, 3.0], f"quadrant {q}"


def test_invalid_parameters() -> None:
    with pytest.raises(ConfigError, match="center_range"):
        create_mixer("image:mosaic", center_range=(0.8, 0.2))
    with pytest.raises(ConfigError, match="center_range"):
        create_mixer("image:mosaic", center_range=(-0.1, 0.5))
    with pytest.raises(ConfigError, match="fill"):
        create_mixer("image:mosaic", fill="stretch")
    mixer = Mosaic()
    with pytest.raises(ValueError, match="center_range"):
        mixer.center_range = (0.9, 0.1)


def test_registry_entry() -> None:
    info = describe_mixer("image:mosaic")
    assert info["cost"] == "none"
    assert "2004.10934" in info["paper"]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("image:ricap", {"beta": 1.0}),
        ("image:mosaic", {}),
        ("image:mosaic", {"fill": "resize"}),
    ],
)
def test_shared_split_fast_path_equals_the_per_pixel_kernel(name: str, params: dict[str, object]) -> None:
    """Batch mode assembles four slices; the result is the per-pixel gather's, unmixed rows included."""
    from mixup_image._tiles import _apply_per_pixel

    mixer = create_mixer({"name": name, **params})
    x = torch.randn(9, 3, 14, 19, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last)
    protected = torch.zeros(9, dtype=torch.bool)
    protected[[2, 5]] = True
    for seed in range(4):
        out = mixer(x, generator=torch.Generator().manual_seed(seed), protected=protected)
        plan = out.plan
        assert isinstance(plan, TilePlan)
        assert (plan.boundary[~protected] == plan.boundary[0]).all()
        reference = _apply_per_pixel(x, plan)
        torch.testing.assert_close(out.inputs, reference, atol=1e-12, rtol=0)
        assert torch.equal(out.inputs[protected], x[protected])
        assert out.inputs.is_contiguous(memory_format=torch.channels_last)
