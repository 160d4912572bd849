"""Audio data sets and models for experiments (``mixup compare``), registered by the ``audio`` plugin.

- `load_spoken_digits_task` (registered as ``audio:spoken-digits``): the synthetic spoken digits of
  `mixup_audio.datasets.SpokenDigits` (espeak-ng and flite voices, test speakers held out) as a
  `mixup_core.TaskData`, either as log-mel spectrograms in dB (``features="logmel"``, the default)
  or as waveforms (``features="waveform"``).
- `load_folder_task` (``audio:folder``): your own clips, in class folders or listed in a
  manifest, streamed from disk as log-mel spectrograms in dB or as waveforms.
- `audio_cnn` (``audio:audio-cnn``): a small CNN over log-mel input (`AudioCNN`); for waveform
  data it puts a log-mel front end inside the model, so waveform mixers mix the signals.

Which mixers suit which features (the generic ``mixed_step`` mixes the batch's inputs as given):

==================  =========================================================================
``features``        mixers
==================  =========================================================================
``"logmel"``        ``audio:spectrogram`` with ``domain: db`` (mixes in linear power, the
                    physically meaningful mix), ``audio:specmix``, ``audio:time-cutmix``,
                    ``audio:freq-cutmix``, and ``mixup`` (a linear mix of dB values, the PANNs
                    practice). ``audio:spectrogram`` without ``domain`` takes the dB values for
                    power and warns.
``"waveform"``      ``audio:waveform``, ``audio:bc`` (between-class learning; keep its
                    ``sample_rate`` equal to the data's), and ``mixup`` (the same linear mix).
==================  =========================================================================

Examples:
    >>> from mixup_audio.lab import audio_cnn, load_spoken_digits_task       # doctest: +SKIP
    >>> data = load_spoken_digits_task(num_clips=2000, features="logmel")     # doctest: +SKIP
    >>> data.input_shape, data.info["domain"]                                 # doctest: +SKIP
    ((1, 64, 101), 'db')
    >>> model = audio_cnn(data)                                               # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from mixup_core import ConfigError, TaskData
from mixup_core.data import (
    DataError,
    DataNotFoundError,
    LabeledTensors,
    class_counts,
    column_param,
    scan_files,
    split_indices,
    stratified_subset,
)
from mixup_core.data import int_param as _int_param
from mixup_core.data import optional_int_param as _optional_int_param

from .datasets import (
    AUDIO_EXTENSIONS,
    DIGIT_WORDS,
    INSTALL_COMMAND,
    AudioFiles,
    AudioInfo,
    MissingDecoderError,
    SpokenDigits,
    audio_info,
)
from .frontend import LogMelMixupFrontEnd

__all__ = [
    "LOGMEL_MIXERS",
    "WAVEFORM_MIXERS",
    "AudioCNN",
    "DataNotFoundError",
    "LabeledTensors",
    "audio_cnn",
    "load_folder_task",
    "load_spoken_digits_task",
    "stratified_subset",
]

LOGMEL_MIXERS: tuple[str, ...] = ("audio:spectrogram (domain: db)", "audio:specmix", "audio:time-cutmix",
                                  "audio:freq-cutmix", "mixup")
"""Mixers suited to ``features="logmel"`` (dB log-mel spectrograms), as listed in ``info["mixers"]``."""

WAVEFORM_MIXERS: tuple[str, ...] = ("audio:waveform", "audio:bc", "mixup")
"""Mixers suited to ``features="waveform"``, as listed in ``info["mixers"]``."""

_FEATURES = ("logmel", "waveform")


def _positive_number(name: str, value: object, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name} must be a positive number, got {name}={value!r}")
    return float(value)


def _subset(ds: LabeledTensors, size: int | None, seed: tuple[int, int], name: str, split: str) -> LabeledTensors:
    if size is None:
        return ds
    if size > len(ds):
        raise ConfigError(
            f"{name}={size} exceeds the {len(ds)} clips of the {split} split; raise num_clips "
            f"(about 3/4 of the clips are in train, 1/4 in test)"
        )
    keep = torch.from_numpy(stratified_subset(ds.labels.numpy(), size, seed))
    return LabeledTensors(ds.inputs[keep], ds.labels[keep])


def load_spoken_digits_task(
    *,
    features: Literal["logmel", "waveform"] = "logmel",
    num_clips: int = 2000,
    generation_seed: int = 0,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    sample_rate: int = 16000,
    duration: float = 1.0,
    n_mels: int = 64,
    n_fft: int = 400,
    hop_length: int = 160,
    top_db: float | None = 80.0,
    flite_fraction: float = 0.1,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 4,
    progress: bool = True,
) -> TaskData:
    """Spoken digits ``zero`` … ``nine`` (espeak-ng and flite voices, test speakers held out) as a `TaskData`.

    The clips come from `mixup_audio.datasets.SpokenDigits`: ``num_clips`` clips drawn with
    ``generation_seed``, split by speaker identity (about 3/4 train), synthesised on first use
    (about 11 s for 2,000 clips on 2 cores) into a cache folder and loaded from it afterwards.
    Optional class-stratified subsets of each split (``train_size``, ``test_size``) depend on
    ``split_seed`` only.

    ``features`` chooses what the items hold:

    - ``"logmel"`` (default): log-mel spectrograms in **dB**, ``(1, n_mels, frames)`` with
      ``frames = 1 + duration·sample_rate // hop_length`` (64 × 101 with the defaults): torchaudio's
      ``MelSpectrogram`` (power 2) and ``10·log10(max(power, 1e-10))`` clamped per clip to its maximum
      minus ``top_db`` (`LogMelMixupFrontEnd.featurize`). Spectrogram mixers apply;
      declare ``domain: db`` to ``audio:spectrogram`` so that it mixes in power (see the module
      docstring and ``info["mixers"]``).
    - ``"waveform"``: the clips, ``(1, duration·sample_rate)`` float32 in [-1, 1], zero-padded at
      the end; waveform mixers (``audio:waveform``, ``audio:bc``) apply, and `audio_cnn` puts the
      same log-mel front end inside the model.

    Args:
        features: ``"logmel"`` or ``"waveform"``, see above.
        num_clips: clips over both splits (default 2,000: about 1,500 train and 500 test).
        generation_seed: seed of the speakers, speeds and pitches drawn for the clips (default 0).
        train_size: keep this many training clips (stratified); ``None`` (default) keeps all.
        test_size: keep this many test clips (stratified); ``None`` (default) keeps all.
        split_seed: seed of the subsets (default 0).
        sample_rate: sample rate of the clips in Hz (default 16,000).
        duration: clip length in seconds (default 1).
        n_mels: mel bands of the log-mel features (default 64).
        n_fft: FFT size of the features (default 400: 25 ms at 16 kHz).
        hop_length: hop between frames in samples (default 160: 10 ms at 16 kHz).
        top_db: dynamic range of the features in dB (default 80; ``None`` for no clamp).
        flite_fraction: share of clips spoken by flite voices (default 0.1; 0 without flite, with a warning).
        cache_dir: cache root of the generated clips (default ``$MIXUP_CACHE`` or ``~/.cache/mixup``).
        workers: synthesiser processes run at once while generating (default 4).
        progress: show a progress bar while generating (default ``True``).

    Returns:
        A `TaskData` with modality ``"audio"``, items ``(float32 tensor, int)``, class names
        ``DIGIT_WORDS`` and ``info`` holding ``features``, ``domain`` (``"db"`` or ``"waveform"``),
        ``sample_rate``, the feature settings, the suitable ``mixers``, sizes and speaker counts.

    Raises:
        DataNotFoundError: espeak-ng is missing and the cache has no clips for these parameters
            (the message gives ``apt-get install -y --no-install-recommends espeak-ng flite``).
        ConfigError: an invalid parameter (named in the message).

    Examples:
        >>> data = load_spoken_digits_task(num_clips=200, features="waveform")   # doctest: +SKIP
        >>> data.input_shape, data.info["sample_rate"]                             # doctest: +SKIP
        ((1, 16000), 16000)
    """
    if features not in _FEATURES:
        raise ConfigError(f"features must be 'logmel' or 'waveform', got features={features!r}")
    clips = _int_param("num_clips", num_clips, 2)
    gen_seed = _int_param("generation_seed", generation_seed, 0)
    train_n = _optional_int_param("train_size", train_size, 1)
    test_n = _optional_int_param("test_size", test_size, 1)
    seed = _int_param("split_seed", split_seed, 0)
    rate = _int_param("sample_rate", sample_rate, 1000)
    mels = _int_param("n_mels", n_mels, 1)
    fft = _int_param("n_fft", n_fft, 2)
    hop = _int_param("hop_length", hop_length, 1)
    top = _positive_number("top_db", top_db, allow_none=True)
    common: dict[str, Any] = {
        "num_clips": clips, "seed": gen_seed, "sample_rate": rate, "duration": duration,
        "flite_fraction": flite_fraction, "workers": workers, "progress": progress,
    }
    try:
        raw = {split: SpokenDigits(cache_dir, split, **common) for split in ("train", "test")}
    except FileNotFoundError as exc:
        raise DataNotFoundError(
            f"the spoken digits cannot be synthesised: {exc} The data set needs the Debian packages espeak-ng "
            f"(required) and flite (optional): `{INSTALL_COMMAND}` as root, after `apt-get update`. Or set "
            f"cache_dir to a folder that already holds the generated clips for these parameters."
        ) from exc
    except (TypeError, ValueError) as exc:  # SpokenDigits' own argument checks
        raise ConfigError(f"spoken-digits: {exc}") from exc
    frontend = LogMelMixupFrontEnd(sample_rate=rate, n_fft=fft, hop_length=hop, n_mels=mels, top_db=top)
    splits: dict[str, LabeledTensors] = {}
    for split, size, stream in (("train", train_n, 0), ("test", test_n, 1)):
        ds = _subset(
            LabeledTensors(raw[split].waveforms, raw[split].labels), size, (seed, stream), f"{split}_size", split
        )
        if features == "logmel":
            with torch.no_grad():
                ds = LabeledTensors(torch.cat([frontend.featurize(c) for c in ds.inputs.split(256)]), ds.labels)
        splits[split] = ds
    manifest = raw["train"].manifest
    info: dict[str, Any] = {
        "source": "synthetic spoken digits (mixup_audio.datasets.SpokenDigits): espeak-ng and flite voices, "
        f"test speakers held out; cache {raw['train'].folder}",
        "licence": "generated locally; espeak-ng GPL-3+ and flite BSD-style are run as programs, never linked",
        "features": features,
        "domain": "db" if features == "logmel" else "waveform",
        "sample_rate": rate,
        "duration": float(raw["train"].duration),
        "n_mels": mels,
        "n_fft": fft,
        "hop_length": hop,
        "top_db": top,
        "mixers": list(LOGMEL_MIXERS if features == "logmel" else WAVEFORM_MIXERS),
        "num_clips": clips,
        "generation_seed": gen_seed,
        "split": "by speaker: crc32(speaker) % 4 == 0 -> test",
        "split_seed": seed,
        "train_size": len(splits["train"]),
        "test_size": len(splits["test"]),
        "speakers": {"train": len(set(raw["train"].speakers)), "test": len(set(raw["test"].speakers))},
        "flite_clips": manifest.get("counts", {}).get("flite_clips"),
        "tools": {k: manifest.get("tools", {}).get(k) for k in ("espeak-ng", "flite")},
        "class_counts": {s: [int(c) for c in torch.bincount(d.labels, minlength=10)] for s, d in splits.items()},
    }
    shape = tuple(int(s) for s in splits["train"].inputs.shape[1:])
    return TaskData(splits["train"], splits["test"], len(DIGIT_WORDS), list(DIGIT_WORDS), "audio",
                    input_shape=shape, info=info)


# ---------------------------------------------------------------------------------------------- own clips
_FOLDER_FEATURES = {"log-mel": "log-mel", "logmel": "log-mel", "waveform": "waveform"}
_CHANNELS = {"mono": 1, "stereo": 2}


class _HeaderCheck:
    """The ``check`` of `scan_files`: reads each header once, keeps it, and notes a missing decoder."""

    def __init__(self) -> None:
        self.infos: dict[Path, AudioInfo] = {}
        self.missing: MissingDecoderError | None = None

    def __call__(self, path: Path) -> None:
        try:
            self.infos[path] = audio_info(path)
        except MissingDecoderError as exc:
            self.missing = self.missing or exc
            raise

    def raise_missing(self, root: Path) -> None:
        if self.missing is not None:
            raise DataError(f"{root}: {self.missing}") from self.missing


def _extensions_param(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value or not all(
        isinstance(e, str) and e.startswith(".") and len(e) > 1 for e in value
    ):
        raise ConfigError(f"extensions must be a non-empty list of suffixes such as ['.wav', '.flac'], got "
                          f"extensions={value!r}")
    return tuple(e.lower() for e in value)


def load_folder_task(
    root: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    channels: Literal["mono", "stereo"] = "mono",
    seconds: float | None = None,
    features: Literal["log-mel", "waveform"] = "log-mel",
    n_mels: int = 64,
    n_fft: int | None = None,
    hop_length: int | None = None,
    top_db: float | None = 80.0,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    on_error: Literal["stop", "skip"] = "stop",
    path_column: str = "path",
    label_column: str = "label",
    group_column: str | None = "group",
    split_column: str | None = "split",
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> TaskData:
    """Your own sound clips, in class folders or listed in a manifest, as a `TaskData` streamed from disk.

    Registered as ``audio:folder``. Two layouts (`mixup_core.data.scan_files`): a folder with one
    sub-folder per class (``root/<class>/**/*.wav|flac|mp3|ogg``), or a manifest (CSV, TSV, JSONL or
    Parquet) with a path column and a label column, and optionally a group column (speaker,
    recording site, session …: the split then keeps each group on one side) and a split column
    (``train``/``test``, used as given). Manifest paths are relative to the manifest's folder and may
    not leave it. Without a split column the split is drawn with ``test_fraction`` and
    ``split_seed`` (stratified by class, or by whole groups).

    Every file's header is read before anything trains (sample rate, channels, length;
    `mixup_audio.datasets.audio_info`): a missing, empty, truncated or unreadable file stops the
    load with its path (``on_error: skip`` leaves such files out and counts them). WAV files (PCM
    8/16/24/32-bit, float) are decoded by a built-in reader; FLAC, MP3 and OGG need
    ``pip install "mixup-audio[formats]"`` (soundfile), and the load says so when it is missing.

    The clips are decoded when a batch needs them (`mixup_audio.datasets.AudioFiles`), so
    ``train.workers`` DataLoader workers decode in parallel. Each clip is brought to ``channels``,
    resampled to ``sample_rate`` (``torchaudio.functional.resample``) and cut to ``seconds``:
    shorter clips are zero-padded at the end, longer ones cropped, at a random offset in training
    (drawn from torch's generator, which the run seeds: reproducible given the run's seed and
    ``train.workers``, new crops every epoch) and in the centre for the test split.

    Args:
        root: the class-folder tree, or the manifest file (a relative path is taken from the
            working directory).
        sample_rate: the rate every clip is resampled to, in Hz (>= 1000). ``None`` (default): the
            files' own rate, which must then be the same for all (else a `DataError` lists the rates
            with an example file each).
        channels: ``"mono"`` (default: the mean of a file's channels) or ``"stereo"`` (two channels;
            a mono file is duplicated, a file with more keeps its first two).
        seconds: the length of every clip in seconds; ``None`` (default): the longest clip's.
        features: ``"log-mel"`` (default; ``"logmel"`` also accepted): items are log-mel
            spectrograms in dB ``(C, n_mels, frames)`` computed by `LogMelMixupFrontEnd.featurize`,
            for ``audio:audio-cnn`` and the spectrogram mixers; ``"waveform"``: items are the
            waveforms ``(C, seconds·sample_rate)``, for waveform models and mixers (``audio:waveform``,
            ``audio:bc``; ``audio:audio-cnn`` then puts the same log-mel front end inside the model).
        n_mels: mel bands (default 64).
        n_fft: FFT size (default: 25 ms at ``sample_rate``, 400 at 16 kHz).
        hop_length: hop between frames in samples (default: 10 ms at ``sample_rate``, 160 at 16 kHz).
        top_db: dynamic range of the features in dB (default 80; ``None`` for no clamp).
        test_fraction: share of clips held out when the data give no split (default 0.2).
        split_seed: seed of that split (default 0).
        on_error: ``"stop"`` (default) or ``"skip"`` for missing or unreadable files.
        path_column: the manifest's path column (default ``"path"``).
        label_column: the manifest's label column (default ``"label"``).
        group_column: the manifest's group column, used when present (default ``"group"``; ``None``: never).
        split_column: the manifest's split column, used when present (default ``"split"``; ``None``: never).
        extensions: the file suffixes read (default ``[".wav", ".flac", ".mp3", ".ogg"]``).

    Returns:
        A `TaskData` with modality ``"audio"``, items ``(float32 tensor, class index)``, class names
        from the folders or labels (sorted), the groups of each split when the manifest has them, and
        ``info`` with ``source``, ``layout``, ``counts`` per split and class, ``skipped``,
        ``sample_rate``, ``num_samples``, ``channels``, ``features``, ``domain`` (``"db"`` or
        ``"waveform"``), the feature settings, the sample rates found and the suitable ``mixers``.

    Raises:
        DataNotFoundError: ``root`` does not exist.
        DataError: an empty class folder, a single class, a missing column, a path outside the
            manifest's folder, unreadable files, different sample rates without ``sample_rate``, or
            FLAC/MP3/OGG files without soundfile (each naming the file, column or command).
        ConfigError: a bad parameter (named with its value).

    Examples:
        >>> data = load_folder_task("clips", sample_rate=16000, seconds=1.0)   # doctest: +SKIP
        >>> data.input_shape, data.info["counts"]["train"]                          # doctest: +SKIP
        ((1, 64, 101), {'dog': 32, 'rain': 32})
    """
    if not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"root must be a path to a folder or a manifest, got root={root!r}")
    source = Path(root).expanduser().resolve()
    if not isinstance(features, str) or features not in _FOLDER_FEATURES:
        raise ConfigError(f"features must be 'log-mel' or 'waveform', got features={features!r}")
    kind = _FOLDER_FEATURES[features]
    if not isinstance(channels, str) or channels not in _CHANNELS:
        raise ConfigError(f"channels must be 'mono' or 'stereo', got channels={channels!r}")
    num_channels = _CHANNELS[channels]
    rate_param = _optional_int_param("sample_rate", sample_rate, 1000)
    length_s = _positive_number("seconds", seconds, allow_none=True)
    mels = _int_param("n_mels", n_mels, 1)
    fft_param = _optional_int_param("n_fft", n_fft, 2)
    hop_param = _optional_int_param("hop_length", hop_length, 1)
    top = _positive_number("top_db", top_db, allow_none=True)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got test_fraction={test_fraction!r}")
    seed = _int_param("split_seed", split_seed, 0)
    columns = {
        "path_column": column_param("path_column", path_column, optional=False),
        "label_column": column_param("label_column", label_column, optional=False),
        "group_column": column_param("group_column", group_column, optional=True),
        "split_column": column_param("split_column", split_column, optional=True),
    }
    suffixes = _extensions_param(extensions)

    check = _HeaderCheck()
    try:
        records = scan_files(source, extensions=suffixes, on_error=on_error, check=check, **columns)  # type: ignore[arg-type]
    except DataError:
        check.raise_missing(source)
        raise
    check.raise_missing(source)  # with on_error: skip, undecodable files would silently go
    infos = [check.infos[p] for p in records.paths]
    examples: dict[int, Path] = {}
    for path, info in zip(records.paths, infos, strict=True):
        examples.setdefault(info.sample_rate, path)
    if rate_param is None and len(examples) > 1:
        found = ", ".join(f"{r} Hz (e.g. {examples[r]})" for r in sorted(examples))
        raise DataError(f"{source}: the clips have different sample rates: {found}; set sample_rate in the dataset "
                        f"section (e.g. sample_rate: {max(examples)}) to resample every clip to it")
    rate = rate_param if rate_param is not None else next(iter(examples))
    if length_s is not None:
        num_samples = max(1, round(length_s * rate))
    else:
        num_samples = max(math.ceil(i.frames * rate / i.sample_rate) for i in infos)
    fft = fft_param if fft_param is not None else max(2, round(0.025 * rate))
    hop = hop_param if hop_param is not None else max(1, round(0.010 * rate))

    labels = records.class_indices()
    names = records.class_names
    train_idx, test_idx = split_indices(labels, groups=records.groups, splits=records.splits,
                                        test_fraction=float(test_fraction), seed=seed)
    frontend = None
    if kind == "log-mel":
        if num_samples <= fft // 2:
            raise ConfigError(f"seconds={length_s!r} gives {num_samples} samples at {rate} Hz, too short for log-mel "
                              f"features with n_fft={fft}; give longer clips, a smaller n_fft or features: waveform")
        frontend = LogMelMixupFrontEnd(sample_rate=rate, n_fft=fft, hop_length=hop, n_mels=mels, top_db=top,
                                       channels=num_channels)
    common: dict[str, Any] = {"sample_rate": rate, "num_samples": num_samples, "channels": num_channels,
                              "frontend": frontend}
    train = AudioFiles([records.paths[i] for i in train_idx], labels[train_idx].tolist(), crop="random", **common)
    test = AudioFiles([records.paths[i] for i in test_idx], labels[test_idx].tolist(), crop="centre", **common)
    if frontend is None:
        shape: tuple[int, ...] = (num_channels, num_samples)
    else:
        with torch.no_grad():
            shape = tuple(int(s) for s in frontend.featurize(torch.zeros(1, num_channels, num_samples)).shape[1:])
    rates: dict[str, int] = {}
    formats: dict[str, int] = {}
    for path, info in zip(records.paths, infos, strict=True):
        rates[str(info.sample_rate)] = rates.get(str(info.sample_rate), 0) + 1
        formats[path.suffix.lower()] = formats.get(path.suffix.lower(), 0) + 1
    info_out: dict[str, Any] = {
        "source": str(source),
        "layout": records.layout,
        "counts": {"train": class_counts(labels[train_idx], names), "test": class_counts(labels[test_idx], names)},
        "skipped": len(records.skipped),
        "skipped_files": [f"{p}: {r}" for p, r in records.skipped[:20]],
        "split": ("given (split column)" if records.splits is not None else
                  f"by group, test_fraction={test_fraction}, split_seed={seed}" if records.groups is not None else
                  f"stratified, test_fraction={test_fraction}, split_seed={seed}"),
        "features": kind,
        "domain": "db" if kind == "log-mel" else "waveform",
        "sample_rate": rate,
        "sample_rates_found": rates,
        "formats": formats,
        "channels": num_channels,
        "seconds": num_samples / rate,
        "num_samples": num_samples,
        "n_mels": mels,
        "n_fft": fft,
        "hop_length": hop,
        "top_db": top,
        "mixers": list(LOGMEL_MIXERS if kind == "log-mel" else WAVEFORM_MIXERS),
    }
    groups = records.groups
    return TaskData(train, test, len(names), names, "audio", input_shape=shape, info=info_out,
                    train_groups=None if groups is None else [groups[i] for i in train_idx],
                    test_groups=None if groups is None else [groups[i] for i in test_idx])


# ---------------------------------------------------------------------------------------------- model
def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
            bn=nn.BatchNorm2d(c_out),
            relu=nn.ReLU(inplace=True),
            pool=nn.MaxPool2d(2, ceil_mode=True),
        )
    )


class AudioCNN(nn.Module):
    """A small CNN over log-mel spectrograms ``(B, C, n_mels, frames)``, or over waveforms with a front end.

    ``frontend`` (when given) turns waveforms ``(B, C, T)`` into dB log-mel features
    (`LogMelMixupFrontEnd.featurize`, no mixing). ``bn0`` normalises each mel band over the batch
    (batch norm over the band axis, as PANNs do), so the dB scale needs no fixed statistics and the
    data stay in the dB domain that spectrogram mixers expect. ``features`` holds ``block1`` …
    (3×3 convolution, batch norm, ReLU, 2×2 max pooling), ``image:manifold``-style hidden layers
    ``"features.block1"`` …; the head averages over frequency, takes the mean plus the maximum
    over time, applies dropout and the linear ``classifier``.

    Args:
        num_classes: number of outputs.
        n_mels: mel bands of the features.
        in_channels: channels of the input (1 for mono).
        channels: output channels of the blocks.
        dropout: dropout before the classifier.
        frontend: a log-mel front end for waveform input, or ``None`` for log-mel input.

    Examples:
        >>> net = AudioCNN(10, n_mels=16, channels=(4, 8))
        >>> net(torch.randn(3, 1, 16, 20)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        num_classes: int,
        *,
        n_mels: int,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32, 64),
        dropout: float = 0.2,
        frontend: LogMelMixupFrontEnd | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.n_mels = n_mels
        self.in_channels = in_channels
        self.bn0 = nn.BatchNorm2d(n_mels)
        widths = [in_channels, *channels]
        self.features = nn.Sequential(
            OrderedDict((f"block{i + 1}", _conv_block(a, b)) for i, (a, b) in enumerate(itertools.pairwise(widths)))
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of waveforms ``(B, C, T)`` (with a front end) or ``(B, C, n_mels, frames)``."""
        if self.frontend is not None:
            if x.ndim != 3 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f"AudioCNN with a front end expects waveforms (B, {self.in_channels}, T), "
                    f"got shape {tuple(x.shape)}"
                )
            x = self.frontend.featurize(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != self.n_mels:
            raise ValueError(
                f"AudioCNN expects log-mel features (B, {self.in_channels}, {self.n_mels}, frames), got shape "
                f"{tuple(x.shape)}"
            )
        x = self.bn0(x.transpose(1, 2)).transpose(1, 2)  # per mel band
        h = self.features(x).mean(dim=2)  # (B, C, frames'): average over frequency
        pooled = h.mean(dim=2) + h.amax(dim=2)
        return self.classifier(self.dropout(pooled))


def audio_cnn(
    data: TaskData,
    *,
    channels: Sequence[int] = (16, 32, 64),
    dropout: float = 0.2,
) -> AudioCNN:
    """A small CNN for ``data``'s audio: log-mel input as is, waveforms through a log-mel front end in the model.

    Reads ``data.input_shape``: ``(C, n_mels, frames)`` means log-mel features (the model is
    `AudioCNN` over them); ``(C, T)`` means waveforms, and the model gets a
    `LogMelMixupFrontEnd` built from ``data.info`` (``sample_rate`` required; ``n_fft``,
    ``hop_length``, ``n_mels``, ``top_db`` default to 400, 160, 64, 80), the same features that
    `load_spoken_digits_task` computes for ``features="logmel"``. Waveform mixers then mix the
    signals before the front end runs.

    Args:
        data: the experiment's data (`TaskData` with an audio ``input_shape``).
        channels: output channels of the convolution blocks (default ``[16, 32, 64]``, three blocks).
        dropout: dropout before the classifier, in [0, 1) (default 0.2).

    Raises:
        ConfigError: a bad parameter, an ``input_shape`` that is neither ``(C, T)`` nor
            ``(C, n_mels, frames)``, or waveform data without ``info["sample_rate"]``.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.randn(4, 1, 32, 50), torch.tensor([0, 1, 0, 1])
        >>> data = TaskData(TensorDataset(x, y), TensorDataset(x, y), 2, ["a", "b"], "audio", input_shape=(1, 32, 50))
        >>> audio_cnn(data, channels=[8, 16])(x).shape
        torch.Size([4, 2])
    """
    if not isinstance(data, TaskData):
        raise TypeError(f"audio-cnn is built from a mixup_core.TaskData, got {type(data).__name__}")
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels or not all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 1 for c in channels
    ):
        raise ConfigError(f"channels must be a non-empty list of positive ints, got channels={channels!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"dropout must be a number in [0, 1), got dropout={dropout!r}")
    shape = None if data.input_shape is None else tuple(int(s) for s in data.input_shape)
    widths = [int(c) for c in channels]
    if shape is not None and len(shape) == 3:
        return AudioCNN(
            data.num_classes, n_mels=shape[1], in_channels=shape[0], channels=widths, dropout=float(dropout)
        )
    if shape is not None and len(shape) == 2:
        info = data.info
        if "sample_rate" not in info:
            raise ConfigError(
                "audio-cnn on waveforms builds a log-mel front end and needs the data's info['sample_rate'], which "
                f"this data set does not give (info keys: {sorted(info)})"
            )
        mels = int(info.get("n_mels", 64))
        frontend = LogMelMixupFrontEnd(
            sample_rate=int(info["sample_rate"]), n_fft=int(info.get("n_fft", 400)),
            hop_length=int(info.get("hop_length", 160)), n_mels=mels, top_db=info.get("top_db", 80.0),
            channels=shape[0],
        )
        return AudioCNN(data.num_classes, n_mels=mels, in_channels=shape[0], channels=widths, dropout=float(dropout),
                        frontend=frontend)
    raise ConfigError(
        "audio-cnn takes waveforms (C, T) or log-mel features (C, n_mels, frames), but the data set gives "
        f"input_shape={shape!r}"
    )
