"""SnapMix: conformance (its labels deliberately differ from the pixel shares), SPM label weights on
synthetic CAMs, the same-label rule, the area fallback, and the resized partner box."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_core import create_mixer, to_config
from mixup_core.testing import MixerConformanceTests
from mixup_image import SnapMix, SnapMixPlan
from mixup_image.snapmix import resize_box_grid, semantic_percentage_maps


class Features(nn.Module):
    """A parameter-free trunk for any channel count: (B, C, H, W) → (B, 4, 4, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = x.float()
        stats = [
            x.mean(1, keepdim=True),
            x.pow(2).mean(1, keepdim=True),
            x.amax(1, keepdim=True),
            x.amin(1, keepdim=True),
        ]
        return F.adaptive_avg_pool2d(torch.cat(stats, dim=1), 4)


FEATURES = Features()
HEAD = nn.Linear(4, 16)
with torch.no_grad():
    HEAD.weight.copy_(torch.randn(16, 4, generator=torch.Generator().manual_seed(0)))
    HEAD.bias.copy_(torch.randn(16, generator=torch.Generator().manual_seed(1)))


# the kit calls (and samples) with the mixer's example_call_kwargs: cam= of the batch
class TestSnapMixBatch(MixerConformanceTests):
    mixer_name = "image:snapmix"
    label_follows_share = False  # SnapMix's labels are the SPM sums, not the pixel shares


class TestSnapMixSample(MixerConformanceTests):
    mixer_name = "snapmix"
    mixer_params = {"mode": "sample", "alpha": 0.5, "same_label": "reference"}
    sample_shape = (3, 15, 9)
    label_follows_share = False


def _box_sum(maps: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    y0, y1, x0, x1 = (int(v) for v in box)
    return maps[y0:y1, x0:x1].sum()


def _expected_rho(cam: torch.Tensor, labels: torch.Tensor, plan: SnapMixPlan) -> tuple[torch.Tensor, torch.Tensor]:
    """ρ_a, ρ_b computed per sample by hand, for full-resolution CAMs (no upsampling needed)."""
    rho_a, rho_b = [], []
    for i in range(plan.batch_size):
        j = int(plan.index[i])
        spm_a = cam[i, labels[i]] - cam[i, labels[i]].min()
        spm_a = spm_a / spm_a.sum()
        spm_b = cam[j, labels[j]] - cam[j, labels[j]].min()
        spm_b = spm_b / spm_b.sum()
        rho_a.append(1 - _box_sum(spm_a, plan.boxes[i]))
        rho_b.append(_box_sum(spm_b, plan.source_boxes[i]))
    return torch.stack(rho_a), torch.stack(rho_b)


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_label_weights_are_the_spm_sums_of_a_synthetic_cam(mode: str) -> None:
    n, k, size = 8, 5, (12, 12)
    g = torch.Generator().manual_seed(0)
    cam = torch.rand(n, k, *size, generator=g) ** 4  # peaked, full-resolution class activation maps
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    x = torch.rand(n, 3, *size, generator=g)
    mixer = SnapMix(mode=mode, num_classes=k, pairing="cross-class")  # no pair shares a class
    out = mixer(x, y, cam=cam, generator=torch.Generator().manual_seed(4))
    plan = out.plan
    assert isinstance(plan, SnapMixPlan)
    assert (plan.lam < 1).all()
    rho_a, rho_b = _expected_rho(cam, y, plan)
    weights = out.targets.weights  # type: ignore[union-attr]
    torch.testing.assert_close(weights[:, 0], rho_a, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights[:, 1], rho_b, atol=1e-5, rtol=0)
    # asymmetric and not normalised: they differ from the pixel shares and do not sum to 1
    assert (weights.sum(dim=1) - 1).abs().max() > 1e-2
    assert (weights[:, 0] - plan.lam).abs().max() > 1e-2
    # dense targets put ρ_a on y_a and ρ_b on y_b
    dense = out.targets.dense()  # type: ignore[union-attr]
    torch.testing.assert_close(dense[torch.arange(n), y], rho_a, atol=1e-5, rtol=0)
    torch.testing.assert_close(dense[torch.arange(n), y[plan.index]], rho_b, atol=1e-5, rtol=0)


def test_cam_of_features_and_classifier_is_used_with_relu_and_bias() -> None:
    n, size = 6, (8, 8)
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(n, 4, 2, 2, generator=g)
    x, y = torch.rand(n, 3, *size, generator=g), torch.tensor([3, 7, 1, 0, 15, 9])
    by_features = SnapMix(mode="sample")(
        x, y, features=feats, classifier=HEAD, num_classes=16, generator=torch.Generator().manual_seed(1)
    )
    cam = torch.einsum("bchw,kc->bkhw", feats.relu(), HEAD.weight.detach()) + HEAD.bias.detach()[:, None, None]
    by_cam = SnapMix(mode="sample")(x, y, cam=cam, num_classes=16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(by_features.targets.weights, by_cam.targets.weights)  # type: ignore[union-attr]
    by_callable = SnapMix(mode="sample", cam=lambda inputs: cam)(
        x, y, num_classes=16, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(by_callable.targets.weights, by_cam.targets.weights)  # type: ignore[union-attr]
    # anything given to the call takes precedence over what the constructor holds
    flat = SnapMix(mode="sample", cam=lambda inputs: torch.ones(n, 16, 2, 2))
    overridden = flat(x, y, features=feats, classifier=HEAD, num_classes=16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(overridden.targets.weights, by_features.targets.weights)  # type: ignore[union-attr]
    # the model path gives the same as its features
    by_model = SnapMix(mode="sample", model=FEATURES, classifier=HEAD)(
        x, y, num_classes=16, generator=torch.Generator().manual_seed(1)
    )
    by_its_features = SnapMix(mode="sample")(
        x, y, features=FEATURES(x), classifier=HEAD, num_classes=16, generator=torch.Generator().manual_seed(1)
    )
    assert by_model.plan.to_dict() == by_its_features.plan.to_dict()
    # the upsampled SPM: bilinear to the image, minimum 0, sum 1
    spm = semantic_percentage_maps(cam[:, 0], size)
    torch.testing.assert_close(spm.sum(dim=(1, 2)), torch.ones(n))
    assert (spm.amin(dim=(1, 2)) == 0).all()


@pytest.mark.parametrize(("policy", "partner_weight"), [("sum", "zero"), ("reference", "sum")])
def test_same_label_pairs_sum_their_weights(policy: str, partner_weight: str) -> None:
    n, size = 6, (10, 10)
    cam = torch.rand(n, 1, *size, generator=torch.Generator().manual_seed(3)) ** 3
    y = torch.zeros(n, dtype=torch.long)  # every pair shares its class
    mixer = SnapMix(mode="sample", same_label=policy, num_classes=2)
    out = mixer(torch.rand(n, 3, *size), y, cam=cam, generator=torch.Generator().manual_seed(5))
    plan = out.plan
    assert isinstance(plan, SnapMixPlan)
    rho_a, rho_b = _expected_rho(cam, y, plan)
    weights = out.targets.weights  # type: ignore[union-attr]
    torch.testing.assert_close(weights[:, 0], rho_a + rho_b, atol=1e-5, rtol=0)
    expected_b = torch.zeros(n) if partner_weight == "zero" else rho_a + rho_b
    torch.testing.assert_close(weights[:, 1], expected_b, atol=1e-5, rtol=0)
    factor = 1 if policy == "sum" else 2
    torch.testing.assert_close(out.targets.dense()[:, 0], factor * (rho_a + rho_b), atol=1e-5, rtol=0)  # type: ignore[union-attr]


def test_constant_cam_falls_back_to_the_area() -> None:
    n = 5
    cam = torch.ones(n, 3, 4, 4)  # no semantic content: the SPM is nan
    out = SnapMix(mode="sample", num_classes=3)(
        torch.rand(n, 3, 12, 12), torch.tensor([0, 1, 2, 0, 1]), cam=cam, generator=torch.Generator().manual_seed(0)
    )
    weights = out.targets.weights  # type: ignore[union-attr]
    torch.testing.assert_close(weights[:, 0], out.plan.lam)
    torch.testing.assert_close(weights[:, 1], 1 - out.plan.lam)
    assert torch.isfinite(out.targets.dense()).all()  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_partner_source_box_is_resized_into_the_anchor_box(mode: str) -> None:
    n, size = 7, (13, 11)
    x = torch.randn(n, 2, *size, generator=torch.Generator().manual_seed(6))
    out = SnapMix(mode=mode, model=FEATURES, classifier=HEAD)(
        x, torch.arange(n), num_classes=16, generator=torch.Generator().manual_seed(7)
    )
    plan = out.plan
    assert isinstance(plan, SnapMixPlan)
    for i in range(n):
        y0, y1, x0, x1 = (int(v) for v in plan.boxes[i])
        sy0, sy1, sx0, sx1 = (int(v) for v in plan.source_boxes[i])
        outside = torch.ones(size, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        # outside the cut box: exactly the anchor
        assert torch.equal(out.inputs[i][:, outside], x[i][:, outside])
        if y1 > y0 and x1 > x0:
            crop = x[int(plan.index[i]), :, sy0:sy1, sx0:sx1][None]
            ref = F.interpolate(crop, size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=True)[0]
            torch.testing.assert_close(out.inputs[i, :, y0:y1, x0:x1], ref, atol=1e-5, rtol=0)
    # the two boxes come from two λ draws: in general different sizes
    cut = (plan.boxes[:, 1] - plan.boxes[:, 0]) * (plan.boxes[:, 3] - plan.boxes[:, 2])
    src = (plan.source_boxes[:, 1] - plan.source_boxes[:, 0]) * (plan.source_boxes[:, 3] - plan.source_boxes[:, 2])
    assert (cut != src).any()
    torch.testing.assert_close(plan.lam, 1 - cut.float() / (13 * 11))


def test_resize_grid_matches_interpolate_for_random_boxes() -> None:
    g = torch.Generator().manual_seed(8)
    n, size = 16, (9, 14)
    x = torch.randn(n, 3, *size, generator=g, dtype=torch.float64)

    def boxes() -> torch.Tensor:
        a = torch.randint(0, size[0], (n, 2), generator=g).sort(dim=1).values
        b = torch.randint(0, size[1], (n, 2), generator=g).sort(dim=1).values
        return torch.stack([a[:, 0], a[:, 1] + 1, b[:, 0], b[:, 1] + 1], dim=1)  # non-empty, some 1 pixel wide

    cut, src = boxes(), boxes()
    grid = resize_box_grid(cut, src, size, dtype=torch.float64)
    warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    for i in range(n):
        y0, y1, x0, x1 = (int(v) for v in cut[i])
        sy0, sy1, sx0, sx1 = (int(v) for v in src[i])
        ref = F.interpolate(
            x[i : i + 1, :, sy0:sy1, sx0:sx1], size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=True
        )
        torch.testing.assert_close(warped[i : i + 1, :, y0:y1, x0:x1], ref, atol=1e-10, rtol=0)


def test_without_targets_the_predicted_class_is_used() -> None:
    n, size = 4, (8, 8)
    cam = torch.zeros(n, 3, *size)
    cam[:, 2, :4, :4] = 5.0  # class 2 wins everywhere and lives in the top-left quarter
    cam[:, 0, 4:, 4:] = 1.0
    mixer = SnapMix(mode="sample")
    x = torch.rand(n, 3, *size)
    plan = mixer.sample(x, cam=cam, generator=torch.Generator().manual_seed(2))
    with_labels = mixer.sample(x, torch.full((n,), 2), cam=cam, generator=torch.Generator().manual_seed(2))
    assert plan.to_dict() == with_labels.to_dict()


def test_missing_cam_sources_are_type_errors_naming_the_arguments() -> None:
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    with pytest.raises(TypeError, match=r"model=.*classifier=.*features=.*cam="):
        SnapMix()(x, y, num_classes=4)
    with pytest.raises(TypeError, match="classifier="):
        SnapMix()(x, y, model=FEATURES, num_classes=4)
    with pytest.raises(TypeError, match="classifier="):
        SnapMix(model=FEATURES).sample(x, y)
    with pytest.raises(TypeError, match="classifier must be"):
        SnapMix()(x, y, features=torch.rand(4, 4, 2, 2), classifier="fc", num_classes=4)
    with pytest.raises(ValueError, match=r"4 channels.*takes 3"):
        SnapMix()(x, y, features=torch.rand(4, 4, 2, 2), classifier=torch.rand(5, 3), num_classes=4)
    with pytest.raises(ValueError, match=r"cam must have the batch size 4.*\(2, 5, 3, 3\)"):
        SnapMix()(x, y, cam=torch.rand(2, 5, 3, 3), num_classes=4)
    with pytest.raises(ValueError, match=r"class 3.*3 classes"):
        SnapMix()(x, y, cam=torch.rand(4, 3, 3, 3), num_classes=4, generator=torch.Generator().manual_seed(0))


def test_model_is_not_configuration_and_runs_only_when_mixing() -> None:
    trunk = Features()
    mixer = SnapMix(model=trunk, classifier=HEAD, num_classes=16, same_label="sum")
    assert to_config(mixer) == {"name": "image:snapmix", "num_classes": 16, "same_label": "sum"}
    assert SnapMix().same_label == "reference"  # the authors' counting is the default
    assert create_mixer(mixer.to_config(), model=trunk, classifier=HEAD) == mixer
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    SnapMix(model=trunk, classifier=HEAD, lam=1.0)(x, y, num_classes=16)
    SnapMix(model=trunk, classifier=HEAD, enabled=False)(x, y, num_classes=16)
    assert trunk.calls == 0
    mixer(x, y, generator=torch.Generator().manual_seed(0))
    assert trunk.calls == 1
