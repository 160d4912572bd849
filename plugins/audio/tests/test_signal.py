"""The private signal helpers: domain round trips against torchaudio, and the input checks."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio.functional as AF

from mixup_audio._signal import (
    DOMAINS,
    check_domain_values,
    check_lengths,
    check_spectrograms,
    check_waveforms,
    from_power,
    to_power,
)


def test_round_trips_through_power() -> None:
    power = torch.rand(3, 2, 6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 1e-3
    as_domain = {
        "power": power,
        "magnitude": power.sqrt(),
        "db": AF.amplitude_to_DB(power, 10.0, 1e-10, 0.0, None),
        "log-mel": power.log(),
    }
    assert set(as_domain) == set(DOMAINS)
    for domain, x in as_domain.items():
        torch.testing.assert_close(to_power(x, domain), power, rtol=1e-12, atol=0, msg=domain)  # type: ignore[arg-type]
        torch.testing.assert_close(from_power(power, domain), x, rtol=1e-12, atol=1e-12, msg=domain)  # type: ignore[arg-type]
    log10 = from_power(power, "log-mel", log_base=10.0, log_offset=1e-6)
    torch.testing.assert_close(log10, torch.log10(power + 1e-6))
    torch.testing.assert_close(to_power(log10, "log-mel", log_base=10.0, log_offset=1e-6), power)


def test_log_mel_top_db_is_in_decibels() -> None:
    power = torch.tensor([[[1.0, 1e-2, 1e-6]]], dtype=torch.float64)  # 0, -20, -60 dB
    clamped = from_power(power, "log-mel", top_db=30.0)
    torch.testing.assert_close(clamped, torch.tensor([[[0.0, math.log(1e-2), math.log(1e-3)]]], dtype=torch.float64))
    db = from_power(power, "db", top_db=30.0)
    torch.testing.assert_close(db, torch.tensor([[[0.0, -20.0, -30.0]]], dtype=torch.float64))


def test_checks_name_the_argument_and_value() -> None:
    with pytest.raises(TypeError, match=r"waveforms must be a torch\.Tensor"):
        check_waveforms([1.0], name="waveforms")
    with pytest.raises(ValueError, match=r"empty batch"):
        check_waveforms(torch.zeros(0, 1, 5))
    with pytest.raises(ValueError, match=r"no samples"):
        check_waveforms(torch.zeros(2, 1, 0))
    with pytest.raises(TypeError, match="float"):
        check_spectrograms(torch.zeros(2, 3, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"lengths\[1\]=11 exceeds inputs.shape\[-1\]=10"):
        check_lengths(torch.tensor([3, 11]), 2, 10)
    assert check_lengths(torch.tensor([3, 10], dtype=torch.int32), 2, 10).dtype == torch.long
    x = -torch.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"declared domain 'power' but spec have negative values \(min -1\)"):
        check_domain_values(x, "power", name="spec")
    check_domain_values(x, "power", when="never")
    with pytest.raises(ValueError, match="domain must be one of"):
        check_domain_values(x, "mel")  # type: ignore[arg-type]
