"""EmbedMix: mixup of the output of the embeddings module (after positions and LayerNorm), by a hook."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from mixup_core import mixer_dataclass, replay_at

from ._base import TextMixedForward, TextMixer, union_attention_mask
from ._layers import find_embeddings

__all__ = ["EmbedMix"]


@mixer_dataclass
class EmbedMix(TextMixer):
    """EmbedMix: mix the output of the embeddings module, one stream, with the union mask.

    The embeddings module (word + position + segment embeddings after LayerNorm, e.g.
    ``model.bert.embeddings``) runs on the real tokens of every sentence; a forward hook replaces
    its output ``h`` by ``λ·h + (1 − λ)·h[index]`` (`mixup_core.replay_at`), and the encoder runs
    on the mix with the union of the pair's attention masks. EmbedMix is the embedding-level
    baseline of SSMix (Yoon, Kim, Park, *SSMix: Saliency-Based Span Mixup for Text
    Classification*, Findings of ACL 2021, arXiv:2106.08062; reference code clovaai/ssmix, which
    draws λ ~ Beta(0.2, 0.2) and takes max(λ, 1 − λ)). Every position is mixed as it is, padding
    included (padding positions carry the embedding of the padding token at their position).

    Args:
        alpha: Beta(α, α) concentration of λ (default 0.2, as the reference code).
        lam_max: λ = max(λ, 1 − λ) (default ``True``, as the reference code).
        embeddings: dotted path of the embeddings module, relative to the model or its
            ``base_model`` (default: found through the model's structure, ``<base>.embeddings``).
        **kwargs: λ, ``mode``, pairing and protection options of `mixup_core.PairMixer` and
            ``p``, ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Examples:
        >>> mixer = EmbedMix(num_classes=2)
        >>> h = torch.randn(4, 8, 16)
        >>> out = mixer(h, torch.tensor([0, 1, 1, 0]), generator=torch.Generator().manual_seed(0))
        >>> bool(out.plan.lam.min() >= 0.5)
        True
    """

    name: ClassVar[str] = "embed-output"
    paper: ClassVar[str] = (
        "Yoon, Kim, Park, SSMix: Saliency-Based Span Mixup for Text Classification (EmbedMix baseline), "
        "Findings of ACL 2021, https://arxiv.org/abs/2106.08062"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "hook"

    alpha: float = Field(default=0.2, gt=0, allow_inf_nan=False)
    lam_max: bool = True
    embeddings: str | None = None

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
        """Run ``model`` once with the output of its embeddings module mixed.

        Arguments as in `WordMixup.forward`. Returns a `TextMixedForward` whose ``layer`` is the
        embeddings module's name and whose ``attention_mask`` is the union mask.
        """
        batch = self._prepare(model, input_ids, attention_mask, labels, num_classes, generator)
        module, name = find_embeddings(model, self.embeddings)
        plan = self._draw_plan(batch, generator, protected, groups)
        mask = union_attention_mask(batch.model_mask, plan)
        with replay_at(module, self, plan):
            output = model(input_ids=batch.input_ids, attention_mask=mask, **model_kwargs)
        return self._finish(output, batch, plan, mask, name)
