"""The NumPy box helpers of `mixup_image._base` give exactly what their torch code gives.

CutMix-style boxes, their area shares and masks are computed on the host with NumPy (or, for one box
shared by the batch, with Python floats) when the plan's tensors are plain CPU tensors. Each test
runs those paths and the torch path (forced by turning the NumPy views off) on the same inputs, over
many sizes, λ values (0, 1, tiny, near 1) and self-paired samples, and asks for identical tensors.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mixup_core import create_mixer
from mixup_image import _base


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _torch_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_base, "numpy_view", lambda t: None)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return bool(a == b)


SIZES = [(1, 1), (2, 3), (7, 5), (9, 11), (32, 32), (224, 160)]


def _lams(n: int, seed: int, dtype: torch.dtype) -> list[torch.Tensor]:
    edges = torch.tensor([0.0, 1.0, 1e-7, 1.0 - 1e-7, 0.5, 0.25, 0.75, 1.0 / 3.0])
    return [
        torch.rand(n, generator=g(seed)).to(dtype),
        edges[torch.randint(0, len(edges), (n,), generator=g(seed + 1))].to(dtype),
        torch.full((n,), float(torch.rand(1, generator=g(seed + 2))), dtype=dtype),
        torch.full((n,), 0.0, dtype=dtype),
        torch.full((n,), 1.0, dtype=dtype),
    ]


def _box_results(seed: int) -> list[Any]:
    out: list[Any] = []
    for size in SIZES:
        for n in (1, 2, 5, 16):
            index = torch.randperm(n, generator=g(seed))
            index[: n // 3] = torch.arange(n // 3)  # some samples paired with themselves
            for dtype in (torch.float32, torch.float64):
                for lam in _lams(n, seed, dtype):
                    for shared in (True, False):
                        boxes = _base.sample_boxes(lam, size, g(seed), shared=shared, index=index)
                        out += [boxes, _base.sample_boxes(lam, size, g(seed), shared=shared)]
                        out += [_base.box_area_share(boxes, size), _base.anchor_share(boxes, size)]
                        out += [_base.box_mask(boxes, size), _base.all_equal(boxes), _base._no_self_pairs(index)]
                    cy = torch.randint(0, size[0], (n,), generator=g(seed))
                    cx = torch.randint(0, size[1], (n,), generator=g(seed + 1))
                    out += [_base.centred_boxes(cy, cx, lam, size, index), _base.centred_boxes(cy, cx, lam, size)]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_helpers_match_the_torch_paths(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _box_results(seed)
    _torch_only(monkeypatch)
    slow = _box_results(seed)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert same(a, b)


def test_area_share_of_every_area_matches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    # every box of a few odd sizes: the float64 division and float32 rounding of each possible area
    results = []
    for h, w in [(7, 5), (9, 11), (13, 17), (31, 29)]:
        y0, y1, x0, x1 = torch.meshgrid(
            torch.arange(h + 1), torch.arange(h + 1), torch.arange(w + 1), torch.arange(w + 1), indexing="ij"
        )
        boxes = torch.stack([y0.flatten(), y1.flatten(), x0.flatten(), x1.flatten()], dim=1)
        results.append((boxes, (h, w), _base.box_area_share(boxes, (h, w)), _base.anchor_share(boxes, (h, w))))
    _torch_only(monkeypatch)
    for boxes, size, share, anchor in results:
        assert same(share, _base.box_area_share(boxes, size))
        assert same(anchor, _base.anchor_share(boxes, size))


CONFIGS: list[dict[str, Any]] = [
    {"name": "image:cutmix"},
    {"name": "image:cutmix", "mode": "sample"},
    {"name": "image:cutmix", "correct_lam": False, "p": 0.5, "mode": "sample"},
    {"name": "image:cutmix", "protected_classes": [0], "alpha": 0.3},
    {"name": "image:resizemix", "mode": "sample"},
    {"name": "image:saliencymix"},
    {"name": "image:snapmix"},
]


def _mixer_results(config: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for n, size in ((1, (9, 11)), (2, (8, 8)), (7, (13, 6))):
        x = torch.rand(n, 3, *size, generator=g(n))
        y = torch.randint(0, 3, (n,), generator=g(n + 1))
        mixer, gen = create_mixer(config), g(n)
        kwargs = type(mixer).example_call_kwargs(x, y, 3)
        for _ in range(3):
            result = mixer(x, y, generator=gen, num_classes=3, **kwargs)
            out += [result.plan.to_dict(), result.inputs, mixer.apply(x, result.plan)]
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_box_mixers_match_the_torch_paths(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _mixer_results(config)
    _torch_only(monkeypatch)
    slow = _mixer_results(config)
    for a, b in zip(fast, slow, strict=True):
        assert same(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize("channels_last", [False, True])
def test_bitwise_select_equals_torch_where(dtype: torch.dtype, channels_last: bool) -> None:
    """The per-sample box paste selects by bit operations on the CPU: the same bits as torch.where."""
    from mixup_image._base import _select

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(5, 3, 7, 9, generator=g) * 50).to(dtype)
    if dtype.is_floating_point:
        x[0, 0, 0, 0], x[1, 1, 1, 1], x[2, 2, 2, 2] = float("nan"), float("-inf"), -0.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    idx = torch.randperm(5, generator=g)
    inside = torch.rand(5, 1, 7, 9, generator=g) < 0.4
    expected = torch.where(inside, x[idx], x)
    got = _select(inside, x[idx], x)
    ints = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]
    assert torch.equal(got.contiguous().view(ints), expected.contiguous().view(ints))
    assert got.stride() == expected.stride()
    # with autograd the plain torch.where runs, and gradients flow
    xf = x.float().requires_grad_(True) if dtype.is_floating_point else None
    if xf is not None:
        _select(inside, xf[idx], xf).sum().backward()
        assert xf.grad is not None
