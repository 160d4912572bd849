"""wordMixup: mixup of the input word embeddings, fed to the encoder through ``inputs_embeds``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import nn

from mixup_core import MixPlan, lerp_pairs, mixer_dataclass

from ._base import TextMixedForward, TextMixer, _active, union_attention_mask
from ._layers import find_input_embeddings

__all__ = ["WordMixup"]


@mixer_dataclass
class WordMixup(TextMixer):
    """wordMixup: mix the word embeddings of two sentences before the encoder, labels as in mixup.

    ``ẽ = λ·e_a + (1 − λ)·e_b`` where ``e = model.get_input_embeddings()(input_ids)``, λ ~ Beta(α, α);
    the encoder gets ``inputs_embeds=ẽ`` (so position and segment embeddings and LayerNorm are
    applied to the mix, as for real tokens) with the **union** of the two attention masks (Guo,
    Mao, Zhang, *Augmenting Data with Mixup for Sentence Classification: An Empirical Study*,
    arXiv:1905.08941, 2019). Token ids are never mixed.

    Padding. A batch is padded to one length ``L``, so sentences of different lengths are aligned
    position by position from the start. With ``padding="zeros"`` (default, the paper's zero-padded
    embedding matrices) a padding position contributes a zero vector: where only the anchor is
    real, ``ẽ = λ·e_a``; where only the partner is real, ``ẽ = (1 − λ)·e_b``; where both are real,
    the plain mix; where both are padding, the anchor's (padding) embedding is kept, and that
    position stays masked. With ``padding="embedding"`` the padding token's embedding is mixed like
    any other (``ẽ = λ·e_a + (1 − λ)·e_pad``), i.e. the plain mix of the two embedding matrices.
    Samples that are not mixed (λ = 1, or paired with themselves) are left exactly as they were.

    Args:
        padding: ``"zeros"`` (default) or ``"embedding"``, see above. It matters only where a
            mask is given (the plan records the anchors' mask).
        alpha: Beta(α, α) concentration of λ (default 1).
        **kwargs: λ, ``mode``, pairing and protection options of `mixup_core.PairMixer` and
            ``p``, ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Note:
        ``forward(model, input_ids, attention_mask, labels, generator=g)`` embeds the ids, mixes,
        and runs ``model(inputs_embeds=…, attention_mask=union, **model_kwargs)``. For RoBERTa-like
        models, ``inputs_embeds`` gives sequential position ids ``padding_idx + 1 + t``; for right
        padding they equal the ``input_ids`` path at every real token.

    Examples:
        >>> mixer = WordMixup(alpha=1.0, num_classes=3)
        >>> emb, mask = torch.randn(4, 8, 16), torch.ones(4, 8, dtype=torch.long)
        >>> out = mixer(emb, torch.tensor([0, 1, 2, 0]), attention_mask=mask,
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.inputs.shape, mixer.mixed_attention_mask(out.plan).shape
        (torch.Size([4, 8, 16]), torch.Size([4, 8]))
    """

    name: ClassVar[str] = "embedding"
    paper: ClassVar[str] = (
        "Guo, Mao, Zhang, Augmenting Data with Mixup for Sentence Classification: An Empirical Study (wordMixup), "
        "arXiv 2019, https://arxiv.org/abs/1905.08941"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"

    padding: Literal["zeros", "embedding"] = "zeros"

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        mask = getattr(plan, "attention_mask", None)
        if self.padding == "embedding" or mask is None:
            return lerp_pairs(inputs, plan, out=out, mixer=type(self).__name__)
        if tuple(mask.shape) != tuple(inputs.shape[:2]):
            raise ValueError(
                f"the plan's attention_mask has shape {tuple(mask.shape)}, but inputs.shape={tuple(inputs.shape)}"
            )
        device, dtype = inputs.device, inputs.dtype
        m_a = mask.to(device, non_blocking=True) != 0
        index = plan.index.to(device, non_blocking=True)
        m_b = m_a[index]
        lam = plan.lam.to(device=device, dtype=dtype, non_blocking=True)[:, None]
        zero = torch.zeros((), dtype=dtype, device=device)
        # untouched: samples that are not mixed, and positions that are padding on both sides
        keep = ~_active(plan).to(device, non_blocking=True)[:, None] | ~(m_a | m_b)
        w_a = torch.where(keep, torch.ones((), dtype=dtype, device=device), torch.where(m_a, lam, zero))
        w_b = torch.where(keep, zero, torch.where(m_b, 1.0 - lam, zero))
        mixed = w_a[..., None] * inputs + w_b[..., None] * inputs[index]
        return mixed if out is None else out.copy_(mixed)

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
        """Embed ``input_ids``, mix the embeddings, run ``model`` on them with the union mask.

        Args:
            model: a Hugging Face encoder (or any module with ``get_input_embeddings()`` that
                accepts ``inputs_embeds=`` and ``attention_mask=``).
            input_ids: integer ``(B, L)`` token ids.
            attention_mask: ``(B, L)`` 0/1 mask (``None``: no padding).
            labels: class indices ``(B,)``, float targets ``(B, K)``, or token labels ``(B, L)``
                with ``-100`` at ignored positions (see `mixup_text.tokens`).
            generator: CPU generator for the pairs and λ.
            num_classes: ``K``; default: the mixer's, else ``model.config.num_labels``.
            protected, groups: as in `mixup_core.Mixer.__call__`.
            **model_kwargs: passed to ``model`` (``token_type_ids`` …).

        Returns:
            `TextMixedForward` with ``layer="inputs_embeds"``.
        """
        batch = self._prepare(model, input_ids, attention_mask, labels, num_classes, generator)
        embeds = find_input_embeddings(model)(batch.input_ids)
        plan = self._draw_plan(batch, generator, protected, groups, inputs=embeds)
        mixed = self.apply(embeds, plan)
        mask = union_attention_mask(batch.model_mask, plan)
        output = model(inputs_embeds=mixed, attention_mask=mask, **model_kwargs)
        return self._finish(output, batch, plan, mask, "inputs_embeds")
