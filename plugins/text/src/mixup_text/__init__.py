"""mixup-text: text mixers for mixup-core, registered under the prefix ``text:``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from ._base import TextContext, TextMixedForward, TextMixer, TextPlan, union_attention_mask
from ._layers import LayerSite, find_embeddings, find_head, find_input_embeddings, find_layers
from .collator import MixupDataCollator
from .embed_output import EmbedMix
from .embedding import WordMixup
from .sentence import SentenceMixup
from .ssmix import SpanPlan, SSMix, SSMixContext, replace_spans, saliency_spans
from .tmix import TMix
from .tokens import IGNORE_INDEX, TokenTargets, check_token_labels, mix_token_labels, token_soft_cross_entropy

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

# The Trainer integration imports transformers.Trainer (many seconds), so it is imported on first use.
_TRAINER_NAMES = ("MixupOffCallback", "MixupTrainer", "mix_forward", "mixup_compute_loss", "plain_compute_loss")

if TYPE_CHECKING:
    from ._trainer import MixupOffCallback, MixupTrainer, mix_forward, mixup_compute_loss, plain_compute_loss


def __getattr__(name: str) -> Any:
    if name in _TRAINER_NAMES:
        from . import _trainer

        return getattr(_trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
