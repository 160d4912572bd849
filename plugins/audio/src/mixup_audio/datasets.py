"""Spoken digits synthesised offline with espeak-ng and flite: a small, reproducible audio data set.

Each clip is one of the words ``zero`` … ``nine`` spoken by a text-to-speech voice. For every clip a
seeded random number generator draws the speaker (an espeak-ng English accent with a voice variant,
or about one clip in ten a flite voice), the speed and the pitch. The train/test split is by speaker
identity, so test speakers are never heard in training ("spectrogram classification under speaker
shift"; TTS speech is cleaner than human speech and is no stand-in for Speech Commands).

The clips are generated once, with a small thread pool of subprocesses and a progress bar, into a
cache folder (``$MIXUP_CACHE/spoken-digits/<version-and-params-hash>/`` or
``~/.cache/mixup/spoken-digits/<version-and-params-hash>/``) as one compressed ``.npz`` plus a JSON
manifest of the generation parameters; later calls load the cache and start no process.

The programs are called as subprocesses, never linked (espeak-ng is GPL-3+, flite BSD-style). Install
them with ``apt-get install -y --no-install-recommends espeak-ng flite``; flite is optional (without
it the set is generated with espeak-ng only, with a warning, into its own cache folder).

Users' own clips (the ``audio:folder`` data set of `mixup_audio.lab`) are read with `audio_info` (a
header check), `read_audio` (WAV by a built-in reader; FLAC, MP3 and OGG through the optional
``soundfile``) and streamed by `AudioFiles`.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
import wave
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torchaudio
from torch.utils.data import Dataset

from mixup_core.data import cache_root, int_param

from ._files import (
    AUDIO_EXTENSIONS,
    FORMATS_INSTALL_COMMAND,
    AudioFiles,
    AudioInfo,
    MissingDecoderError,
    audio_info,
    read_audio,
)

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

SPOKEN_DIGITS_VERSION = 1
"""Version of the generation recipe and file format; part of the cache folder name."""

DIGIT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The spoken words; a clip's label is the word's index."""

ESPEAK_ACCENTS: tuple[str, ...] = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
"""The espeak-ng English accents used (those of them that ``espeak-ng --voices=en`` lists are kept)."""

FLITE_VOICES: tuple[str, ...] = ("kal", "kal16", "awb", "rms", "slt")
"""The flite voices used (those of them that ``flite -lv`` lists are kept)."""

INSTALL_COMMAND = "apt-get install -y --no-install-recommends espeak-ng flite"
"""The command that installs the synthesisers on Debian and Ubuntu."""

_FILE = "spoken_digits.npz"
_MANIFEST = "manifest.json"
_SPEED_RANGE = (110, 230)  # espeak-ng words per minute (-s)
_PITCH_RANGE = (20, 80)  # espeak-ng pitch (-p, 0..99)
_FLITE_REFERENCE_SPEED = 175  # espeak-ng's default speed: flite gets duration_stretch = 175 / speed
_TRIM_DB = 40.0  # leading/trailing samples quieter than peak - 40 dB are trimmed ...
_TRIM_MARGIN_S = 0.01  # ... keeping a 10 ms margin on each side
_PCM_SCALE = 32768.0  # clips are stored as 16-bit PCM and returned as float32 in [-1, 1)


def speaker_is_test(speaker: str) -> bool:
    """Whether a speaker identity belongs to the test split: ``zlib.crc32(speaker) % 4 == 0``.

    Args:
        speaker: a speaker identity as stored in `SpokenDigits.speakers`, e.g.
            ``"espeak-ng:en-gb-scotland+Andy"`` or ``"flite:slt"``.

    Examples:
        >>> speaker_is_test("flite:slt") in (True, False)
        True
    """
    return zlib.crc32(speaker.encode("utf-8")) % 4 == 0


@dataclass(frozen=True)
class _Config:
    """The parameters that determine the data (hashed into the cache folder name)."""

    num_clips: int
    seed: int
    sample_rate: int
    duration: float
    flite_fraction: float

    def key(self) -> str:
        blob = json.dumps(self.as_dict(), sort_keys=True).encode("utf-8")
        return f"v{SPOKEN_DIGITS_VERSION}-{hashlib.sha256(blob).hexdigest()[:12]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": SPOKEN_DIGITS_VERSION,
            "words": list(DIGIT_WORDS),
            "num_clips": self.num_clips,
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "duration": self.duration,
            "flite_fraction": self.flite_fraction,
            "speed_range": list(_SPEED_RANGE),
            "pitch_range": list(_PITCH_RANGE),
            "split": "crc32(speaker) % 4 == 0 -> test",
        }

    @property
    def num_samples(self) -> int:
        return round(self.duration * self.sample_rate)


@dataclass(frozen=True)
class _ClipSpec:
    index: int
    label: int
    engine: Literal["espeak-ng", "flite"]
    voice: str  # espeak-ng accent, or flite voice
    variant: str  # espeak-ng voice variant ("" for flite)
    speed: int  # words per minute
    pitch: int  # espeak-ng pitch; -1 for flite (its voices keep their own pitch)

    @property
    def speaker(self) -> str:
        if self.engine == "espeak-ng":
            return f"espeak-ng:{self.voice}+{self.variant}"
        return f"flite:{self.voice}"


@dataclass(frozen=True)
class _Tools:
    espeak_ng: str
    flite: str | None
    espeak_version: str
    flite_version: str | None
    accents: tuple[str, ...]
    variants: tuple[str, ...]
    flite_voices: tuple[str, ...]


# --------------------------------------------------------------------------------------------------
# validation and cache folders


def _make_config(num_clips: int, seed: int, sample_rate: int, duration: float, flite_fraction: float) -> _Config:
    int_param("num_clips", num_clips, 1)
    int_param("seed", seed, 0)
    int_param("sample_rate", sample_rate, 1000)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"duration must be a number of seconds, got {type(duration).__name__} {duration!r}")
    if not 0.0 < float(duration) <= 60.0:
        raise ValueError(f"duration must be in (0, 60] seconds, got {duration}")
    if isinstance(flite_fraction, bool) or not isinstance(flite_fraction, (int, float)):
        raise TypeError(f"flite_fraction must be a number, got {type(flite_fraction).__name__} {flite_fraction!r}")
    if not 0.0 <= float(flite_fraction) <= 1.0:
        raise ValueError(f"flite_fraction must be in [0, 1], got {flite_fraction}")
    return _Config(num_clips, seed, sample_rate, float(duration), float(flite_fraction))


def _folder(root: str | os.PathLike[str] | None, config: _Config) -> Path:
    return cache_root(root) / "spoken-digits" / config.key()


def _is_complete(folder: Path) -> bool:
    return (folder / _MANIFEST).is_file() and (folder / _FILE).is_file()


# --------------------------------------------------------------------------------------------------
# tools


def _which(program: str | os.PathLike[str]) -> str | None:
    return shutil.which(os.fspath(program))


def _missing_espeak_message(program: str | os.PathLike[str]) -> str:
    return (
        f"espeak-ng was not found (looked for {os.fspath(program)!r} on PATH). SpokenDigits synthesises its clips "
        f"offline with it. Install it with `{INSTALL_COMMAND}` (Debian/Ubuntu, as root; flite is optional; "
        "`brew install espeak-ng flite` on macOS), or pass espeak_ng='/path/to/espeak-ng'."
    )


def _run(cmd: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(cmd), capture_output=True, timeout=timeout, check=False)


def _discover_tools(espeak_ng: str | os.PathLike[str], flite: str | os.PathLike[str] | None) -> _Tools:
    """Find the programs and the voices they offer (espeak-ng is required, flite optional)."""
    espeak_path = _which(espeak_ng)
    if espeak_path is None:
        raise FileNotFoundError(_missing_espeak_message(espeak_ng))
    version = _run([espeak_path, "--version"])
    text = version.stdout.decode("utf-8", "replace")
    if version.returncode != 0:
        raise RuntimeError(f"`{espeak_path} --version` failed: {version.stderr.decode('utf-8', 'replace')}")
    match = re.search(r"Data at:\s*(\S.*?)\s*$", text, flags=re.MULTILINE)
    data_dir = Path(match.group(1)) if match else None
    variants: tuple[str, ...] = ()
    if data_dir is not None and (data_dir / "voices" / "!v").is_dir():
        variants = tuple(
            sorted(
                p.name
                for p in (data_dir / "voices" / "!v").iterdir()
                if p.is_file() and not p.name.startswith("mb-") and not p.name.startswith(".")
            )
        )
    if not variants:
        raise RuntimeError(
            f"espeak-ng ({espeak_path}) lists no voice variants in {data_dir}/voices/!v; reinstall it with "
            f"`{INSTALL_COMMAND}`"
        )
    listing = _run([espeak_path, "--voices=en"]).stdout.decode("utf-8", "replace")
    offered = set()
    for line in listing.splitlines()[1:]:
        fields = line.split()
        # columns: Pty Language Age/Gender VoiceName File [Other languages]; MBROLA voices (File mb/...)
        # are listed but need the non-free mbrola program: skip them.
        if len(fields) >= 5 and not fields[4].startswith("mb/"):
            offered.add(fields[1])
    accents = tuple(a for a in ESPEAK_ACCENTS if a in offered)
    if not accents:
        raise RuntimeError(f"espeak-ng ({espeak_path}) offers none of the English accents {ESPEAK_ACCENTS}")

    flite_path = _which(flite) if flite is not None else None
    flite_version = None
    flite_voices: tuple[str, ...] = ()
    if flite_path is not None:
        listed = _run([flite_path, "-lv"]).stdout.decode("utf-8", "replace")
        names = set(listed.replace("Voices available:", " ").split())
        flite_voices = tuple(v for v in FLITE_VOICES if v in names)
        flite_version = " ".join(_run([flite_path, "--version"]).stdout.decode("utf-8", "replace").split())
        if not flite_voices:
            flite_path = None
    return _Tools(
        espeak_ng=espeak_path,
        flite=flite_path,
        espeak_version=" ".join(text.split()),
        flite_version=flite_version,
        accents=accents,
        variants=variants,
        flite_voices=flite_voices,
    )


# --------------------------------------------------------------------------------------------------
# generation


def _draw_specs(config: _Config, tools: _Tools) -> list[_ClipSpec]:
    """Draw every clip's speaker, speed and pitch from ``random.Random(seed)``.

    Only ``Random.random()`` is used (its sequence is guaranteed stable across Python versions), and
    every clip consumes the same six draws whatever its engine: clip i's draws do not depend on
    ``num_clips`` (a smaller set is a prefix of a larger one), and a different ``flite_fraction``
    changes only the engine of the clips whose first draw falls between the two fractions.
    """
    rng = random.Random(config.seed)

    def pick(options: Sequence[str]) -> str:
        u = rng.random()
        return options[min(int(u * len(options)), len(options) - 1)] if options else ""

    def integer(low: int, high: int) -> int:
        return low + min(int(rng.random() * (high - low + 1)), high - low)

    specs = []
    for i in range(config.num_clips):
        use_flite = rng.random() < config.flite_fraction
        accent, variant, flite_voice = pick(tools.accents), pick(tools.variants), pick(tools.flite_voices)
        speed, pitch = integer(*_SPEED_RANGE), integer(*_PITCH_RANGE)
        label = i % len(DIGIT_WORDS)
        if use_flite and flite_voice:
            specs.append(_ClipSpec(i, label, "flite", flite_voice, "", speed, -1))
        else:
            specs.append(_ClipSpec(i, label, "espeak-ng", accent, variant, speed, pitch))
    return specs


def _command(spec: _ClipSpec, tools: _Tools, path: Path) -> list[str]:
    word = DIGIT_WORDS[spec.label]
    if spec.engine == "espeak-ng":
        voice = f"{spec.voice}+{spec.variant}"
        return [tools.espeak_ng, "-v", voice, "-s", str(spec.speed), "-p", str(spec.pitch), "-w", str(path), word]
    assert tools.flite is not None
    stretch = f"duration_stretch={_FLITE_REFERENCE_SPEED / spec.speed:.4f}"
    return [tools.flite, "-voice", spec.voice, "--setf", stretch, "-t", word, "-o", str(path)]


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV file with the standard library: (int16 mono samples, sample rate)."""
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise RuntimeError(f"{path}: expected 16-bit PCM, got {8 * f.getsampwidth()}-bit samples")
        channels, rate = f.getnchannels(), f.getframerate()
        frames = f.readframes(f.getnframes())
    pcm = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).round().astype(np.int16)
    return pcm, rate


def _trim(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Drop leading and trailing near-silence (below peak - 40 dB), keeping a 10 ms margin."""
    peak = x.abs().max()
    loud = torch.nonzero(x.abs() > peak * 10 ** (-_TRIM_DB / 20)).flatten()
    margin = round(_TRIM_MARGIN_S * sample_rate)
    start = max(int(loud[0]) - margin, 0)
    stop = min(int(loud[-1]) + 1 + margin, x.numel())
    return x[start:stop]


class _Resamplers:
    """``torchaudio.transforms.Resample`` per source rate, its sinc kernel computed once (thread-safe)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._by_rate: dict[int, torchaudio.transforms.Resample] = {}

    def __call__(self, x: torch.Tensor, rate: int) -> torch.Tensor:
        if rate == self.sample_rate:
            return x
        with self._lock:
            if rate not in self._by_rate:
                self._by_rate[rate] = torchaudio.transforms.Resample(rate, self.sample_rate)
            resample = self._by_rate[rate]
        with torch.no_grad():
            return resample(x)


def _synthesise(
    spec: _ClipSpec, tools: _Tools, config: _Config, resample: _Resamplers, workdir: Path
) -> tuple[np.ndarray, int, int]:
    """One clip, in a worker thread: (int16 samples cropped/zero-padded to the fixed length, kept
    length, length after trimming). It depends on its own spec only, never on the other clips."""
    path = workdir / f"{spec.index}.wav"
    cmd = _command(spec, tools, path)
    done = _run(cmd)
    if done.returncode != 0 or not path.is_file():
        raise RuntimeError(
            f"{spec.engine} failed for clip {spec.index} (exit {done.returncode}): {' '.join(cmd)}\n"
            f"{done.stderr.decode('utf-8', 'replace').strip()}"
        )
    pcm, rate = _read_wav(path)
    path.unlink()
    if not np.any(pcm):
        raise RuntimeError(f"{spec.engine} produced a silent clip {spec.index}: {' '.join(cmd)}")
    x = _trim(resample(torch.from_numpy(pcm.astype(np.float32) / _PCM_SCALE), rate), config.sample_rate)
    kept = min(x.numel(), config.num_samples)
    out = np.zeros(config.num_samples, dtype=np.int16)
    out[:kept] = torch.round(x[:kept] * _PCM_SCALE).clamp_(-32768, 32767).to(torch.int16).numpy()
    return out, kept, x.numel()


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="spoken digits", unit="clip", disable=not enabled, leave=False)


def _generate(config: _Config, tools: _Tools, folder: Path, *, workers: int, progress: bool) -> None:
    specs = _draw_specs(config, tools)
    n = len(specs)
    clips = np.zeros((n, config.num_samples), dtype=np.int16)
    lengths = np.zeros(n, dtype=np.int64)
    trimmed = np.zeros(n, dtype=np.int64)
    resample = _Resamplers(config.sample_rate)
    folder.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="mixup-spoken-digits-") as tmp,
        _progress_bar(n, progress) as bar,
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        futures = {pool.submit(_synthesise, spec, tools, config, resample, Path(tmp)): spec.index for spec in specs}
        try:
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                clips[i], lengths[i], trimmed[i] = future.result()
                bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    speakers = [s.speaker for s in specs]
    is_test = np.array([speaker_is_test(s) for s in speakers], dtype=bool)
    arrays = {
        "clips": clips,
        "labels": np.array([s.label for s in specs], dtype=np.int64),
        "lengths": lengths,
        "trimmed_lengths": trimmed,
        "speakers": np.array(speakers, dtype=str),
        "is_test": is_test,
        "engines": np.array([s.engine for s in specs], dtype=str),
        "speeds": np.array([s.speed for s in specs], dtype=np.int64),
        "pitches": np.array([s.pitch for s in specs], dtype=np.int64),
    }
    data_tmp = folder / f".{_FILE}.{os.getpid()}.{threading.get_ident()}.tmp.npz"
    with open(data_tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    digest = hashlib.sha256(data_tmp.read_bytes()).hexdigest()
    manifest = {
        "name": "spoken-digits",
        "key": config.key(),
        "parameters": config.as_dict(),
        "storage": {
            "file": _FILE,
            "sha256": digest,
            "clips": "int16 PCM (num_clips, duration * sample_rate), zero-padded; float32 = int16 / 32768",
            "trim": f"leading/trailing samples below peak - {_TRIM_DB:g} dB removed, {_TRIM_MARGIN_S * 1e3:g} ms margin",
            "resampling": "torchaudio.functional.resample (defaults) from each program's own rate",
        },
        "tools": {
            "espeak-ng": tools.espeak_version,
            "flite": tools.flite_version,
            "espeak_accents": list(tools.accents),
            "espeak_variants": list(tools.variants),
            "flite_voices": list(tools.flite_voices),
        },
        "counts": {
            "clips": n,
            "train": int((~is_test).sum()),
            "test": int(is_test.sum()),
            "speakers": len(set(speakers)),
            "test_speakers": len({s for s, t in zip(speakers, is_test, strict=True) if t}),
            "flite_clips": int(sum(s.engine == "flite" for s in specs)),
            "cropped": int((trimmed > config.num_samples).sum()),
        },
    }
    manifest_tmp = folder / f".{_MANIFEST}.{os.getpid()}.{threading.get_ident()}.tmp"
    manifest_tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(data_tmp, folder / _FILE)  # the data first: a folder with a manifest is complete
    os.replace(manifest_tmp, folder / _MANIFEST)


def _load(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    version = manifest.get("parameters", {}).get("version")
    if version != SPOKEN_DIGITS_VERSION:
        raise RuntimeError(
            f"{folder} holds spoken digits of format version {version}, this is version {SPOKEN_DIGITS_VERSION}: "
            "delete the folder to regenerate it"
        )
    with np.load(folder / _FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return arrays, manifest


def _without_flite(root: str | os.PathLike[str] | None, config: _Config, reason: str) -> tuple[_Config, Path]:
    warnings.warn(
        f"{reason}: the spoken digits use espeak-ng voices only (flite_fraction=0, a cache folder of its own). "
        f"Install flite with `{INSTALL_COMMAND}` for its {len(FLITE_VOICES)} extra voices.",
        UserWarning,
        stacklevel=4,
    )
    config = _Config(config.num_clips, config.seed, config.sample_rate, config.duration, 0.0)
    return config, _folder(root, config)


def _load_or_generate(
    root: str | os.PathLike[str] | None,
    config: _Config,
    *,
    generate: bool,
    espeak_ng: str | os.PathLike[str],
    flite: str | os.PathLike[str] | None,
    workers: int,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, Any], Path]:
    int_param("workers", workers, 1)
    folder = _folder(root, config)
    if _is_complete(folder):
        return (*_load(folder), folder)
    if config.flite_fraction > 0 and (flite is None or _which(flite) is None):
        config, folder = _without_flite(root, config, f"flite was not found (looked for {flite!r})")
        if _is_complete(folder):
            return (*_load(folder), folder)
    if not generate:
        raise FileNotFoundError(
            f"no spoken digits in {folder} (num_clips={config.num_clips}, seed={config.seed}, "
            f"sample_rate={config.sample_rate}, duration={config.duration}); pass generate=True to synthesise them"
        )
    tools = _discover_tools(espeak_ng, flite if config.flite_fraction > 0 else None)
    if config.flite_fraction > 0 and not tools.flite_voices:
        config, folder = _without_flite(root, config, f"flite ({flite}) offers none of the voices {FLITE_VOICES}")
        if _is_complete(folder):
            return (*_load(folder), folder)
    _generate(config, tools, folder, workers=workers, progress=progress)
    return (*_load(folder), folder)


# --------------------------------------------------------------------------------------------------
# public API


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
        config = _make_config(num_clips, seed, sample_rate, duration, flite_fraction)
        arrays, manifest, folder = _load_or_generate(
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
    return (torch.from_numpy(pcm.astype(np.float32)) / _PCM_SCALE).unsqueeze(1)


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
    config = _make_config(num_clips, seed, sample_rate, duration, flite_fraction)
    arrays, _, _ = _load_or_generate(
        root, config, generate=generate, espeak_ng=espeak_ng, flite=flite, workers=workers, progress=progress
    )
    test = arrays["is_test"]
    x, y = _to_float(arrays["clips"]), torch.from_numpy(arrays["labels"].astype(np.int64))
    mask = torch.from_numpy(test)
    return x[~mask], y[~mask], x[mask], y[mask]
