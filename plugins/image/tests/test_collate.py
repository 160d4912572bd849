"""MixupCollate: uint8 batches mixed in DataLoader workers, reproducibly."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mixup_core import MixedTargets
from mixup_image import CutMix, MixupCollate


class ToyImages(Dataset):  # type: ignore[type-arg]
    """uint8 images, alternating (C, H, W) tensors and (H, W, C) NumPy arrays."""

    def __len__(self) -> int:
        return 36

    def __getitem__(self, i: int) -> tuple[object, int]:
        g = torch.Generator().manual_seed(i)
        if i % 2:
            return torch.randint(0, 256, (3, 12, 12), generator=g, dtype=torch.uint8), i % 6
        return torch.randint(0, 256, (12, 12, 3), generator=g, dtype=torch.uint8).numpy(), i % 6


def _run(num_workers: int, spec: object, seed: int = 5) -> list[tuple[torch.Tensor, MixedTargets]]:
    collate = MixupCollate(spec, num_classes=6, seed=seed)  # type: ignore[arg-type]
    # fork: the workers inherit this test module (spawn would re-import it by name)
    context = "fork" if num_workers else None
    loader = DataLoader(
        ToyImages(), batch_size=8, num_workers=num_workers, collate_fn=collate, multiprocessing_context=context
    )
    return list(loader)  # type: ignore[arg-type]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batches_identical_across_runs(num_workers: int) -> None:
    if num_workers and "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("DataLoader workers are started with fork in this test")
    spec = {"name": "image:cutmix", "mode": "sample"}
    first, second = _run(num_workers, spec), _run(num_workers, spec)
    assert len(first) == 5  # 36 items: four batches of 8 and one of 4
    for (xa, ta), (xb, tb) in zip(first, second, strict=True):
        assert xa.dtype == torch.uint8
        assert xa.shape[1:] == (3, 12, 12)
        assert torch.equal(xa, xb)
        assert torch.equal(ta.indices, tb.indices)
        assert torch.equal(ta.weights, tb.weights)
    # the batches of one run differ from each other (each has its own generator)
    assert len({tuple(t.weights[:, 0].tolist()) for _, t in first}) > 1


def test_other_seed_or_epoch_gives_other_mixes() -> None:
    a = _run(0, "core:mixup", seed=5)
    b = _run(0, "core:mixup", seed=6)
    assert not all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))
    collate = MixupCollate("core:mixup", num_classes=6, seed=5)
    items = [ToyImages()[i] for i in range(8)]
    epoch0 = collate.generator_for(0, 0).initial_seed()
    collate.set_epoch(1)
    assert collate.generator_for(0, 0).initial_seed() != epoch0
    x1, _ = collate(items)
    collate.set_epoch(1)
    x2, _ = collate(items)
    assert torch.equal(x1, x2)  # set_epoch restarts the stream of that epoch


@pytest.mark.parametrize("spec", ["core:mixup", {"name": "image:cutmix", "mode": "sample"}])
def test_label_weights_match_pixel_shares_within_rounding(spec: object) -> None:
    n = 8
    # sample j is 255 in channel j and 0 elsewhere, so channel j of a mix is source j's share · 255
    items = []
    for j in range(n):
        img = torch.zeros(n, 10, 10, dtype=torch.uint8)
        img[j] = 255
        items.append((img, j))
    collate = MixupCollate(spec, num_classes=n, seed=0)  # type: ignore[arg-type]
    for _ in range(5):
        images, targets = collate(items)
        assert images.dtype == torch.uint8
        shares = images.float().mean(dim=(2, 3)) / 255.0  # (B, B)
        # rounding moves each pixel by at most 0.5, i.e. a share by at most 0.5/255
        err = (shares - targets.dense()).abs().max()
        assert float(err) <= 0.5 / 255 + 1e-6


def test_dense_targets_with_smoothing() -> None:
    items = [(torch.zeros(3, 6, 6, dtype=torch.uint8), i % 4) for i in range(5)]
    images, dense = MixupCollate("core:mixup", num_classes=4, dense=True, label_smoothing=0.1)(items)
    assert isinstance(dense, torch.Tensor)
    assert dense.shape == (5, 4)
    assert dense.dtype == torch.float32
    torch.testing.assert_close(dense.sum(1), torch.ones(5))
    assert float(dense.min()) >= 0.1 / 4 - 1e-7
    assert images.shape == (5, 3, 6, 6)


def test_numpy_grayscale_and_soft_labels() -> None:
    items = [(np.full((6, 6), 10 * i, dtype=np.uint8), torch.eye(3)[i % 3]) for i in range(4)]
    images, targets = MixupCollate("image:cutmix", num_classes=3)(items)
    assert images.shape == (4, 1, 6, 6)
    torch.testing.assert_close(targets.dense().sum(1), torch.ones(4))


def test_float_inputs_are_rejected_with_a_clear_message() -> None:
    collate = MixupCollate("core:mixup", num_classes=2)
    with pytest.raises(TypeError, match=r"uint8.*float32"):
        collate([(torch.rand(3, 4, 4), 0), (torch.rand(3, 4, 4), 1)])
    with pytest.raises(TypeError, match=r"uint8.*float64"):
        collate([(np.zeros((4, 4, 3)), 0)])
    with pytest.raises(ValueError, match="one shape"):
        collate([(torch.zeros(3, 4, 4, dtype=torch.uint8), 0), (torch.zeros(3, 5, 4, dtype=torch.uint8), 1)])
    # and the image mixers reject uint8 batches, pointing here
    with pytest.raises(TypeError, match="MixupCollate"):
        CutMix(num_classes=2)(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.arange(2))


def test_buffers_are_reused_and_outputs_are_fresh() -> None:
    collate = MixupCollate("core:mixup", num_classes=6, seed=1)
    items = [ToyImages()[i] for i in range(8)]
    a, _ = collate(items)
    buffers = collate._buffers
    b, _ = collate(items)
    assert collate._buffers is buffers
    assert a.data_ptr() != b.data_ptr()
    assert not torch.equal(a, b)  # the second batch drew another plan


def _timm_items(n: int = 6, size: tuple[int, int] = (10, 7)) -> list[tuple[np.ndarray, int]]:
    """Items as timm's ``ToNumpy`` gives them (a PIL image → a channels-first uint8 array), labels 0…n−1."""
    pil = pytest.importorskip("PIL.Image")
    transforms = pytest.importorskip("timm.data.transforms")
    rng = np.random.default_rng(0)
    to_numpy = transforms.ToNumpy()
    items = []
    for i in range(n):
        image = pil.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        array = to_numpy(image)
        assert array.shape == (3, *size)
        items.append((array, i))
    return items


def test_timm_channels_first_numpy_items_and_mixup_enabled_match_fast_collate_mixup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """timm's FastCollateMixup and ours on the same ToNumpy items: the same batches."""
    mixup = pytest.importorskip("timm.data.mixup")
    items = _timm_items()
    theirs = mixup.FastCollateMixup(mixup_alpha=1.0, label_smoothing=0.0, num_classes=6)
    ours = MixupCollate({"name": "core:mixup", "lam": 0.5, "pairing": "flip"}, num_classes=6, dense=True)
    monkeypatch.setattr(theirs, "_params_per_batch", lambda: (0.5, False))
    ref_x, ref_t = theirs(items)
    out_x, out_t = ours(items)
    assert ref_x.shape == out_x.shape == (6, 3, 10, 7)  # channels first, not taken as (H, W, C)
    assert torch.equal(out_x, ref_x)
    torch.testing.assert_close(out_t, ref_t)
    # --mixup-off-epoch: timm sets mixup_enabled = False on the collate function
    theirs.mixup_enabled = False
    ours.mixup_enabled = False
    monkeypatch.undo()
    ref_x, ref_t = theirs(items)
    out_x, out_t = ours(items)
    assert torch.equal(out_x, ref_x)
    assert torch.equal(out_x, torch.stack([torch.from_numpy(a) for a, _ in items]))
    torch.testing.assert_close(out_t, ref_t)


def test_numpy_layout_is_detected_or_asked_for() -> None:
    chw = np.zeros((3, 5, 3), dtype=np.uint8)  # could be either
    with pytest.raises(ValueError, match=r"cannot tell.*\(3, 5, 3\).*layout='chw'"):
        MixupCollate("core:mixup", num_classes=2)([(chw, 0), (chw, 1)])
    images, _ = MixupCollate("core:mixup", num_classes=2, layout="chw")([(chw, 0), (chw, 1)])
    assert images.shape == (2, 3, 5, 3)
    images, _ = MixupCollate("core:mixup", num_classes=2, layout="hwc")([(chw, 0), (chw, 1)])
    assert images.shape == (2, 3, 3, 5)
    hwc = np.zeros((8, 6, 3), dtype=np.uint8)
    images, _ = MixupCollate("core:mixup", num_classes=2)([(hwc, 0), (hwc, 1)])
    assert images.shape == (2, 3, 8, 6)
    with pytest.raises(ValueError, match="layout"):
        MixupCollate("core:mixup", num_classes=2, layout="cwh")  # type: ignore[arg-type]
