"""LogMelMixupFrontEnd: waveform vs mel-power mixing, equal to doing each step by hand; bad input."""

from __future__ import annotations

import pytest
import torch
import torchaudio

from mixup_audio import LogMelMixupFrontEnd, MixedFeatures, SpectrogramMixup, WaveformMixup
from mixup_core import MixPlan, create_mixer

SR = 8000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clips(shape: tuple[int, ...] = (5, 1, 2000), seed: int = 0) -> torch.Tensor:
    # tones of different pitch and loudness plus a little noise
    g = _gen(seed)
    t = torch.arange(shape[-1]) / SR
    freq = torch.rand((*shape[:-1], 1), generator=g) * 2000 + 200
    gain = torch.rand((*shape[:-1], 1), generator=g) * 0.9 + 0.1
    return gain * torch.sin(2 * torch.pi * freq * t) + 0.01 * torch.randn(shape, generator=g)


def _reference_transforms(top_db: float | None = 80.0) -> tuple[torch.nn.Module, torch.nn.Module]:
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32, power=2.0)
    return mel, torchaudio.transforms.AmplitudeToDB(stype="power", top_db=top_db)


def test_spectrogram_mode_mixes_mel_power_then_takes_db() -> None:
    x = _clips()
    y = torch.tensor([0, 1, 2, 3, 1])
    frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32, mix_at="spectrogram",
                                   mixer={"name": "audio:spectrogram", "domain": "power", "mode": "sample"})
    features, targets, plan = frontend(x, y, generator=_gen(1), sample_rate=SR, num_classes=4)
    mel, to_db = _reference_transforms()
    power = mel(x)  # (B, 1, 32, frames)
    lam = plan.lam.view(-1, 1, 1, 1)
    expected = to_db(lam * power + (1 - lam) * power[plan.index])
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-4)
    # and not the mix of the dB features
    naive = lam * to_db(power) + (1 - lam) * to_db(power)[plan.index]
    assert (features - naive).abs().max() > 1.0
    assert targets is not None
    dense = targets.dense()
    torch.testing.assert_close(
        dense, plan.lam[:, None] * torch.eye(4)[y] + (1 - plan.lam[:, None]) * torch.eye(4)[y[plan.index]]
    )


def test_waveform_mode_featurises_the_mixed_waveform() -> None:
    x = _clips((4, 2, 1500), seed=2)
    lengths = torch.tensor([1500, 700, 1200, 1500])
    frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32,
                                   mixer=WaveformMixup(mode="sample", length_mode="longer"))
    out = frontend(x, generator=_gen(3), sample_rate=SR, lengths=lengths)
    assert isinstance(out, MixedFeatures)
    mixed = WaveformMixup(mode="sample", length_mode="longer")(x, lengths=lengths, generator=_gen(3))
    assert mixed.plan.to_dict() == out.plan.to_dict()
    mel, to_db = _reference_transforms()
    expected = to_db(mel(mixed.inputs))
    torch.testing.assert_close(out.features, expected, rtol=0, atol=1e-5)
    assert out.features.shape == (4, 2, 32, 1500 // 128 + 1)
    assert out.targets is None


def test_mono_features_get_top_db_per_example() -> None:
    x = _clips((3, 1600), seed=4)
    x[0] *= 1e-4  # 80 dB quieter: torchaudio's 3-D cut-off would flatten it to the batch floor
    frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32, top_db=40.0).eval()
    features = frontend.featurize(x)
    assert features.shape == (3, 32, 1600 // 128 + 1)
    mel, to_db = _reference_transforms(top_db=40.0)
    torch.testing.assert_close(features, to_db(mel(x)[:, None])[:, 0], rtol=0, atol=1e-5)
    assert (features.amax(dim=(1, 2)) - features.amin(dim=(1, 2)) <= 40.0 + 1e-4).all()


def test_eval_mode_does_not_mix() -> None:
    x = _clips(seed=5)
    y = torch.tensor([0, 1, 2, 3, 1])
    for mix_at in ("waveform", "spectrogram"):
        frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32, mix_at=mix_at)  # type: ignore[arg-type]
        frontend.eval()
        features, targets, plan = frontend(x, y, generator=_gen(6), num_classes=4)
        assert plan.is_identity
        torch.testing.assert_close(features, frontend.featurize(x), rtol=0, atol=0)
        assert targets is not None
        torch.testing.assert_close(targets.dense(), torch.eye(4)[y])
        assert frontend.mixer.enabled, "eval mode must not change the front end's mixer"
        frontend.train()
        assert not frontend(x, y, generator=_gen(6), num_classes=4).plan.is_identity


def test_bad_calls_are_refused() -> None:
    frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, n_mels=32)
    x = _clips(seed=7)
    with pytest.raises(ValueError, match=r"sample_rate=16000 Hz does not match the front end's sample_rate=8000 Hz"):
        frontend(x, sample_rate=16000)
    with pytest.raises(TypeError, match="floating waveforms"):
        frontend((x * 1000).to(torch.int16))
    bad = x.clone()
    bad[0, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="waveforms contain non-finite values"):
        frontend(bad)
    with pytest.raises(ValueError, match=r"lengths\[0\]=9999 exceeds"):
        frontend(x, lengths=torch.tensor([9999, 1, 1, 1, 1]))
    spectro = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, n_mels=32, mix_at="spectrogram")
    with pytest.raises(ValueError, match="lengths= is used by a WaveformMixup"):
        spectro(x, lengths=torch.full((5,), 2000))
    with pytest.raises(ValueError, match="must declare domain='power', got domain='db'"):
        LogMelMixupFrontEnd(mix_at="spectrogram", mixer=SpectrogramMixup(domain="db"))
    with pytest.raises(ValueError, match="mixes waveforms"):
        LogMelMixupFrontEnd(mix_at="spectrogram", mixer="audio:waveform")
    with pytest.raises(ValueError, match="mixes spectrograms"):
        LogMelMixupFrontEnd(mix_at="waveform", mixer={"name": "audio:spectrogram", "domain": "power"})
    with pytest.raises(ValueError, match="mix_at"):
        LogMelMixupFrontEnd(mix_at="mel")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate"):
        LogMelMixupFrontEnd(sample_rate=0)


def test_other_mixers_and_float64() -> None:
    # any mixer of (B, C, F, T) tensors can mix mel power (here core's mixup), and the module can be converted
    frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, n_mels=16, mix_at="spectrogram",
                                   mixer=create_mixer("core:mixup", lam=0.5)).double()
    x = _clips((2, 1, 800), seed=8).double()
    features, _, plan = frontend(x, generator=_gen(9))
    assert features.dtype == torch.float64
    assert isinstance(plan, MixPlan)
    assert plan.scalar_lam == 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_inputs_device() -> None:
    x = _clips(seed=10)
    frontend = LogMelMixupFrontEnd(sample_rate=SR, n_fft=256, hop_length=128, n_mels=32, mix_at="spectrogram")
    with pytest.raises(ValueError, match=r"frontend\.to"):
        frontend(x.cuda(), generator=_gen(11))
    frontend = frontend.cuda()
    for mix_at in ("waveform", "spectrogram"):
        frontend.mix_at = mix_at
        frontend.mixer = frontend._resolve_mixer(None, mix_at)
        gpu = frontend(x.cuda(), torch.arange(5).cuda(), generator=_gen(11), num_classes=5)
        cpu = frontend.cpu()(x, torch.arange(5), generator=_gen(11), num_classes=5)
        frontend.cuda()
        assert gpu.features.device.type == "cuda"
        assert gpu.targets is not None
        assert gpu.targets.dense().device.type == "cuda"
        torch.testing.assert_close(gpu.features.cpu(), cpu.features, rtol=1e-4, atol=1e-3)


def test_channel_count_mismatch_is_refused() -> None:
    import pytest
    import torch

    from mixup_audio import LogMelMixupFrontEnd

    frontend = LogMelMixupFrontEnd(sample_rate=16000, channels=1)
    with pytest.raises(ValueError, match=r"2 channel\(s\) \(stereo\).*channels=1 \(mono\).*\(4, 2, 1600\)"):
        frontend(torch.randn(4, 2, 1600), torch.arange(4), num_classes=4)
    out = frontend.featurize(torch.randn(4, 1, 1600))
    assert out.shape[0] == 4
    with pytest.raises(ValueError, match="channels"):
        LogMelMixupFrontEnd(channels=0)
