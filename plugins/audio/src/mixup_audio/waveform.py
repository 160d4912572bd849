"""Waveform mixup with per-clip lengths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, cast

import torch

from mixup_core import CallContext, ConfigError, MixPlan, PairMixer, mixer_dataclass

from ._signal import ValueCheck, check_lengths, check_waveforms

__all__ = ["AudioContext", "WaveformMixup", "WaveformPlan"]


@dataclass(frozen=True, kw_only=True)
class AudioContext(CallContext):
    """The call context of the waveform mixers: ``mixer(x, y, lengths=lengths)``.

    Args:
        lengths: valid samples of each clip, integer ``(B,)`` with values in ``[0, T]``; ``None`` when
            every clip spans the whole tensor. The mixed clips' lengths are ``plan.lengths``.
    """

    lengths: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class WaveformPlan(MixPlan):
    """The plan of a `WaveformMixup`: partners, λ, and the time alignment of each pair.

    Args:
        source_lengths: valid samples of each clip as given in the call, long ``(B,)``; ``None``
            when the call had no ``lengths`` (every clip spans the whole tensor).
        offsets: where each partner's crop starts, long ``(B,)``: output sample ``t`` takes the
            partner's sample ``t + offsets[i]``. Zero (aligned starts) unless
            ``partner_offset="random"`` and the partner is longer than its anchor.
        lengths: valid samples of each mixed clip, long ``(B,)`` (``None`` when
            ``source_lengths`` is): the anchor's length in ``length_mode="anchor"``; in
            ``"longer"`` the longer of the two valid lengths (only the anchor's when λ = 1, only
            the partner's when λ = 0).
    """

    source_lengths: torch.Tensor | None = None
    offsets: torch.Tensor
    lengths: torch.Tensor | None = None


@mixer_dataclass
class WaveformMixup(PairMixer):
    """Waveform mixup: x̂(t) = λ·x_a(t) + (1 − λ)·x_b(t), with per-clip lengths.

    The mix of two waveforms is a physical two-source mixture, and since the STFT is linear it
    equals mixing their complex STFTs (not their power spectrograms, which miss the cross term
    2λ(1 − λ)·Re(X_a·X_b*)). The label weight of the anchor is λ, its gain in the mixture (Zhang et
    al., *mixup: Beyond Empirical Risk Minimization*, ICLR 2018, arXiv:1710.09412; mixing waveforms
    before featurisation with partners cropped or zero-padded to the anchor's length is the practice
    of AST, Gong et al., *AST: Audio Spectrogram Transformer*, Interspeech 2021, arXiv:2104.01778).

    Inputs are ``(B, C, T)`` (all clips of a batch share the channel count ``C``), or ``(B, T)`` for
    mono clips, which keeps its shape. Clips of different lengths come zero-padded to a common
    ``T`` with their valid lengths as the call's ``lengths=`` (a ``(B,)`` integer tensor). Samples
    beyond a clip's length are treated as zero: padding never leaks into a mix.

    Length handling (only with ``lengths``; without it every clip spans ``T`` and both modes are
    plain mixup):

    - ``length_mode="anchor"`` (default): the mix spans the anchor's length ``l_a``. The partner
      is zero-padded when shorter, and cropped when longer: by default aligned at its start
      (``partner_offset="start"``); with ``partner_offset="random"`` the crop starts at an offset
      drawn uniformly from ``{0, …, l_b − l_a}``. Output samples at ``t >= l_a`` are zero and
      ``plan.lengths`` equals ``lengths``.
    - ``length_mode="longer"``: the mix spans max(l_a, l_b), both clips starting at 0. Each clip
      keeps its own gain throughout, so where only one clip is valid it is the only source, heard
      at its gain (the anchor's tail at λ, the partner's at 1 − λ): the output is exactly the mix of
      the two zero-padded clips, a two-source mixture in which one source has stopped. The label
      weight stays λ (the gain), as for the valid overlap. ``plan.lengths`` gives
      max(l_a, l_b) per clip (``l_a`` where λ = 1, ``l_b`` where λ = 0).

    Args:
        length_mode: ``"anchor"`` (default) or ``"longer"``, see above.
        partner_offset: ``"start"`` (default: partners are aligned at their first sample) or
            ``"random"`` (a random crop of a longer partner, drawn from the generator; only with
            ``length_mode="anchor"``).
        check_values: when the inputs are checked for NaN/Inf: ``"cpu"`` (default: CPU tensors
            only, so CUDA batches are not synchronised), ``"always"`` or ``"never"``.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`, and ``p``,
            ``enabled``, ``num_classes`` of `Mixer`.

    Examples:
        >>> mixer = WaveformMixup(alpha=1.0, num_classes=10)
        >>> x = torch.randn(4, 1, 16000)
        >>> lengths = torch.tensor([16000, 12000, 8000, 16000])
        >>> out = mixer(x, torch.randint(0, 10, (4,)), lengths=lengths,
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.lengths.tolist()
        [16000, 12000, 8000, 16000]
    """

    name: ClassVar[str] = "waveform"
    modality: ClassVar[str] = "audio"
    paper: ClassVar[str] = (
        "Zhang et al., mixup, ICLR 2018, https://arxiv.org/abs/1710.09412; "
        "waveform mixing as in Gong et al., AST, Interspeech 2021, https://arxiv.org/abs/2104.01778"
    )
    min_ndim: ClassVar[int] = 2
    context_type: ClassVar[type[CallContext]] = AudioContext
    example_shape: ClassVar[tuple[int, ...]] = (1, 400)
    feature_dim: ClassVar[int] = 1

    length_mode: Literal["anchor", "longer"] = "anchor"
    partner_offset: Literal["start", "random"] = "start"
    check_values: ValueCheck = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.partner_offset == "random" and self.length_mode != "anchor":
            raise ConfigError(
                "partner_offset='random' crops a longer partner to the anchor's length and applies to "
                f"length_mode='anchor' only, got length_mode={self.length_mode!r}"
            )

    # ------------------------------------------------------------------ public protocol
    def check_context(self, context: CallContext, inputs: torch.Tensor) -> CallContext:
        """Check ``lengths``: integer ``(B,)`` with values in ``[0, T]`` for inputs of ``T`` samples."""
        lengths = cast(AudioContext, context).lengths
        if lengths is None:
            return context
        return context.replace(lengths=check_lengths(lengths, inputs.shape[0], inputs.shape[-1]))

    def check_inputs(self, inputs: object) -> torch.Tensor:
        # structure only: the values are checked once per mix, in _apply
        return check_waveforms(inputs, when="never")

    def identity_plan(self, inputs: torch.Tensor) -> MixPlan:
        lengths = self._lengths()
        n = inputs.shape[0]
        return WaveformPlan(
            index=torch.arange(n), lam=torch.ones(n), source_lengths=lengths,
            offsets=torch.zeros(n, dtype=torch.long), lengths=lengths,
        )

    # ------------------------------------------------------------------ internals
    def _lengths(self) -> torch.Tensor | None:
        """The call's checked ``lengths`` (see `AudioContext`), or ``None``."""
        return cast(AudioContext, self.context).lengths

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        n = index.shape[0]
        lengths = self._lengths()
        offsets = torch.zeros(n, dtype=torch.long)
        if self.partner_offset == "random":
            # always one draw per sample, so the stream of random numbers does not depend on the lengths
            u = torch.rand(n, generator=generator, dtype=torch.float64)
            if lengths is not None:
                slack = (lengths[index] - lengths).clamp(min=0)
                offsets = torch.minimum((u * (slack + 1)).floor().long(), slack)
        out_lengths = lengths
        if lengths is not None and self.length_mode == "longer":
            partner = lengths[index]
            out_lengths = torch.where(
                lam >= 1, lengths, torch.where(lam <= 0, partner, torch.maximum(lengths, partner))
            )
        return WaveformPlan(index=index, lam=lam, source_lengths=lengths, offsets=offsets, lengths=out_lengths)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if plan.index.ndim != 1:
            raise ValueError(
                f"{type(self).__name__} mixes pairs; got a plan with index of shape {tuple(plan.index.shape)}"
            )
        check_waveforms(inputs, when=self.check_values)
        device = inputs.device
        index = plan.index.to(device, non_blocking=True)
        shape = (-1,) + (1,) * (inputs.ndim - 1)
        lam = plan.lam.to(device=device, dtype=inputs.dtype, non_blocking=True).view(shape)
        source_lengths = plan.source_lengths if isinstance(plan, WaveformPlan) else None
        if source_lengths is None:
            # every clip spans the tensor: one gather and one lerp
            weight: float | torch.Tensor = plan.scalar_lam if plan.scalar_lam is not None else lam
            return inputs[index].lerp_(inputs, weight)
        assert isinstance(plan, WaveformPlan)
        num_samples = inputs.shape[-1]
        if source_lengths.shape != plan.index.shape or int(source_lengths.max()) > num_samples:
            raise ValueError(
                f"the plan was drawn for clips of lengths up to {int(source_lengths.max())} (batch "
                f"{source_lengths.shape[0]}), but inputs.shape={tuple(inputs.shape)}"
            )
        t = torch.arange(num_samples, device=device)
        len_a = source_lengths.to(device, non_blocking=True)
        len_b = len_a[index]
        offsets = plan.offsets.to(device, non_blocking=True)
        partner = inputs[index]
        if bool((plan.offsets != 0).any()):
            pos = (t[None, :] + offsets[:, None]).clamp(max=num_samples - 1)  # (B, T)
            partner = partner.gather(
                -1, pos.view(pos.shape[0], *([1] * (inputs.ndim - 2)), num_samples).expand_as(partner)
            )
        # (B, 1, T) masks of valid samples: the anchor's, and the (shifted) partner's
        valid_a = (t[None, :] < len_a[:, None]).view(-1, *([1] * (inputs.ndim - 2)), num_samples)
        valid_b = (t[None, :] + offsets[:, None] < len_b[:, None]).view_as(valid_a)
        zero = torch.zeros((), dtype=inputs.dtype, device=device)
        anchor = torch.where(valid_a, inputs, zero)
        partner = torch.where(valid_b, partner, zero)
        mixed = partner.lerp_(anchor, lam) if plan.scalar_lam is None else partner.lerp_(anchor, plan.scalar_lam)
        if self.length_mode == "anchor":
            mixed = torch.where(valid_a, mixed, zero)
        return mixed
