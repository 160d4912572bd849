"""audio:spectrogram: conformance per domain, mixing in linear power vs in the input values, domain checks."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torchaudio.functional as AF

from mixup_audio import SpectrogramMixup
from mixup_core import ConfigError, create_mixer, to_config
from mixup_core.testing import MixerConformanceTests, identity_inputs, source_shares

_NOT_LINEAR = (
    "the kit measures source shares linearly in the input values; this domain is mixed in linear power, "
    "so the shares are those of the power (checked by test_power_shares_follow_lambda)"
)


class _NonNegative(MixerConformanceTests):
    """Kit inputs for the power and magnitude domains: |N(0, 1)| (standard normal values would be rejected)."""

    def make_inputs(self, batch_size: int, *, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
        return super().make_inputs(batch_size, dtype=dtype, seed=seed).abs()


class TestSpectrogramPower(_NonNegative):
    mixer_name = "audio:spectrogram"
    mixer_params = {"domain": "power"}


class TestSpectrogramPowerMono(_NonNegative):
    mixer_name = "audio:spectrogram"
    mixer_params = {"domain": "power", "mode": "sample"}
    sample_shape = (9, 7)  # (F, T): the frequency axis doubles as the kit's feature dimension


class _PowerShares:
    """The kit measures shares linearly in the input values; these domains mix in linear power (tested below)."""

    @pytest.mark.xfail(reason=_NOT_LINEAR, strict=True)
    def test_label_share_consistency(self) -> None:
        super().test_label_share_consistency()

    @pytest.mark.xfail(reason=_NOT_LINEAR, strict=True)
    def test_protect_floor(self) -> None:
        super().test_protect_floor()

    @pytest.mark.xfail(reason=_NOT_LINEAR, strict=True)
    def test_protect_exclude(self) -> None:
        super().test_protect_exclude()


class TestSpectrogramMagnitude(_PowerShares, _NonNegative):
    mixer_name = "audio:spectrogram"
    mixer_params = {"domain": "magnitude"}


class TestSpectrogramDB(_PowerShares, MixerConformanceTests):
    mixer_name = "audio:spectrogram"
    mixer_params = {"domain": "db", "top_db": 80.0}


class TestSpectrogramLogMelNaive(MixerConformanceTests):
    """``linear-in-input`` is linear in the values, so the kit's share check holds for any domain."""

    mixer_name = "audio:spectrogram"
    mixer_params = {"domain": "log-mel", "domain_mixing": "linear-in-input"}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _db_batch(seed: int, shape: tuple[int, ...] = (6, 2, 16, 10), dtype: torch.dtype = torch.float64) -> torch.Tensor:
    power = torch.rand(shape, generator=_gen(seed), dtype=dtype) ** 4 * 1e3 + 1e-6
    return AF.amplitude_to_DB(power, 10.0, 1e-10, 0.0, None)


def _lam(plan_lam: torch.Tensor, ndim: int) -> torch.Tensor:
    return plan_lam.double().view(-1, *([1] * (ndim - 1)))


# --------------------------------------------------------------------------------------------- physics
def test_db_default_is_the_db_of_the_mixed_power() -> None:
    x = _db_batch(1)
    out = SpectrogramMixup(domain="db", mode="sample")(x, generator=_gen(2))
    lam, idx = _lam(out.plan.lam, 4), out.plan.index
    power = AF.DB_to_amplitude(x, 1.0, 1.0)
    expected = AF.amplitude_to_DB(lam * power + (1 - lam) * power[idx], 10.0, 1e-10, 0.0, None)
    torch.testing.assert_close(out.inputs, expected, rtol=0, atol=1e-9)
    average = lam * x + (1 - lam) * x[idx]
    # the mix of powers is louder than the average of dB values (Jensen), by up to several dB
    assert (out.inputs >= average - 1e-9).all()
    assert (out.inputs - average).max() > 3.0


def test_linear_in_input_is_the_plain_average_and_differs() -> None:
    x = _db_batch(3)
    naive = SpectrogramMixup(domain="db", domain_mixing="linear-in-input", mode="sample")(x, generator=_gen(4))
    physical = SpectrogramMixup(domain="db", mode="sample")(x, generator=_gen(4))
    lam, idx = _lam(naive.plan.lam, 4), naive.plan.index
    torch.testing.assert_close(naive.inputs, lam * x + (1 - lam) * x[idx], rtol=0, atol=1e-12)
    assert naive.plan.to_dict() == physical.plan.to_dict()
    assert (physical.inputs - naive.inputs).abs().max() > 3.0


def test_power_shares_follow_lambda() -> None:
    # the label weight λ is each source's share of the mixed power, in every domain
    b = 5
    ones = identity_inputs(b, (1, 4, 3))  # channel j holds source j: power 1 there, 0 elsewhere
    for domain in ("power", "magnitude", "db", "log-mel"):
        mixer = SpectrogramMixup(domain=domain, mode="sample")  # type: ignore[arg-type]
        if domain == "db":
            x = AF.amplitude_to_DB(ones.clamp(min=1e-10), 10.0, 1e-10, 0.0, None)
        elif domain == "log-mel":
            x = torch.log(ones.clamp(min=1e-10))
        else:
            x = ones
        out = mixer(x, torch.arange(b), generator=_gen(5), num_classes=b)
        power = {"power": out.inputs, "magnitude": out.inputs.square(),
                 "db": AF.DB_to_amplitude(out.inputs, 1.0, 1.0), "log-mel": out.inputs.exp()}[domain]
        shares = source_shares(power)
        assert out.targets is not None
        torch.testing.assert_close(out.targets.dense(b), shares, atol=1e-5, rtol=0, msg=domain)


def test_magnitude_mixes_squares_then_takes_the_root() -> None:
    x = torch.rand(5, 1, 8, 6, generator=_gen(6), dtype=torch.float64)
    x[0, 0, 0] = 0.0  # silent bins
    x[x.shape[0] - 1, 0, 0] = 0.0
    out = SpectrogramMixup(domain="magnitude", mode="sample")(x, generator=_gen(7))
    lam, idx = _lam(out.plan.lam, 4), out.plan.index
    torch.testing.assert_close(out.inputs, (lam * x.square() + (1 - lam) * x[idx].square()).sqrt(), rtol=0, atol=1e-12)
    assert (out.inputs - (lam * x + (1 - lam) * x[idx])).abs().max() > 1e-3


def test_magnitude_gradient_is_finite_at_silence() -> None:
    x = torch.zeros(4, 1, 3, 3, dtype=torch.float64)
    x[:, :, 1:] = torch.rand(4, 1, 2, 3, generator=_gen(8), dtype=torch.float64)
    x.requires_grad_(True)
    out = SpectrogramMixup(domain="magnitude")(x, generator=_gen(9))
    out.inputs.sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(("log_base", "log_offset"), [(math.e, 0.0), (10.0, 0.0), (math.e, 1e-6)])
def test_log_mel_is_the_log_of_the_mixed_power(log_base: float, log_offset: float) -> None:
    power = torch.rand(6, 10, 7, generator=_gen(10), dtype=torch.float64) ** 3
    x = torch.log(power + log_offset).clamp(min=math.log(1e-10)) / math.log(log_base)
    mixer = SpectrogramMixup(domain="log-mel", log_base=log_base, log_offset=log_offset, mode="sample")
    out = mixer(x, generator=_gen(11))
    lam, idx = _lam(out.plan.lam, 3), out.plan.index
    p = torch.pow(log_base, x) - log_offset
    expected = torch.log(lam * p + (1 - lam) * p[idx] + log_offset) / math.log(log_base)
    torch.testing.assert_close(out.inputs, expected, rtol=0, atol=1e-9)


def test_top_db_is_applied_per_example_like_torchaudio_4d() -> None:
    x = _db_batch(12, (6, 2, 8, 5))
    x[0] -= 60.0  # a much quieter clip: a batch-wide cut-off would flatten it
    out = SpectrogramMixup(domain="db", top_db=30.0, mode="sample")(x, generator=_gen(13))
    lam, idx = _lam(out.plan.lam, 4), out.plan.index
    power = AF.DB_to_amplitude(x, 1.0, 1.0)
    expected = AF.amplitude_to_DB(lam * power + (1 - lam) * power[idx], 10.0, 1e-10, 0.0, 30.0)
    torch.testing.assert_close(out.inputs, expected, rtol=0, atol=1e-9)
    peak = out.inputs.amax(dim=(1, 2, 3))
    floor = out.inputs.amin(dim=(1, 2, 3))
    assert (peak - floor <= 30.0 + 1e-9).all()
    # 3-D (B, F, T) batches get a cut-off per example too (torchaudio would use one for the batch)
    flat = SpectrogramMixup(domain="db", top_db=30.0, mode="sample")(x[:, 0], generator=_gen(13))
    expected3 = AF.amplitude_to_DB((lam * power + (1 - lam) * power[idx])[:, :1], 10.0, 1e-10, 0.0, 30.0)[:, 0]
    torch.testing.assert_close(flat.inputs, expected3, rtol=0, atol=1e-9)


def test_unmixed_samples_are_returned_exactly() -> None:
    x = _db_batch(14)
    x[:, 0, 0, 0] = -150.0  # below the amin floor: a round trip through power would move it to -100 dB
    mixer = SpectrogramMixup(domain="db", top_db=20.0, mode="sample", p=0.5)
    out = mixer(x, generator=_gen(15))
    kept = out.plan.lam >= 1
    assert kept.any()
    assert (~kept).any()
    torch.testing.assert_close(out.inputs[kept], x[kept], rtol=0, atol=0)


def test_half_precision_db_does_not_overflow() -> None:
    x = _db_batch(16, dtype=torch.float32) + 40.0  # up to ~70 dB: 10^7 overflows float16
    half = x.half()
    out = SpectrogramMixup(domain="db", mode="sample")(half, generator=_gen(17))
    ref = SpectrogramMixup(domain="db", mode="sample")(half.float(), generator=_gen(17))
    assert out.inputs.dtype == torch.float16
    assert torch.isfinite(out.inputs).all()
    torch.testing.assert_close(out.inputs.float(), ref.inputs, rtol=2e-3, atol=0.05)


# --------------------------------------------------------------------------------------------- checks
def test_declared_power_with_negative_values_is_refused() -> None:
    x = torch.rand(4, 1, 5, 5, generator=_gen(18))
    x[2, 0, 1, 1] = -0.3
    with pytest.raises(ValueError, match=r"declared domain 'power' but inputs have negative values \(min -0.3\)"):
        SpectrogramMixup(domain="power")(x, generator=_gen())
    with pytest.raises(ValueError, match=r"declared domain 'magnitude' but inputs have negative values \(min -0.3\)"):
        SpectrogramMixup(domain="magnitude")(x, generator=_gen())
    with pytest.raises(ValueError, match="declared domain 'power'"):  # the naive mode checks the domain too
        SpectrogramMixup(domain="power", domain_mixing="linear-in-input")(x, generator=_gen())
    SpectrogramMixup(domain="power", check_values="never")(x, generator=_gen())
    SpectrogramMixup(domain="db")(x, generator=_gen())  # any finite value is a dB value


def test_undeclared_domain_warns_on_negative_values() -> None:
    x = torch.randn(4, 1, 5, 5, generator=_gen(19))
    with pytest.warns(UserWarning, match="no domain was declared.*'power'.*negative values"):
        out = SpectrogramMixup(lam=0.4)(x, generator=_gen())
    torch.testing.assert_close(out.inputs, 0.4 * x + 0.6 * x[out.plan.index])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SpectrogramMixup()(x.abs(), generator=_gen())  # non-negative: no warning
        SpectrogramMixup(domain_mixing="linear-in-input")(x, generator=_gen())  # mixed as given: no warning


def test_non_finite_and_structural_errors() -> None:
    x = _db_batch(20, dtype=torch.float32)
    x[1, 1, 2, 3] = float("-inf")
    with pytest.raises(ValueError, match=r"inputs contain non-finite values.*-inf.*floor the power \(amin\)"):
        SpectrogramMixup(domain="db")(x, generator=_gen())
    with pytest.raises(ValueError, match=r"\(B, C, F, T\).*\(4, 5\)"):
        SpectrogramMixup(domain="db")(torch.randn(4, 5))
    with pytest.raises(TypeError, match="complex"):
        SpectrogramMixup(domain="power")(torch.zeros(4, 1, 5, 5, dtype=torch.complex64))
    with pytest.raises(ConfigError, match=r"top_db.*domain='db' or 'log-mel'"):
        create_mixer({"name": "audio:spectrogram", "domain": "power", "top_db": 80})
    with pytest.raises(ConfigError, match=r"top_db.*linear-power"):
        create_mixer({"name": "audio:spectrogram", "domain": "db", "domain_mixing": "linear-in-input", "top_db": 80})
    with pytest.raises(ConfigError, match="domain"):
        create_mixer({"name": "audio:spectrogram", "domain": "mel"})


def test_config_roundtrip_keeps_domain() -> None:
    mixer = create_mixer({"name": "audio:spectrogram", "domain": "log-mel", "log_base": 10.0, "top_db": 80.0})
    assert to_config(mixer) == {"name": "audio:spectrogram", "domain": "log-mel", "log_base": 10.0, "top_db": 80.0}
    assert create_mixer(mixer.to_config()) == mixer


# --------------------------------------------------------------------------------------------- targets
def test_frame_level_and_multi_label_targets() -> None:
    x = _db_batch(21)
    frames = (torch.rand(6, x.shape[-1], 4, generator=_gen(22)) > 0.5).float()  # (B, T_frames, K)
    tags = (torch.rand(6, 4, generator=_gen(23)) > 0.5).float()  # (B, K)
    for y in (frames, tags):
        out = SpectrogramMixup(domain="db", mode="sample")(x, y, generator=_gen(24))
        lam = out.plan.lam.view(-1, *([1] * (y.ndim - 1)))
        assert out.targets is not None
        torch.testing.assert_close(out.targets.dense(), lam * y + (1 - lam) * y[out.plan.index])
        union = SpectrogramMixup(domain="db", mode="sample", label_mix="union")(x, y, generator=_gen(24))
        assert union.targets is not None
        torch.testing.assert_close(union.targets.dense(), torch.maximum(y, y[union.plan.index]))
