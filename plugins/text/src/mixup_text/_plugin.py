"""Entry point of the ``text`` plugin: registers its mixers with mixup-core."""

from __future__ import annotations

from mixup_core import MixerRegistry, hookimpl

from .embed_output import EmbedMix
from .embedding import WordMixup
from .sentence import SentenceMixup
from .ssmix import SSMix
from .tmix import TMix


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the text mixers under the prefix ``text:``."""
    registry.add(WordMixup)
    registry.add(EmbedMix)
    registry.add(TMix)
    registry.add(SentenceMixup)
    registry.add(SSMix)
