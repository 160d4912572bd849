"""TMix: mixup of the hidden states at an encoder layer, in one stream, with an explicit mask policy."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from mixup_core import mixer_dataclass, replay_at

from ._base import TextMixedForward, TextMixer, union_attention_mask
from ._layers import find_embeddings, find_layers, replay_at_site

__all__ = ["TMix"]

LayerSpec = int | list[int] | Literal["random"]


@mixer_dataclass
class TMix(TextMixer):
    """TMix: mix the hidden states of two sentences after encoder layer ``k``, then continue in one stream.

    λ ~ Beta(α, α), then λ = max(λ, 1 − λ) (``lam_max``, on by default as in the paper), so the anchor
    dominates; after layer ``k`` the hidden state of sentence ``i`` becomes ``λ·h_i + (1 − λ)·h_j``
    with ``j`` its partner in the batch, and the encoder continues from the mix (Chen, Yang, Yang,
    *MixText: Linguistically-Informed Interpolation of Hidden Space for Semi-Supervised Text
    Classification*, ACL 2020, arXiv:2004.12239; reference code SALT-NLP/MixText). The reference
    runs both sentences through layers ``≤ k`` in two streams; here the batch runs once and the
    plan is replayed on the output of layer ``k`` by a forward hook (`mixup_core.replay_at`; for
    ALBERT, whose layers are shared, only the ``k``-th call of the shared layer is mixed), which
    is the same computation because the partner is in the batch.

    Layers are numbered as in the paper and MixText: ``k`` mixes the **output of the k-th encoder
    layer** (1 … N; the paper's set for 12-layer BERT-base is {7, 9, 12}), ``0`` the output of
    the embeddings module (EmbedMix), negative values count from the end (−1 = N).

    Mask policy. Hugging Face encoders build the attention mask once per forward pass, so the mask
    is chosen before layer 1:

    * ``"union"`` (default): every layer gets the union ``m_i ∨ m_j`` of the pair's masks. After
      the mix this is right (the mixed sequence has real content wherever either sentence does).
      It also changes the layers before the mix slightly: sentence ``i`` attends to its own
      padding positions where its partner has real tokens, and the partner's state ``h_j`` is the
      one computed with ``j``'s own union mask (``m_j ∨ m_{index[j]}``), which is the pair's union
      only for mutual pairings (``pairing="flip"``).
    * ``"anchor"``: every layer gets the anchor's own mask ``m_i``, as the reference code does.
      The layers before the mix are then exactly the two-stream computation; after the mix the
      partner's extra tokens are invisible to attention.

    Args:
        layer: ``k`` as an int, a list of ``k`` to draw from uniformly (with the generator, one draw
            per batch), or ``"random"`` (default): uniform over 1 … N.
        mask_policy: ``"union"`` (default) or ``"anchor"``, see above.
        alpha: Beta(α, α) concentration (default 16, the authors' TMix recipe in the MixText README).
        lam_max: λ = max(λ, 1 − λ) (default ``True``).
        layers: dotted path of the ``nn.ModuleList`` of encoder layers (default: found through the
            model's structure).
        embeddings: dotted path of the embeddings module, for ``k = 0``.
        **kwargs: λ, ``mode``, pairing and protection options of `mixup_core.PairMixer` and
            ``p``, ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Note:
        The hook is active for one forward pass; with activation checkpointing the gradients equal
        those without it (checked for BERT). DeBERTa-v2 with ``conv_kernel_size > 0`` applies its
        convolution after layer 1 outside the layer module; mixing at ``k = 1`` then mixes before that
        convolution.

    Examples:
        >>> mixer = TMix(layer=[7, 9, 12], num_classes=4)   # the paper's setting for BERT-base
        >>> mixer.draw_layer(12, torch.Generator().manual_seed(0)) in (7, 9, 12)
        True
        >>> out = mixer(torch.randn(4, 8, 16), torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(0))
        >>> bool(out.plan.lam.min() >= 0.5)
        True
    """

    name: ClassVar[str] = "tmix"
    paper: ClassVar[str] = (
        "Chen, Yang, Yang, MixText: Linguistically-Informed Interpolation of Hidden Space for Semi-Supervised Text "
        "Classification (TMix), ACL 2020, https://arxiv.org/abs/2004.12239"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "hook"

    alpha: float = Field(default=16.0, gt=0, allow_inf_nan=False)
    lam_max: bool = True
    layer: LayerSpec = "random"
    mask_policy: Literal["union", "anchor"] = "union"
    layers: str | None = None
    embeddings: str | None = None

    @field_validator("layer")
    @classmethod
    def _check_layer(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("layer must be an int, a non-empty list of ints or 'random', got []")
        return value

    def draw_layer(self, num_layers: int, generator: torch.Generator | None = None) -> int:
        """Draw ``k`` in 0 … ``num_layers`` (one ``torch.randint`` from ``generator`` unless ``layer`` is an int).

        Raises:
            ValueError: when a layer index is out of range for ``num_layers`` encoder layers.
        """
        spec = self.layer
        if spec == "random":
            return int(torch.randint(1, num_layers + 1, (1,), generator=generator))
        candidates = spec if isinstance(spec, list) else [spec]
        bad = [k for k in candidates if not -num_layers <= k <= num_layers]
        if bad:
            raise ValueError(
                f"layer {bad[0] if len(bad) == 1 else bad} is out of range for a model with {num_layers} encoder "
                f"layers: use 1 … {num_layers} (the output of that layer), 0 (the embeddings output) or "
                f"-1 … -{num_layers}"
            )
        choice = (
            candidates[0]
            if len(candidates) == 1
            else candidates[int(torch.randint(len(candidates), (1,), generator=generator))]
        )
        return choice if choice >= 0 else num_layers + 1 + choice

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
        """Run ``model`` once with the hidden states mixed after layer ``k``.

        The generator draws ``k`` first, then the pairs and λ. Arguments as in
        `WordMixup.forward`; token labels ``(B, L)`` are mixed per token. Returns a
        `TextMixedForward` whose ``layer`` names the hooked module (``"…encoder.layer.6"``
        for k = 7) and whose ``attention_mask`` is the mask of the policy.
        """
        batch = self._prepare(model, input_ids, attention_mask, labels, num_classes, generator)
        sites = find_layers(model, self.layers)
        k = self.draw_layer(len(sites), generator)
        plan = self._draw_plan(batch, generator, protected, groups)
        mask = union_attention_mask(batch.model_mask, plan) if self.mask_policy == "union" else batch.model_mask
        if k == 0:
            module, name = find_embeddings(model, self.embeddings)
            with replay_at(module, self, plan):
                output = model(input_ids=batch.input_ids, attention_mask=mask, **model_kwargs)
            return self._finish(output, batch, plan, mask, name)
        site = sites[k - 1]
        with replay_at_site(site, self, plan):
            output = model(input_ids=batch.input_ids, attention_mask=mask, **model_kwargs)
        return self._finish(output, batch, plan, mask, site.name)
