"""Between-Class learning: gain, the sound-pressure-aware coefficient p, the RMS-keeping mix, labels by r, KL loss."""

from __future__ import annotations

import math

import pytest
import torch

from mixup_audio import BCPlan, BetweenClass, a_weighting_db, bc_coefficient, bc_kl_loss, clip_gain_db, default_n_fft
from mixup_core import create_mixer, soft_cross_entropy
from mixup_core.testing import MixerConformanceTests


class TestBetweenClassBatchRmseStereo(MixerConformanceTests):
    mixer_name = "bc"
    mixer_params = {
        "mode": "batch",
        "gain_mode": "rmse",
        "sample_rate": 44100,
        "alpha": 0.5,
        "lam": None,
        "pairing": "random",
    }
    sample_shape = (2, 999)


def _sine(freq: float, amplitude: float = 1.0, seconds: float = 1.0, sample_rate: int = 16000) -> torch.Tensor:
    t = torch.arange(round(seconds * sample_rate), dtype=torch.float64) / sample_rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()


# ------------------------------------------------------------------------------------------ gain
def test_a_weighting_matches_the_standard_table() -> None:
    # IEC 61672-1 A-weighting: -19.1 dB at 100 Hz, 0 at 1 kHz, +1.2 at 2.5 kHz, -2.5 at 10 kHz
    f = torch.tensor([100.0, 1000.0, 2500.0, 10000.0])
    torch.testing.assert_close(
        a_weighting_db(f), torch.tensor([-19.1, 0.0, 1.3, -2.5], dtype=torch.float64), atol=0.1, rtol=0
    )
    assert float(a_weighting_db(torch.tensor([0.0]))) == -80.0


def test_default_frame_length_follows_the_reference_rates() -> None:
    assert default_n_fft(16000) == 2048
    assert default_n_fft(44100) == 4096
    assert default_n_fft(8000) == 1024
    with pytest.raises(ValueError, match="sample_rate"):
        default_n_fft(0)


@pytest.mark.parametrize("mode", ["a_weighting", "rmse"])
@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_gain_of_a_minus_20_db_sine_is_20_db_lower(mode: str, sample_rate: int) -> None:
    full = _sine(1000.0, 1.0, sample_rate=sample_rate)
    quiet = _sine(1000.0, 0.1, sample_rate=sample_rate)
    gains = clip_gain_db(torch.stack([full, quiet]), sample_rate, mode=mode)  # type: ignore[arg-type]
    assert float(gains[0] - gains[1]) == pytest.approx(20.0, abs=1e-3)
    # full scale: mean power 1/2 = -3.01 dB; A(1 kHz) = 0 dB
    assert float(gains[0]) == pytest.approx(-3.01, abs=0.05)


def test_a_weighting_makes_low_tones_quieter_and_rmse_does_not() -> None:
    x = torch.stack([_sine(1000.0, 0.5), _sine(100.0, 0.5)])
    weighted = clip_gain_db(x, mode="a_weighting")
    plain = clip_gain_db(x, mode="rmse")
    assert float(weighted[0] - weighted[1]) == pytest.approx(19.1, abs=0.3)
    assert float(plain[0] - plain[1]) == pytest.approx(0.0, abs=0.1)  # partial periods in a frame: < 0.1 dB


def test_gain_is_the_loudest_frame_and_is_floored() -> None:
    x = torch.zeros(3, 1, 16000)
    x[1, 0, 8000:12000] = _sine(1000.0, 0.1, seconds=0.25)  # silence then a -20 dB burst
    x[2, 0] = 1e-7  # far below -80 dB
    gains = clip_gain_db(x)
    assert gains.tolist()[0] == -80.0
    assert float(gains[1]) == pytest.approx(-23.01, abs=0.05)  # the burst's frame, not the clip's average
    assert float(gains[2]) == -80.0


def test_gain_is_vectorised_and_channels_share_one_gain() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, 5000, generator=g) * torch.tensor([0.1, 0.3, 1.0, 0.01, 0.5]).view(5, 1, 1)
    batched = clip_gain_db(x)
    one_by_one = torch.cat([clip_gain_db(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, one_by_one)
    mono = clip_gain_db(x[:, 0])  # (B, T) inputs
    same = clip_gain_db(torch.stack([x[:, 0], x[:, 0]], dim=1))
    torch.testing.assert_close(mono, same)
    # a clip shorter than one frame still has a gain, and a louder clip a higher one
    short = clip_gain_db(torch.stack([_sine(1000.0, 1.0, 0.1), _sine(1000.0, 0.5, 0.1)]))
    assert float(short[0] - short[1]) == pytest.approx(20 * math.log10(2), abs=1e-3)


# ------------------------------------------------------------------------------------------ p
def test_equal_gains_and_half_ratio_give_half_p() -> None:
    x = torch.randn(1, 1, 8000, generator=torch.Generator().manual_seed(1))
    batch = torch.cat([x, -x])  # same power spectrum, so exactly the same gain
    plan = BetweenClass(lam=0.5).sample(batch, torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
    assert isinstance(plan, BCPlan)
    assert float(plan.gains[0]) == float(plan.gains[1])
    torch.testing.assert_close(plan.p, torch.tensor([0.5, 0.5]))


def test_louder_anchor_gets_a_smaller_p_for_the_same_r() -> None:
    levels_db = torch.tensor([-40.0, -30.0, -20.0, -10.0, 0.0])
    base = _sine(440.0, 1.0, seconds=0.5)
    clips = (10 ** (levels_db / 20)).view(-1, 1, 1) * base.view(1, 1, -1)
    quiet = base.view(1, 1, -1) * 10 ** (-25 / 20)
    batch = torch.cat([clips, quiet])  # every clip is paired with the -25 dB partner
    mixer = BetweenClass(lam=0.3, pairing="random")
    index = torch.tensor([5, 5, 5, 5, 5, 0])
    lam = torch.full((6,), 0.3)
    plan = mixer._make_plan(batch, index, lam, generator=None)
    assert isinstance(plan, BCPlan)
    diff = plan.gains[:5] - plan.gains[5]
    torch.testing.assert_close(diff, levels_db + 25.0, atol=1e-3, rtol=0)
    p = plan.p[:5]
    assert bool((p[1:] < p[:-1]).all()), f"p must fall as the anchor gets louder: {p.tolist()}"
    # the formula of the paper, and the perceived ratio it keeps: p·10^(G_a/20) : (1-p)·10^(G_b/20) = r : (1-r)
    expected = 1.0 / (1.0 + 10 ** (diff.double() / 20) * (1 - 0.3) / 0.3)
    torch.testing.assert_close(p.double(), expected, atol=1e-6, rtol=0)
    ratio = p.double() * 10 ** (plan.gains[:5].double() / 20) / ((1 - p.double()) * 10 ** (plan.gains[5].double() / 20))
    torch.testing.assert_close(ratio, torch.full((5,), 0.3 / 0.7, dtype=torch.float64), atol=1e-5, rtol=0)
    assert float(bc_coefficient(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]))) == 0.0


def test_rms_of_equal_rms_uncorrelated_inputs_is_kept() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 1, 48000, generator=g, dtype=torch.float64)
    x = 0.1 * x / x.square().mean(dim=-1, keepdim=True).sqrt()  # RMS 0.1 each
    out = BetweenClass(num_classes=6)(x, torch.arange(6), generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, BCPlan)
    rms = out.inputs.square().mean(dim=-1).sqrt().flatten()
    torch.testing.assert_close(rms, torch.full((6,), 0.1, dtype=torch.float64), rtol=0.02, atol=0)
    # white noise clips of equal RMS have nearly equal A-weighted gains, so p stays close to r
    torch.testing.assert_close(plan.p, plan.lam, atol=0.05, rtol=0)
    # without the denominator the mix would be quieter wherever p is far from 0 and 1
    p = plan.p.double().view(-1, 1, 1)
    naive = (p * x + (1 - p) * x[plan.index]).square().mean(dim=-1).sqrt().flatten()
    assert bool((naive < 0.095).any())


def test_mix_formula_and_gradients() -> None:
    x = torch.randn(4, 2, 3000, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    out = BetweenClass()(x, torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(1))
    plan = out.plan
    assert isinstance(plan, BCPlan)
    p = plan.p.double().view(-1, 1, 1)
    expected = (p * x + (1 - p) * x[plan.index]) / torch.sqrt(p**2 + (1 - p) ** 2)
    torch.testing.assert_close(out.inputs, expected)
    out.inputs.sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


# ------------------------------------------------------------------------------------------ labels
def test_label_weights_are_r_not_p() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(8, 1, 4000, generator=g) * torch.linspace(0.01, 1.0, 8).view(8, 1, 1)  # very different loudness
    y = torch.arange(8)
    mixer = BetweenClass(num_classes=8)
    out = mixer(x, y, generator=torch.Generator().manual_seed(5))
    plan = out.plan
    assert isinstance(plan, BCPlan)
    # r is the draw of the λ policy (uniform, one per pair) ...
    _, r = mixer.draw(8, y, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(plan.lam, r)
    assert mixer.lam_policy.to_config() == {"dist": "uniform", "low": 0.0, "high": 1.0}
    # ... and the label weights are r and 1 - r, while the inputs were mixed with p != r
    assert out.targets is not None
    torch.testing.assert_close(out.targets.weights, torch.stack([r, 1 - r], dim=1))
    dense = out.targets.dense()
    torch.testing.assert_close(dense[torch.arange(8), y], r)
    torch.testing.assert_close(dense[torch.arange(8), plan.index], 1 - r)
    assert (plan.p - plan.lam).abs().max() > 0.1


def test_partners_have_a_different_class_and_single_class_batches_stay_unmixed() -> None:
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    x = torch.randn(8, 1, 2000)
    for seed in range(5):
        plan = BetweenClass().sample(x, y, generator=torch.Generator().manual_seed(seed))
        assert bool((y[plan.index] != y).all())
    same = BetweenClass()(
        x, torch.zeros(8, dtype=torch.long), num_classes=3, generator=torch.Generator().manual_seed(0)
    )
    assert same.plan.is_identity
    torch.testing.assert_close(same.inputs, x)


# ------------------------------------------------------------------------------------------ loss
def test_kl_loss_is_cross_entropy_minus_target_entropy() -> None:
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(6, 1, 2000, generator=g), torch.arange(6)
    out = BetweenClass(num_classes=6)(x, y, generator=torch.Generator().manual_seed(0))
    assert out.targets is not None
    logits = torch.randn(6, 6, generator=g, requires_grad=True)
    t = out.targets.dense()
    entropy = -(torch.xlogy(t, t)).sum(dim=1).mean()
    kl = bc_kl_loss(logits, out.targets)
    torch.testing.assert_close(kl, soft_cross_entropy(logits, out.targets) - entropy)
    torch.testing.assert_close(kl, torch.nn.functional.kl_div(logits.log_softmax(-1), t, reduction="batchmean"))
    kl.backward()
    assert logits.grad is not None
    # zero when the prediction is the target; per-sample and summed reductions; index targets
    assert float(bc_kl_loss(t.clamp_min(1e-30).log(), t)) == pytest.approx(0.0, abs=1e-5)
    assert bc_kl_loss(logits, t, reduction="none").shape == (6,)
    torch.testing.assert_close(bc_kl_loss(logits, t, reduction="sum"), bc_kl_loss(logits, t) * 6)
    torch.testing.assert_close(bc_kl_loss(logits, y), soft_cross_entropy(logits, y))
    with pytest.raises(ValueError, match=r"\(6, 4\)"):
        bc_kl_loss(logits, torch.rand(6, 4))


# ------------------------------------------------------------------------------------------ errors
def test_bad_inputs_and_parameters_are_named() -> None:
    mixer = create_mixer("audio:bc")
    with pytest.raises(ValueError, match=r"\(B, T\) or \(B, C, T\).*\(2, 1, 8, 8\)"):
        mixer(torch.randn(2, 1, 8, 8), torch.tensor([0, 1]), num_classes=2)
    with pytest.raises(TypeError, match="float"):
        mixer(torch.zeros(2, 100, dtype=torch.int16), torch.tensor([0, 1]), num_classes=2)
    with pytest.raises(ValueError, match="targets"):
        mixer(torch.randn(2, 100))  # cross-class pairing needs labels
    with pytest.raises(ValueError, match="sample_rate"):
        BetweenClass(sample_rate=0)
    with pytest.raises(ValueError, match="n_fft"):
        BetweenClass(n_fft=1)
    with pytest.raises(ValueError, match="gain_mode"):
        BetweenClass(gain_mode="loudness")
    with pytest.raises(ValueError, match="mode"):
        clip_gain_db(torch.randn(2, 100), mode="peak")  # type: ignore[arg-type]


def test_two_dimensional_inputs_and_half_precision() -> None:
    y = torch.arange(4)
    x = torch.randn(4, 3000, generator=torch.Generator().manual_seed(0))
    out = BetweenClass()(x, y, num_classes=4, generator=torch.Generator().manual_seed(0))
    assert out.inputs.shape == x.shape
    half = BetweenClass()(x.half(), y, num_classes=4, generator=torch.Generator().manual_seed(0))
    assert half.inputs.dtype == torch.float16
    torch.testing.assert_close(half.plan.p, out.plan.p, atol=1e-3, rtol=0)  # type: ignore[attr-defined]
