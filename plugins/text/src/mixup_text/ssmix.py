"""SSMix: saliency-based span mixup: the anchor's least salient span is replaced by the partner's most salient span."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from mixup_core import CallContext, Mixer, MixPlan, mixer_dataclass, resolve_pairing

from ._base import (
    TextContext,
    TextMixedForward,
    TextPlan,
    TextStep,
    check_attention_mask,
    check_embeddings,
    finish_forward,
    prepare_batch,
)
from ._layers import find_embeddings, find_input_embeddings

__all__ = ["SSMix", "SSMixContext", "SpanPlan", "replace_spans", "saliency_spans"]


@dataclass(frozen=True, kw_only=True)
class SSMixContext(TextContext):
    """The call context of `SSMix` on embeddings: the mask of `TextContext` and the tokens' saliency.

    Args:
        saliency: ``(B, L)`` token saliency, or a callable returning it (called only when the batch
            is mixed). Required to mix embeddings; `SSMix.forward` computes it from the model.
    """

    saliency: torch.Tensor | Callable[[], torch.Tensor] | None = None


@dataclass(frozen=True, kw_only=True)
class SpanPlan(TextPlan):
    """The plan of a span replacement.

    Args:
        start: first replaced position of each anchor, CPU long ``(B,)``.
        source_start: first position of the partner's span, CPU long ``(B,)``.
        width: span length, CPU long ``(B,)``; 0 for samples that are not mixed.
        length: the sequence length ``L`` the spans were drawn for.
    """

    start: torch.Tensor
    source_start: torch.Tensor
    width: torch.Tensor
    length: int


def replace_spans(inputs: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    """Copy each partner's span into its anchor: any ``(B, L, ...)`` tensor, token ids included.

    ``out[i, start_i + t] = inputs[index_i, source_start_i + t]`` for ``0 ≤ t < width_i``; every
    other position is the anchor's. Vectorised (one gather and one ``where``); a new tensor.
    """
    if not isinstance(plan, SpanPlan):
        raise TypeError(f"span replacement needs a SpanPlan, got {type(plan).__name__}")
    if inputs.ndim < 2 or inputs.shape[0] != plan.batch_size or inputs.shape[1] != plan.length:
        raise ValueError(
            f"the plan's spans were drawn for (B, L) = ({plan.batch_size}, {plan.length}), got "
            f"shape {tuple(inputs.shape)}"
        )
    b, length = inputs.shape[:2]
    device = inputs.device
    start = plan.start.to(device, non_blocking=True)[:, None]
    width = plan.width.to(device, non_blocking=True)[:, None]
    source = plan.source_start.to(device, non_blocking=True)[:, None]
    index = plan.index.to(device, non_blocking=True)[:, None]
    pos = torch.arange(length, device=device)[None, :]
    inside = (pos >= start) & (pos < start + width)
    src = (pos - start + source).clamp(0, length - 1)
    gathered = inputs[index.expand(b, length), src]
    return torch.where(inside.view(b, length, *([1] * (inputs.ndim - 2))), gathered, inputs)


def _window_sums(csum: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Sum of each window ``[s, s + width)`` from a leading-zero cumulative sum ``(B, L + 1)``: ``(B, L)``."""
    length = csum.shape[1] - 1
    pos = torch.arange(length, device=csum.device)[None, :]
    end = (pos + width[:, None]).clamp(max=length)
    return csum.gather(1, end) - csum[:, :length]


def saliency_spans(
    saliency: torch.Tensor, lengths: torch.Tensor, index: torch.Tensor, ratio: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """SSMix's spans for a batch, vectorised: ``(start, source_start, width, lam)`` on the CPU.

    For anchor ``i`` (``n_i`` tokens, the first and last being the special tokens [CLS] and
    [SEP]) the window is ``w_i = max(1, ⌊ratio·(n_i − 2)⌋)`` tokens (the reference's
    ``int(...)``). Windows lie strictly inside the content (they never touch position 0 or
    ``n − 1``); the anchor's window has the smallest mean saliency, the partner's (of the same width
    ``w_i``, inside the partner's own content) the largest, first one on ties. Window means come from
    one cumulative sum and a gather per side, so each sample has its own window size without a loop.
    λ = 1 − w_i/(n_i − 2). A sample is left unmixed (width 0, λ = 1) when it is its own partner or
    when the anchor or the partner has no room for the window.

    Args:
        saliency: ``(B, L)`` token saliency (any non-negative score).
        lengths: ``(B,)`` number of real tokens (right padding).
        index: CPU ``(B,)`` partner of each anchor.
        ratio: the window as a fraction of the content length (``ss_winsize``).
    """
    device = saliency.device
    b, length = saliency.shape
    sal = saliency.detach().float()
    n = lengths.to(device).long()
    content = n - 2
    width = torch.floor(content.double() * ratio + 1e-9).long().clamp(min=1)
    csum = F.pad(sal.cumsum(dim=1), (1, 0))
    pos = torch.arange(length, device=device)[None, :]
    idx = index.to(device)
    inf = torch.tensor(float("inf"), device=device)
    fits_a = (pos >= 1) & (pos + width[:, None] <= (n - 1)[:, None])
    start = torch.where(fits_a, _window_sums(csum, width), inf).argmin(dim=1)
    fits_b = (pos >= 1) & (pos + width[:, None] <= (n[idx] - 1)[:, None])
    source = torch.where(fits_b, _window_sums(csum[idx], width), -inf).argmax(dim=1)
    active = fits_a.any(dim=1) & fits_b.any(dim=1) & (idx != torch.arange(b, device=device))
    width = torch.where(active, width, torch.zeros_like(width))
    lam = torch.where(
        active, 1.0 - width.double() / content.clamp(min=1).double(), torch.ones_like(width, dtype=torch.float64)
    )
    start, source, width = (torch.where(active, t, torch.zeros_like(t)) for t in (start, source, width))
    packed = torch.stack([start, source, width]).cpu()  # one transfer
    return packed[0], packed[1], packed[2], lam.float().cpu()


@mixer_dataclass
class SSMix(TextStep, Mixer):
    """SSMix: replace the least salient span of the anchor by the most salient span of its partner.

    Yoon, Kim, Park, *SSMix: Saliency-Based Span Mixup for Text Classification*, Findings of ACL
    2021, arXiv:2106.08062 (reference code clovaai/ssmix, ``augmentation/ssmix.py`` and
    ``saliency.py``). Per batch:

    1. Saliency: one extra forward and backward pass of the model on the clean batch; the saliency
       of a token is the L2 norm of ∂L/∂e over the embedding dimension, where L is the
       cross-entropy of each sentence with its own label (its predicted class without labels) and
       e is the output of the embeddings module (``saliency_at="embeddings"``, as the reference
       code) or the word embeddings (``"input_embeddings"``, as the paper's text says); divided by
       its maximum over the sentence. Gradients go to that tensor only (``torch.autograd.grad``),
       never into the parameters' ``.grad``. The model runs as it is (the reference uses train mode).
    2. Spans (`saliency_spans`): window ``w = max(1, ⌊ss_winsize·(n_a − 2)⌋)`` with ``n_a`` the
       anchor's number of tokens and [CLS]/[SEP] excluded; the anchor's lowest-saliency window is
       replaced by its partner's highest-saliency window of the same width, **on the token ids**
       (a replacement of tokens, not an arithmetic mix of ids); the anchor's attention mask and
       token types are kept.
    3. Labels: λ = 1 − w/(n_a − 2) (the share of the anchor's content tokens; the two special
       tokens are not counted), loss λ·CE(y_a) + (1 − λ)·CE(y_b).

    Partners are drawn in the batch by ``pairing`` (a permutation without fixed points by default);
    the reference instead splits each batch in halves, mixes both ways and adds the clean loss.

    As a tensor mixer, ``mixer(x, y, saliency=s, attention_mask=m)`` applies the same span rule to
    ``(B, L, D)`` embeddings with a given ``(B, L)`` saliency (or a callable returning it): the
    call's `SSMixContext`.

    Args:
        ss_winsize: window as a fraction of the content length (default 0.1, the reference's 10 %).
        saliency_at: ``"embeddings"`` (default) or ``"input_embeddings"``, see step 1.
        embeddings: dotted path of the embeddings module (default: found through the model's structure).
        pairing: pairing policy name (``"random"``, ``"flip"``, ``"within-class"`` …).

    Note:
        ``protected`` samples are never mixed and never partners. Batches must be right-padded.
        Building the plan copies the ``(B,)`` spans to the CPU (one host synchronisation), on top of
        the saliency pass; the label weights count content tokens only, so they differ from the
        share of positions (``label_follows_share = False``).

    Examples:
        >>> mixer = SSMix(num_classes=2)
        >>> emb = torch.randn(4, 12, 8)
        >>> out = mixer(emb, torch.tensor([0, 1, 1, 0]), saliency=emb.norm(dim=-1),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.width.tolist(), [round(v, 3) for v in out.plan.lam.tolist()]
        ([1, 1, 1, 1], [0.9, 0.9, 0.9, 0.9])
    """

    name: ClassVar[str] = "ssmix"
    context_type: ClassVar[type[CallContext]] = SSMixContext
    modality: ClassVar[str] = "text"
    paper: ClassVar[str] = (
        "Yoon, Kim, Park, SSMix: Saliency-Based Span Mixup for Text Classification, Findings of ACL 2021, "
        "https://arxiv.org/abs/2106.08062"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "gradients"
    min_ndim: ClassVar[int] = 3
    example_shape: ClassVar[tuple[int, ...]] = (6, 8)
    feature_dim: ClassVar[int] = 2
    label_follows_share: ClassVar[bool] = False

    ss_winsize: float = Field(default=0.1, gt=0, le=1)
    saliency_at: Literal["embeddings", "input_embeddings"] = "embeddings"
    embeddings: str | None = None
    pairing: Any = "random"

    def __post_init__(self) -> None:
        resolve_pairing(self.pairing)

    # ------------------------------------------------------------------ tensor protocol
    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_embeddings(inputs)

    def check_context(self, context: CallContext, inputs: torch.Tensor) -> CallContext:
        """Check ``attention_mask`` against ``inputs`` and keep it as booleans (``saliency`` is checked when used)."""
        mask = cast(SSMixContext, context).attention_mask
        if mask is None:
            return context
        return context.replace(attention_mask=check_attention_mask(mask, inputs.shape[0], inputs.shape[1]))

    @classmethod
    def example_call_kwargs(
        cls, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        """``saliency=``: the L2 norm of each position's vector, a model-free stand-in (kit and previews only)."""
        return {"saliency": inputs.detach().float().norm(dim=-1)}

    def identity_plan(self, inputs: torch.Tensor) -> MixPlan:
        n, length = int(inputs.shape[0]), int(inputs.shape[1])
        zeros = torch.zeros(n, dtype=torch.long)
        return SpanPlan(
            index=torch.arange(n), lam=torch.ones(n), attention_mask=self._context().attention_mask,
            start=zeros, source_start=zeros, width=zeros, length=length,
        )

    def _context(self) -> SSMixContext:
        return cast(SSMixContext, self.context)

    def _saliency(self, inputs: torch.Tensor) -> torch.Tensor:
        value = self._context().saliency
        if value is None:
            raise TypeError(
                "SSMix needs token saliency: call mixer.forward(model, input_ids, attention_mask, labels) to compute "
                "it from the model, or pass saliency=<(B, L) tensor> (or a callable returning one) to mix embeddings"
            )
        if callable(value) and not isinstance(value, torch.Tensor):
            value = value()
        b, length = int(inputs.shape[0]), int(inputs.shape[1])
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"saliency must be a floating (B, L) = ({b}, {length}) tensor, got {type(value).__name__}")
        if tuple(value.shape) != (b, length):
            raise ValueError(
                f"saliency must have shape (B, L) = ({b}, {length}), got saliency.shape={tuple(value.shape)}"
            )
        return value

    def _sample(self, inputs, targets, *, generator, protected, groups):
        n, length = int(inputs.shape[0]), int(inputs.shape[1])
        pairing = resolve_pairing(self.pairing)
        labels = None
        if pairing.needs_labels:
            if targets is None:
                raise ValueError(f"pairing={self.pairing!r} needs targets (class labels), got targets=None")
            t = targets.detach().cpu()
            labels = t.argmax(dim=1) if t.is_floating_point() else t.long()
        candidates = None if protected is None else ~protected
        index = pairing.pair(n, labels=labels, groups=groups, candidates=candidates, generator=generator)
        mask = self._context().attention_mask
        if bool((index == torch.arange(n)).all()):
            return self.identity_plan(inputs)
        saliency = self._saliency(inputs)
        if mask is None:
            lengths = torch.full((n,), length, dtype=torch.long, device=saliency.device)
        else:
            lengths = mask.sum(dim=1)
            positions = torch.arange(length, device=mask.device)[None, :]
            if not bool((mask == (positions < lengths[:, None])).all()):
                raise ValueError(
                    "SSMix needs right-padded batches (the real tokens first in each row of attention_mask)"
                )
        start, source, width, lam = saliency_spans(saliency, lengths, index, self.ss_winsize)
        return SpanPlan(
            index=index, lam=lam, attention_mask=mask, start=start, source_start=source, width=width, length=length
        )

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        mixed = replace_spans(inputs, plan)
        return mixed if out is None else out.copy_(mixed)

    # ------------------------------------------------------------------ model protocol
    def saliency(
        self,
        model: nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **model_kwargs: Any,
    ) -> torch.Tensor:
        """Token saliency ``(B, L)`` in float32: the normalised gradient norm of step 1.

        Args:
            model: a Hugging Face classifier returning ``logits`` ``(B, K)``.
            input_ids: integer ``(B, L)``.
            attention_mask: ``(B, L)`` (``None``: all ones).
            labels: class indices ``(B,)`` or soft targets ``(B, K)``; ``None`` uses the predicted class.
            **model_kwargs: passed to ``model``.
        """
        if self.saliency_at == "embeddings":
            module, _ = find_embeddings(model, self.embeddings)
        else:
            module = find_input_embeddings(model)
        captured: list[torch.Tensor] = []

        def hook(mod: nn.Module, args: Any, output: Any) -> Any:
            value = output if isinstance(output, torch.Tensor) else output[0]
            leaf = value.detach().requires_grad_(True)
            captured.append(leaf)
            return leaf if isinstance(output, torch.Tensor) else type(output)([leaf, *output[1:]])

        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        handle = module.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                output = model(input_ids=input_ids, attention_mask=mask, **model_kwargs)
                logits = TextMixedForward(
                    output=output, targets=None, plan=MixPlan.identity(1), attention_mask=mask, layer=""
                ).logits
                logits = logits.float()
                if labels is None:
                    loss = F.cross_entropy(logits, logits.detach().argmax(dim=-1), reduction="sum")
                elif labels.is_floating_point():
                    loss = -(labels.to(logits.device).float() * F.log_softmax(logits, dim=-1)).sum()
                else:
                    loss = F.cross_entropy(logits, labels.to(logits.device).long(), reduction="sum")
                (grad,) = torch.autograd.grad(loss, captured[0])
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(f"the hooked module {type(module).__name__} did not run during the saliency pass")
        norm = grad.float().norm(dim=-1)
        return (norm / norm.amax(dim=1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)).detach()

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
        """Saliency pass, span replacement on ``input_ids``, and the training forward pass.

        Arguments as in `WordMixup.forward`, with sentence labels only (``(B,)`` or ``(B, K)``).
        The saliency pass is skipped when nothing is mixed (``p``, ``enabled``, batch of one).

        Returns:
            `TextMixedForward` with ``layer="input_ids"`` and the anchors' attention mask.
        """
        batch = prepare_batch(
            self, model, input_ids, attention_mask, labels, num_classes, generator, token_labels=False
        )
        ids = batch.input_ids
        b, length = ids.shape

        def compute() -> torch.Tensor:
            return self.saliency(model, ids, batch.model_mask, batch.labels, **model_kwargs)

        placeholder = torch.empty((b, length, 1), device="meta")
        plan = self.sample(
            placeholder, batch.labels, saliency=compute, attention_mask=batch.mask,
            generator=generator, protected=protected, groups=groups,
        )
        mixed = ids if plan.is_identity else replace_spans(ids, plan)
        output = model(input_ids=mixed, attention_mask=batch.model_mask, **model_kwargs)
        return finish_forward(self, output, batch, plan, batch.model_mask, "input_ids")

