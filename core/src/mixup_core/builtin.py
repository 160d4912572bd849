"""Core's own mixers (registered under the plugin name ``core`` by `mixup_core._plugins`)."""

from __future__ import annotations

from dataclasses import dataclass as std_dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from ._errors import ConfigError
from ._mixer import Mixer, PairMixer, mixer_dataclass
from ._outputs import MixedStep
from ._plan import MixPlan
from ._random import check_generator
from ._targets import MixedTargets

__all__ = ["Choice", "ChoicePlan", "Mixup", "lerp_pairs"]


@mixer_dataclass
class Mixup(PairMixer):
    """mixup: a convex combination of two whole samples and of their targets.

    x̂ = λ·x_a + (1 − λ)·x_b and ŷ = λ·y_a + (1 − λ)·y_b, λ ~ Beta(α, α) (Zhang, Cisse, Dauphin,
    Lopez-Paz, *mixup: Beyond Empirical Risk Minimization*, ICLR 2018, arXiv:1710.09412).
    Works on tensors of any shape (images, spectrograms, waveforms, embeddings, hidden states), so
    it is the one ``mixup`` of every tensor modality. The same plan replays at a hidden layer with
    `replay_at` (Manifold Mixup).

    Args:
        inplace: write the mix into ``inputs`` (saves one allocation; the inputs are lost).
        **kwargs: λ, pairing and protection options of `PairMixer`, and ``p``,
            ``enabled``, ``num_classes`` of `Mixer`.

    Note:
        ``mode="batch"`` (default) draws one λ for the batch and mixes with a scalar weight;
        ``mode="sample"`` draws one λ per sample. Both are single vectorised kernels.

    Examples:
        >>> mixer = Mixup(alpha=0.4, num_classes=10)
        >>> out = mixer(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.targets.dense().shape
        torch.Size([8, 10])
    """

    name: ClassVar[str] = "mixup"
    modality: ClassVar[str] = "any"
    paper: ClassVar[str] = "Zhang et al., mixup: Beyond Empirical Risk Minimization, ICLR 2018, https://arxiv.org/abs/1710.09412"
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"

    inplace: bool = False

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return lerp_pairs(inputs, plan, out=out, inplace=self.inplace and out is None, mixer=type(self).__name__)


def lerp_pairs(
    inputs: torch.Tensor,
    plan: MixPlan,
    *,
    out: torch.Tensor | None = None,
    inplace: bool = False,
    mixer: str = "this mixer",
) -> torch.Tensor:
    """``λ_i·x_i + (1 − λ_i)·x_index[i]`` along the batch dimension: the pair mix of any tensor.

    One gather of the partners and one ``lerp`` (one allocation); with ``out`` the partners are
    gathered into that buffer, and with ``inplace`` the result is written into ``inputs``. A plan
    with one λ for the batch mixes with a Python float, so nothing is copied to the device for it.
    The ``apply`` of `Mixup` and of the plugins' hidden-layer and embedding mixers.

    Args:
        inputs: ``(B, ...)`` floating tensor, on any device.
        plan: a pair plan (``index`` of shape ``(B,)``).
        out: buffer of the shape and dtype of ``inputs`` to write the result into.
        inplace: overwrite ``inputs`` (ignored when ``out`` is given).
        mixer: the mixer's name, for the error message.

    Raises:
        ValueError: the plan has K partners per sample (``index`` of shape ``(B, K)``).

    Examples:
        >>> plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.75, 0.75]))
        >>> lerp_pairs(torch.tensor([[4.0], [0.0]]), plan)
        tensor([[3.],
                [1.]])
    """
    if plan.index.ndim != 1:
        raise ValueError(f"{mixer} mixes pairs; got a plan with index of shape {tuple(plan.index.shape)}")
    index = plan.index.to(inputs.device, non_blocking=True)
    weight: float | torch.Tensor
    if plan.scalar_lam is not None:
        weight = plan.scalar_lam
    else:
        shape = (-1,) + (1,) * (inputs.ndim - 1)
        weight = plan.lam.to(device=inputs.device, dtype=inputs.dtype, non_blocking=True).view(shape)
    if out is not None:
        torch.index_select(inputs, 0, index, out=out)
        return out.lerp_(inputs, weight)
    if inplace:
        partner = _gather_rows(inputs, index)
        return inputs.lerp_(partner, 1.0 - weight)
    # one allocation: gather the partners, then move them towards the anchors by λ
    return _gather_rows(inputs, index).lerp_(inputs, weight)


def _gather_rows(inputs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``inputs[index]`` along the batch dimension, in the memory format of ``inputs``.

    ``index_select`` makes the same copy as advanced indexing at a fraction of its cost on the CPU
    (about 4x for a (256, 3, 32, 32) batch), but returns a contiguous tensor: it is used for
    contiguous inputs, and advanced indexing (which keeps channels-last and other layouts) otherwise.
    """
    return inputs.index_select(0, index) if inputs.is_contiguous() else inputs[index]


@std_dataclass(frozen=True, kw_only=True)
class ChoicePlan(MixPlan):
    """The plan of a `Choice`: which mixer was picked and that mixer's own plan.

    Args:
        choice: position of the chosen mixer in ``Choice.mixers``.
        inner: the chosen mixer's plan.
    """

    choice: int
    inner: MixPlan


@mixer_dataclass
class Choice(Mixer):
    """RandomMix: pick one mixer per batch, with given weights.

    The composite of Liu et al., *RandomMix: A mixed sample data augmentation method with multiple
    mixed modes* (arXiv:2205.08728), and of timm's mixup/cutmix switch. The candidates are built
    mixers (`mixup_core.create_mixer` builds them from names or mappings in a config) and may
    themselves be composites.

    A call passes each candidate the call arguments it reads (``lengths=``, ``model=`` …), and the
    training step (`mixup_core.mixed_step`) is delegated to the chosen candidate when the candidates
    run it themselves (text mixers on token ids): `runs_step` is then ``True``, with the same draws
    as `sample` (``p``, then one candidate by weight).

    Args:
        mixers: the candidate mixers, at least one; required (a choice among defaults would silently
            be one mixer).
        weights: relative probability of each mixer (default: uniform).

    Examples:
        >>> mixer = Choice(mixers=[Mixup(alpha=0.2), Mixup(alpha=1.0)], weights=[0.3, 0.7], num_classes=10)
        >>> out = mixer(torch.randn(4, 5), torch.arange(4), generator=torch.Generator().manual_seed(0))
        >>> out.plan.choice in (0, 1)
        True

        By name, with ``create_mixer({"name": "choice", "mixers": ["mixup", "image:cutmix"]})``.
    """

    name: ClassVar[str] = "choice"
    modality: ClassVar[str] = "any"
    paper: ClassVar[str] = "Liu et al., RandomMix, arXiv 2022, https://arxiv.org/abs/2205.08728"
    nested_mixers: ClassVar[tuple[str, ...]] = ("mixers",)

    mixers: list[Any] = Field(default_factory=list)
    example_params: ClassVar[dict[str, Any]] = {"mixers": ["mixup", {"name": "mixup", "mode": "sample"}]}
    weights: list[float] | None = None

    def __post_init__(self) -> None:
        if not self.mixers:
            raise ConfigError("mixers: choice needs at least one mixer, e.g. mixers=['mixup', 'image:cutmix'] (got [])")
        specs = [m for m in self.mixers if not isinstance(m, Mixer)]
        if specs:
            raise ConfigError(
                f"mixers: Choice takes built mixers (Mixer instances); build it from names with "
                f"create_mixer({{'name': 'choice', 'mixers': [...]}}) (got {specs[0]!r})"
            )
        object.__setattr__(self, "mixers", list(self.mixers))
        if self.weights is not None:
            if len(self.weights) != len(self.mixers):
                raise ConfigError(
                    f"weights must have one entry per mixer ({len(self.mixers)}), got weights={self.weights!r}"
                )
            if any(not (w >= 0) for w in self.weights) or sum(self.weights) <= 0:
                raise ConfigError(f"weights must be non-negative with a positive sum, got weights={self.weights!r}")

    @property
    def min_ndim(self) -> int:  # type: ignore[override]  # a property in place of the class attribute
        return max(m.min_ndim for m in self.mixers)

    def call_arguments(self) -> tuple[str, ...]:
        """The call arguments of any candidate (each candidate receives those it reads)."""
        return tuple(dict.fromkeys(name for m in self.mixers for name in m.call_arguments()))

    def _args_for(self, mixer: Mixer) -> dict[str, Any]:
        """The call arguments bound to this Choice that ``mixer`` reads."""
        values = self.call_values()
        if not values:
            return {}
        accepted = mixer.call_arguments()
        return {k: v for k, v in values.items() if k in accepted}

    def _draw_choice(self, generator: torch.Generator | None) -> int:
        w = torch.tensor(self.weights if self.weights is not None else [1.0] * len(self.mixers), dtype=torch.float64)
        return int(torch.multinomial(w, 1, generator=generator))

    def _sample(self, inputs, targets, *, generator, protected, groups):
        choice = self._draw_choice(generator)
        chosen = self.mixers[choice]
        inner = chosen.sample(
            inputs, targets, generator=generator, protected=protected, groups=groups, **self._args_for(chosen)
        )
        return ChoicePlan(index=inner.index, lam=inner.lam, choice=choice, inner=inner)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, ChoicePlan):
            raise TypeError(f"Choice.apply needs a ChoicePlan, got {type(plan).__name__}")
        chosen = self.mixers[plan.choice]
        return chosen.apply(inputs, plan.inner, out=out, **self._args_for(chosen))

    def mix_targets(self, targets: torch.Tensor, plan: MixPlan, *, num_classes: int | None = None) -> MixedTargets:
        if isinstance(plan, ChoicePlan):
            k = num_classes if num_classes is not None else self.num_classes
            return self.mixers[plan.choice].mix_targets(targets, plan.inner, num_classes=k)
        return super().mix_targets(targets, plan, num_classes=num_classes)

    # ------------------------------------------------------------------ the training step
    def runs_step(self, inputs: object) -> bool:
        """``True`` when every candidate runs the step on ``inputs`` itself, ``False`` when none does.

        Raises:
            ConfigError: only some candidates do (text mixers beside others on a batch of token ids):
                the others could not mix this batch.
        """
        own = [m.runs_step(inputs) for m in self.mixers]
        if all(own):
            return True
        if any(own):
            runners = ", ".join(type(m).__name__ for m, o in zip(self.mixers, own, strict=True) if o)
            others = ", ".join(type(m).__name__ for m, o in zip(self.mixers, own, strict=True) if not o)
            raise ConfigError(
                f"core:choice on this batch must choose among mixers that run the step themselves ({runners}) only; "
                f"it also holds {others}, which cannot mix this batch"
            )
        return False

    def mixed_step(
        self,
        model: nn.Module,
        inputs: Any,
        targets: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        num_classes: int,
        protected: torch.Tensor | None = None,
    ) -> MixedStep:
        """The chosen candidate's step, with the draws of `sample`: with probability ``p`` a mix, then one
        candidate by weight (its plan wrapped in a `ChoicePlan`); a skipped batch runs unmixed with an
        identity plan."""
        generator = check_generator(generator)
        if not self.enabled or (self.p < 1.0 and bool(torch.rand(1, generator=generator) >= self.p)):
            plan = MixPlan.identity(int(targets.shape[0]))
            logits = self.mixers[0].unmixed_logits(model, inputs)
            return MixedStep(logits, self.mix_targets(targets, plan, num_classes=num_classes), targets, plan)
        choice = self._draw_choice(generator)
        step = self.mixers[choice].mixed_step(
            model, inputs, targets, generator=generator, num_classes=num_classes, protected=protected
        )
        inner = step.plan if step.plan is not None else MixPlan.identity(int(targets.shape[0]))
        return MixedStep(
            step.logits, step.targets, targets, ChoicePlan(index=inner.index, lam=inner.lam, choice=choice, inner=inner)
        )

    def unmixed_logits(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        return self.mixers[0].unmixed_logits(model, inputs)
