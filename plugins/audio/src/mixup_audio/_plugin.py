"""Entry point of the ``audio`` plugin: registers its mixers, data sets and models, and recognises audio data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl
from mixup_core.data import DataGuess

from .bc import BetweenClass
from .specmix import FreqCutMix, SpecMix, TimeCutMix
from .spectrogram import SpectrogramMixup
from .waveform import WaveformMixup

if TYPE_CHECKING:
    from mixup_core import Mixer, MixerInfo
    from mixup_core.hookspecs import PreviewOptions


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
                 summary="Spoken digits synthesised with espeak-ng/flite, test speakers held out; "
                         "log-mel (dB) or waveforms")
    registry.add("mixup_audio.lab:load_folder_task", name="folder", modality="audio",
                 summary="Your own clips (WAV; FLAC/MP3/OGG with soundfile) in class folders or a manifest, streamed "
                 "from disk as log-mel (dB) or waveforms")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register the model factories of `mixup_audio.lab` (lazily)."""
    registry.add("mixup_audio.lab:audio_cnn", name="audio-cnn", modality="audio",
                 summary="Small CNN over log-mel (1, n_mels, T); over waveforms with a log-mel front end in the model")


@hookimpl
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise sound clips in class folders or a manifest of audio files, for ``mixup init`` (``audio:folder``)."""
    from ._detect import detect_audio

    return detect_audio(path)


@hookimpl
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Draw ``mixup preview`` for the audio mixers (see `mixup_audio._preview`); ``None`` for other modalities."""
    from ._preview import mixup_preview as preview

    return preview(mixer, info, options)
