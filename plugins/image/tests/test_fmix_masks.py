"""FMix's fast mask construction: bit-identical to the full stable sort it replaces, draws unchanged."""

from __future__ import annotations

import itertools

import pytest
import torch

from mixup_image import FMix, MaskPlan
from mixup_image import fmix as fmix_module
from mixup_image.fmix import binarise_noise, fourier_noise


def _reference_fourier_noise(
    n: int, size: tuple[int, int], decay_power: float, generator: torch.Generator | None
) -> torch.Tensor:
    """`fourier_noise` as it was before the speed-up (the reference)."""
    h, w = size
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / max(h, w))
    scale = freqs.pow(-float(decay_power)).float()
    param = torch.randn((n, h, w // 2 + 1, 2), generator=generator)
    spectrum = torch.complex(param[..., 0], param[..., 1]) * scale
    return torch.fft.irfft2(spectrum, s=(h, w))


def _reference_binarise_noise(noise: torch.Tensor, lam: torch.Tensor, max_soft: float = 0.0) -> torch.Tensor:
    """`binarise_noise` as it was before the speed-up: a full stable descending argsort of every row."""
    b, n_pix = lam.shape[0], noise.shape[1]
    order = noise.argsort(dim=1, descending=True, stable=True).expand(b, n_pix)
    lam64 = lam.double()
    num = torch.round(lam64 * n_pix).long().clamp(0, n_pix)
    eff = torch.minimum(torch.full_like(lam64, float(max_soft)), torch.minimum(lam64, 1.0 - lam64)).clamp(min=0.0)
    soft = torch.floor(eff * n_pix).long()
    lo = (num - soft).clamp(min=0)[:, None].float()
    hi = (num + soft).clamp(max=n_pix)[:, None].float()
    width = (hi - lo - 1).clamp(min=1)
    rank = torch.arange(n_pix, dtype=torch.float32)[None, :]
    by_rank = torch.where(rank >= hi, 0.0, (1.0 - (rank - lo) / width).clamp(max=1.0))
    return torch.empty((b, n_pix), dtype=torch.float32).scatter_(1, order, by_rank)


def _noise(kind: str, fields: int, size: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    n = size[0] * size[1]
    if kind == "fourier":
        return _reference_fourier_noise(fields, size, 3.0, g).reshape(fields, n)
    if kind == "randn":
        return torch.randn(fields, n, generator=g)
    if kind == "ties3":  # three values: huge tie groups
        return torch.randint(0, 3, (fields, n), generator=g).float()
    if kind == "ties_many":  # ~n/50 distinct values: many small tie groups spread over the range
        return torch.randint(0, max(2, n // 50), (fields, n), generator=g).float() / 7
    if kind == "zeros":  # 15 % zeros of either sign (+0.0 == -0.0: one tie group, ranked by index)
        sign = torch.randint(0, 2, (fields, n), generator=g).float() * 2 - 1
        values = torch.randn(fields, n, generator=g).abs()
        return values * sign * torch.where(torch.rand(fields, n, generator=g) < 0.15, 0.0, 1.0)
    if kind == "const":
        return torch.full((fields, n), -0.75)
    raise ValueError(kind)


def _lams(b: int, n: int, g: torch.Generator) -> list[torch.Tensor]:
    edges = torch.tensor([0.0, 1.0, 0.5, 1.0 / n, 1.0 - 1.0 / n, 0.5 / n, 1.5 / n, 2.5 / n])
    halves = (torch.randint(0, 2 * n + 1, (b,), generator=g).double() + 0.0) / (2 * n)  # k/2n: λ·N rounds half to even
    return [
        torch.rand(b, generator=g),
        edges[torch.arange(b) % edges.numel()],
        halves.float(),
        halves,  # float64 λ
        torch.rand(b, generator=g) * 0.1 + (torch.rand(b, generator=g) < 0.5) * 0.9,  # near 0 or 1: narrow ramps
    ]


def _check(noise: torch.Tensor, lam: torch.Tensor, max_soft: float, what: str) -> None:
    noise_before, lam_before = noise.clone(), lam.clone()
    expected = _reference_binarise_noise(noise, lam, max_soft)
    got = binarise_noise(noise, lam, max_soft)
    assert got.dtype == torch.float32, what
    assert got.shape == expected.shape, what
    assert torch.equal(got, expected), f"{what}: {(got != expected).sum().item()} pixels differ"
    assert torch.equal(got.view(torch.int32), expected.view(torch.int32)), what  # bitwise (signs of zero too)
    # the inputs are untouched (NaN noise included)
    torch.testing.assert_close(noise, noise_before, rtol=0, atol=0, equal_nan=True, msg=what)
    assert torch.equal(lam, lam_before), what


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (32, 32), (57, 31)])
def test_binarise_noise_is_bit_identical_to_the_full_sort(size: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(sum(size))
    n = size[0] * size[1]
    kinds = ("fourier", "randn", "ties3", "ties_many", "zeros", "const")
    for b, max_soft, shared, kind in itertools.product((1, 2, 7, 16), (0.0, 0.1, 0.5), (False, True), kinds):
        noise = _noise(kind, 1 if shared else b, size, g)
        for i, lam in enumerate(_lams(b, n, g)):
            _check(noise, lam, max_soft, f"size={size} b={b} max_soft={max_soft} shared={shared} {kind} lam#{i}")


def test_binarise_noise_224_is_bit_identical() -> None:
    g = torch.Generator().manual_seed(224)
    noise = _noise("fourier", 8, (224, 224), g)
    lam = torch.tensor([0.0, 1.0, 0.5, 0.123, 0.77, 0.5 / 50176, 0.999, 0.31])
    for max_soft in (0.0, 0.1):
        _check(noise, lam, max_soft, f"224² max_soft={max_soft}")
        _check(noise[:1], lam, max_soft, f"224² shared max_soft={max_soft}")


def test_the_selection_path_runs_and_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases above must not all have gone to the full-sort fallback: count the selection path's answers."""
    answered: list[bool] = []
    inner = fmix_module._binarise_rows

    def spy(*args: torch.Tensor) -> torch.Tensor | None:
        out = inner(*args)
        answered.append(out is not None)
        return out

    monkeypatch.setattr(fmix_module, "_binarise_rows", spy)
    g = torch.Generator().manual_seed(5)
    for kind, max_soft in itertools.product(("fourier", "randn", "ties_many", "zeros"), (0.0, 0.1, 0.5)):
        answered.clear()
        lams = _lams(16, 32 * 32, g)
        if max_soft > 0:  # ramps wider than a quarter of the batch's pixels go to the full sort: keep them narrow
            lams = [lams[1], lams[4]]
        for lam in lams:
            _check(_noise(kind, 16, (32, 32), g), lam, max_soft, f"{kind} max_soft={max_soft}")
        assert len(answered) == len(lams), (kind, max_soft, answered)
        assert all(answered), (kind, max_soft, answered)


def test_odd_inputs_match_the_full_sort() -> None:
    g = torch.Generator().manual_seed(9)
    lam = torch.rand(5, generator=g)
    wide = torch.randn(5, 300, generator=g, dtype=torch.float64)
    strided = torch.randn(300, 5, generator=g).t()  # not contiguous
    offset = 1000.0 + torch.rand(5, 300, generator=g) * 1e-3  # a tiny span far from zero
    bad = torch.randn(5, 300, generator=g)
    bad[0, 3], bad[1, 5], bad[2] = float("inf"), float("nan"), float("-inf")
    for max_soft in (0.0, 0.1):
        for name, noise in (("float64", wide), ("strided", strided), ("offset", offset), ("non-finite", bad)):
            _check(noise, lam, max_soft, f"{name} max_soft={max_soft}")
            _check(noise[:1], lam, max_soft, f"{name} shared max_soft={max_soft}")


def test_fourier_noise_is_bit_identical_and_draws_the_same() -> None:
    for n, size, decay in (
        (3, (224, 224), 3.0),
        (4, (57, 31), 1.5),
        (2, (1, 1), 3.0),
        (5, (5, 3), 0.5),
        (1, (32, 33), 2.0),
    ):
        g_ref, g_new = torch.Generator().manual_seed(n), torch.Generator().manual_seed(n)
        expected = _reference_fourier_noise(n, size, decay, g_ref)
        got = fourier_noise(n, size, decay, g_new)
        assert got.dtype == expected.dtype == torch.float32
        assert torch.equal(got.view(torch.int32), expected.view(torch.int32)), (n, size)
        assert torch.equal(g_new.get_state(), g_ref.get_state())


@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("max_soft", [0.0, 0.2])
def test_fmix_plan_matches_the_reference(mode: str, max_soft: float) -> None:
    """Plan mask and λ (the share: float64 mean of the mask, as float32) bit for bit, and the same draws."""
    mixer = FMix(alpha=1.0, mode=mode, max_soft=max_soft)
    x = torch.rand(16, 3, 40, 36)
    g = torch.Generator().manual_seed(3)
    plan = mixer.sample(x, generator=g)
    assert isinstance(plan, MaskPlan)
    replay = torch.Generator().manual_seed(3)
    index, lam = mixer.draw(16, generator=replay)
    fields = 1 if mode == "batch" else 16
    noise = _reference_fourier_noise(fields, (40, 36), mixer.decay_power, replay).reshape(fields, -1)
    mask = _reference_binarise_noise(noise, lam, max_soft).reshape(16, 1, 40, 36)
    assert torch.equal(plan.mask, mask)
    assert torch.equal(plan.index, index)
    assert torch.equal(plan.lam, mask.double().mean(dim=(1, 2, 3)).float())
    assert plan.lam.dtype == torch.float32
    assert torch.equal(g.get_state(), replay.get_state())


@pytest.mark.parametrize("size", [(40, 36), (57, 31), (13, 17)])
def test_binary_share_from_counts_equals_the_float64_mean(size: tuple[int, int]) -> None:
    """FMix takes a binary mask's share as ``float32(count / N)``: the float64 mean of the mask, for every count."""
    n = size[0] * size[1]
    counts = torch.arange(n + 1)
    for chunk in counts.split(256):
        masks = (torch.arange(n)[None, :] < chunk[:, None]).float().reshape(-1, 1, *size)
        assert torch.equal((chunk.double() / n).float(), masks.double().mean(dim=(1, 2, 3)).float())
