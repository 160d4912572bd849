"""mixup-audio: audio mixers for mixup-core, registered under the prefix ``audio:``."""

from __future__ import annotations

from ._gain import a_weighting_db, clip_gain_db, default_n_fft
from .bc import BCPlan, BetweenClass, bc_coefficient, bc_kl_loss
from .frontend import LogMelMixupFrontEnd, MixedFeatures
from .specmix import FrameMixedTargets, FreqCutMix, SpanPlan, SpecMix, TimeCutMix, mix_frame_targets
from .spectrogram import DomainMixing, SpectrogramMixup
from .waveform import AudioContext, WaveformMixup, WaveformPlan

__version__ = "0.1.0"

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
