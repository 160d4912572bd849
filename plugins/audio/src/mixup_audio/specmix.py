"""SpecMix and its one-axis cases (time CutMix, frequency CutMix) on spectrograms ``(B, C, F, T)``."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from mixup_core import ConfigError, MixedTargets, MixPlan, PairMixer, mixer_dataclass

from ._masks import (
    FrameMixedTargets,
    SpanPlan,
    check_spectrograms,
    draw_spans,
    frame_anchor_weights,
    keep_mask,
    kept_share,
)

__all__ = ["FrameMixedTargets", "FreqCutMix", "SpanPlan", "SpecMix", "TimeCutMix", "mix_frame_targets"]


def mix_frame_targets(targets: torch.Tensor, plan: MixPlan, *, label_mix: str = "linear") -> torch.Tensor:
    """Mix frame-level targets ``(B, T_frames, K)`` (sound event detection) by a plan's time mask.

    For a `SpanPlan` (SpecMix, time and frequency CutMix), target frame ``j`` of mix ``i`` is
    ``w·y[i, j] + (1 − w)·y[index[i], j]``, where w is the anchor's share of the time-frequency cells
    of that frame (see `frame_anchor_weights`): 0 for a frame inside a partner time strip (it takes
    the partner's frame labels), 1 for a frame outside every strip when no frequency band is
    drawn, and the kept share of frequency bins otherwise (a frequency band mixes every frame). When
    ``T_frames`` differs from the spectrogram's ``T``, target frame ``j`` covers the spectrogram
    frames ``[j·T/T_frames, (j+1)·T/T_frames)`` and w is averaged over them. ``label_mix="union"``
    takes, per frame, the element-wise maximum of the sources whose weight there is positive.
    Other plans mix every frame with the plan's ``lam``.

    Examples:
        >>> mixer = TimeCutMix(lam=0.5)
        >>> x, y = torch.rand(2, 1, 8, 10), torch.rand(2, 10, 3)
        >>> out = mixer(x, y, generator=torch.Generator().manual_seed(0))
        >>> mix_frame_targets(y, out.plan).shape
        torch.Size([2, 10, 3])
    """
    if not isinstance(targets, torch.Tensor) or not targets.is_floating_point() or targets.ndim != 3:
        got = (
            f"shape {tuple(targets.shape)} and dtype {targets.dtype}"
            if isinstance(targets, torch.Tensor)
            else type(targets).__name__
        )
        raise ValueError(f"targets must be float frame-level targets of shape (B, T_frames, K), got {got}")
    if targets.shape[0] != plan.batch_size:
        raise ValueError(f"targets.shape={tuple(targets.shape)} does not match a plan for a batch of {plan.batch_size}")
    if label_mix not in ("linear", "union"):
        raise ValueError(f"label_mix must be 'linear' or 'union', got {label_mix!r}")
    return _frame_targets(targets, plan, label_mix).dense(dtype=targets.dtype)


def _frame_targets(targets: torch.Tensor, plan: MixPlan, label_mix: str) -> MixedTargets:
    mixed = MixedTargets.from_plan(targets, plan, label_mix=label_mix)  # type: ignore[arg-type]  # validated by the mixer
    if not isinstance(plan, SpanPlan):
        return mixed
    w = frame_anchor_weights(plan, int(targets.shape[1])).float()
    frame_weights = torch.stack([w, 1.0 - w], dim=1)
    return FrameMixedTargets(
        targets=targets,
        indices=mixed.indices,
        weights=mixed.weights,
        label_mix=mixed.label_mix,
        frame_weights=frame_weights,
    )


@mixer_dataclass
class _SpanMixer(PairMixer):
    """Base of the mixers that take time strips and frequency bands from the partner."""

    modality: ClassVar[str] = "audio"
    min_ndim: ClassVar[int] = 3
    example_shape: ClassVar[tuple[int, ...]] = (1, 16, 20)
    feature_dim: ClassVar[int] = 1

    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_spectrograms(inputs)

    def _spans(
        self, lam: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        n = index.shape[0]
        shared = self.mode == "batch" and bool((lam == lam[0]).all())
        time_spans, freq_spans = self._spans(lam[:1] if shared else lam, size, generator)
        if shared:
            time_spans, freq_spans = time_spans.expand(n, -1, -1), freq_spans.expand(n, -1, -1)
        # samples paired with themselves (or with λ = 1) take nothing from the partner
        unmixed = ((index == torch.arange(n)) | (lam >= 1.0))[:, None, None]
        time_spans = torch.where(unmixed, torch.zeros_like(time_spans), time_spans).contiguous()
        freq_spans = torch.where(unmixed, torch.zeros_like(freq_spans), freq_spans).contiguous()
        share = kept_share(time_spans, freq_spans, size)
        return SpanPlan(index=index, lam=share, time_spans=time_spans, freq_spans=freq_spans, size=size)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, SpanPlan):
            raise TypeError(f"{type(self).__name__}.apply needs a SpanPlan, got {type(plan).__name__}")
        if plan.size != (inputs.shape[-2], inputs.shape[-1]):
            raise ValueError(
                f"the plan's spans were drawn for (F, T) = {plan.size}, but inputs.shape={tuple(inputs.shape)}"
            )
        keep = keep_mask(plan, inputs.device)  # (B, 1, F, T)
        if inputs.ndim == 3:
            keep = keep[:, 0]
        index = plan.index.to(inputs.device, non_blocking=True)
        return torch.where(keep, inputs, inputs[index])

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchor's weight per time-frequency cell, float32 ``(B, 1, F, T)``, for a plan of this mixer."""
        if isinstance(plan, SpanPlan):
            return keep_mask(plan, device).float()
        return plan.lam.to(device).view(-1, 1, 1, 1).expand(-1, 1, *size).contiguous()

    def mix_targets(self, targets: torch.Tensor, plan: MixPlan, *, num_classes: int | None = None) -> MixedTargets:
        """Clip-level targets follow the exact share of cells; frame-level targets ``(B, T_frames, K)`` follow the
        time mask frame by frame (see `mix_frame_targets`)."""
        if targets.is_floating_point() and targets.ndim == 3:
            return _frame_targets(targets, plan, self._label_mix())
        return super().mix_targets(targets, plan, num_classes=num_classes)


def _split_counts(n: int, max_count: int, generator: torch.Generator | None) -> torch.Tensor:
    if max_count <= 0:
        return torch.zeros(n, dtype=torch.long)
    return torch.randint(1, max_count + 1, (n,), generator=generator)


@mixer_dataclass
class SpecMix(_SpanMixer):
    """SpecMix: full-height time strips and full-width frequency bands of the partner's spectrogram.

    Kim, Han, Ko, *SpecMix: A Mixed Sample Data Augmentation method for Training with
    Time-Frequency Domain Features*, Interspeech 2021, arXiv:2108.03020. The mask is shaped like
    SpecAugment's (whole frames and whole frequency bins), but the masked cells are filled from the
    partner instead of zeros, and the label weight of the anchor is the **exact** share of
    time-frequency cells it keeps (``plan.lam``, computed from the mask).

    How the mask follows λ (the paper's exact hyper-parameters are not verified; these defaults are
    this library's): a split u ~ U(0, 1) gives the time strips a coverage a = 1 − λ^u of the frames
    and the frequency bands a coverage b = 1 − λ^(1−u) of the bins, so the kept share
    (1 − a)(1 − b) is λ up to rounding to whole frames and bins. The number of strips and of bands
    is drawn uniformly in 1 … ``max_time_strips`` (``max_freq_bands``); their widths are a random
    partition of the coverage and they are placed at random without overlapping. With
    ``max_freq_bands=0`` (``max_time_strips=0``) all of the coverage goes to time (frequency).
    ``mode="batch"`` draws one mask for the batch, ``mode="sample"`` one per sample.

    Frame-level targets ``(B, T_frames, K)`` are mixed frame by frame by the time mask (see
    `mix_frame_targets`).

    Args:
        max_time_strips: most time strips per mask (default 3).
        max_freq_bands: most frequency bands per mask (default 3).
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Examples:
        >>> mixer = SpecMix(num_classes=10)
        >>> out = mixer(torch.randn(8, 1, 64, 101), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.time_spans.shape, out.plan.freq_spans.shape
        (torch.Size([8, 3, 2]), torch.Size([8, 3, 2]))
    """

    name: ClassVar[str] = "specmix"
    paper: ClassVar[str] = "Kim, Han, Ko, SpecMix, Interspeech 2021, https://arxiv.org/abs/2108.03020"

    max_time_strips: int = Field(default=3, ge=0, le=64)
    max_freq_bands: int = Field(default=3, ge=0, le=64)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_counts()

    def _check_counts(self) -> None:
        if self.max_time_strips == 0 and self.max_freq_bands == 0:
            raise ConfigError("SpecMix needs max_time_strips > 0 or max_freq_bands > 0, got both 0")

    def _spans(
        self, lam: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_counts()
        f, t = size
        n = lam.shape[0]
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        if self.max_freq_bands == 0:
            u = torch.ones_like(u)
        elif self.max_time_strips == 0:
            u = torch.zeros_like(u)
        lam64 = lam.double().clamp(0.0, 1.0)
        time_cover = 1.0 - lam64.pow(u)
        freq_cover = 1.0 - lam64.pow(1.0 - u)
        n_t = _split_counts(n, self.max_time_strips, generator)
        n_f = _split_counts(n, self.max_freq_bands, generator)
        time_len = (time_cover * t).round().long().clamp(0, t)
        freq_len = (freq_cover * f).round().long().clamp(0, f)
        time_spans = draw_spans(time_len, n_t, self.max_time_strips, t, generator)
        freq_spans = draw_spans(freq_len, n_f, self.max_freq_bands, f, generator)
        return time_spans, freq_spans


@mixer_dataclass
class TimeCutMix(_SpanMixer):
    """Time CutMix: one full-height time strip of the partner, of width (1 − λ)·T.

    CutMix (Yun et al., ICCV 2019, arXiv:1905.04899) restricted to the time axis of a spectrogram,
    as used for audio in SpecMix's baselines (Kim, Han, Ko, Interspeech 2021, arXiv:2108.03020).
    The strip has round((1 − λ)·T) frames and a uniform position inside the spectrogram (never
    clipped); the anchor's label weight is its exact share of frames. Frame-level targets
    ``(B, T_frames, K)`` take the partner's labels inside the strip (see `mix_frame_targets`).

    Args:
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer` (``mode="batch"``
            uses one strip for the batch, ``"sample"`` one per sample).

    Examples:
        >>> out = TimeCutMix(num_classes=4)(torch.randn(4, 1, 64, 50), torch.arange(4),
        ...                                 generator=torch.Generator().manual_seed(0))
        >>> out.plan.time_spans.shape
        torch.Size([4, 1, 2])
    """

    name: ClassVar[str] = "time-cutmix"
    paper: ClassVar[str] = "Yun et al., CutMix, ICCV 2019, https://arxiv.org/abs/1905.04899 (on the time axis)"

    def _spans(
        self, lam: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _, t = size
        n = lam.shape[0]
        length = ((1.0 - lam.double()) * t).round().long().clamp(0, t)
        spans = draw_spans(length, torch.ones(n, dtype=torch.long), 1, t, generator)
        return spans, torch.zeros(n, 0, 2, dtype=torch.long)


@mixer_dataclass
class FreqCutMix(_SpanMixer):
    """Frequency CutMix: one full-width frequency band of the partner, of height (1 − λ)·F.

    CutMix (Yun et al., ICCV 2019, arXiv:1905.04899) restricted to the frequency axis of a
    spectrogram (SpecMix's baselines, Kim, Han, Ko, Interspeech 2021, arXiv:2108.03020). The band
    has round((1 − λ)·F) bins and a uniform position; the anchor's label weight is its exact share
    of bins. The band covers every frame, so frame-level targets mix every frame with that share.

    Args:
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Examples:
        >>> out = FreqCutMix(num_classes=4)(torch.randn(4, 1, 64, 50), torch.arange(4),
        ...                                 generator=torch.Generator().manual_seed(0))
        >>> out.plan.freq_spans.shape
        torch.Size([4, 1, 2])
    """

    name: ClassVar[str] = "freq-cutmix"
    paper: ClassVar[str] = "Yun et al., CutMix, ICCV 2019, https://arxiv.org/abs/1905.04899 (on the frequency axis)"

    def _spans(
        self, lam: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f, _ = size
        n = lam.shape[0]
        length = ((1.0 - lam.double()) * f).round().long().clamp(0, f)
        spans = draw_spans(length, torch.ones(n, dtype=torch.long), 1, f, generator)
        return torch.zeros(n, 0, 2, dtype=torch.long), spans
