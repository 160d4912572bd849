"""Protection holds for the real shares of the plan, whatever geometry ``_make_plan`` draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from mixup_core import MixPlan, PairMixer, mixer_dataclass


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True, kw_only=True)
class SharePlan(MixPlan):
    """A plan whose label weight ``lam`` may differ from the real share ``real`` of the anchor."""

    real: torch.Tensor


def _lerp(inputs: torch.Tensor, plan: MixPlan, share: torch.Tensor) -> torch.Tensor:
    w = share.to(inputs.dtype).view((-1,) + (1,) * (inputs.ndim - 1))
    return inputs[plan.index] * (1 - w) + inputs * w


@mixer_dataclass
class RandomGeometry(PairMixer):
    """Like ResizeMix or SmoothMix: the anchor's share is drawn from the generator, whatever λ is."""

    def _make_plan(self, inputs, index, lam, *, generator):  # type: ignore[no-untyped-def]
        n = index.shape[0]
        drawn = torch.rand(1 if self.mode == "batch" else n, generator=generator).expand(n)
        unmixed = (index == torch.arange(n)) | (lam >= 1)
        return MixPlan(index=index, lam=torch.where(unmixed, torch.ones(n), drawn).float())

    def _apply(self, inputs, plan, *, out):  # type: ignore[no-untyped-def]
        return _lerp(inputs, plan, plan.lam)


@mixer_dataclass
class Scripted(PairMixer):
    """The anchor shares of round r are ``script[r]``; unmixed samples get 1. Records each call."""

    script: ClassVar[list[list[float]]] = []
    calls: ClassVar[list[tuple[list[int], list[float]]]] = []

    def _make_plan(self, inputs, index, lam, *, generator):  # type: ignore[no-untyped-def]
        n = index.shape[0]
        shares = torch.tensor(self.script[len(self.calls)])
        self.calls.append((index.tolist(), [round(v, 6) for v in lam.tolist()]))
        unmixed = (index == torch.arange(n)) | (lam >= 1)
        return MixPlan(index=index, lam=torch.where(unmixed, torch.ones(n), shares))

    def _apply(self, inputs, plan, *, out):  # type: ignore[no-untyped-def]
        return _lerp(inputs, plan, plan.lam)


@mixer_dataclass
class IgnoresSelfPairing(PairMixer):
    """A broken mixer: it mixes every sample at 0.5, even a sample paired with itself."""

    def _make_plan(self, inputs, index, lam, *, generator):  # type: ignore[no-untyped-def]
        return MixPlan(index=index, lam=torch.full((index.shape[0],), 0.5))

    def _apply(self, inputs, plan, *, out):  # type: ignore[no-untyped-def]
        return _lerp(inputs, plan, plan.lam)


@mixer_dataclass
class DrawnLabels(PairMixer):
    """Labels keep the drawn λ (``lam``) while the real anchor share is drawn (``real``), as CutMix's
    ``correct_lam=False``; ``_input_shares`` tells protection the real shares."""

    def _make_plan(self, inputs, index, lam, *, generator):  # type: ignore[no-untyped-def]
        n = index.shape[0]
        drawn = torch.rand(n, generator=generator)
        unmixed = (index == torch.arange(n)) | (lam >= 1)
        return SharePlan(index=index, lam=lam, real=torch.where(unmixed, torch.ones(n), drawn))

    def _apply(self, inputs, plan, *, out):  # type: ignore[no-untyped-def]
        return _lerp(inputs, plan, plan.real)  # type: ignore[attr-defined]

    def _input_shares(self, plan):  # type: ignore[no-untyped-def]
        return torch.stack([plan.real, 1.0 - plan.real], dim=1)


def _real_shares(mixed: torch.Tensor) -> torch.Tensor:
    return mixed  # with inputs eye(B), row i of the mix is the share of every source in sample i


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_floor_holds_when_the_geometry_ignores_lam(mode: str) -> None:
    n, floor = 8, 0.7
    mixer = RandomGeometry(mode=mode, protect_floor=floor, num_classes=n)
    x, y = torch.eye(n), torch.arange(n)
    mixed_protected = 0
    for seed in range(200):
        protected = torch.rand(n, generator=g(1000 + seed)) < 0.35
        out = mixer(x, y, generator=g(seed), protected=protected)
        shares = _real_shares(out.inputs)
        torch.testing.assert_close(out.targets.dense(), shares)  # labels are the real shares
        own = shares.diagonal()
        assert bool((own[protected] >= floor - 1e-6).all()), (seed, own)
        elsewhere = shares.clone().fill_diagonal_(0)[:, protected]
        assert bool(((elsewhere == 0) | (elsewhere >= floor - 1e-6)).all()), (seed, elsewhere)
        mixed_protected += int((protected & (own < 1)).sum())
        # the plan is deterministic, sample() draws it, and apply() replays it
        assert mixer.sample(x, y, generator=g(seed), protected=protected).to_dict() == out.plan.to_dict()
    assert mixed_protected > 0, "protected samples were never mixed: the test has no power"


def test_every_rebuilt_plan_is_checked_until_the_floor_holds() -> None:
    """Round 1 dilutes protected sample 0 as anchor; the rebuilt plan dilutes it as sample 3's partner;
    the third plan holds. (Checking only the first rebuild returned the second plan.)"""
    Scripted.calls.clear()
    Scripted.script = [
        [0.65, 0.8, 0.8, 0.3],  # sample 0 (protected) keeps 0.65 < 0.7
        [0.9, 0.8, 0.8, 0.4],  # sample 3's partner, sample 0, makes up 0.6 < 0.7
        [0.9, 0.8, 0.8, 0.9],
    ]
    mixer = Scripted(pairing="flip", lam=0.8, protect_floor=0.7)
    protected = torch.tensor([True, False, False, False])
    plan = mixer.sample(torch.zeros(4, 2), generator=g(0), protected=protected)
    # flip pairs 0↔3 and 1↔2; λ = 0.8, lowered to 1 − 0.7 for sample 3, whose partner is protected
    assert Scripted.calls == [
        ([3, 2, 1, 0], [0.8, 0.8, 0.8, 0.3]),
        ([0, 2, 1, 0], [1.0, 0.8, 0.8, 0.3]),
        ([0, 2, 1, 3], [1.0, 0.8, 0.8, 1.0]),
    ]
    assert plan.index.tolist() == [0, 2, 1, 3]
    torch.testing.assert_close(plan.lam, torch.tensor([1.0, 0.8, 0.8, 1.0]))


def test_a_plan_that_holds_is_built_once() -> None:
    Scripted.calls.clear()
    Scripted.script = [[0.8, 0.8, 0.8, 0.3]]
    mixer = Scripted(pairing="flip", lam=0.8, protect_floor=0.7)
    plan = mixer.sample(torch.zeros(4, 2), generator=g(0), protected=torch.tensor([True, False, False, False]))
    assert len(Scripted.calls) == 1
    torch.testing.assert_close(plan.lam, torch.tensor([0.8, 0.8, 0.8, 0.3]))


def test_a_partner_with_no_share_needs_no_rebuild() -> None:
    """Samples that ``p`` skipped keep a partner in the plan but take nothing from it: no dilution."""
    Scripted.calls.clear()
    Scripted.script = [[0.8, 0.8, 0.8, 0.3]]
    mixer = Scripted(pairing="flip", lam=0.8, mode="sample", p=0.0, protect_floor=0.7)
    plan = mixer.sample(torch.zeros(4, 2), generator=g(0), protected=torch.tensor([True, False, False, False]))
    assert len(Scripted.calls) == 1
    assert plan.index.tolist() == [3, 2, 1, 0]
    assert plan.is_identity


@pytest.mark.parametrize("protect", ["floor", "exclude"])
def test_a_mixer_that_mixes_self_paired_samples_is_an_error(protect: str) -> None:
    mixer = IgnoresSelfPairing(protect=protect, protect_floor=0.7)
    with pytest.raises(RuntimeError, match=r"IgnoresSelfPairing\._make_plan mixes samples \[0\]"):
        mixer.sample(torch.zeros(4, 2), generator=g(0), protected=torch.tensor([True, False, False, False]))
    # without protected samples nothing is checked
    assert mixer.sample(torch.zeros(4, 2), generator=g(0)).lam.tolist() == [0.5] * 4


def test_protection_is_checked_on_the_real_shares_of_input_shares() -> None:
    n, floor = 8, 0.7
    mixer = DrawnLabels(mode="sample", protect_floor=floor)
    x = torch.eye(n)
    for seed in range(100):
        protected = torch.rand(n, generator=g(1000 + seed)) < 0.35
        out = mixer(x, generator=g(seed), protected=protected)
        shares = _real_shares(out.inputs)
        assert bool((shares.diagonal()[protected] >= floor - 1e-6).all()), seed
        elsewhere = shares.clone().fill_diagonal_(0)[:, protected]
        assert bool(((elsewhere == 0) | (elsewhere >= floor - 1e-6)).all()), seed
