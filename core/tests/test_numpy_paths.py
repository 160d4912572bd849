"""The NumPy bookkeeping of plans gives exactly what the torch code gives.

Plans of small CPU tensors are drawn and summarised through NumPy views (`mixup_core._cpu`), which
costs a fraction of torch's per-call dispatch. Each test runs the NumPy path and the torch path
(forced by turning the views off, or written out as the reference) on the same inputs and asks for
bit-identical results, including edge cases: batch size 1, odd sizes, NaN, ties, 2-D plans.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from mixup_core import (
    BetaLambda,
    FlipPairing,
    MixPlan,
    RandomPairing,
    _mixer,
    _plan,
    _targets,
    check_targets,
    create_mixer,
)


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type; tensors of the same dtype and shape, bit for bit (NaN too)."""
    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        return torch.equal(a.flatten().clone().view(torch.uint8), b.flatten().clone().view(torch.uint8))
    return type(a) is type(b) and (a == b or (a != a and b != b))


# ------------------------------------------------------------------------------ pairing and λ


def _random_pairing_reference(n: int, candidates: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    index = torch.arange(n)
    pool = index if candidates is None else index[candidates]
    if pool.numel() < 2:
        return index
    order = pool[torch.randperm(pool.numel(), generator=generator)]
    index[order] = order.roll(-1)
    return index


def _flip_pairing_reference(n: int, candidates: torch.Tensor | None) -> torch.Tensor:
    index = torch.arange(n)
    pool = torch.arange(n) if candidates is None else index[candidates]
    index[pool] = pool.flip(0)
    return index


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 33])
@pytest.mark.parametrize("masked", [False, True])
def test_random_and_flip_pairings_match_the_torch_reference(n: int, masked: bool) -> None:
    for seed in range(20):
        candidates = (torch.rand(n, generator=g(100 + seed)) < 0.6) if masked else None
        ours, ref = g(seed), g(seed)
        got = RandomPairing().pair(n, candidates=candidates, generator=ours)
        assert same(got, _random_pairing_reference(n, candidates, ref))
        assert same(ours.get_state(), ref.get_state())  # the generator advanced by the same draws
        assert same(FlipPairing().pair(n, candidates=candidates), _flip_pairing_reference(n, candidates))


def test_beta_lambda_matches_the_torch_cast() -> None:
    from mixup_core._random import numpy_rng

    for alpha, beta in [(1.0, None), (0.2, None), (0.05, 0.05), (2.0, 0.5)]:
        b = alpha if beta is None else beta
        for n in (1, 5, 64):
            reference = torch.from_numpy(numpy_rng(g(n)).beta(alpha, b, size=n)).to(torch.float32)
            assert same(BetaLambda(alpha, beta).sample(n, g(n)), reference)


# ------------------------------------------------------------------------------ plans


def _plans() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = g(0)
    plans = []
    for n in (1, 2, 5, 8):
        perm = torch.randperm(n, generator=gen)
        arange = torch.arange(n)
        for dtype in (torch.float16, torch.float32, torch.float64, torch.bfloat16):
            values = torch.rand(n, generator=gen).to(dtype)
            plans += [
                (perm, values),
                (perm, torch.full((n,), 0.3, dtype=dtype)),
                (perm, torch.ones(n, dtype=dtype)),
                (arange, torch.full((n,), 0.3, dtype=dtype)),
                (arange, values),
                (perm, torch.where(arange % 2 == 0, 1.0, values.float()).to(dtype)),
                (perm, torch.full((n,), float("nan"), dtype=dtype)),
            ]
        plans.append((torch.stack([perm, arange], dim=1), torch.rand(n, 3, generator=gen)))
        plans.append((torch.stack([arange, arange], dim=1), torch.rand(n, 3, generator=gen)))
    plans.append((torch.zeros(0, dtype=torch.long), torch.zeros(0)))
    return plans


def _summary(index: torch.Tensor, lam: torch.Tensor) -> tuple[Any, ...]:
    plan = MixPlan(index=index, lam=lam)
    return plan.is_identity, plan.scalar_lam, plan.partner_indices(), plan.weights()


def test_plan_summary_indices_and_weights_match_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [_summary(index, lam) for index, lam in _plans()]
    monkeypatch.setattr(_plan, "numpy_view", lambda t: None)
    monkeypatch.setattr(_plan, "numpy_views", lambda *ts: None)
    slow = [_summary(index, lam) for index, lam in _plans()]
    for a, b in zip(fast, slow, strict=True):
        assert all(same(x, y) for x, y in zip(a, b, strict=True)), (a, b)


def test_identity_plan_matches_torch() -> None:
    for n in (1, 6):
        plan = MixPlan.identity(n)
        assert same(plan.index, torch.arange(n))
        assert same(plan.lam, torch.ones(n))
        assert plan.is_identity
        assert plan.scalar_lam == 1.0


def test_targets_finite_check_matches_torch() -> None:
    bad = torch.tensor([[0.0, float("inf")], [1.0, 0.0]])
    for targets in (bad, bad.double(), bad.half()):
        with pytest.raises(ValueError, match="targets must be finite"):
            check_targets(targets, 2, 2)
    good = torch.rand(2, 2)
    assert check_targets(good, 2, 2) is good


# ------------------------------------------------------------------------------ whole mixers

CONFIGS: list[dict[str, Any]] = [
    {"name": "core:mixup"},
    {"name": "core:mixup", "mode": "sample", "p": 0.6},
    {"name": "core:mixup", "alpha": 0.3, "lam_max": True, "pairing": "flip"},
    {"name": "core:mixup", "mode": "sample", "protected_classes": [1], "protect": "exclude"},
    {"name": "core:mixup", "mode": "sample", "protected_classes": [0, 2]},
    {"name": "core:mixup", "lam": {"dist": "uniform", "low": 0.2, "high": 0.9}, "p": 0.5},
]


def _run(config: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for n in (1, 2, 7):
        x = torch.randn(n, 3, 2, generator=g(n))
        y = torch.randint(0, 3, (n,), generator=g(n))
        mixer, gen = create_mixer(config), g(n)
        for _ in range(4):
            result = mixer(x, y, generator=gen, num_classes=3)
            assert result.targets is not None
            plan = result.plan
            out += [plan.to_dict(), plan.is_identity, plan.scalar_lam, result.inputs]
            out += [result.targets.indices, result.targets.weights, result.targets.dense()]
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_mixer_results_match_the_torch_paths(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _run(config)
    for module in (_plan, _mixer, _targets):
        monkeypatch.setattr(module, "numpy_view", lambda t: None)
        if hasattr(module, "numpy_views"):
            monkeypatch.setattr(module, "numpy_views", lambda *ts: None)
    slow = _run(config)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert (a == b) if isinstance(a, dict) else same(a, b)


def test_numpy_views_only_of_plain_cpu_tensors() -> None:
    from mixup_core._cpu import numpy_view

    t = torch.arange(4.0)
    view = numpy_view(t)
    assert isinstance(view, np.ndarray)
    assert np.shares_memory(view, t.numpy())
    assert numpy_view(t.requires_grad_()) is None
    assert numpy_view(torch.zeros(2, dtype=torch.bfloat16)) is None
    assert numpy_view(torch.nn.Parameter(torch.zeros(2))) is None
    assert numpy_view(torch.zeros(2, device="meta")) is None
    assert numpy_view([1.0, 2.0]) is None
