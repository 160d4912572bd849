"""Spectrogram mixup in a declared signal domain."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from pydantic import Field

from mixup_core import ConfigError, MixPlan, PairMixer, mixer_dataclass

from ._signal import (
    DEFAULT_AMIN,
    Domain,
    ValueCheck,
    check_domain_values,
    check_finite,
    check_spectrograms,
    compute_dtype,
    from_power,
    keep_memory_format,
    to_power,
)

__all__ = ["DomainMixing", "SpectrogramMixup"]

DomainMixing = Literal["linear-power", "linear-in-input"]
"""How spectrograms are mixed: in linear power (physical), or linearly in the values given (naive)."""


@mixer_dataclass
class SpectrogramMixup(PairMixer):
    """Spectrogram mixup that respects the signal domain of its inputs.

    A linear mix of power spectrograms, λ·|X_a|² + (1 − λ)·|X_b|², is the expected power of the
    two-source mixture λ·x_a + (1 − λ)·x_b when the sources are uncorrelated (it ignores the
    cross term 2λ(1 − λ)·Re(X_a·X_b*), whose expectation is then zero). A linear mix of log-mel or
    dB values is not: it is a weighted geometric mean of the powers, which is quieter than either
    source where they differ. So by default (``domain_mixing="linear-power"``) the inputs are
    converted from their declared ``domain`` to linear power, mixed, and converted back
    (torchaudio's ``DB_to_amplitude`` and ``amplitude_to_DB``): a dB mix is
    10·log10(λ·10^(a/10) + (1 − λ)·10^(b/10)), not λ·a + (1 − λ)·b. The anchor's label weight is
    λ, its share of the mixed power. (Zhang et al., *mixup: Beyond Empirical Risk Minimization*,
    ICLR 2018, arXiv:1710.09412; mixing log-mel spectrograms is the practice of PANNs, Kong et al.,
    *PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern Recognition*, IEEE/ACM
    TASLP 2020, arXiv:1912.10211.)

    ``domain_mixing="linear-in-input"`` mixes the values as given, λ·a + (1 − λ)·b, whatever the
    domain: the naive behaviour, kept to reproduce pipelines that mix log-mel directly, as PANNs
    does (``do_mixup`` on the log-mel inside the model). For ``"power"`` both modes are the same.

    Inputs are ``(B, C, F, T)`` or ``(B, F, T)``. Samples left unmixed (λ = 1: protected,
    self-paired, or skipped by a per-sample ``p``) are returned exactly, without a round trip
    through linear power. Conversions run in float32 for float16/bfloat16 inputs.

    Args:
        domain: what the inputs hold: ``"power"`` (|X|², mel power), ``"magnitude"`` (|X|),
            ``"db"`` (10·log10 of power, as torchaudio's ``AmplitudeToDB`` and PANNs' log-mel) or
            ``"log-mel"`` (``log_base(power + log_offset)``: natural log by default, as Kaldi
            fbanks). Default ``None``: not declared, taken as ``"power"`` (a plain linear mix); the
            inputs are then only warned about (``UserWarning``, once) if they have negative values
            (not at all with ``domain_mixing="linear-in-input"``), whereas a declared ``"power"`` or
            ``"magnitude"`` with negative values raises a ``ValueError``. The default exists so
            that the mixer works without parameters; declaring the domain is recommended.
        domain_mixing: ``"linear-power"`` (default) or ``"linear-in-input"``, see above.
        amin: power floor before a log (``"db"``, ``"log-mel"``), as torchaudio's ``amin``
            (default 1e-10, i.e. −100 dB).
        top_db: for ``"db"`` and ``"log-mel"`` in ``"linear-power"`` mode, clamp each mixed
            spectrogram to its maximum minus ``top_db`` decibels, per example (over channels,
            frequencies and frames), as torchaudio's ``amplitude_to_DB`` does for 4-D inputs.
            Default ``None`` (no clamp: a mix of power is never below the smaller source, so inputs
            already clamped stay in range).
        log_base: base of the ``"log-mel"`` logarithm (default e; 10 for log10).
        log_offset: the constant added to the power before the ``"log-mel"`` logarithm (e.g. 1e-6
            for ``log(mel + 1e-6)``); default 0 (the power is floored at ``amin`` instead).
        check_values: when the inputs' values are checked (finite; non-negative for ``"power"`` and
            ``"magnitude"``): ``"cpu"`` (default: CPU tensors only, so CUDA batches are not
            synchronised), ``"always"`` or ``"never"``.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`, and ``p``,
            ``enabled``, ``num_classes`` of `Mixer`.

    Examples:
        >>> import torchaudio
        >>> to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)
        >>> mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_mels=64)
        >>> features = to_db(mel(torch.randn(8, 1, 16000)))      # (8, 1, 64, 81), in dB
        >>> mixer = SpectrogramMixup(domain="db", num_classes=10)
        >>> out = mixer(features, torch.randint(0, 10, (8,)), generator=torch.Generator().manual_seed(0))
        >>> out.inputs.shape
        torch.Size([8, 1, 64, 81])
    """

    name: ClassVar[str] = "spectrogram"
    modality: ClassVar[str] = "audio"
    paper: ClassVar[str] = (
        "Zhang et al., mixup, ICLR 2018, https://arxiv.org/abs/1710.09412; "
        "log-mel mixing as in Kong et al., PANNs, TASLP 2020, https://arxiv.org/abs/1912.10211"
    )
    min_ndim: ClassVar[int] = 3
    example_shape: ClassVar[tuple[int, ...]] = (1, 16, 12)
    feature_dim: ClassVar[int] = 1

    domain: Domain | None = None
    domain_mixing: DomainMixing = "linear-power"
    amin: float = Field(default=DEFAULT_AMIN, gt=0, allow_inf_nan=False)
    top_db: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    log_base: float = Field(default=math.e, gt=1, allow_inf_nan=False)
    log_offset: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    check_values: ValueCheck = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.top_db is not None and (self.domain not in ("db", "log-mel") or self.domain_mixing != "linear-power"):
            raise ConfigError(
                "top_db clamps spectrograms converted back to decibels or logs: it needs domain='db' or "
                f"'log-mel' with domain_mixing='linear-power', got domain={self.domain!r}, "
                f"domain_mixing={self.domain_mixing!r}, top_db={self.top_db!r}"
            )

    @property
    def effective_domain(self) -> Domain:
        """The declared ``domain``, or ``"power"`` when none was declared."""
        return self.domain if self.domain is not None else "power"

    def check_inputs(self, inputs: object) -> torch.Tensor:
        # structure only: the values are checked once per mix, in _apply
        return check_spectrograms(inputs)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if plan.index.ndim != 1:
            raise ValueError(
                f"{type(self).__name__} mixes pairs; got a plan with index of shape {tuple(plan.index.shape)}"
            )
        domain = self.effective_domain
        if self.domain is None and self.domain_mixing == "linear-in-input":
            check_finite(inputs, when=self.check_values)  # values mixed as they are: any sign will do
        else:
            check_domain_values(inputs, domain, when=self.check_values, declared=self.domain is not None)
        device = inputs.device
        index = plan.index.to(device, non_blocking=True)
        shape = (-1,) + (1,) * (inputs.ndim - 1)
        if domain == "power" or self.domain_mixing == "linear-in-input":
            weight: float | torch.Tensor = (
                plan.scalar_lam
                if plan.scalar_lam is not None
                else plan.lam.to(device=device, dtype=inputs.dtype, non_blocking=True).view(shape)
            )
            return inputs[index].lerp_(inputs, weight)
        dtype = compute_dtype(inputs.dtype)
        x = inputs.to(dtype)
        power = to_power(x, domain, log_base=self.log_base, log_offset=self.log_offset)
        lam = plan.lam.to(device=device, dtype=dtype, non_blocking=True).view(shape)
        mixed = from_power(
            power[index].lerp_(power, lam), domain,
            amin=self.amin, top_db=self.top_db, log_base=self.log_base, log_offset=self.log_offset,
        )
        # unmixed samples are returned exactly (no round trip, no amin floor or top_db clamp)
        unmixed = (plan.lam >= 1).to(device, non_blocking=True).view(shape)
        mixed = torch.where(unmixed, x, mixed).to(inputs.dtype)
        return keep_memory_format(mixed, inputs)
