"""Signal-domain helpers of the audio mixers: input checks and conversions between spectrogram domains.

Shapes. Waveforms are ``(B, C, T)`` (batch, channels, samples); a ``(B, T)`` batch is accepted as
mono and keeps its shape. Spectrograms are ``(B, C, F, T)`` (batch, channels, frequencies, frames),
or ``(B, F, T)`` for mono.

Domains of a spectrogram (the values a tensor holds, declared by the user):

- ``"power"``: |X|², or mel power (non-negative);
- ``"magnitude"``: |X| (non-negative);
- ``"db"``: decibels of power, 10·log10(|X|²) (= 20·log10|X|), as torchaudio's ``AmplitudeToDB``
  and PANNs' log-mel (``10·log10(max(amin, mel power))``) produce;
- ``"log-mel"``: a logarithm of mel power in another base, ``log_base(power + log_offset)``:
  natural log by default (Kaldi fbanks as used by AST, ``torch.log(mel + 1e-6)`` with
  ``log_offset=1e-6``); give ``log_base=10`` for log10. A dB log-mel is the ``"db"`` domain.

Conversions to and from linear power use ``torchaudio.functional.DB_to_amplitude`` and
``torchaudio.functional.amplitude_to_DB`` (``amin`` floor, optional ``top_db``); they run in float32
for float16/bfloat16 inputs (10^(x/10) overflows float16 above 48 dB) and in the input's precision
otherwise.

Value checks (finite values; non-negative power or magnitude) read the whole tensor, which
synchronises a CUDA device with the host. ``when="cpu"`` (the mixers' default, as core does for
targets) checks CPU tensors only; ``"always"`` checks every tensor; ``"never"`` skips them.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal, get_args

import torch
import torchaudio.functional as AF

__all__ = [
    "DEFAULT_AMIN",
    "DOMAINS",
    "Domain",
    "ValueCheck",
    "check_domain_values",
    "check_finite",
    "check_lengths",
    "check_spectrograms",
    "check_waveforms",
    "compute_dtype",
    "from_power",
    "keep_memory_format",
    "power_to_db",
    "to_power",
]

Domain = Literal["power", "magnitude", "db", "log-mel"]
"""The value domain of a spectrogram."""

DOMAINS: tuple[str, ...] = get_args(Domain)

ValueCheck = Literal["cpu", "always", "never"]
"""When value checks run: on CPU tensors only, on every tensor, or never."""

DEFAULT_AMIN = 1e-10
"""The power floor of torchaudio's ``AmplitudeToDB`` (−100 dB)."""


# ------------------------------------------------------------------------------------------ checks
def _check_tensor(inputs: object, name: str, shapes: str) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shapes}, got {type(inputs).__name__}")
    return inputs


def _check_float(inputs: torch.Tensor, name: str, what: str) -> None:
    if inputs.is_complex():
        raise TypeError(
            f"{what} mix real floating {name}, got the complex dtype {inputs.dtype} (shape {tuple(inputs.shape)}); "
            "mix waveforms, or take the power or magnitude of a complex STFT first"
        )
    if not inputs.is_floating_point():
        hint = " (integer PCM: divide by 32768.0 for int16)" if inputs.dtype in (torch.int16, torch.int32) else ""
        raise TypeError(
            f"{what} mix floating {name}, got dtype {inputs.dtype} (shape {tuple(inputs.shape)}); "
            f"convert with {name}.float() first{hint}"
        )


def _should_check(t: torch.Tensor, when: ValueCheck) -> bool:
    if when == "never":
        return False
    # under torch.compile the default check is skipped, as on accelerators: a branch on tensor values
    # would break the graph (``when="always"`` still checks, at the cost of a graph break)
    return when == "always" or (t.device.type == "cpu" and not torch.compiler.is_compiling())


def check_waveforms(inputs: object, *, name: str = "inputs", when: ValueCheck = "cpu") -> torch.Tensor:
    """Check a waveform batch: a floating ``(B, C, T)`` or mono ``(B, T)`` tensor, non-empty, finite.

    Args:
        inputs: the batch.
        name: the argument's name in error messages.
        when: when the finite-values check runs (see the module docstring).

    Returns:
        ``inputs`` itself.

    Raises:
        TypeError: not a tensor, or not a real floating dtype (integer PCM, complex).
        ValueError: wrong number of dimensions, an empty batch or no samples, non-finite values.
    """
    inputs = _check_tensor(inputs, name, "(B, C, T) or (B, T)")
    if inputs.ndim not in (2, 3):
        raise ValueError(
            f"waveform mixers take {name} of shape (B, C, T) (batch, channels, samples) or (B, T) (mono), "
            f"got {name}.shape={tuple(inputs.shape)}"
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: {name}.shape={tuple(inputs.shape)}")
    if inputs.shape[-1] == 0 or (inputs.ndim == 3 and inputs.shape[1] == 0):
        raise ValueError(f"{name} has no samples or no channels: {name}.shape={tuple(inputs.shape)}")
    _check_float(inputs, name, "waveform mixers")
    check_finite(inputs, name=name, when=when)
    return inputs


def check_spectrograms(inputs: object, *, name: str = "inputs") -> torch.Tensor:
    """Check a spectrogram batch: a real floating ``(B, C, F, T)`` or ``(B, F, T)`` tensor, non-empty.

    Values are checked separately by :func:`check_domain_values` (they depend on the domain).

    Raises:
        TypeError: not a tensor, or not a real floating dtype (a complex STFT is rejected).
        ValueError: wrong number of dimensions or an empty batch.
    """
    inputs = _check_tensor(inputs, name, "(B, C, F, T) or (B, F, T)")
    if inputs.ndim not in (3, 4):
        raise ValueError(
            f"spectrogram mixers take {name} of shape (B, C, F, T) (batch, channels, frequencies, frames) "
            f"or (B, F, T), got {name}.shape={tuple(inputs.shape)}"
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: {name}.shape={tuple(inputs.shape)}")
    _check_float(inputs, name, "spectrogram mixers")
    return inputs


def check_finite(inputs: torch.Tensor, *, name: str = "inputs", when: ValueCheck = "cpu", hint: str = "") -> None:
    """Raise a ``ValueError`` if ``inputs`` holds NaN or ±Inf (checked according to ``when``)."""
    if not _should_check(inputs, when):
        return
    bad = ~torch.isfinite(inputs.detach())
    if bool(bad.any()):
        count = int(bad.sum())
        first = tuple(int(i) for i in bad.nonzero()[0])
        value = float(inputs.detach()[first])
        raise ValueError(
            f"{name} contain non-finite values ({count} of {inputs.numel()}; first {name}{list(first)}={value}){hint}"
        )


def check_domain_values(
    inputs: torch.Tensor,
    domain: Domain,
    *,
    name: str = "inputs",
    when: ValueCheck = "cpu",
    declared: bool = True,
) -> None:
    """Check that the values of ``inputs`` can be in the declared ``domain``.

    Every domain needs finite values; ``"power"`` and ``"magnitude"`` also need non-negative ones
    (negative values are the sign of a log or dB spectrogram, or of normalised features).

    Args:
        inputs: the spectrograms.
        domain: the declared domain.
        name: the argument's name in messages.
        when: when the checks run (see the module docstring).
        declared: ``False`` when ``domain`` is an assumption (the user declared none): a violated
            sign check then warns (``UserWarning``) instead of raising.

    Raises:
        ValueError: non-finite values, or negative values in a declared ``"power"``/``"magnitude"``
            domain; the message quotes the minimum.
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {list(DOMAINS)}, got {domain!r}")
    if not _should_check(inputs, when):
        return
    hint = ""
    if domain in ("db", "log-mel"):
        hint = f"; a {domain} spectrogram of zero power is -inf: floor the power (amin) before taking the log"
    check_finite(inputs, name=name, when=when, hint=hint)
    if domain in ("power", "magnitude"):
        low = float(inputs.detach().min())
        if low < 0:
            if declared:
                raise ValueError(
                    f"declared domain {domain!r} but {name} have negative values (min {low:.4g}); "
                    "declare domain='db' for decibels or domain='log-mel' for a natural-log mel spectrogram"
                )
            warnings.warn(
                # a constant message, so that the default warnings filter shows it once, not every batch
                f"no domain was declared, so {name} are taken as 'power', but they have negative values; "
                "declare domain='db' or 'log-mel' for log spectrograms (mixed in linear power), "
                "or domain_mixing='linear-in-input' to mix the values as they are",
                UserWarning,
                stacklevel=5,  # the caller of Mixer.__call__
            )


def check_lengths(lengths: object, batch_size: int, num_samples: int, *, name: str = "lengths") -> torch.Tensor:
    """Check per-clip valid lengths and return them as a CPU long tensor ``(B,)``.

    Args:
        lengths: integer tensor ``(B,)`` with ``0 <= lengths[i] <= num_samples`` (a CUDA tensor is
            copied to the CPU, one synchronisation).
        batch_size: ``B``.
        num_samples: the size of the time dimension of the inputs.
        name: the argument's name in messages.

    Raises:
        TypeError: not an integer tensor.
        ValueError: wrong shape, a negative length, or a length beyond the time dimension.
    """
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(
            f"{name} must be an integer tensor of shape ({batch_size},), got {type(lengths).__name__}: {lengths!r}"
        )
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor (valid samples per clip), got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (batch_size,):
        raise ValueError(
            f"{name} must have shape ({batch_size},) (one length per clip), got {name}.shape={tuple(lengths.shape)}"
        )
    lengths = lengths.detach().to("cpu", torch.long)
    too_long = lengths > num_samples
    if bool(too_long.any()):
        i = int(too_long.nonzero()[0, 0])
        raise ValueError(f"{name}[{i}]={int(lengths[i])} exceeds inputs.shape[-1]={num_samples}")
    negative = lengths < 0
    if bool(negative.any()):
        i = int(negative.nonzero()[0, 0])
        raise ValueError(f"{name}[{i}]={int(lengths[i])} is negative; lengths count the valid samples of each clip")
    return lengths


# ------------------------------------------------------------------------------------------ conversions
def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype conversions run in: float32 for float16/bfloat16, ``dtype`` otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def to_power(x: torch.Tensor, domain: Domain, *, log_base: float = math.e, log_offset: float = 0.0) -> torch.Tensor:
    """Linear power from a spectrogram in ``domain`` (computed in the dtype of ``x``).

    ``"power"`` is returned as is; ``"magnitude"`` is squared; ``"db"`` goes through
    ``torchaudio.functional.DB_to_amplitude(x, ref=1, power=1)`` (10^(x/10)); ``"log-mel"`` is
    ``log_base ** x - log_offset`` (clamped at 0).
    """
    if domain == "power":
        return x
    if domain == "magnitude":
        return x.square()
    if domain == "db":
        return AF.DB_to_amplitude(x, ref=1.0, power=1.0)
    if domain == "log-mel":
        power = torch.exp(x * math.log(log_base))
        return (power - log_offset).clamp(min=0.0) if log_offset else power
    raise ValueError(f"domain must be one of {list(DOMAINS)}, got {domain!r}")


def power_to_db(power: torch.Tensor, *, amin: float = DEFAULT_AMIN, top_db: float | None = None) -> torch.Tensor:
    """``10·log10(max(power, amin))`` through ``torchaudio.functional.amplitude_to_DB``.

    ``top_db`` clamps each example (all its channels, frequencies and frames) to its maximum minus
    ``top_db``. torchaudio uses one cut-off for a whole 3-D input, which would couple the examples
    of a ``(B, F, T)`` batch; here the batch is always passed as 4-D, so the cut-off is per example.
    """
    if power.ndim == 3:
        return AF.amplitude_to_DB(power[:, None], 10.0, amin, 0.0, top_db)[:, 0]
    return AF.amplitude_to_DB(power, 10.0, amin, 0.0, top_db)


def _safe_sqrt(power: torch.Tensor) -> torch.Tensor:
    # sqrt with a zero (not infinite) gradient where the power is 0 (silent, padded bins)
    positive = power > 0
    return torch.where(positive, torch.where(positive, power, torch.ones_like(power)).sqrt(), torch.zeros_like(power))


def from_power(
    power: torch.Tensor,
    domain: Domain,
    *,
    amin: float = DEFAULT_AMIN,
    top_db: float | None = None,
    log_base: float = math.e,
    log_offset: float = 0.0,
) -> torch.Tensor:
    """A spectrogram in ``domain`` from linear power: the inverse of :func:`to_power`.

    ``"magnitude"`` takes the square root (with a zero gradient at zero power); ``"db"`` is
    :func:`power_to_db` (``amin`` floor, per-example ``top_db``); ``"log-mel"`` is
    ``log_base(max(power + log_offset, amin))``, with ``top_db`` converted to that base
    (``top_db / (10·log10(log_base))``) and applied per example in the same way.
    """
    if domain == "power":
        return power
    if domain == "magnitude":
        return _safe_sqrt(power)
    if domain == "db":
        return power_to_db(power, amin=amin, top_db=top_db)
    if domain == "log-mel":
        logged = torch.log(torch.clamp(power + log_offset, min=amin)) / math.log(log_base)
        if top_db is not None:
            floor = top_db / (10.0 * math.log10(log_base))
            dims = tuple(range(1, logged.ndim))
            logged = torch.maximum(logged, logged.amax(dim=dims, keepdim=True) - floor)
        return logged
    raise ValueError(f"domain must be one of {list(DOMAINS)}, got {domain!r}")


def keep_memory_format(result: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``result`` in the channels-last layout when the 4-D ``like`` is channels-last (and not contiguous)."""
    if like.ndim == 4 and not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last):
        return result.contiguous(memory_format=torch.channels_last)
    return result
