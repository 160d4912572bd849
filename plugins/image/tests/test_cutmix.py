"""CutMix: conformance, exact area-corrected λ, batch and per-sample boxes."""

from __future__ import annotations

import pytest
import torch

from mixup_core import create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import BoxPlan, CutMix


class TestCutMixSample(MixerConformanceTests):
    mixer_name = "cutmix"
    mixer_params = {"mode": "sample", "alpha": 0.5}
    sample_shape = (3, 15, 9)


class TestCutMixDrawnLam(MixerConformanceTests):
    """``correct_lam=False``: the labels keep the drawn λ, protection still holds for the real pixel shares."""

    mixer_name = "cutmix"
    mixer_params = {"correct_lam": False}
    label_follows_share = False


def test_lam_is_exact_pixel_share_after_clipping() -> None:
    mixer = CutMix(mode="sample", num_classes=4)
    x = torch.zeros(64, 1, 13, 17)
    x[:] = torch.arange(64, dtype=torch.float32).view(64, 1, 1, 1)
    out = mixer(x, torch.zeros(64, dtype=torch.long), generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, BoxPlan)
    kept = (out.inputs == x).float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(plan.lam, kept, atol=1e-6, rtol=0)
    # some boxes were clipped at the border, so the drawn λ was corrected
    assert (
        (plan.boxes[:, 0] == 0) | (plan.boxes[:, 1] == 13) | (plan.boxes[:, 2] == 0) | (plan.boxes[:, 3] == 17)
    ).any()


def test_correct_lam_off_keeps_drawn_lambda() -> None:
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x, y = torch.rand(8, 3, 10, 10), torch.arange(8)
    on = CutMix(mode="sample").sample(x, y, generator=g1)
    off = CutMix(mode="sample", correct_lam=False).sample(x, y, generator=g2)
    assert torch.equal(on.boxes, off.boxes)  # type: ignore[attr-defined]
    assert not torch.allclose(on.lam, off.lam)


def test_batch_mode_shares_one_box() -> None:
    out = create_mixer("image:cutmix")(
        torch.rand(6, 3, 20, 20), torch.arange(6), generator=torch.Generator().manual_seed(1), num_classes=6
    )
    boxes = out.plan.boxes  # type: ignore[attr-defined]
    assert (boxes == boxes[0]).all()
    assert out.plan.scalar_lam is not None


def test_non_4d_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*\(4, 3, 8\)"):
        CutMix()(torch.rand(4, 3, 8), torch.arange(4), num_classes=4)
