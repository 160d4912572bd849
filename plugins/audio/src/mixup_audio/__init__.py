"""mixup-audio: audio mixers for mixup-core, registered under the prefix ``audio:``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixup_core.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "a_weighting_db": "._gain",
    "clip_gain_db": "._gain",
    "default_n_fft": "._gain",
    "BCPlan": ".bc",
    "BetweenClass": ".bc",
    "bc_coefficient": ".bc",
    "bc_kl_loss": ".bc",
    "LogMelMixupFrontEnd": ".frontend",
    "MixedFeatures": ".frontend",
    "FrameMixedTargets": ".specmix",
    "FreqCutMix": ".specmix",
    "SpanPlan": ".specmix",
    "SpecMix": ".specmix",
    "TimeCutMix": ".specmix",
    "mix_frame_targets": ".specmix",
    "DomainMixing": ".spectrogram",
    "SpectrogramMixup": ".spectrogram",
    "AudioContext": ".waveform",
    "WaveformMixup": ".waveform",
    "WaveformPlan": ".waveform",
}

__all__ = [
    "AudioContext",
    "BCPlan",
    "BetweenClass",
    "DomainMixing",
    "FrameMixedTargets",
    "FreqCutMix",
    "LogMelMixupFrontEnd",
    "MixedFeatures",
    "SpanPlan",
    "SpecMix",
    "SpectrogramMixup",
    "TimeCutMix",
    "WaveformMixup",
    "WaveformPlan",
    "__version__",
    "a_weighting_db",
    "bc_coefficient",
    "bc_kl_loss",
    "clip_gain_db",
    "default_n_fft",
    "mix_frame_targets",
]

if TYPE_CHECKING:
    from ._gain import a_weighting_db, clip_gain_db, default_n_fft
    from .bc import BCPlan, BetweenClass, bc_coefficient, bc_kl_loss
    from .frontend import LogMelMixupFrontEnd, MixedFeatures
    from .specmix import FrameMixedTargets, FreqCutMix, SpanPlan, SpecMix, TimeCutMix, mix_frame_targets
    from .spectrogram import DomainMixing, SpectrogramMixup
    from .waveform import AudioContext, WaveformMixup, WaveformPlan

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
