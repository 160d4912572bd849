"""Spoken digits synthesised offline with espeak-ng and flite: a small, reproducible audio data set.

Each clip is one of the words ``zero`` … ``nine`` spoken by a text-to-speech voice. For every clip a
seeded random number generator draws the speaker (an espeak-ng English accent with a voice variant,
or about one clip in ten a flite voice), the speed and the pitch. The train/test split is by speaker
identity, so test speakers are never heard in training ("spectrogram classification under speaker
shift"; TTS speech is cleaner than human speech and is no stand-in for Speech Commands).

The clips are generated once, with a small thread pool of subprocesses and a progress bar, into a
cache folder (``$MIXUP_CACHE/spoken-digits/<version-and-params-hash>/`` or
``~/.cache/mixup/spoken-digits/<version-and-params-hash>/``) as one compressed ``.npz`` plus a JSON
manifest of the generation parameters; later calls load the cache and start no process. The
synthesis is `mixup_audio._speech`, the cache `mixup_audio._speech_cache`; this module holds the data
sets.

The programs are called as subprocesses, never linked (espeak-ng is GPL-3+, flite BSD-style). Install
them with ``apt-get install -y --no-install-recommends espeak-ng flite``; flite is optional (without
it the set is generated with espeak-ng only, with a warning, into its own cache folder).

Users' own clips (the ``audio:folder`` data set of `mixup_audio.lab`) are read with `audio_info` (a
header check), `read_audio` (WAV by a built-in reader; FLAC, MP3 and OGG through the optional
``soundfile``) and streamed by `AudioFiles`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ._files import (
    AUDIO_EXTENSIONS,
    FORMATS_INSTALL_COMMAND,
    AudioFiles,
    AudioInfo,
    MissingDecoderError,
    audio_info,
    read_audio,
)
from ._speech import (
    DIGIT_WORDS,
    ESPEAK_ACCENTS,
    FLITE_VOICES,
    INSTALL_COMMAND,
    PCM_SCALE,
    SPOKEN_DIGITS_VERSION,
    make_config,
    speaker_is_test,
)
from ._speech_cache import load_or_generate

__all__ = [
    "AUDIO_EXTENSIONS",
    "DIGIT_WORDS",
    "ESPEAK_ACCENTS",
    "FLITE_VOICES",
    "FORMATS_INSTALL_COMMAND",
    "INSTALL_COMMAND",
    "SPOKEN_DIGITS_VERSION",
    "AudioFiles",
    "AudioInfo",
    "MissingDecoderError",
    "SpokenDigits",
    "audio_info",
    "load_spoken_digits",
    "read_audio",
    "speaker_is_test",
]



class SpokenDigits(Dataset[tuple[torch.Tensor, int]]):
    """Spoken digits ``zero`` … ``nine`` synthesised with espeak-ng and flite, split by speaker.

    Every clip draws, from ``random.Random(seed)``, an engine (flite with probability
    ``flite_fraction``, else espeak-ng), a speaker (one of 8 English accents × the voice variants
    espeak-ng ships, or one of the flite voices ``kal kal16 awb rms slt``), a speed (110–230 words
    per minute) and a pitch (20–80, espeak-ng only). Label ``i % 10`` is the word of clip ``i``. Test
    speakers (`speaker_is_test`: ``crc32(speaker) % 4 == 0``) never occur in the train split.

    Every clip is resampled to ``sample_rate`` with ``torchaudio.functional.resample``, trimmed of
    leading and trailing near-silence, cropped to ``duration`` seconds when longer (the manifest
    counts those) and zero-padded at the end; `lengths` holds the true number of samples.

    The set is generated once into ``root/spoken-digits/<version-and-params-hash>/`` (``root``
    defaults to ``$MIXUP_CACHE``, else ``~/.cache/mixup``) and loaded from there afterwards, without
    running any program. With the same parameters and the same espeak-ng/flite versions the clips
    are bit-identical.

    Args:
        root: the cache root; ``None`` uses ``$MIXUP_CACHE`` or ``~/.cache/mixup``.
        split: ``"train"`` or ``"test"``.
        num_clips: number of clips over both splits (about 3/4 land in train).
        seed: seed of the draws (speaker, speed, pitch).
        sample_rate: output sample rate in Hz.
        duration: clip length in seconds; shorter clips are zero-padded, longer ones cropped.
        generate: synthesise the clips when the cache has none; with ``False`` a missing cache
            raises `FileNotFoundError`.
        flite_fraction: share of clips spoken by flite (0.1); without flite installed it becomes 0
            with a warning (and the set gets its own cache folder).
        espeak_ng: the espeak-ng program (a name on PATH or a path).
        flite: the flite program (a name on PATH or a path).
        workers: number of synthesiser processes run at once.
        progress: show a progress bar (tqdm) while generating.

    Attributes:
        waveforms: ``(N, 1, duration * sample_rate)`` float32 clips of this split.
        labels: ``(N,)`` int64 labels in ``0..9``.
        lengths: ``(N,)`` int64 numbers of real (not padded) samples, at most ``duration * sample_rate``.
        speakers: the N speaker identities, e.g. ``"espeak-ng:en-gb-scotland+Andy"`` or ``"flite:slt"``.
        classes: the words, `DIGIT_WORDS`.
        folder: the cache folder.
        manifest: the generation parameters, tool versions and counts (also in ``folder/manifest.json``).

    Raises:
        FileNotFoundError: espeak-ng is missing (the message names the install command), or the
            cache is missing and ``generate=False``.

    Examples:
        >>> from mixup_audio.datasets import SpokenDigits  # doctest: +SKIP
        >>> train = SpokenDigits(split="train", num_clips=2000)  # doctest: +SKIP
        >>> waveform, label = train[0]  # doctest: +SKIP
        >>> waveform.shape, train.sample_rate  # doctest: +SKIP
        (torch.Size([1, 16000]), 16000)
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: Literal["train", "test"] = "train",
        *,
        num_clips: int = 2000,
        seed: int = 0,
        sample_rate: int = 16000,
        duration: float = 1.0,
        generate: bool = True,
        flite_fraction: float = 0.1,
        espeak_ng: str | os.PathLike[str] = "espeak-ng",
        flite: str | os.PathLike[str] | None = "flite",
        workers: int = 4,
        progress: bool = True,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        config = make_config(num_clips, seed, sample_rate, duration, flite_fraction)
        arrays, manifest, folder = load_or_generate(
            root, config, generate=generate, espeak_ng=espeak_ng, flite=flite, workers=workers, progress=progress
        )
        keep = arrays["is_test"] if split == "test" else ~arrays["is_test"]
        self.split: str = split
        self.sample_rate: int = sample_rate
        self.duration: float = float(duration)
        self.classes: tuple[str, ...] = DIGIT_WORDS
        self.folder: Path = folder
        self.manifest: dict[str, Any] = manifest
        self.waveforms: torch.Tensor = _to_float(arrays["clips"][keep])
        self.labels: torch.Tensor = torch.from_numpy(arrays["labels"][keep].astype(np.int64))
        self.lengths: torch.Tensor = torch.from_numpy(arrays["lengths"][keep].astype(np.int64))
        self.speakers: list[str] = [str(s) for s in arrays["speakers"][keep]]

    def __len__(self) -> int:
        return self.labels.numel()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.waveforms[index], int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"SpokenDigits(split={self.split!r}, clips={len(self)}, speakers={len(set(self.speakers))}, "
            f"sample_rate={self.sample_rate}, duration={self.duration}, folder='{self.folder}')"
        )


def _to_float(pcm: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(pcm.astype(np.float32)) / PCM_SCALE).unsqueeze(1)


def load_spoken_digits(
    root: str | os.PathLike[str] | None = None,
    *,
    num_clips: int = 2000,
    seed: int = 0,
    sample_rate: int = 16000,
    duration: float = 1.0,
    generate: bool = True,
    flite_fraction: float = 0.1,
    espeak_ng: str | os.PathLike[str] = "espeak-ng",
    flite: str | os.PathLike[str] | None = "flite",
    workers: int = 4,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The spoken digits as tensors ``(x_train, y_train, x_test, y_test)``, split by speaker.

    ``x_*`` are ``(N, 1, duration * sample_rate)`` float32 clips, ``y_*`` int64 labels in ``0..9``.
    Generates the set on first use exactly like `SpokenDigits` (same cache, same arguments), which
    also gives the per-clip `lengths` and `speakers`.

    Args:
        root: the cache root; ``None`` uses ``$MIXUP_CACHE`` or ``~/.cache/mixup``.
        num_clips: number of clips over both splits.
        seed: seed of the draws.
        sample_rate: output sample rate in Hz.
        duration: clip length in seconds.
        generate: synthesise the clips when the cache has none.
        flite_fraction: share of clips spoken by flite.
        espeak_ng: the espeak-ng program.
        flite: the flite program.
        workers: number of synthesiser processes run at once.
        progress: show a progress bar while generating.

    Examples:
        >>> from mixup_audio.datasets import load_spoken_digits  # doctest: +SKIP
        >>> x_train, y_train, x_test, y_test = load_spoken_digits(num_clips=200)  # doctest: +SKIP
        >>> x_train.shape[1:], x_train.dtype  # doctest: +SKIP
        (torch.Size([1, 16000]), torch.float32)
    """
    config = make_config(num_clips, seed, sample_rate, duration, flite_fraction)
    arrays, _, _ = load_or_generate(
        root, config, generate=generate, espeak_ng=espeak_ng, flite=flite, workers=workers, progress=progress
    )
    test = arrays["is_test"]
    x, y = _to_float(arrays["clips"]), torch.from_numpy(arrays["labels"].astype(np.int64))
    mask = torch.from_numpy(test)
    return x[~mask], y[~mask], x[mask], y[mask]
