"""Between-Class learning: sound-pressure-aware mixing of two clips of different classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from mixup_core import MixedTargets, MixPlan, PairMixer, mixer_dataclass

from ._gain import GainMode, check_waveforms, clip_gain_db, default_n_fft

__all__ = ["BCPlan", "BetweenClass", "bc_coefficient", "bc_kl_loss"]


@dataclass(frozen=True, kw_only=True)
class BCPlan(MixPlan):
    """The plan of a `BetweenClass` mix.

    ``lam`` is the drawn ratio r (the anchor's **label** weight); the waveforms are mixed with p.

    Args:
        p: the sound-pressure-aware coefficient of each anchor, float32 ``(B,)``
            (1 for unmixed samples).
        gains: the gain of each clip in dB, float32 ``(B,)``; the partner's gain of sample ``i`` is
            ``gains[index[i]]``.
    """

    p: torch.Tensor
    gains: torch.Tensor


def bc_coefficient(r: torch.Tensor, gain_anchor: torch.Tensor, gain_partner: torch.Tensor) -> torch.Tensor:
    """p = 1 / (1 + 10^((G_a − G_b)/20)·(1 − r)/r), written as r / (r + 10^((G_a − G_b)/20)·(1 − r)).

    The second form is the same number for 0 < r ≤ 1 and is defined at r = 0 (p = 0). With p the
    amplitude ratio of the two contributions, p·10^(G_a/20) : (1 − p)·10^(G_b/20), equals r : (1 − r):
    the *perceived* ratio is r whatever the loudness of the clips. Computed in float64.

    Examples:
        >>> bc_coefficient(torch.tensor([0.5]), torch.tensor([-10.0]), torch.tensor([-30.0]))
        tensor([0.0909], dtype=torch.float64)
    """
    r = r.double()
    ratio = torch.pow(10.0, (gain_anchor.double() - gain_partner.double()) / 20.0)
    return r / (r + ratio * (1.0 - r))


@mixer_dataclass
class BetweenClass(PairMixer):
    """Between-Class (BC) learning: mix waveforms of different classes at a perceived ratio r.

    Tokozume, Ushiku, Harada, *Learning from Between-class Examples for Deep Sound Recognition*,
    ICLR 2018, arXiv:1711.10282 (reference code: mil-tokyo/bc_learning_sound). Each anchor is paired
    with a clip of a **different** class (``pairing="cross-class"``), r ~ U(0, 1), and the gains
    G_a, G_b of both clips (peak A-weighted frame power in dB, see `clip_gain_db`) give the
    sound-pressure-aware coefficient p = 1 / (1 + 10^((G_a − G_b)/20)·(1 − r)/r). The mix is
    x̂ = (p·x_a + (1 − p)·x_b) / √(p² + (1 − p)²): the denominator keeps the RMS of two
    uncorrelated clips of equal RMS. The **label** weights are r and 1 − r, not p (``plan.lam`` is r;
    ``plan.p`` and ``plan.gains`` are kept for audits), so the label weights deliberately differ from
    the input shares. Train with `bc_kl_loss`, KL(t̂ ‖ softmax(logits)), as the paper does.

    Inputs are ``(B, T)`` or ``(B, C, T)`` waveforms; channels share one gain per clip (their frame
    powers are averaged). Gains are computed on the inputs' device and copied to the CPU plan (one
    small transfer per batch); p is a constant of the mix (no gradient flows through the gains).

    Args:
        sample_rate: sampling rate of the clips in Hz (default 16000); sets the frame length.
        n_fft: frame length of the gain; default ``None`` = `default_n_fft` (2048 at 16 kHz,
            4096 at 44.1 kHz), hop ``n_fft // 2``, Hann window.
        gain_mode: ``"a_weighting"`` (default) or ``"rmse"`` (plain frame mean square).
        min_db: floor of the frame power in dB (default −80).
        lam: the policy of r, default ``{"dist": "uniform"}`` (r ~ U(0, 1)); any λ policy of
            `PairMixer` (a Beta, a fixed value) is accepted.
        pairing: default ``"cross-class"`` (needs class targets; a batch of one class stays unmixed).
        mode: default ``"sample"`` (one r per pair, as the paper); ``"batch"`` shares one r.
        **kwargs: the other λ, pairing and protection options of `PairMixer`, and ``p``,
            ``enabled``, ``num_classes`` of `Mixer`.

    Examples:
        >>> mixer = BetweenClass(sample_rate=16000, num_classes=10)
        >>> out = mixer(torch.randn(8, 1, 16000), torch.arange(8),
        ...             generator=torch.Generator().manual_seed(0))
        >>> bool((out.targets.lam == out.plan.lam).all())   # label weights are r
        True
        >>> loss = bc_kl_loss(torch.randn(8, 10), out.targets)
    """

    name: ClassVar[str] = "bc"
    modality: ClassVar[str] = "audio"
    paper: ClassVar[str] = (
        "Tokozume, Ushiku, Harada, Learning from Between-class Examples for Deep Sound Recognition, ICLR 2018, "
        "https://arxiv.org/abs/1711.10282"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"
    min_ndim: ClassVar[int] = 2
    example_shape: ClassVar[tuple[int, ...]] = (1, 1600)
    feature_dim: ClassVar[int] = 1
    label_follows_share: ClassVar[bool] = False

    lam: Any = Field(default_factory=lambda: {"dist": "uniform"})
    pairing: Any = "cross-class"
    mode: Literal["batch", "sample"] = "sample"
    sample_rate: int = Field(default=16000, gt=0)
    n_fft: int | None = Field(default=None, ge=2)
    gain_mode: Literal["a_weighting", "rmse"] = "a_weighting"
    min_db: float = Field(default=-80.0, allow_inf_nan=False)

    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_waveforms(inputs)

    @property
    def frame_length(self) -> int:
        """The frame length of the gain (``n_fft``, or its default for ``sample_rate``)."""
        return default_n_fft(self.sample_rate) if self.n_fft is None else self.n_fft

    def gains(self, inputs: torch.Tensor) -> torch.Tensor:
        """The gain of each clip of ``inputs`` in dB, float32 ``(B,)`` on the inputs' device."""
        mode: GainMode = self.gain_mode
        return clip_gain_db(inputs, self.sample_rate, n_fft=self.frame_length, mode=mode, min_db=self.min_db)

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        gains = self.gains(inputs).cpu()
        p = bc_coefficient(lam, gains, gains[index])
        p = torch.where(index == torch.arange(index.shape[0]), torch.ones_like(p), p)
        return BCPlan(index=index, lam=lam.float(), p=p.float(), gains=gains)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, BCPlan):
            raise TypeError(f"BetweenClass.apply needs a BCPlan, got {type(plan).__name__}")
        p = plan.p.double()
        norm = torch.sqrt(p.square() + (1.0 - p).square())
        shape = (-1,) + (1,) * (inputs.ndim - 1)
        a = (p / norm).to(device=inputs.device, dtype=inputs.dtype, non_blocking=True).view(shape)
        b = ((1.0 - p) / norm).to(device=inputs.device, dtype=inputs.dtype, non_blocking=True).view(shape)
        index = plan.index.to(inputs.device, non_blocking=True)
        mixed = inputs[index] * b
        return mixed.addcmul_(inputs, a)


def bc_kl_loss(
    logits: torch.Tensor,
    mixed_targets: MixedTargets | torch.Tensor,
    *,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """KL(t̂ ‖ softmax(logits)), the loss of BC learning, averaged over the batch by default.

    Equals the soft cross-entropy minus the entropy of the targets, Σ_c t_c·(log t_c − log q_c), with
    0·log 0 = 0; it is 0 when the prediction matches the mixed target (the cross-entropy is not).

    Args:
        logits: ``(B, K)`` unnormalised scores.
        mixed_targets: the `MixedTargets` of a mixer call, float targets ``(B, K)`` (rows summing to
            1) or class indices ``(B,)``.
        reduction: ``"mean"`` over the batch (default), ``"sum"`` or ``"none"`` (``(B,)``).

    Examples:
        >>> t = torch.tensor([[0.3, 0.7, 0.0]])
        >>> float(bc_kl_loss(t.clamp_min(1e-12).log(), t)) < 1e-6
        True
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        got = f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a (B, K) tensor, got {got}")
    k = logits.shape[-1]
    if isinstance(mixed_targets, MixedTargets):
        dense = mixed_targets.dense(k if mixed_targets.is_index else None, dtype=torch.float32)
    elif isinstance(mixed_targets, torch.Tensor):
        dense = (
            mixed_targets.float() if mixed_targets.is_floating_point() else F.one_hot(mixed_targets.long(), k).float()
        )
    else:
        raise TypeError(f"mixed_targets must be MixedTargets or a tensor, got {type(mixed_targets).__name__}")
    if dense.shape != logits.shape:
        raise ValueError(
            f"mixed_targets of shape {tuple(dense.shape)} do not match logits of shape {tuple(logits.shape)}"
        )
    dense = dense.to(logits.device)
    log_q = F.log_softmax(logits.float(), dim=-1)
    loss = (torch.xlogy(dense, dense) - dense * log_q).sum(dim=-1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
