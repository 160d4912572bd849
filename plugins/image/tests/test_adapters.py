"""The torchvision and timm adapters, compared with the real libraries."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict, defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from mixup_core.testing import identity_inputs, source_shares
from mixup_image import BoxPlan
from mixup_image.adapters import TimmMixup, TorchvisionCutMix, TorchvisionMixUp, _minmax_boxes

tv2 = pytest.importorskip("torchvision.transforms.v2")
tv_tensors = pytest.importorskip("torchvision.tv_tensors")


def _load_timm_mixup() -> ModuleType:
    """timm's ``data/mixup.py`` alone (it imports only numpy and torch): importing the ``timm``
    package would import every model definition and add seconds to the test run."""
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        pytest.skip("timm is not installed")
    path = Path(spec.origin).parent / "data" / "mixup.py"
    module_spec = importlib.util.spec_from_file_location("_timm_data_mixup", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


timm_mixup = _load_timm_mixup()


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _anchor_shares(mixed: torch.Tensor) -> torch.Tensor:
    """Each sample's own share of its mix, measured on :func:`identity_inputs`."""
    return source_shares(mixed).diagonal()


# ---------------------------------------------------------------------- torchvision
PAIRS = [(TorchvisionMixUp, tv2.MixUp), (TorchvisionCutMix, tv2.CutMix)]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
@pytest.mark.parametrize(
    "pattern",
    ["args", "tuple", "dict", "tuple-with-dict", "ordereddict", "defaultdict"],
)
def test_torchvision_call_patterns_match(ours: type, theirs: type, pattern: str) -> None:
    images, labels = torch.rand(6, 3, 12, 10), torch.tensor([0, 1, 2, 3, 4, 0])

    def call(t: object) -> object:
        if pattern == "args":
            return t(images, labels)  # type: ignore[operator]
        if pattern == "tuple":
            return t((images, labels))  # type: ignore[operator]
        if pattern == "dict":
            return t({"image": images, "labels": labels, "id": "batch-0"})  # type: ignore[operator]
        if pattern == "ordereddict":
            return t(OrderedDict(image=images, labels=labels, id="batch-0"))  # type: ignore[operator]
        if pattern == "defaultdict":
            return t(defaultdict(list, image=images, labels=labels))  # type: ignore[operator]
        return t((images, {"labels": labels}))  # type: ignore[operator]

    torch.manual_seed(0)
    ref = call(theirs(num_classes=5))
    out = call(ours(num_classes=5, generator=_g()))
    assert type(out) is type(ref)  # OrderedDict and defaultdict stay what they were, as torchvision
    if isinstance(ref, defaultdict):
        assert out.default_factory is ref.default_factory  # type: ignore[union-attr]
    flat_ref = list(ref.values()) if isinstance(ref, dict) else list(ref)  # type: ignore[union-attr,call-overload]
    flat_out = list(out.values()) if isinstance(out, dict) else list(out)  # type: ignore[union-attr,call-overload]
    if isinstance(flat_ref[1], dict):
        flat_ref, flat_out = [flat_ref[0], flat_ref[1]["labels"]], [flat_out[0], flat_out[1]["labels"]]
    for a, b in zip(flat_out, flat_ref, strict=True):
        if isinstance(b, torch.Tensor):
            assert a.shape == b.shape
            assert a.dtype == b.dtype
        else:
            assert a == b  # non-tensor entries pass through
    soft = flat_out[1]
    assert soft.shape == (6, 5)
    assert soft.dtype == torch.float32
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    assert not images.isnan().any()


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_torchvision_anchor_label_weight_is_its_pixel_share(ours: type, theirs: type) -> None:
    n = 8
    x = identity_inputs(n, (3, 16, 16))  # channel j marks sample j
    labels = torch.arange(n)
    for t in (ours(num_classes=n, generator=_g(1)), theirs(num_classes=n)):
        torch.manual_seed(1)
        mixed, soft = t(x, labels)
        # the same measurement holds for torchvision's output: both follow the same contract
        torch.testing.assert_close(soft.diagonal(), _anchor_shares(mixed), atol=1e-6, rtol=0)
        torch.testing.assert_close(soft, source_shares(mixed), atol=1e-6, rtol=0)


def test_torchvision_cutmix_label_weight_is_the_kept_fraction() -> None:
    x = torch.rand(5, 3, 17, 13)  # odd batch and sizes
    t = TorchvisionCutMix(num_classes=5, generator=_g(4))
    for _ in range(5):
        mixed, soft = t(x, torch.arange(5))
        kept = (mixed == x).all(dim=1).float().mean(dim=(1, 2))
        torch.testing.assert_close(soft.diagonal(), kept, atol=1e-6, rtol=0)
        assert isinstance(t.last_plan, BoxPlan)


def test_torchvision_generator_is_deterministic_and_inputs_kept() -> None:
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    before = x.clone()
    a = TorchvisionMixUp(num_classes=4)(x, y, generator=_g(7))
    b = TorchvisionMixUp(num_classes=4, generator=_g(7))(x, y)
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert torch.equal(x, before)


def test_torchvision_one_hot_labels_and_num_classes_none() -> None:
    onehot = torch.eye(4)[[0, 1, 2, 3]]
    for t in (TorchvisionMixUp(), tv2.MixUp()):
        _, soft = t(torch.rand(4, 3, 8, 8), onehot)
        assert soft.shape == (4, 4)
        torch.testing.assert_close(soft.sum(1), torch.ones(4))


def test_torchvision_tv_tensors_stay_wrapped_and_uint8_works() -> None:
    img = tv_tensors.Image(torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8))
    labels = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(0)
    ref_img, _ = tv2.CutMix(num_classes=4)(img, labels)
    out_img, soft = TorchvisionCutMix(num_classes=4, generator=_g())(img, labels)
    assert type(out_img) is type(ref_img) is tv_tensors.Image
    assert out_img.dtype == ref_img.dtype == torch.uint8
    kept = (out_img == img).all(dim=1).float().mean(dim=(1, 2))
    torch.testing.assert_close(soft.diagonal(), kept, atol=1e-6, rtol=0)
    # torchvision's MixUp cannot mix uint8; ours mixes in float and rounds back
    mixed, soft = TorchvisionMixUp(num_classes=4, generator=_g())(img, labels)
    assert mixed.dtype == torch.uint8
    assert type(mixed) is tv_tensors.Image


def test_torchvision_video_gets_one_box_per_sample_in_every_frame() -> None:
    video = tv_tensors.Video(torch.rand(3, 4, 3, 10, 10))
    out, soft = TorchvisionCutMix(num_classes=3, generator=_g(2))(video, torch.arange(3))
    assert type(out) is tv_tensors.Video
    assert out.shape == video.shape
    changed = (out != video).any(dim=2)  # (B, T, H, W)
    assert (changed == changed[:, :1]).all()  # the same box in every frame
    torch.testing.assert_close(soft.diagonal(), 1.0 - changed[:, 0].float().mean(dim=(1, 2)), atol=1e-6, rtol=0)


@pytest.mark.parametrize("cls", [TorchvisionMixUp, TorchvisionCutMix])
def test_torchvision_errors_match(cls: type) -> None:
    theirs = tv2.MixUp if cls is TorchvisionMixUp else tv2.CutMix
    x = torch.rand(4, 3, 8, 8)
    for make, args, match in [
        (lambda c: c(), (x, torch.arange(4)), "num_classes"),
        (lambda c: c(num_classes=4), (x, torch.zeros(4, 2, 2)), "shape"),
        (lambda c: c(num_classes=4), (torch.rand(4, 3, 8), torch.arange(4)), "dim"),
        (lambda c: c(num_classes=4), (x, torch.arange(3)), "batch size"),
        (lambda c: c(num_classes=3), (x, torch.eye(4)), "num_classes"),
    ]:
        with pytest.raises(ValueError):
            make(theirs)(*args)
        with pytest.raises(ValueError, match=match):
            make(cls)(*args)


# ---------------------------------------------------------------------- timm
def _timm_smoothed(
    target: torch.Tensor, lam: float | torch.Tensor, k: int, s: float, index: torch.Tensor
) -> torch.Tensor:
    """timm's formula with explicit partners: smoothed one-hot, then mixed."""
    off, on = s / k, 1.0 - s + s / k
    y = torch.full((target.shape[0], k), off).scatter_(1, target[:, None], on)
    lam_t = torch.as_tensor(lam, dtype=torch.float32).reshape(-1, 1)
    return y * lam_t + y[index] * (1 - lam_t)


def test_timm_shapes_dtypes_and_rows() -> None:
    x, y = torch.rand(6, 3, 16, 16), torch.randint(0, 10, (6,))
    np.random.seed(0)
    ref_x, ref_t = timm_mixup.Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=10)(x.clone(), y)
    out_x, out_t = TimmMixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=10, generator=_g())(x, y)
    assert out_x.shape == ref_x.shape
    assert out_x.dtype == ref_x.dtype
    assert out_t.shape == ref_t.shape
    assert out_t.dtype == ref_t.dtype
    torch.testing.assert_close(out_t.sum(1), torch.ones(6))


def test_timm_no_mix_gives_timms_smoothed_one_hot_exactly() -> None:
    y = torch.tensor([3, 0, 9, 9])
    _, ref = timm_mixup.Mixup(prob=0.0, label_smoothing=0.2, num_classes=10)(torch.rand(4, 3, 8, 8), y)
    x = torch.rand(4, 3, 8, 8)
    out_x, out = TimmMixup(prob=0.0, label_smoothing=0.2, num_classes=10)(x, y, generator=_g())
    assert torch.equal(out, ref)
    assert torch.equal(out_x, x)
    assert out.unique().tolist() == pytest.approx([0.02, 0.82])


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_timm_mixup_batch_equals_timm_for_the_same_lambda(monkeypatch: pytest.MonkeyPatch, smoothing: float) -> None:
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([1, 4, 2, 2, 0, 7])
    ours = TimmMixup(mixup_alpha=0.4, label_smoothing=smoothing, num_classes=8, pairing="flip", generator=_g(5))
    out_x, out_t = ours(x, y)
    plan = ours.last_plan
    assert plan is not None
    assert plan.scalar_lam is not None
    lam = plan.scalar_lam
    theirs = timm_mixup.Mixup(mixup_alpha=0.4, label_smoothing=smoothing, num_classes=8)
    monkeypatch.setattr(theirs, "_params_per_batch", lambda: (lam, False))
    ref_x, ref_t = theirs(x.clone(), y)
    torch.testing.assert_close(out_x, ref_x, atol=1e-6, rtol=0)
    torch.testing.assert_close(out_t, ref_t, atol=1e-6, rtol=0)
    torch.testing.assert_close(out_t, _timm_smoothed(y, lam, 8, smoothing, torch.arange(6).flip(0)), atol=1e-6, rtol=0)


def test_timm_cutmix_batch_equals_timm_for_the_same_box(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = torch.rand(6, 3, 20, 14), torch.tensor([1, 4, 2, 3, 0, 7])
    ours = TimmMixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=8, pairing="flip", generator=_g(3))
    out_x, out_t = ours(x, y)
    plan = ours.last_plan
    assert isinstance(plan, BoxPlan)
    y0, y1, x0, x1 = (int(v) for v in plan.boxes[0])
    theirs = timm_mixup.Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=8)
    monkeypatch.setattr(theirs, "_params_per_batch", lambda: (0.5, True))
    monkeypatch.setattr(timm_mixup, "rand_bbox", lambda *a, **k: (y0, y1, x0, x1))
    ref_x, ref_t = theirs(x.clone(), y)
    assert torch.equal(out_x, ref_x)
    torch.testing.assert_close(out_t, ref_t, atol=1e-6, rtol=0)
    kept = (out_x == x).all(dim=1).float().mean(dim=(1, 2))
    torch.testing.assert_close(plan.lam, kept, atol=1e-6, rtol=0)


def test_timm_elem_mixup_equals_timm_for_the_same_lambdas(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([1, 4, 2, 3, 0, 7])
    ours = TimmMixup(mixup_alpha=1.0, mode="elem", label_smoothing=0.1, num_classes=8, pairing="flip", generator=_g(9))
    out_x, out_t = ours(x, y)
    plan = ours.last_plan
    assert plan is not None
    lam = plan.lam.numpy().copy()
    assert len(set(lam.tolist())) == 6  # one λ per sample
    theirs = timm_mixup.Mixup(mixup_alpha=1.0, mode="elem", label_smoothing=0.1, num_classes=8)
    monkeypatch.setattr(theirs, "_params_per_elem", lambda n: (lam.copy(), np.zeros(n, dtype=bool)))
    ref_x, ref_t = theirs(x.clone(), y)
    torch.testing.assert_close(out_x, ref_x, atol=1e-6, rtol=0)
    torch.testing.assert_close(out_t, ref_t, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("n", [1, 5, 8])
def test_timm_anchor_weight_is_pixel_share_in_every_mode(mode: str, n: int) -> None:
    mixup_fn = TimmMixup(
        mixup_alpha=0.8, cutmix_alpha=1.0, mode=mode, label_smoothing=0.0, num_classes=n, generator=_g(n)
    )
    x = identity_inputs(n, (3, 12, 12))
    for _ in range(6):
        out_x, target = mixup_fn(x, torch.arange(n))
        torch.testing.assert_close(target, source_shares(out_x), atol=1e-6, rtol=0)
        torch.testing.assert_close(target.sum(1), torch.ones(n))


def test_timm_odd_batch_where_timm_asserts() -> None:
    x, y = torch.rand(5, 3, 8, 8), torch.arange(5)
    with pytest.raises(AssertionError, match="even"):
        timm_mixup.Mixup(num_classes=5)(x.clone(), y)
    out_x, out_t = TimmMixup(num_classes=5, generator=_g())(x, y)
    assert out_x.shape == x.shape
    assert out_t.shape == (5, 5)


def test_timm_elem_switches_per_sample() -> None:
    n = 64
    mixup_fn = TimmMixup(
        mixup_alpha=1.0, cutmix_alpha=1.0, mode="elem", switch_prob=0.5, num_classes=n, generator=_g(0)
    )
    x = identity_inputs(n, (3, 8, 8))
    out_x, _ = mixup_fn(x, torch.arange(n))
    binary = ((out_x == 0) | (out_x == 1)).flatten(1).all(dim=1)  # CutMix rows copy pixels
    assert 10 < int(binary.sum()) < 54


def test_timm_prob_and_mixup_enabled() -> None:
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    mixup_fn = TimmMixup(prob=0.5, num_classes=4, label_smoothing=0.0, generator=_g(0))
    mixed = [not torch.equal(mixup_fn(x, y)[0], x) for _ in range(200)]
    assert 70 < sum(mixed) < 130
    mixup_fn.mixup_enabled = False
    out_x, out_t = mixup_fn(x, y)
    assert torch.equal(out_x, x)
    assert torch.equal(out_t, torch.eye(4))


def test_timm_multi_label_smooths_towards_half(monkeypatch: pytest.MonkeyPatch) -> None:
    multi = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    ours = TimmMixup(
        mixup_alpha=1.0, num_classes=3, multi_label=True, label_smoothing=0.2, pairing="flip", generator=_g(1)
    )
    _, out_t = ours(torch.rand(4, 3, 8, 8), multi)
    assert ours.last_plan is not None
    lam = ours.last_plan.scalar_lam
    theirs = timm_mixup.Mixup(mixup_alpha=1.0, num_classes=3, multi_label=True, label_smoothing=0.2)
    monkeypatch.setattr(theirs, "_params_per_batch", lambda: (lam, False))
    _, ref_t = theirs(torch.rand(4, 3, 8, 8), multi)
    torch.testing.assert_close(out_t, ref_t, atol=1e-6, rtol=0)


def test_timm_cutmix_minmax_boxes_follow_timms_rule() -> None:
    h, w, minmax = 20, 30, (0.2, 0.6)
    boxes = _minmax_boxes(4000, (h, w), minmax, _g(0))
    cut_h, cut_w = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    np.random.seed(0)
    yl, yu, xl, xu = timm_mixup.rand_bbox_minmax((3, h, w), minmax, count=4000)
    # the same support as timm's: sides in [⌊min·size⌋, ⌊max·size⌋), boxes inside the image
    assert set(cut_h.tolist()) == set((yu - yl).tolist()) == set(range(4, 12))
    assert set(cut_w.tolist()) == set((xu - xl).tolist()) == set(range(6, 18))
    assert (boxes[:, 0] >= 0).all()
    assert (boxes[:, 1] <= h).all()
    assert (boxes[:, 2] >= 0).all()
    assert (boxes[:, 3] <= w).all()
    assert set(boxes[:, 0].tolist()) == set(yl.tolist())  # every start position is reachable

    mixup_fn = TimmMixup(
        mixup_alpha=0.0, cutmix_minmax=minmax, mode="elem", num_classes=6, label_smoothing=0.0, generator=_g(2)
    )
    x = identity_inputs(6, (3, h, w))
    out_x, target = mixup_fn(x, torch.arange(6))
    torch.testing.assert_close(target, source_shares(out_x), atol=1e-6, rtol=0)
    assert mixup_fn.cutmix_alpha == 1.0


def test_timm_constructor_and_call_errors() -> None:
    with pytest.raises(ValueError, match="mixup_alpha > 0"):
        TimmMixup(mixup_alpha=0.0, cutmix_alpha=0.0)
    with pytest.raises(ValueError, match="mode"):
        TimmMixup(mode="half")
    with pytest.raises(ValueError, match="cutmix_minmax"):
        TimmMixup(cutmix_minmax=(0.8, 0.2))
    with pytest.raises(ValueError, match="label_smoothing"):
        TimmMixup(label_smoothing=1.0)
    mixup_fn = TimmMixup(num_classes=4)
    with pytest.raises(ValueError, match=r"target must have shape \(2,\) or \(2, 4\)"):
        mixup_fn(torch.rand(2, 3, 8, 8), torch.zeros(2, 5))
    with pytest.raises(TypeError, match="uint8"):
        mixup_fn(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.arange(2))


def test_timm_generator_determinism_and_no_mutation() -> None:
    x, y = torch.rand(6, 3, 8, 8), torch.arange(6)
    before = x.clone()
    kw = {"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "mode": "elem", "num_classes": 6}
    a = TimmMixup(**kw)(x, y, generator=_g(11))  # type: ignore[arg-type]
    b = TimmMixup(**kw, generator=_g(11))(x, y)  # type: ignore[arg-type]
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert torch.equal(x, before)


def test_timm_attributes_changed_after_construction_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """timm reads mixup_alpha, cutmix_alpha, mode and mix_prob on every call (schedules change them):
    both libraries, changed the same way after construction, mix the same."""
    x, y = torch.rand(6, 3, 20, 14), torch.tensor([1, 4, 2, 3, 0, 7])
    ours = TimmMixup(mixup_alpha=0.4, num_classes=8, pairing="flip", generator=_g(3))
    theirs = timm_mixup.Mixup(mixup_alpha=0.4, num_classes=8)
    for fn in (ours, theirs):
        fn.mixup_alpha, fn.cutmix_alpha = 0.0, 1.0  # now CutMix only
    out_x, out_t = ours(x, y)
    plan = ours.last_plan
    assert isinstance(plan, BoxPlan)
    y0, y1, x0, x1 = (int(v) for v in plan.boxes[0])
    monkeypatch.setattr(timm_mixup, "rand_bbox", lambda *a, **k: (y0, y1, x0, x1))
    assert theirs._params_per_batch()[1]  # timm too draws CutMix now
    monkeypatch.setattr(theirs, "_params_per_batch", lambda: (0.5, True))
    ref_x, ref_t = theirs(x.clone(), y)
    assert torch.equal(out_x, ref_x)
    torch.testing.assert_close(out_t, ref_t, atol=1e-6, rtol=0)
    # mode: batch → elem gives one λ per sample; mix_prob 0 in elem mode mixes nothing, as timm
    for fn in (ours, theirs):
        fn.mode, fn.mixup_alpha, fn.cutmix_alpha = "elem", 0.5, 0.0
    ours(x, y)
    assert ours.last_plan is not None
    assert ours.last_plan.scalar_lam is None
    lam_theirs, _ = theirs._params_per_elem(6)
    assert len(set(np.round(lam_theirs, 6).tolist())) > 1
    for fn in (ours, theirs):
        fn.mix_prob = 0.0
    assert torch.equal(ours(x, y)[0], x)
    assert torch.equal(theirs(x.clone(), y)[0], x)
    # both alphas 0 while mixing is enabled: timm asserts, ours names the fix
    ours.cutmix_alpha = ours.mixup_alpha = 0.0
    with pytest.raises(ValueError, match="mixup_enabled=False"):
        ours(x, y)
    ours.mixup_enabled = False
    assert torch.equal(ours(x, y)[0], x)


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_torchvision_adapters_are_modules_like_torchvisions(ours: type, theirs: type) -> None:
    """torchvision's v2 transforms are nn.Modules: both go into nn.Sequential and v2.Compose alike."""
    images, labels = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    assert isinstance(theirs(num_classes=4), torch.nn.Module)
    assert isinstance(ours(num_classes=4), torch.nn.Module)
    for wrap in (torch.nn.Sequential, lambda t: tv2.Compose([t])):
        ref = wrap(theirs(num_classes=4))((images, labels))
        out = wrap(ours(num_classes=4, generator=_g()))((images, labels))
        assert type(out) is type(ref)
        assert out[0].shape == ref[0].shape
        assert out[1].shape == ref[1].shape == (4, 4)
    # followed by one of torchvision's own transforms in a Compose
    both = tv2.Compose([ours(num_classes=4, generator=_g(1)), tv2.RandomHorizontalFlip(p=1.0)])
    x, soft = both(images, labels)
    assert x.shape == images.shape
    torch.testing.assert_close(soft.sum(1), torch.ones(4))
