"""Entry point of the ``audio`` plugin: registers its mixers with mixup-core."""

from __future__ import annotations

from mixup_core import MixerRegistry, hookimpl

from ._preview import mixup_preview  # noqa: F401  (the `mixup preview` hook for audio mixers)
from .bc import BetweenClass
from .specmix import FreqCutMix, SpecMix, TimeCutMix
from .spectrogram import SpectrogramMixup
from .waveform import WaveformMixup


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the audio mixers under the prefix ``audio:``."""
    registry.add(BetweenClass)
    registry.add(SpecMix)
    registry.add(TimeCutMix)
    registry.add(FreqCutMix)
    registry.add(WaveformMixup)
    registry.add(SpectrogramMixup)
