"""audio:waveform: conformance, STFT linearity, per-clip lengths, frame-level and multi-label targets."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mixup_audio import WaveformMixup, WaveformPlan
from mixup_core import ConfigError, Mixer, create_mixer
from mixup_core.testing import MixerConformanceTests


class TestWaveformStereoSample(MixerConformanceTests):
    mixer_name = "audio:waveform"
    mixer_params = {"mode": "sample", "length_mode": "longer"}
    sample_shape = (2, 257)


class TestWaveformWithLengths(MixerConformanceTests):
    """The masked path (explicit full lengths, random partner offsets) through the whole kit."""

    mixer_name = "audio:waveform"
    mixer_params = {"mode": "sample", "partner_offset": "random"}
    sample_shape = (2, 257)

    def call_kwargs(
        self, mixer: Mixer, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        return {"lengths": torch.full((inputs.shape[0],), inputs.shape[-1])}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _stft(x: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(64, dtype=x.dtype)
    return torch.stft(x.reshape(-1, x.shape[-1]), n_fft=64, hop_length=16, window=window, return_complex=True)


# --------------------------------------------------------------------------------------------- physics
def test_waveform_mix_equals_mix_of_complex_stfts() -> None:
    x = torch.randn(6, 2, 1000, generator=_gen(1), dtype=torch.float64)
    out = WaveformMixup(mode="sample")(x, generator=_gen(2))
    plan = out.plan
    lam = plan.lam.double().view(-1, 1, 1, 1)
    spec_a = _stft(x).view(6, 2, *_stft(x).shape[-2:])
    expected = lam * spec_a + (1 - lam) * spec_a[plan.index]
    got = _stft(out.inputs).view_as(expected)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    assert len(set(plan.lam.tolist())) > 1  # per-sample λ really differs


def test_power_of_waveform_mix_has_the_cross_term() -> None:
    # |STFT(mix)|² = λ²|A|² + (1−λ)²|B|² + 2λ(1−λ)Re(A·B*): not the λ-mix of the power spectrograms
    x = torch.randn(4, 1, 800, generator=_gen(3), dtype=torch.float64)
    out = WaveformMixup(lam=0.3)(x, generator=_gen(4))
    a, b = _stft(x), _stft(x)[out.plan.index]
    power = _stft(out.inputs).abs().square()
    lam = float(out.plan.lam[0])  # 0.3 in float32
    expected = lam**2 * a.abs().square() + (1 - lam) ** 2 * b.abs().square() + 2 * lam * (1 - lam) * (a * b.conj()).real
    torch.testing.assert_close(power, expected, rtol=1e-9, atol=1e-9)
    naive = lam * a.abs().square() + (1 - lam) * b.abs().square()
    assert (power - naive).abs().max() > 1.0


# --------------------------------------------------------------------------------------------- lengths
def _reference(x: torch.Tensor, plan: WaveformPlan, mode: str) -> torch.Tensor:
    """Per-clip loop: the anchor and the (cropped, zero-padded) partner over the mixed length."""
    out = torch.zeros_like(x)
    assert plan.source_lengths is not None
    assert plan.lengths is not None
    for i in range(x.shape[0]):
        j, lam = int(plan.index[i]), float(plan.lam[i])
        la, lb, off = int(plan.source_lengths[i]), int(plan.source_lengths[j]), int(plan.offsets[i])
        span = la if mode == "anchor" else max(la, lb)
        a = torch.zeros(x.shape[1], span, dtype=x.dtype)
        a[:, : min(la, span)] = x[i, :, :la][:, :span]
        b = torch.zeros(x.shape[1], span, dtype=x.dtype)
        seg = x[j, :, off:lb][:, :span]
        b[:, : seg.shape[1]] = seg
        out[i, :, :span] = lam * a + (1 - lam) * b
        assert int(plan.lengths[i]) == (span if 0 < lam < 1 else (la if lam >= 1 else lb))
    return out


@pytest.mark.parametrize("mode", ["anchor", "longer"])
def test_clips_of_different_lengths(mode: str) -> None:
    x = torch.randn(6, 2, 120, generator=_gen(5), dtype=torch.float64)
    lengths = torch.tensor([120, 40, 75, 0, 120, 99])
    # garbage in the padding must not leak into the mix
    t = torch.arange(120)
    x = torch.where(t < lengths.view(-1, 1, 1), x, torch.full_like(x, 7.0))
    out = WaveformMixup(mode="sample", length_mode=mode)(x, lengths=lengths, generator=_gen(6))
    plan = out.plan
    assert isinstance(plan, WaveformPlan)
    torch.testing.assert_close(out.inputs, _reference(x, plan, mode), rtol=0, atol=1e-12)
    beyond = t >= plan.lengths.view(-1, 1, 1)  # type: ignore[union-attr]
    assert (out.inputs[beyond.expand_as(x)] == 0).all(), "positions beyond a mixed clip's length must stay zero"
    if mode == "anchor":
        assert torch.equal(plan.lengths, lengths)  # type: ignore[arg-type]
    else:
        assert torch.equal(plan.lengths, torch.maximum(lengths, lengths[plan.index]))  # type: ignore[arg-type]


def test_longer_mode_tail_is_the_longer_clip_at_its_gain() -> None:
    x = torch.zeros(2, 1, 10)
    x[0, 0, :4] = 1.0  # anchor 0: 4 samples
    x[1, 0, :] = 2.0  # anchor 1: 10 samples
    out = WaveformMixup(lam=0.75, length_mode="longer")(x, lengths=torch.tensor([4, 10]), generator=_gen())
    assert out.plan.index.tolist() == [1, 0]
    # clip 0: overlap 0.75·1 + 0.25·2, then the partner's tail alone at its gain 0.25
    torch.testing.assert_close(out.inputs[0, 0], torch.tensor([1.25] * 4 + [0.5] * 6))
    # clip 1: overlap 0.75·2 + 0.25·1, then its own tail at 0.75
    torch.testing.assert_close(out.inputs[1, 0], torch.tensor([1.75] * 4 + [1.5] * 6))
    assert out.plan.lengths.tolist() == [10, 10]  # type: ignore[attr-defined]
    assert out.targets is None


def test_random_partner_offset_crops_a_longer_partner() -> None:
    x = torch.arange(4 * 50, dtype=torch.float64).view(4, 1, 50)
    lengths = torch.tensor([10, 50, 20, 35])
    mixer = WaveformMixup(partner_offset="random", mode="sample")
    offsets = set()
    for seed in range(8):
        out = mixer(x, lengths=lengths, generator=_gen(seed))
        plan = out.plan
        assert isinstance(plan, WaveformPlan)
        slack = (lengths[plan.index] - lengths).clamp(min=0)
        assert ((plan.offsets >= 0) & (plan.offsets <= slack)).all()
        assert (plan.offsets[slack == 0] == 0).all()
        torch.testing.assert_close(out.inputs, _reference(x, plan, "anchor"), rtol=0, atol=1e-12)
        offsets.update(plan.offsets[slack > 0].tolist())
    assert len(offsets) > 3, "random offsets should vary with the seed"
    again = mixer(x, lengths=lengths, generator=_gen(3))
    assert again.plan.to_dict() == mixer(x, lengths=lengths, generator=_gen(3)).plan.to_dict()


def test_start_alignment_is_the_default() -> None:
    x = torch.randn(4, 1, 30, generator=_gen(7))
    out = WaveformMixup()(x, lengths=torch.tensor([30, 5, 12, 30]), generator=_gen(8))
    assert (out.plan.offsets == 0).all()  # type: ignore[attr-defined]


def test_without_lengths_both_modes_are_plain_mixup() -> None:
    x = torch.randn(5, 2, 64, generator=_gen(9))
    core = create_mixer("core:mixup", mode="sample")(x, generator=_gen(10))
    for mode in ("anchor", "longer"):
        out = WaveformMixup(mode="sample", length_mode=mode)(x, generator=_gen(10))
        torch.testing.assert_close(out.inputs, core.inputs, rtol=0, atol=1e-6)
        assert out.plan.lengths is None  # type: ignore[attr-defined]


def test_mono_2d_inputs_keep_their_shape() -> None:
    x = torch.randn(5, 300, generator=_gen(11))
    lengths = torch.tensor([300, 120, 250, 1, 300])
    flat = WaveformMixup(mode="sample", length_mode="longer")(x, lengths=lengths, generator=_gen(12))
    chan = WaveformMixup(mode="sample", length_mode="longer")(x[:, None], lengths=lengths, generator=_gen(12))
    assert flat.inputs.shape == (5, 300)
    torch.testing.assert_close(flat.inputs, chan.inputs[:, 0], rtol=0, atol=0)


def test_unmixed_clip_keeps_its_length() -> None:
    x = torch.randn(3, 1, 20, generator=_gen(13))
    lengths = torch.tensor([5, 20, 12])
    out = WaveformMixup(lam=1.0, length_mode="longer")(x, lengths=lengths, generator=_gen())
    assert out.plan.is_identity
    assert torch.equal(out.plan.lengths, lengths)  # type: ignore[attr-defined]
    off = WaveformMixup(enabled=False)(x, lengths=lengths, generator=_gen())
    assert torch.equal(off.plan.lengths, lengths)  # type: ignore[attr-defined]
    torch.testing.assert_close(off.inputs, x, rtol=0, atol=0)


def test_sample_and_apply_replay_with_lengths() -> None:
    x = torch.randn(6, 1, 40, generator=_gen(14))
    lengths = torch.tensor([40, 10, 33, 21, 40, 2])
    mixer = WaveformMixup(mode="sample", partner_offset="random")
    plan = mixer.sample(x, lengths=lengths, generator=_gen(15))
    out = mixer(x, lengths=lengths, generator=_gen(15))
    assert plan.to_dict() == out.plan.to_dict()
    torch.testing.assert_close(mixer.apply(x, plan), out.inputs, rtol=0, atol=0)
    assert "_lengths" not in mixer.__dict__, "a call must not leave its lengths on the mixer"


# --------------------------------------------------------------------------------------------- bad input
def test_lengths_errors() -> None:
    mixer = WaveformMixup()
    x = torch.randn(4, 1, 800)
    with pytest.raises(ValueError, match=r"lengths\[3\]=900 exceeds inputs.shape\[-1\]=800"):
        mixer(x, lengths=torch.tensor([800, 10, 20, 900]))
    with pytest.raises(ValueError, match=r"lengths\[1\]=-1 is negative"):
        mixer(x, lengths=torch.tensor([800, -1, 20, 30]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(4,\).*\(3,\)"):
        mixer(x, lengths=torch.tensor([800, 10, 20]))
    with pytest.raises(TypeError, match=r"lengths must be an integer tensor.*float32"):
        mixer(x, lengths=torch.tensor([800.0, 10, 20, 30]))
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        mixer(x, lengths=[800, 10, 20, 30])  # type: ignore[arg-type]


def test_input_errors() -> None:
    mixer = WaveformMixup()
    with pytest.raises(ValueError, match=r"\(B, C, T\).*\(4,\)"):
        mixer(torch.randn(4))
    with pytest.raises(ValueError, match=r"\(B, C, T\).*\(2, 1, 3, 4\)"):
        mixer(torch.randn(2, 1, 3, 4))
    with pytest.raises(TypeError, match=r"floating inputs, got dtype torch.int16.*32768"):
        mixer(torch.zeros(2, 1, 10, dtype=torch.int16))
    with pytest.raises(TypeError, match="complex"):
        mixer(torch.zeros(2, 1, 10, dtype=torch.complex64))
    x = torch.randn(3, 1, 10)
    x[1, 0, 4] = float("nan")
    with pytest.raises(ValueError, match=r"inputs contain non-finite values \(1 of 30; first inputs\[1, 0, 4\]=nan\)"):
        mixer(x, generator=_gen())
    x[1, 0, 4] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        mixer(x, generator=_gen())
    WaveformMixup(check_values="never")(x, generator=_gen())  # the check can be turned off
    with pytest.raises(ValueError, match=r"partner_offset='random'.*length_mode='anchor'"):
        WaveformMixup(partner_offset="random", length_mode="longer")
    with pytest.raises(ConfigError, match=r"partner_offset='random'.*length_mode='anchor'"):
        create_mixer({"name": "audio:waveform", "partner_offset": "random", "length_mode": "longer"})
    with pytest.raises(ConfigError, match="length_mode"):
        create_mixer({"name": "audio:waveform", "length_mode": "shortest"})


# --------------------------------------------------------------------------------------------- targets
def test_frame_level_targets_follow_lambda_frame_wise() -> None:
    x = torch.randn(5, 1, 160, generator=_gen(16))
    y = (torch.rand(5, 10, 3, generator=_gen(17)) > 0.6).float()  # (B, T_frames, K) event activity
    out = WaveformMixup(mode="sample")(x, y, generator=_gen(18))
    lam = out.plan.lam.view(-1, 1, 1)
    assert out.targets is not None
    torch.testing.assert_close(out.targets.dense(), lam * y + (1 - lam) * y[out.plan.index])
    union = WaveformMixup(mode="sample", label_mix="union")(x, y, generator=_gen(18))
    assert union.targets is not None
    torch.testing.assert_close(union.targets.dense(), torch.maximum(y, y[union.plan.index]))


def test_multi_label_targets_linear_and_union() -> None:
    x = torch.randn(6, 2, 50, generator=_gen(19))
    y = torch.tensor(
        [[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 1, 0]], dtype=torch.bool
    )
    linear = WaveformMixup(lam=0.7)(x, y, generator=_gen(20))
    yf, idx = y.float(), linear.plan.index
    assert linear.targets is not None
    torch.testing.assert_close(linear.targets.dense(), 0.7 * yf + 0.3 * yf[idx])
    union = WaveformMixup(lam=0.7, label_mix="union")(x, y, generator=_gen(20))
    assert union.targets is not None
    torch.testing.assert_close(union.targets.dense(), torch.maximum(yf, yf[idx]))
