"""GridMix: conformance, the mask is a grid of holes inside the cut region, exact anchor share."""

from __future__ import annotations

import math

import pytest
import torch

from mixup_core import ConfigError, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import GridMix
from mixup_image.gridmix import GridPlan


class TestGridMixSample(MixerConformanceTests):
    mixer_name = "gridmix"
    mixer_params = {"mode": "sample", "alpha": 0.5}
    sample_shape = (3, 15, 9)


class TestGridMixSampleWide(MixerConformanceTests):
    mixer_name = "gridmix"
    mixer_params = {"mode": "sample", "n_holes": [3, 4], "hole_aspect_ratio": [0.5, 2.0], "cut_aspect_ratio": 1.0}
    sample_shape = (2, 12, 31)


def _reference_holes(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The holes built one rectangle at a time, as OpenMixup's ``rand_grid`` does (with H and W the right way round)."""
    h, w = size
    masks = torch.zeros(grid.shape[0], h, w, dtype=torch.bool)
    for b, (y0, x0, cut_h, cut_w, ph, pw, hh, hw) in enumerate(grid.tolist()):
        for i in range(math.ceil(cut_w / pw) + 1):
            for j in range(math.ceil(cut_h / ph) + 1):
                x1, y1 = min(pw * i, cut_w), min(ph * j, cut_h)
                x2, y2 = min(x1 + hw, cut_w), min(y1 + hh, cut_h)
                masks[b, y0 + y1 : y0 + y2, x0 + x1 : x0 + x2] = True
    return masks


def test_mask_is_a_grid_of_holes_inside_the_cut_region() -> None:
    mixer = GridMix(mode="sample", num_classes=3)
    size = (37, 29)
    x = torch.rand(48, 3, *size)
    out = mixer(x, torch.randint(0, 3, (48,)), generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, GridPlan)
    holes = mixer.anchor_mask(plan, size) == 0
    assert torch.equal(holes[:, 0], _reference_holes(plan.grid, size))
    y0, x0, cut_h, cut_w, ph, pw, hh, hw = plan.grid.unbind(1)
    rows, cols = torch.arange(size[0]), torch.arange(size[1])
    in_cut = ((rows[None, :] >= y0[:, None]) & (rows[None, :] < (y0 + cut_h)[:, None]))[:, :, None] & (
        (cols[None, :] >= x0[:, None]) & (cols[None, :] < (x0 + cut_w)[:, None])
    )[:, None, :]
    assert not (holes[:, 0] & ~in_cut).any(), "a hole lies outside the cut region"
    assert ((y0 >= 0) & (y0 + cut_h <= size[0]) & (x0 >= 0) & (x0 + cut_w <= size[1])).all()
    # each hole leaves a gap in its patch, so the partner never covers the whole region
    assert ((hw < pw) & (hh < ph) & (hw >= 1) & (hh >= 1)).all()
    # pixels: holes from the partner, the rest from the anchor; λ is the exact anchor share
    partner = holes.expand_as(x)
    assert torch.equal(out.inputs[partner], x[plan.index][partner])
    assert torch.equal(out.inputs[~partner], x[~partner])
    torch.testing.assert_close(plan.lam, 1.0 - holes.float().mean(dim=(1, 2, 3)), rtol=0, atol=1e-7)


def test_parameters_stay_in_their_ranges() -> None:
    mixer = GridMix(mode="sample", n_holes=(2, 6), cut_area_ratio=(0.5, 1.0), cut_aspect_ratio=(0.5, 2.0))
    h = w = 96
    plan = mixer.sample(torch.rand(200, 1, h, w), generator=torch.Generator().manual_seed(1))
    _, _, cut_h, cut_w, ph, pw, _, _ = plan.grid.unbind(1)  # type: ignore[attr-defined]
    area = (cut_h * cut_w).double() / (h * w)
    assert (area <= 1.0).all()
    assert (area > 0.5 - 0.05).all()
    unclipped = (cut_h < h) & (cut_w < w)
    aspect = cut_h.double() / cut_w.double()
    assert ((aspect[unclipped] > 0.5 - 0.05) & (aspect[unclipped] < 2.0 + 0.05)).all()
    holes_across = (cut_w + pw - 1) // pw
    assert ((holes_across >= 2) & (holes_across <= 6)).all()
    assert len(set(holes_across.tolist())) == 5
    assert torch.equal(ph, pw)  # hole_aspect_ratio 1: square patches


def test_lambda_sets_the_hole_side_ratio() -> None:
    plan = GridMix(lam=0.75, mode="sample").sample(
        torch.rand(20, 1, 64, 64), generator=torch.Generator().manual_seed(2)
    )
    _, _, _, _, ph, pw, hh, hw = plan.grid.unbind(1)  # type: ignore[attr-defined]
    # side ratio √(1 − λ) = 0.5 of the patch (floored, at least 1 and at most patch − 1)
    assert torch.equal(hw, (pw // 2).clamp(1).minimum(pw - 1))
    assert torch.equal(hh, (ph // 2).clamp(1).minimum(ph - 1))


def test_batch_mode_shares_one_grid() -> None:
    plan = create_mixer("image:gridmix").sample(torch.rand(6, 3, 32, 32), generator=torch.Generator().manual_seed(3))
    assert (plan.grid == plan.grid[0]).all()  # type: ignore[attr-defined]
    assert plan.scalar_lam is not None


def test_bad_ranges_are_rejected() -> None:
    with pytest.raises(ConfigError, match="n_holes"):
        create_mixer("image:gridmix", n_holes=(0, 3))
    with pytest.raises(ConfigError, match="n_holes"):
        create_mixer("image:gridmix", n_holes=(6, 2))
    with pytest.raises(ConfigError, match="cut_area_ratio"):
        create_mixer("image:gridmix", cut_area_ratio=(0.5, 1.5))
    with pytest.raises(ConfigError, match="cut_aspect_ratio"):
        create_mixer("image:gridmix", cut_aspect_ratio=(0.0, 2.0))
    assert GridMix(hole_aspect_ratio=1.5).hole_aspect_ratio == (1.5, 1.5)
