"""A log-mel front end that mixes waveforms or mel power on the device of the batch."""

from __future__ import annotations

import copy
from typing import Any, Literal, NamedTuple

import torch
import torchaudio
from torch import nn

from mixup_core import MixedTargets, Mixer, MixPlan, create_mixer

from ._signal import check_waveforms
from .spectrogram import SpectrogramMixup
from .waveform import WaveformMixup

__all__ = ["LogMelMixupFrontEnd", "MixedFeatures"]


class MixedFeatures(NamedTuple):
    """What `LogMelMixupFrontEnd` returns; unpacks as ``features, targets, plan = frontend(...)``.

    Args:
        features: log-mel features in dB, ``(B, C, n_mels, frames)`` (``(B, n_mels, frames)`` for
            ``(B, T)`` waveforms), in the front end's dtype.
        targets: the mixed targets (``None`` when the call had no targets).
        plan: the plan of the mix (an identity plan in eval mode).
    """

    features: torch.Tensor
    targets: MixedTargets | None
    plan: MixPlan


class LogMelMixupFrontEnd(nn.Module):
    """Log-mel features with mixup, at the waveform or in mel power, in one module.

    Built on torchaudio's ``MelSpectrogram`` (power 2) and ``AmplitudeToDB``: the features are
    ``10·log10(max(mel power, 1e-10))``, clamped per example to its maximum minus ``top_db``.

    - ``mix_at="waveform"`` (default): mix the waveforms with a waveform mixer (default
      `WaveformMixup`), then featurise the mix: the features of a physical two-source mixture.
    - ``mix_at="spectrogram"``: featurise each clip to mel power, mix in linear power with a
      spectrogram mixer (default `SpectrogramMixup` with ``domain="power"``), then convert to dB.
      Mixing mel power is the expected power of the mixture of uncorrelated sources; unlike
      mixing dB features, it is not a geometric mean.

    Mixing happens in training mode only: in eval mode (``frontend.eval()``) the features are those
    of the clips as given, with an identity plan (targets, if given, are returned unmixed).
    Everything runs on the device of the batch, which must be the module's (move it with
    ``frontend.to(device)``); the features have the module's dtype (float32 unless converted).

    ``top_db`` is applied per example (over its channels, mel bands and frames). torchaudio's
    ``AmplitudeToDB`` uses one cut-off for a whole 3-D input, so mono features ``(B, n_mels,
    frames)`` are converted as ``(B, 1, n_mels, frames)`` here.

    Args:
        sample_rate: sample rate of the waveforms in Hz (default 16000); a call that states
            another ``sample_rate`` is refused.
        n_fft: FFT size (default 512).
        hop_length: hop between frames in samples (default ``n_fft // 2``).
        n_mels: number of mel bands (default 64).
        top_db: dynamic range of the features in dB (default 80; ``None`` for no clamp).
        f_min: lowest frequency of the mel filter bank in Hz (default 0).
        f_max: highest frequency in Hz (default ``sample_rate / 2``).
        mix_at: ``"waveform"`` (default) or ``"spectrogram"``, see above.
        mixer: the mixer (an instance, a registry name or a mapping for `create_mixer`);
            default: ``audio:waveform`` or ``audio:spectrogram`` with ``domain="power"``. A mixer for
            ``mix_at="spectrogram"`` receives mel power ``(B, C, n_mels, frames)``; a
            `SpectrogramMixup` there must declare ``domain="power"``.
        channels: the number of channels the waveforms must have (1 for mono, 2 for stereo);
            ``None`` (default) accepts any. A batch with another count is refused.

    Examples:
        >>> frontend = LogMelMixupFrontEnd(sample_rate=16000, n_mels=64, mix_at="spectrogram",
        ...                                mixer={"name": "audio:spectrogram", "domain": "power", "alpha": 0.4})
        >>> features, targets, plan = frontend(torch.randn(8, 1, 16000), torch.randint(0, 10, (8,)),
        ...                                    generator=torch.Generator().manual_seed(0),
        ...                                    sample_rate=16000, num_classes=10)
        >>> features.shape
        torch.Size([8, 1, 64, 63])
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int | None = None,
        n_mels: int = 64,
        top_db: float | None = 80.0,
        f_min: float = 0.0,
        f_max: float | None = None,
        mix_at: Literal["waveform", "spectrogram"] = "waveform",
        mixer: Mixer | str | dict[str, Any] | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__()
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
            raise ValueError(f"channels must be a positive integer or None, got channels={channels!r}")
        self.channels = channels
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer (Hz), got sample_rate={sample_rate!r}")
        if mix_at not in ("waveform", "spectrogram"):
            raise ValueError(f"mix_at must be 'waveform' or 'spectrogram', got mix_at={mix_at!r}")
        if top_db is not None and not top_db > 0:
            raise ValueError(f"top_db must be positive or None, got top_db={top_db!r}")
        self.sample_rate = sample_rate
        self.top_db = top_db
        self.mix_at = mix_at
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            f_min=f_min,
            f_max=f_max,
            power=2.0,
        )
        # amin 1e-10 and ref 1: 10·log10(max(power, 1e-10))
        self.amplitude_to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=top_db)
        self.mixer = self._resolve_mixer(mixer, mix_at)

    @staticmethod
    def _resolve_mixer(spec: Mixer | str | dict[str, Any] | None, mix_at: str) -> Mixer:
        if spec is None:
            return WaveformMixup() if mix_at == "waveform" else SpectrogramMixup(domain="power")
        mixer = create_mixer(spec)
        if mix_at == "waveform" and isinstance(mixer, SpectrogramMixup):
            raise ValueError(f"mix_at='waveform' mixes waveforms, but mixer={mixer!r} mixes spectrograms")
        if mix_at == "spectrogram":
            if isinstance(mixer, WaveformMixup):
                raise ValueError(f"mix_at='spectrogram' mixes mel power, but mixer={mixer!r} mixes waveforms")
            if isinstance(mixer, SpectrogramMixup) and mixer.domain != "power":
                raise ValueError(
                    "mix_at='spectrogram' mixes mel power, so a SpectrogramMixup must declare domain='power', "
                    f"got domain={mixer.domain!r}"
                )
        return mixer

    def featurize(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Log-mel features in dB of ``waveforms`` ``(B, C, T)`` or ``(B, T)``, without mixing."""
        waveforms = self._check(waveforms, None)
        return self._to_db(self._mel_power(waveforms))

    def forward(
        self,
        waveforms: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        sample_rate: int | None = None,
        num_classes: int | None = None,
        lengths: torch.Tensor | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
    ) -> MixedFeatures:
        """Mix (in training mode) and featurise a batch.

        Args:
            waveforms: ``(B, C, T)`` or mono ``(B, T)`` floating waveforms.
            targets: class indices ``(B,)`` or float targets ``(B, ...)`` (multi-hot, frame-level).
            generator: CPU ``torch.Generator`` of the mix.
            sample_rate: the waveforms' sample rate; checked against the front end's when given.
            num_classes: number of classes, for class-index targets.
            lengths: valid samples per clip ``(B,)``, for a `WaveformMixup` (``mix_at="waveform"``).
            protected, groups: as in `Mixer.__call__`.

        Returns:
            `MixedFeatures` ``(features, targets, plan)``.
        """
        waveforms = self._check(waveforms, sample_rate)
        mixer = self.mixer
        if not self.training:
            mixer = copy.copy(mixer)
            mixer.enabled = False
        extra: dict[str, Any] = {}
        if lengths is not None:
            if "lengths" not in mixer.call_arguments():
                raise ValueError(
                    "lengths= is used by a WaveformMixup (mix_at='waveform'); "
                    f"this front end mixes with {type(mixer).__name__} at {self.mix_at!r}"
                )
            extra["lengths"] = lengths
        kwargs = {"generator": generator, "num_classes": num_classes, "protected": protected, "groups": groups, **extra}
        if self.mix_at == "waveform":
            out = mixer(waveforms, targets, **kwargs)
            features = self._to_db(self._mel_power(out.inputs))
        else:
            out = mixer(self._mel_power(waveforms), targets, **kwargs)
            features = self._to_db(out.inputs)
        return MixedFeatures(features=features, targets=out.targets, plan=out.plan)

    # ------------------------------------------------------------------ internals
    def _check(self, waveforms: torch.Tensor, sample_rate: int | None) -> torch.Tensor:
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise ValueError(
                f"sample_rate={sample_rate} Hz does not match the front end's sample_rate={self.sample_rate} Hz: "
                f"resample the waveforms (torchaudio.functional.resample) or build the front end with "
                f"sample_rate={sample_rate}"
            )
        waveforms = check_waveforms(waveforms, name="waveforms")
        got = 1 if waveforms.ndim == 2 else int(waveforms.shape[1])
        if self.channels is not None and got != self.channels:
            kinds = {1: "mono", 2: "stereo"}
            raise ValueError(
                f"waveforms have {got} channel(s) ({kinds.get(got, 'multichannel')}) but the front end expects "
                f"channels={self.channels} ({kinds.get(self.channels, 'multichannel')}): "
                f"waveforms.shape={tuple(waveforms.shape)}; "
                "down-mix with waveforms.mean(dim=1, keepdim=True) or build the front end with the right channels"
            )
        window = self.melspec.spectrogram.window
        if waveforms.device != window.device:
            raise ValueError(
                f"waveforms are on {waveforms.device} but the front end is on {window.device}: "
                f"move it with frontend.to(waveforms.device)"
            )
        return waveforms

    def _mel_power(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.melspec(waveforms.to(self.melspec.spectrogram.window.dtype))

    def _to_db(self, power: torch.Tensor) -> torch.Tensor:
        # always 4-D, so that top_db is applied per example (torchaudio couples a 3-D batch)
        if power.ndim == 3:
            return self.amplitude_to_db(power[:, None])[:, 0]
        return self.amplitude_to_db(power)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, mix_at={self.mix_at!r}, top_db={self.top_db}, mixer={self.mixer!r}"
