"""Entry point of the ``audio`` plugin: registers its mixers with mixup-core."""

from __future__ import annotations

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl

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


@hookimpl
def mixup_register_datasets(registry: ComponentRegistry) -> None:
    """Register the audio data sets of `mixup_audio.lab` (lazily: listing imports nothing)."""
    registry.add("mixup_audio.lab:load_spoken_digits_task", name="spoken-digits", modality="audio",
                 summary="Spoken digits synthesised with espeak-ng/flite, test speakers held out; log-mel (dB) or waveforms")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register the model factories of `mixup_audio.lab` (lazily)."""
    registry.add("mixup_audio.lab:audio_cnn", name="audio-cnn", modality="audio",
                 summary="Small CNN over log-mel (1, n_mels, T); over waveforms with a log-mel front end in the model")
