"""SpecMix, time CutMix, frequency CutMix: exact cell shares, strip and band geometry, frame-level targets."""

from __future__ import annotations

import pytest
import torch

from mixup_audio import FrameMixedTargets, FreqCutMix, SpanPlan, SpecMix, TimeCutMix, mix_frame_targets
from mixup_audio._masks import frame_anchor_weights
from mixup_core import ConfigError, MixPlan, create_mixer
from mixup_core.testing import MixerConformanceTests


class TestSpecMixOdd(MixerConformanceTests):
    mixer_name = "specmix"
    mixer_params = {"mode": "sample", "alpha": 0.5, "max_time_strips": 2, "max_freq_bands": 4}
    sample_shape = (2, 13, 17)


class TestTimeCutMixOdd(MixerConformanceTests):
    mixer_name = "time-cutmix"
    mixer_params = {"mode": "sample"}
    sample_shape = (2, 13, 17)


class TestFreqCutMixOdd(MixerConformanceTests):
    mixer_name = "freq-cutmix"
    mixer_params = {"mode": "sample", "alpha": 2.0}
    sample_shape = (2, 13, 17)


MIXERS = [SpecMix, TimeCutMix, FreqCutMix]


def _marked(n: int, f: int = 13, t: int = 17, c: int = 2) -> torch.Tensor:
    """Sample i holds the value i + 1 in every cell, so each output cell names its source."""
    return (torch.arange(n, dtype=torch.float32) + 1).view(n, 1, 1, 1).expand(n, c, f, t).contiguous()


def _partner_cells(mixer_cls: type, mode: str, seed: int, n: int = 16) -> tuple[torch.Tensor, SpanPlan, torch.Tensor]:
    x = _marked(n)
    out = mixer_cls(mode=mode)(x, torch.arange(n), num_classes=n, generator=torch.Generator().manual_seed(seed))
    plan = out.plan
    assert isinstance(plan, SpanPlan)
    anchor = out.inputs == x
    partner = out.inputs == x[plan.index]
    # every cell is the anchor's or the partner's, and channels share the mask
    assert bool((anchor | partner).all())
    assert bool((anchor[:, 0] == anchor[:, 1]).all())
    self_paired = plan.index == torch.arange(n)
    return (~anchor[:, 0]) & ~self_paired.view(-1, 1, 1), plan, out.targets.dense(n)  # type: ignore[union-attr]


@pytest.mark.parametrize("mixer_cls", MIXERS)
@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_label_weight_is_the_exact_share_of_cells_kept(mixer_cls: type, mode: str) -> None:
    for seed in range(4):
        from_partner, plan, dense = _partner_cells(mixer_cls, mode, seed)
        kept = 1.0 - from_partner.float().mean(dim=(1, 2))
        torch.testing.assert_close(plan.lam, kept, atol=1e-6, rtol=0)
        rows = torch.arange(plan.batch_size)
        mixed = plan.index != rows
        torch.testing.assert_close(dense[rows, rows], plan.lam)
        torch.testing.assert_close(dense[rows[mixed], plan.index[mixed]], 1.0 - plan.lam[mixed])


@pytest.mark.parametrize("mixer_cls", MIXERS)
def test_strips_are_full_height_and_bands_full_width(mixer_cls: type) -> None:
    for seed in range(4):
        from_partner, _plan, _ = _partner_cells(mixer_cls, "sample", seed)
        full_cols = from_partner.all(dim=1)  # (B, T): frames taken whole
        full_rows = from_partner.all(dim=2)  # (B, F): bins taken whole
        # the partner's cells are exactly a union of whole frames and whole bins
        assert torch.equal(from_partner, full_cols[:, None, :] | full_rows[:, :, None])
        if mixer_cls is TimeCutMix:
            assert not full_rows.any() or bool(full_cols.all(dim=1)[full_rows.any(dim=1)].all())
            # one contiguous strip of round((1 - λ)·T) frames
            starts = (full_cols[:, 1:] & ~full_cols[:, :-1]).sum(dim=1) + full_cols[:, 0].long()
            assert bool((starts <= 1).all())
        if mixer_cls is FreqCutMix:
            assert not full_cols.any() or bool(full_rows.all(dim=1)[full_cols.any(dim=1)].all())
            starts = (full_rows[:, 1:] & ~full_rows[:, :-1]).sum(dim=1) + full_rows[:, 0].long()
            assert bool((starts <= 1).all())


def test_spans_never_overlap_and_respect_the_counts() -> None:
    mixer = SpecMix(mode="sample", max_time_strips=3, max_freq_bands=2)
    plan = mixer.sample(torch.zeros(64, 1, 40, 50), generator=torch.Generator().manual_seed(0))
    assert isinstance(plan, SpanPlan)
    assert plan.time_spans.shape == (64, 3, 2)
    assert plan.freq_spans.shape == (64, 2, 2)
    for spans, size in ((plan.time_spans, 50), (plan.freq_spans, 40)):
        assert bool((spans[..., 0] <= spans[..., 1]).all())
        assert bool((spans[..., 0] >= 0).all())
        assert bool((spans[..., 1] <= size).all())
        assert bool((spans[:, 1:, 0] >= spans[:, :-1, 1]).all())  # sorted and disjoint
    n_strips = (plan.time_spans[..., 1] > plan.time_spans[..., 0]).sum(dim=1)
    assert set(n_strips.tolist()) <= {0, 1, 2, 3}
    assert 3 in n_strips.tolist()


@pytest.mark.parametrize("lam", [0.1, 0.35, 0.5, 0.8, 0.97])
def test_masked_area_follows_lambda(lam: float) -> None:
    f, t = 40, 50
    for mixer in (
        SpecMix(lam=lam, mode="sample"),
        TimeCutMix(lam=lam, mode="sample"),
        FreqCutMix(lam=lam, mode="sample"),
    ):
        plan = mixer.sample(torch.zeros(32, 1, f, t), generator=torch.Generator().manual_seed(1))
        mixed = plan.index != torch.arange(32)
        # rounding to whole frames and bins only: within half a frame plus half a bin
        assert float((plan.lam[mixed] - lam).abs().max()) <= 0.5 / t + 0.5 / f + 1e-6, type(mixer).__name__
    both = SpecMix(lam=0.5, mode="sample").sample(torch.zeros(32, 1, f, t), generator=torch.Generator().manual_seed(2))
    assert isinstance(both, SpanPlan)
    uses_time = (both.time_spans[..., 1] > both.time_spans[..., 0]).any(dim=1)
    uses_freq = (both.freq_spans[..., 1] > both.freq_spans[..., 0]).any(dim=1)
    assert bool((uses_time & uses_freq).any())  # strips and bands together, not one axis only


def test_one_axis_specmix_and_invalid_counts() -> None:
    time_only = SpecMix(max_freq_bands=0, mode="sample").sample(
        torch.zeros(8, 1, 12, 30), generator=torch.Generator().manual_seed(0)
    )
    assert isinstance(time_only, SpanPlan)
    assert time_only.freq_spans.shape == (8, 0, 2)
    with pytest.raises(ValueError, match="max_time_strips"):
        SpecMix(max_time_strips=0, max_freq_bands=0)
    with pytest.raises(ConfigError, match="max_time_strips"):
        create_mixer({"name": "audio:specmix", "max_time_strips": 0, "max_freq_bands": 0})
    with pytest.raises(ValueError, match="max_freq_bands"):
        SpecMix(max_freq_bands=-1)


def test_batch_mode_shares_one_mask_and_sample_mode_does_not() -> None:
    x = torch.randn(6, 1, 20, 24)
    batch = create_mixer("audio:specmix")(
        x, torch.arange(6), num_classes=6, generator=torch.Generator().manual_seed(1)
    ).plan
    assert isinstance(batch, SpanPlan)
    assert bool((batch.time_spans == batch.time_spans[0]).all())
    assert bool((batch.freq_spans == batch.freq_spans[0]).all())
    assert batch.scalar_lam is not None
    sample = SpecMix(mode="sample")(x, torch.arange(6), num_classes=6, generator=torch.Generator().manual_seed(1)).plan
    assert isinstance(sample, SpanPlan)
    assert not bool((sample.time_spans == sample.time_spans[0]).all())


def test_three_dimensional_spectrograms_and_bad_shapes() -> None:
    x = torch.randn(4, 16, 20)
    out = SpecMix()(x, torch.arange(4), num_classes=4, generator=torch.Generator().manual_seed(0))
    assert out.inputs.shape == x.shape
    kept = (out.inputs == x).float().mean(dim=(1, 2))
    torch.testing.assert_close(kept, out.plan.lam)
    with pytest.raises(ValueError, match=r"\(B, C, F, T\).*\(4, 20\)"):
        SpecMix()(torch.randn(4, 20), torch.arange(4), num_classes=4)
    plan = SpecMix().sample(torch.randn(4, 1, 16, 20), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"\(16, 20\)"):
        SpecMix().apply(torch.randn(4, 1, 16, 21), plan)
    with pytest.raises(TypeError, match="SpanPlan"):
        SpecMix().apply(x, MixPlan(index=torch.tensor([1, 0, 3, 2]), lam=torch.full((4,), 0.5)))


# ------------------------------------------------------------------------------------------ frame-level targets
def _frame_setup(
    mixer: object, n: int = 6, f: int = 12, t: int = 20, k: int = 3, seed: int = 0
) -> tuple[SpanPlan, torch.Tensor]:
    y = torch.rand(n, t, k, generator=torch.Generator().manual_seed(9))
    plan = mixer.sample(torch.zeros(n, 1, f, t), y, generator=torch.Generator().manual_seed(seed))  # type: ignore[attr-defined]
    assert isinstance(plan, SpanPlan)
    return plan, y


def test_time_cutmix_frames_inside_the_strip_take_the_partners_labels() -> None:
    plan, y = _frame_setup(TimeCutMix(mode="sample"))
    mixed = mix_frame_targets(y, plan)
    x = _marked(6, 12, 20, 1)
    inside = TimeCutMix(mode="sample").apply(x, plan)[:, 0, 0] != x[:, 0, 0]  # (B, T): frames from the partner
    expected = torch.where(inside[..., None], y[plan.index], y)
    torch.testing.assert_close(mixed, expected)
    assert inside.any()
    assert (~inside).any()


def test_specmix_frame_weights_are_the_per_frame_share_of_cells() -> None:
    mixer = SpecMix(mode="sample")
    plan, y = _frame_setup(mixer)
    x = _marked(6, 12, 20, 1)
    out = mixer.apply(x, plan)
    share = (out == x).float().mean(dim=2)[:, 0]  # (B, T): anchor's share of each frame's cells
    w = frame_anchor_weights(plan, 20).float()
    torch.testing.assert_close(w, share)
    torch.testing.assert_close(w.mean(dim=1), plan.lam)  # averaged over frames: the clip's label weight
    expected = w[..., None] * y + (1 - w[..., None]) * y[plan.index]
    torch.testing.assert_close(mix_frame_targets(y, plan), expected)
    # the mixer's own targets for (B, T_frames, K) inputs are these frame targets
    call = mixer(torch.zeros(6, 1, 12, 20), y, generator=torch.Generator().manual_seed(0))
    assert isinstance(call.targets, FrameMixedTargets)
    torch.testing.assert_close(call.targets.dense(), expected)
    torch.testing.assert_close(call.targets.lam, plan.lam)


@pytest.mark.parametrize("n_frames", [5, 7, 40])
def test_frame_targets_at_another_resolution_average_the_columns(n_frames: int) -> None:
    plan, _ = _frame_setup(SpecMix(mode="sample"))
    w = frame_anchor_weights(plan, n_frames)
    torch.testing.assert_close(w.mean(dim=1).float(), plan.lam)  # the area is preserved
    fine = frame_anchor_weights(plan, 20)
    if n_frames == 5:  # 4 columns per target frame: plain averages
        torch.testing.assert_close(w, fine.view(-1, 5, 4).mean(dim=2))
    if n_frames == 40:  # each column split in two
        torch.testing.assert_close(w, fine.repeat_interleave(2, dim=1))
    assert bool(((w >= -1e-9) & (w <= 1 + 1e-9)).all())


def test_freq_cutmix_mixes_every_frame_with_the_clip_share_and_union_labels() -> None:
    plan, y = _frame_setup(FreqCutMix(mode="sample"))
    w = frame_anchor_weights(plan, 20).float()
    torch.testing.assert_close(w, plan.lam[:, None].expand(-1, 20))
    hot = (y > 0.5).float()
    union = mix_frame_targets(hot, plan, label_mix="union")
    mixed = plan.index != torch.arange(6)
    torch.testing.assert_close(union[mixed], torch.maximum(hot, hot[plan.index])[mixed])
    tc_plan, _ = _frame_setup(TimeCutMix(mode="sample"))
    union_t = TimeCutMix(mode="sample", label_mix="union").mix_targets(hot, tc_plan).dense()
    inside = frame_anchor_weights(tc_plan, 20) == 0
    torch.testing.assert_close(union_t, torch.where(inside[..., None], hot[tc_plan.index], hot))


def test_frame_targets_errors_and_other_plans() -> None:
    plan, y = _frame_setup(SpecMix())
    with pytest.raises(ValueError, match=r"\(B, T_frames, K\)"):
        mix_frame_targets(y[:, :, 0], plan)
    with pytest.raises(ValueError, match="batch of 6"):
        mix_frame_targets(y[:3], plan)
    flat = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.25, 0.25]))
    yy = torch.rand(2, 4, 3)
    torch.testing.assert_close(mix_frame_targets(yy, flat), 0.25 * yy + 0.75 * yy.flip(0))
