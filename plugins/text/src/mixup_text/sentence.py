"""senMixup / Mixup-Transformer: mixup of the sentence representation right before the classifier."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import nn

from mixup_core import mixer_dataclass, replay_at

from ._base import TextMixedForward, TextMixer
from ._layers import find_head

__all__ = ["SentenceMixup"]


@mixer_dataclass
class SentenceMixup(TextMixer):
    """senMixup: mix the pooled sentence representations at the input of the classifier, labels as in mixup.

    Each sentence is encoded on its own (its own attention mask, nothing mixed inside the
    encoder); a forward pre-hook on the final linear layer of the classification head replaces its
    input ``s`` by ``λ·s + (1 − λ)·s[index]``. This is senMixup of Guo, Mao, Zhang (*Augmenting Data
    with Mixup for Sentence Classification: An Empirical Study*, arXiv:1905.08941, 2019), and the
    Mixup-Transformer of Sun et al. (*Mixup-Transformer: Dynamic Data Augmentation for NLP Tasks*,
    COLING 2020, arXiv:2010.02394) for transformer encoders.

    The mixing point is the input of the last ``nn.Linear`` that produces the logits: ``classifier``
    for BERT, ALBERT, DistilBERT and DeBERTa-v2 (after their pooler, activation and dropout), and
    ``classifier.out_proj`` for RoBERTa and ELECTRA (after the head's dense layer, activation and
    dropout). Since the head is linear there, mixing its input mixes the logits linearly.

    Args:
        head: dotted path of the module whose input is mixed (default: found through the model's
            structure); e.g. ``head="pre_classifier"`` to mix DistilBERT's ``[CLS]`` state instead.
        alpha: Beta(α, α) concentration of λ (default 1).
        **kwargs: λ, ``mode``, pairing and protection options of `mixup_core.PairMixer` and
            ``p``, ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Note:
        As a tensor mixer it takes ``(B, D)`` sentence vectors (or ``(B, L, D)``). The model's
        attention mask is each sentence's own mask; sentence labels only (token labels are refused).

    Examples:
        >>> mixer = SentenceMixup(num_classes=3)
        >>> out = mixer(torch.randn(4, 32), torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(0))
        >>> out.inputs.shape
        torch.Size([4, 32])
    """

    name: ClassVar[str] = "sentence"
    paper: ClassVar[str] = (
        "Guo, Mao, Zhang, Augmenting Data with Mixup for Sentence Classification (senMixup), arXiv 2019, "
        "https://arxiv.org/abs/1905.08941; Sun et al., Mixup-Transformer, COLING 2020, https://arxiv.org/abs/2010.02394"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "hook"
    min_ndim: ClassVar[int] = 2
    input_ndims: ClassVar[tuple[int, ...]] = (2, 3)
    supports_token_labels: ClassVar[bool] = False

    head: str | None = None

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
        """Run ``model`` once with the classifier's input mixed.

        Arguments as in `WordMixup.forward`, but ``labels`` are sentence labels (``(B,)`` or
        ``(B, K)``). The returned ``attention_mask`` is the one given (nothing is mixed before the head).
        """
        batch = self._prepare(model, input_ids, attention_mask, labels, num_classes, generator)
        module, name = find_head(model, self.head)
        plan = self._draw_plan(batch, generator, protected, groups)
        with replay_at(module, self, plan, where="input"):
            output = model(input_ids=batch.input_ids, attention_mask=batch.model_mask, **model_kwargs)
        return self._finish(output, batch, plan, batch.model_mask, name)
