"""Loudness of waveforms for Between-Class learning: A-weighting and the peak frame gain of a clip.

The gain of a clip is the loudest frame's power in dB (Tokozume, Ushiku, Harada, ICLR 2018,
arXiv:1711.10282, and their reference code mil-tokyo/bc_learning_sound): Hann-windowed frames of
``n_fft`` samples with hop ``n_fft / 2``, each frame's power A-weighted in the frequency domain
(or plain mean square, mode ``"rmse"``), floored at ``min_db`` and converted to dB; the clip's gain is
the maximum over its frames. Everything is computed for the whole batch at once.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["GainMode", "a_weighting_db", "check_waveforms", "clip_gain_db", "default_n_fft"]

GainMode = Literal["a_weighting", "rmse"]
"""How a frame's power is measured: A-weighted spectrum power, or the plain mean square."""


def check_waveforms(inputs: object, name: str = "inputs") -> torch.Tensor:
    """Check that ``inputs`` is a floating ``(B, T)`` or ``(B, C, T)`` waveform batch and return it.

    Raises a ``TypeError`` (not a tensor, not floating) or a ``ValueError`` (wrong number of
    dimensions, empty batch, no samples) that names ``name`` and quotes the shape or dtype.
    """
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, T) or (B, C, T), got {type(inputs).__name__}")
    if inputs.ndim not in (2, 3):
        raise ValueError(
            f"waveform mixers take {name} of shape (B, T) or (B, C, T), got {name}.shape={tuple(inputs.shape)}"
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: {name}.shape={tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(
            f"waveform mixers mix floating {name}, got dtype {inputs.dtype} (shape {tuple(inputs.shape)}); "
            f"convert with {name}.float() first (int16 PCM: {name}.float() / 32768)"
        )
    if inputs.shape[-1] == 0:
        raise ValueError(f"{name} has no samples: {name}.shape={tuple(inputs.shape)}")
    return inputs


def default_n_fft(sample_rate: int) -> int:
    """The frame length of the gain: the largest power of two not longer than 128 ms.

    This gives the reference code's 2048 at 16 kHz and 4096 at 44.1 kHz (the only two rates it
    accepts), and extends the rule to other rates (1024 at 8 kHz, 2048 at 22.05 kHz, 4096 at 48 kHz).

    Examples:
        >>> default_n_fft(16000), default_n_fft(44100)
        (2048, 4096)
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    limit = max(2, sample_rate * 128 // 1000)
    return 1 << (limit.bit_length() - 1)


def a_weighting_db(frequencies: torch.Tensor, min_db: float = -80.0) -> torch.Tensor:
    """The A-weighting curve in dB at ``frequencies`` (Hz), floored at ``min_db``.

    The standard analogue curve (IEC 61672-1): R_A(f) = 12194² f⁴ / ((f² + 20.6²)
    √((f² + 107.7²)(f² + 737.9²)) (f² + 12194²)), A(f) = 20·log10 R_A(f) + 2.00 dB, so that
    A(1 kHz) ≈ 0 dB. At 0 Hz the curve is −∞ and returns ``min_db``.

    Args:
        frequencies: frequencies in Hz, any shape.
        min_db: lower bound of the result in dB.

    Examples:
        >>> a_weighting_db(torch.tensor([100.0, 1000.0, 10000.0])).round(decimals=1)
        tensor([-19.1000,   0.0000,  -2.5000], dtype=torch.float64)
    """
    f2 = frequencies.double().square()
    tiny = torch.finfo(torch.float64).tiny
    log_ra = (
        2 * torch.log10(torch.tensor(12194.0, dtype=torch.float64))
        + 2 * torch.log10(f2.clamp_min(tiny))
        - torch.log10(f2 + 20.6**2)
        - 0.5 * torch.log10(f2 + 107.7**2)
        - 0.5 * torch.log10(f2 + 737.9**2)
        - torch.log10(f2 + 12194.0**2)
    )
    return (20.0 * log_ra + 2.0).clamp_min(min_db)


def _frames(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``(B, C, n_frames, n_fft)`` frames with hop ``n_fft // 2``; clips shorter than one frame are centred in it."""
    t = x.shape[-1]
    if t < n_fft:
        left = (n_fft - t) // 2
        x = torch.nn.functional.pad(x, (left, n_fft - t - left))
    return x.unfold(-1, n_fft, max(1, n_fft // 2))


def clip_gain_db(
    inputs: torch.Tensor,
    sample_rate: int = 16000,
    *,
    n_fft: int | None = None,
    mode: GainMode = "a_weighting",
    min_db: float = -80.0,
) -> torch.Tensor:
    """The gain of each clip: the maximum over frames of the frame power in dB.

    Frames are ``n_fft`` samples long with hop ``n_fft // 2`` (the trailing partial frame is
    dropped, as in the reference code; a clip shorter than one frame is zero-padded, centred, to one
    frame). A frame's power is

    * ``"a_weighting"``: Σ_k c_k·10^(A(f_k)/10)·|X_k|² / (n_fft·Σ_n w_n²), where X is the rfft of the
      frame under a periodic Hann window w, A the A-weighting curve at the rfft frequencies and
      c_k = 2 for the bins counted twice in a two-sided spectrum (1 at DC and Nyquist). By
      Parseval, without the weighting this is the window-weighted mean square of the frame, so a
      full-scale 1 kHz sine (A ≈ 0 dB) has a gain of about −3 dB;
    * ``"rmse"``: the mean square of the (unwindowed) frame.

    Multi-channel clips average the channels' frame powers. Each power is floored at
    10^(min_db/10) before the logarithm. The reference code sums the A-weighted bins without
    normalising them; that differs from this definition by a constant offset (dB), which cancels in
    the BC coefficient p (it only depends on gain differences) and only moves where the floor bites.

    Args:
        inputs: ``(B, T)`` or ``(B, C, T)`` floating waveforms (read, never modified; no gradient).
        sample_rate: sampling rate in Hz, used for the rfft frequencies and the default ``n_fft``.
        n_fft: frame length; default `default_n_fft` (2048 at 16 kHz, 4096 at 44.1 kHz).
        mode: ``"a_weighting"`` (default) or ``"rmse"``.
        min_db: the floor in dB (default −80).

    Returns:
        float32 ``(B,)`` gains in dB, on the inputs' device.

    Examples:
        >>> t = torch.arange(16000) / 16000
        >>> sine = torch.sin(2 * torch.pi * 1000 * t)
        >>> gains = clip_gain_db(torch.stack([sine, 0.1 * sine]))
        >>> round(float(gains[0] - gains[1]), 3)
        20.0
    """
    x = check_waveforms(inputs)
    if mode not in ("a_weighting", "rmse"):
        raise ValueError(f"mode must be 'a_weighting' or 'rmse', got {mode!r}")
    n_fft = default_n_fft(sample_rate) if n_fft is None else n_fft
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 2:
        raise ValueError(f"n_fft must be an integer >= 2, got {n_fft!r}")
    x = x.detach()
    x = x[:, None] if x.ndim == 2 else x
    # float32 at least (half precision under- and overflows in the squares), float64 kept
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    frames = _frames(x.to(work), n_fft)  # (B, C, N, n_fft)
    if mode == "rmse":
        power = frames.square().mean(dim=-1)
    else:
        window = torch.hann_window(n_fft, periodic=True, dtype=work, device=x.device)
        spec = torch.fft.rfft(frames * window, dim=-1)
        freqs = torch.fft.rfftfreq(n_fft, d=1.0 / sample_rate, dtype=torch.float64)
        weight = torch.pow(10.0, a_weighting_db(freqs, min_db=-400.0) / 10.0)
        weight[1:] *= 2.0
        if n_fft % 2 == 0:
            weight[-1] /= 2.0  # the Nyquist bin appears once in the two-sided spectrum
        weight = weight / (n_fft * float(window.double().square().sum()))
        power = (spec.real.square() + spec.imag.square()) @ weight.to(device=x.device, dtype=work)
    power = power.mean(dim=1)  # (B, N): average over channels
    floor = 10.0 ** (min_db / 10.0)
    gain = 10.0 * torch.log10(power.clamp_min(floor))
    return gain.amax(dim=-1).float()
