"""mixup-text: text mixers for mixup-core, registered under the prefix ``text:``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixup_core.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "TextContext": "._base",
    "TextMixedForward": "._base",
    "TextMixer": "._base",
    "TextPlan": "._base",
    "union_attention_mask": "._base",
    "LayerSite": "._layers",
    "find_embeddings": "._layers",
    "find_head": "._layers",
    "find_input_embeddings": "._layers",
    "find_layers": "._layers",
    "MixupOffCallback": "._trainer",
    "MixupTrainer": "._trainer",
    "mix_forward": "._trainer",
    "mixup_compute_loss": "._trainer",
    "plain_compute_loss": "._trainer",
    "MixupDataCollator": ".collator",
    "EmbedMix": ".embed_output",
    "WordMixup": ".embedding",
    "SentenceMixup": ".sentence",
    "SSMix": ".ssmix",
    "SSMixContext": ".ssmix",
    "SpanPlan": ".ssmix",
    "replace_spans": ".ssmix",
    "saliency_spans": ".ssmix",
    "TMix": ".tmix",
    "IGNORE_INDEX": ".tokens",
    "TokenTargets": ".tokens",
    "check_token_labels": ".tokens",
    "mix_token_labels": ".tokens",
    "token_soft_cross_entropy": ".tokens",
}

__all__ = [
    "IGNORE_INDEX",
    "EmbedMix",
    "LayerSite",
    "MixupDataCollator",
    "MixupOffCallback",
    "MixupTrainer",
    "SSMix",
    "SSMixContext",
    "SentenceMixup",
    "SpanPlan",
    "TMix",
    "TextContext",
    "TextMixedForward",
    "TextMixer",
    "TextPlan",
    "TokenTargets",
    "WordMixup",
    "__version__",
    "check_token_labels",
    "find_embeddings",
    "find_head",
    "find_input_embeddings",
    "find_layers",
    "mix_forward",
    "mix_token_labels",
    "mixup_compute_loss",
    "plain_compute_loss",
    "replace_spans",
    "saliency_spans",
    "token_soft_cross_entropy",
    "union_attention_mask",
]

if TYPE_CHECKING:
    from ._base import TextContext, TextMixedForward, TextMixer, TextPlan, union_attention_mask
    from ._layers import LayerSite, find_embeddings, find_head, find_input_embeddings, find_layers
    from ._trainer import MixupOffCallback, MixupTrainer, mix_forward, mixup_compute_loss, plain_compute_loss
    from .collator import MixupDataCollator
    from .embed_output import EmbedMix
    from .embedding import WordMixup
    from .sentence import SentenceMixup
    from .ssmix import SpanPlan, SSMix, SSMixContext, replace_spans, saliency_spans
    from .tmix import TMix
    from .tokens import IGNORE_INDEX, TokenTargets, check_token_labels, mix_token_labels, token_soft_cross_entropy

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
