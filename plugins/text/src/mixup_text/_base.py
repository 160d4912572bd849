"""Shared machinery of the text mixers: input checks, the text plan, the model-level result, the base class.

Every text mixer is two things:

* a **tensor mixer** over embeddings or hidden states ``(B, L, D)`` (``mixer(x, y,
  attention_mask=m, generator=g)``, the mask being the call's `TextContext`), the object the
  conformance kit checks, whose plan can be replayed at any layer; and
* a **model runner**, ``mixer.forward(model, input_ids, attention_mask, labels, *, generator,
  num_classes, **model_kwargs)``, that runs a Hugging Face encoder once with the mix at the
  mixer's place and returns a `TextMixedForward` (the model output, the mixed targets, the
  plan and the attention mask the model ran with). Token ids are never mixed arithmetically.
  On a text batch (a mapping with ``input_ids``), `mixup_core.mixed_step` runs it through the
  mixer's ``mixed_step`` (`text_mixed_step`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import torch
from torch import nn

from mixup_core import (
    CallContext,
    MixedStep,
    MixedTargets,
    Mixer,
    MixPlan,
    PairMixer,
    lerp_pairs,
    mixer_dataclass,
    output_logits,
    soft_cross_entropy,
)

from .tokens import TokenTargets, check_token_labels, mix_token_labels, token_soft_cross_entropy

__all__ = [
    "TextContext",
    "TextMixedForward",
    "TextMixer",
    "TextPlan",
    "check_attention_mask",
    "check_embeddings",
    "check_input_ids",
    "check_sequence_labels",
    "is_text_batch",
    "text_mixed_step",
    "text_unmixed_logits",
    "union_attention_mask",
]


@dataclass(frozen=True, kw_only=True)
class TextContext(CallContext):
    """The call context of the text mixers on embeddings or hidden states.

    Args:
        attention_mask: ``(B, L)`` 0/1 or boolean mask of the anchors, right padding; ``None``: no
            padding. Kept in the plan (a `TextPlan`); `union_attention_mask` gives the mask of the
            mixed batch.
    """

    attention_mask: torch.Tensor | None = None


# ---------------------------------------------------------------------- checks
def check_embeddings(inputs: object, name: str = "inputs", *, ndims: tuple[int, ...] = (3,)) -> torch.Tensor:
    """Check a floating ``(B, L, D)`` tensor of embeddings or hidden states (``ndims`` allowed ranks).

    Integer tensors are refused with a ``TypeError`` that says why: token ids are never mixed.
    """
    shapes = " or ".join({2: "(B, D)", 3: "(B, L, D)"}.get(n, f"{n}-D") for n in ndims)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of embeddings {shapes}, got {type(inputs).__name__}")
    if not inputs.is_floating_point():
        raise TypeError(
            f"text mixers mix floating embeddings or hidden states {shapes}, got {name} with dtype {inputs.dtype} and "
            f"shape {tuple(inputs.shape)}; token ids are never mixed: embed them first "
            "(model.get_input_embeddings()(input_ids)) or call mixer.forward(model, input_ids, attention_mask, labels)"
        )
    if inputs.ndim not in ndims:
        raise ValueError(f"text mixers take {name} of shape {shapes}, got {name}.shape={tuple(inputs.shape)}")
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: {name}.shape={tuple(inputs.shape)}")
    return inputs


def check_input_ids(input_ids: object, name: str = "input_ids") -> torch.Tensor:
    """Check integer token ids ``(B, L)`` with a non-empty batch."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids (B, L), got {type(input_ids).__name__}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(
            f"{name} must be integer token ids (B, L), got dtype {input_ids.dtype} and shape {tuple(input_ids.shape)}; "
            "to mix embeddings you already have, call the mixer on them: mixer(embeddings, targets, attention_mask=...)"
        )
    if input_ids.ndim != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(f"{name} must have shape (B, L) with B, L ≥ 1, got {name}.shape={tuple(input_ids.shape)}")
    return input_ids


def check_attention_mask(mask: object, batch_size: int, length: int, name: str = "attention_mask") -> torch.Tensor:
    """Check a ``(B, L)`` mask of 0/1 or booleans and return it as a boolean tensor.

    The 0/1 value check runs on CPU tensors only (no synchronisation of CUDA batches).
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape ({batch_size}, {length}), got {type(mask).__name__}")
    if tuple(mask.shape) != (batch_size, length):
        raise ValueError(
            f"{name} must have shape (B, L) = ({batch_size}, {length}) like the tokens, got "
            f"{name}.shape={tuple(mask.shape)}"
        )
    if mask.dtype == torch.bool:
        return mask
    if mask.is_complex():
        raise TypeError(f"{name} must hold 0/1 or booleans, got dtype {mask.dtype}")
    if mask.device.type == "cpu" and mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{name} must hold only 0 and 1, got values {sorted(set(mask.unique().tolist()))[:6]}")
    return mask != 0


def check_sequence_labels(
    labels: object, batch_size: int, num_classes: int | None, name: str = "labels"
) -> torch.Tensor:
    """Check sentence-level labels: class indices ``(B,)`` or float targets ``(B, ...)`` (booleans become float).

    The range and finiteness checks run on CPU tensors only.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(labels).__name__}")
    if labels.ndim == 0 or labels.shape[0] != batch_size:
        raise ValueError(
            f"{name} must have the batch size {batch_size} as first dimension, got {name}.shape={tuple(labels.shape)}"
        )
    if labels.dtype == torch.bool:
        return labels.float()
    if labels.is_complex():
        raise TypeError(f"{name} must be class indices or real values, got dtype {labels.dtype}")
    if labels.is_floating_point():
        if labels.device.type == "cpu" and not bool(torch.isfinite(labels).all()):
            raise ValueError(f"{name} must be finite, got nan or inf")
        return labels
    if labels.ndim != 1:
        raise ValueError(f"class-index {name} must have shape (B,), got {name}.shape={tuple(labels.shape)}")
    if labels.device.type == "cpu" and labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or (num_classes is not None and hi >= num_classes):
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name} contain the label {bad}, outside [0, {num_classes if num_classes is not None else '∞'}) "
                f"(num_classes={num_classes})"
            )
    return labels


# ---------------------------------------------------------------------- plans and results
@dataclass(frozen=True, kw_only=True)
class TextPlan(MixPlan):
    """The plan of a text pair mix.

    Args:
        attention_mask: the anchors' attention masks, boolean ``(B, L)``, or ``None`` (no padding).
            Unlike the CPU fields, it stays on the device it was given on (copying it to the CPU
            would synchronise CUDA batches); it decides how padding positions are mixed and what
            the mixed batch's mask is (`union_attention_mask`).
    """

    attention_mask: torch.Tensor | None = None


def _active(plan: MixPlan) -> torch.Tensor:
    """CPU boolean ``(B,)``: samples that are really mixed (a partner other than themselves, λ < 1)."""
    lam = plan.lam if plan.lam.ndim == 1 else plan.lam[:, 0]
    index = plan.index if plan.index.ndim == 1 else plan.index[:, 0]
    return (index != torch.arange(plan.batch_size)) & (lam < 1)


def union_attention_mask(attention_mask: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    """The mask of a pair mix: ``m_i ∨ m_{index[i]}`` for mixed samples, ``m_i`` for the others.

    Keeps the dtype and device of ``attention_mask`` (``(B, L)``); no host synchronisation.

    Examples:
        >>> plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.7, 1.0]))
        >>> union_attention_mask(torch.tensor([[1, 0, 0], [1, 1, 0]]), plan)
        tensor([[1, 1, 0],
                [1, 1, 0]])
    """
    device = attention_mask.device
    index = plan.index.to(device, non_blocking=True)
    active = _active(plan).to(device, non_blocking=True)[:, None]
    mask = attention_mask != 0
    return (mask | (mask[index] & active)).to(attention_mask.dtype)


@dataclass(frozen=True)
class TextMixedForward:
    """What ``mixer.forward(model, …)`` returns (the text counterpart of `mixup_core.MixedForward`).

    Args:
        output: what the model returned (a Hugging Face ``ModelOutput``; its ``loss`` is ``None``
            because the labels are not given to the model).
        targets: `mixup_core.MixedTargets` for sequence labels, `TokenTargets` for
            token labels, ``None`` without labels.
        plan: the plan of the mix (pairs and λ; a `TextPlan` or a span plan).
        attention_mask: the attention mask the model ran with (after the mixer's mask policy).
        layer: where the mix happened: a module name (``"bert.encoder.layer.6"``), or
            ``"input_ids"`` / ``"inputs_embeds"`` for the input level.
    """

    output: Any
    targets: MixedTargets | TokenTargets | None
    plan: MixPlan
    attention_mask: torch.Tensor
    layer: str

    @property
    def logits(self) -> torch.Tensor:
        """The model's logits (``output.logits``, or the first item of a tuple output)."""
        out = self.output
        logits = getattr(out, "logits", None)
        if logits is None and isinstance(out, (tuple, list)) and out:
            logits = out[0]
        if logits is None and isinstance(out, torch.Tensor):
            logits = out
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"the model output {type(out).__name__} has no logits")
        return logits

    def loss(self, *, label_smoothing: float = 0.0) -> torch.Tensor:
        """The mixed loss: `mixup_core.soft_cross_entropy` for sequence targets,
        `token_soft_cross_entropy` (mean over valid tokens) for token targets."""
        if self.targets is None:
            raise ValueError("this forward pass had no labels, so there is no mixed loss; pass labels= to forward")
        if isinstance(self.targets, TokenTargets):
            return token_soft_cross_entropy(self.logits, self.targets, label_smoothing=label_smoothing)
        return soft_cross_entropy(self.logits, self.targets, label_smoothing=label_smoothing)


@dataclass
class _Batch:
    """A checked model-level batch."""

    input_ids: torch.Tensor
    mask: torch.Tensor  # boolean (B, L)
    model_mask: torch.Tensor  # (B, L) in the dtype the model is given
    kind: Literal["none", "sequence", "token"]
    labels: torch.Tensor | None
    num_classes: int | None

    @property
    def sequence_labels(self) -> torch.Tensor | None:
        return self.labels if self.kind == "sequence" else None


# ---------------------------------------------------------------------- the base class
class TextStep:
    """The training step of the text mixers (`TextMixer` and `mixup_text.SSMix`) on a text batch.

    `mixup_core.mixed_step` asks a mixer whether it ``runs_step`` on a batch; on a mapping with
    ``input_ids`` these mixers run their own ``forward`` (`text_mixed_step`), so nothing outside them
    repeats core's random draws.
    """

    def runs_step(self, inputs: object) -> bool:
        """``True`` on a text batch (a mapping with ``input_ids``): `mixed_step` runs `forward` on it."""
        return is_text_batch(inputs)

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
        """`forward` on a text batch, as `mixup_core.mixed_step` calls it (see `text_mixed_step`)."""
        mixer = cast(Mixer, self)  # the mixin is only ever mixed into Mixer subclasses
        return text_mixed_step(
            mixer, model, inputs, targets, generator=generator, num_classes=num_classes, protected=protected
        )

    def unmixed_logits(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        """The model on an unmixed text batch, with the mask of the batch (see `text_unmixed_logits`)."""
        return text_unmixed_logits(model, inputs)


@mixer_dataclass
class TextMixer(TextStep, PairMixer):
    """Base class of the text pair mixers over ``(B, L, D)`` embeddings or hidden states.

    A call ``mixer(x, y, attention_mask=m, generator=g)`` mixes the tensor; the plan (a
    `TextPlan`) records the anchors' mask, and `union_attention_mask` gives the mask of the
    mixed batch. `forward` runs a model with the mix at the mixer's place; subclasses implement it
    with `_prepare`, `_draw_plan` and `_finish`. `mixed_step` runs `forward` on a text batch (a
    mapping with ``input_ids``) for `mixup_core.mixed_step`.
    """

    modality: ClassVar[str] = "text"
    context_type: ClassVar[type[CallContext]] = TextContext
    min_ndim: ClassVar[int] = 3
    example_shape: ClassVar[tuple[int, ...]] = (6, 8)
    feature_dim: ClassVar[int] = 2
    input_ndims: ClassVar[tuple[int, ...]] = (3,)
    supports_token_labels: ClassVar[bool] = True

    # ------------------------------------------------------------------ tensor protocol
    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_embeddings(inputs, ndims=self.input_ndims)

    def check_context(self, context: CallContext, inputs: torch.Tensor) -> CallContext:
        """Check ``attention_mask`` against ``inputs`` (``(B, L)`` 0/1 or booleans) and keep it as booleans."""
        mask = cast(TextContext, context).attention_mask
        return context if mask is None else context.replace(attention_mask=self._mask_for(inputs, mask))

    def identity_plan(self, inputs: torch.Tensor) -> MixPlan:
        n = inputs.shape[0]
        return TextPlan(index=torch.arange(n), lam=torch.ones(n), attention_mask=self._attention_mask())

    def mixed_attention_mask(self, plan: MixPlan, attention_mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The attention mask of the mixed batch: the union of each pair's masks (`union_attention_mask`).

        Args:
            plan: the plan of the mix.
            attention_mask: the anchors' mask; default: the one recorded in the plan.
        """
        if attention_mask is None:
            attention_mask = getattr(plan, "attention_mask", None)
        return None if attention_mask is None else union_attention_mask(attention_mask, plan)

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        return TextPlan(index=index, lam=lam, attention_mask=self._attention_mask())

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return lerp_pairs(inputs, plan, out=out, mixer=type(self).__name__)

    # ------------------------------------------------------------------ call-time arguments
    def _attention_mask(self) -> torch.Tensor | None:
        """The call's checked ``attention_mask`` (boolean), or ``None``."""
        return cast(TextContext, self.context).attention_mask

    @staticmethod
    def _mask_for(inputs: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        if attention_mask is None:
            return None
        if inputs.ndim < 3:
            raise ValueError(
                "attention_mask needs inputs with a sequence dimension (B, L, D), got "
                f"inputs.shape={tuple(inputs.shape)}"
            )
        return check_attention_mask(attention_mask, inputs.shape[0], inputs.shape[1])

    # ------------------------------------------------------------------ model protocol
    def forward(
        self,
        model: nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        **model_kwargs: Any,
    ) -> TextMixedForward:
        """Run ``model`` once with the mix at this mixer's place (the same signature for every text mixer).

        Args:
            model: a Hugging Face encoder with a task head (or any module found by the overrides).
            input_ids: integer ``(B, L)`` token ids (floating tensors are refused: use ``mixer(x, …)``).
            attention_mask: ``(B, L)`` 0/1 or boolean mask, right padding (``None``: no padding).
            labels: class indices ``(B,)``, float targets ``(B, K)``, or (for mixers with
                ``supports_token_labels``) integer token labels ``(B, L)`` with ``-100`` ignored.
            generator: CPU generator for every random draw (layer, pairs, λ).
            num_classes: ``K``; default: the mixer's ``num_classes``, else ``model.config.num_labels``,
                else the width of the logits.
            protected, groups: as in `mixup_core.Mixer.__call__`.
            **model_kwargs: passed to ``model`` (``token_type_ids`` …); labels are not passed, so
                the model computes no loss of its own.

        Returns:
            `TextMixedForward`: ``output``, ``logits``, ``targets``, ``plan``, the ``attention_mask``
            the model ran with, the ``layer`` where the mix happened, and ``loss()``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def _prepare(
        self,
        model: nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        num_classes: int | None,
        generator: torch.Generator | None,
    ) -> _Batch:
        return prepare_batch(
            self, model, input_ids, attention_mask, labels, num_classes, generator,
            token_labels=self.supports_token_labels,
        )

    def _draw_plan(
        self,
        batch: _Batch,
        generator: torch.Generator | None,
        protected: torch.Tensor | None,
        groups: torch.Tensor | None,
        inputs: torch.Tensor | None = None,
    ) -> MixPlan:
        """Sample the plan for a model-level batch (a shape-only placeholder stands for the hidden state)."""
        if inputs is None:
            b, length = batch.input_ids.shape
            shape = (b, length, 1) if 3 in self.input_ndims else (b, 1)
            inputs = torch.empty(shape, device="meta")
        return self.sample(
            inputs, batch.sequence_labels, attention_mask=batch.mask if inputs.ndim >= 3 else None,
            generator=generator, protected=protected, groups=groups,
        )

    def _finish(
        self, output: Any, batch: _Batch, plan: MixPlan, model_mask: torch.Tensor, layer: str
    ) -> TextMixedForward:
        return finish_forward(self, output, batch, plan, model_mask, layer)


# ---------------------------------------------------------------------- helpers shared with SSMix
def is_text_batch(inputs: object) -> bool:
    """Whether ``inputs`` is a text batch as a data set's collate function makes it: a mapping with ``input_ids``."""
    return isinstance(inputs, Mapping) and "input_ids" in inputs


def _model_kwargs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a text batch passed to the model besides the tokens and the mask (``token_type_ids`` …);
    an entry ``labels`` is left out (the step's targets are the labels, and the model computes no loss)."""
    return {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "labels")}


def text_mixed_step(
    mixer: Mixer,
    model: nn.Module,
    inputs: Mapping[str, Any],
    targets: torch.Tensor,
    *,
    generator: torch.Generator | None,
    num_classes: int,
    protected: torch.Tensor | None,
) -> MixedStep:
    """The training step of a text mixer on a text batch: ``mixer.forward(model, input_ids, attention_mask,
    labels=targets, …)`` with the batch's other entries passed to the model (see `is_text_batch`)."""
    fw = mixer.forward(  # type: ignore[attr-defined]
        model, inputs["input_ids"], inputs.get("attention_mask"), labels=targets, generator=generator,
        num_classes=num_classes, protected=protected, **_model_kwargs(inputs),
    )
    return MixedStep(fw.logits, fw.targets, targets, fw.plan)


def text_unmixed_logits(model: nn.Module, inputs: Any) -> torch.Tensor:
    """The logits of ``model`` on an unmixed text batch (an all-ones mask when the batch has none), or of
    ``model(inputs)`` for other inputs."""
    if not is_text_batch(inputs):
        return output_logits(model(inputs))
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    mask = mask if mask is not None else torch.ones_like(ids)
    return output_logits(model(input_ids=ids, attention_mask=mask, **_model_kwargs(inputs)))


def prepare_batch(
    mixer: Mixer,
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    num_classes: int | None,
    generator: torch.Generator | None,
    *,
    token_labels: bool,
) -> _Batch:
    """Check the arguments of ``forward``; labels are sentence ``(B,)``/``(B, K)`` or token ``(B, L)`` labels."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (a Hugging Face encoder), got {type(model).__name__}")
    if generator is not None and not (isinstance(generator, torch.Generator) and generator.device.type == "cpu"):
        raise TypeError(
            f"generator must be a CPU torch.Generator or None, got {type(generator).__name__}: {generator!r}"
        )
    ids = check_input_ids(input_ids)
    b, length = ids.shape
    if attention_mask is None:
        model_mask = torch.ones_like(ids)
        mask = torch.ones_like(ids, dtype=torch.bool)
    else:
        mask = check_attention_mask(attention_mask, b, length)
        model_mask = attention_mask
    k = num_classes if num_classes is not None else mixer.num_classes
    if k is None:
        config_k = getattr(getattr(model, "config", None), "num_labels", None)
        k = config_k if isinstance(config_k, int) and config_k > 0 else None
    kind: Literal["none", "sequence", "token"] = "none"
    checked: torch.Tensor | None = None
    if labels is not None:
        is_token = (
            isinstance(labels, torch.Tensor) and labels.ndim == 2 and not labels.is_floating_point()
            and labels.dtype != torch.bool and not labels.is_complex()
        )
        if is_token:
            if not token_labels:
                raise ValueError(
                    f"{type(mixer).__name__} has no per-token targets; got token labels of shape {tuple(labels.shape)} "
                    "(use text:embedding, text:embed-output or text:tmix for token classification)"
                )
            checked = check_token_labels(labels, b, length, k)
            kind = "token"
        else:
            checked = check_sequence_labels(labels, b, k)
            kind = "sequence"
    return _Batch(input_ids=ids, mask=mask, model_mask=model_mask, kind=kind, labels=checked, num_classes=k)


def finish_forward(
    mixer: Mixer, output: Any, batch: _Batch, plan: MixPlan, model_mask: torch.Tensor, layer: str
) -> TextMixedForward:
    """The result of ``forward``: the model output with the targets mixed by ``plan``."""
    result = TextMixedForward(output=output, targets=None, plan=plan, attention_mask=model_mask, layer=layer)
    if batch.labels is None:
        return result
    k = batch.num_classes
    if k is None and (batch.kind == "token" or not batch.labels.is_floating_point()):
        k = int(result.logits.shape[-1])
    targets: MixedTargets | TokenTargets
    if batch.kind == "token":
        assert k is not None
        targets = mix_token_labels(batch.labels, plan, num_classes=k)
    else:
        targets = mixer.mix_targets(batch.labels, plan, num_classes=k)
    return TextMixedForward(output=output, targets=targets, plan=plan, attention_mask=model_mask, layer=layer)
