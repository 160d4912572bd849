"""Spoken digits synthesised offline: the recipe, the programs (espeak-ng, flite) and one clip.

The recipe (`SpeechConfig`: number of clips, seed, sample rate, duration, share of flite voices)
fixes the data; `draw_specs` draws every clip's speaker, speed and pitch from ``random.Random(seed)``;
`discover_tools` finds the programs and the voices they offer; `synthesise` runs one program as a
subprocess (never linked: espeak-ng is GPL-3+, flite BSD-style), reads its WAV, resamples, trims the
silence and returns 16-bit PCM. The cache of generated sets is `mixup_audio._speech_cache`; the data
set is `mixup_audio.datasets.SpokenDigits`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import threading
import wave
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torchaudio

from mixup_core.data import int_param

__all__ = [
    "DIGIT_WORDS",
    "ESPEAK_ACCENTS",
    "FLITE_VOICES",
    "INSTALL_COMMAND",
    "PCM_SCALE",
    "SPOKEN_DIGITS_VERSION",
    "TRIM_DB",
    "TRIM_MARGIN_S",
    "ClipSpec",
    "Resamplers",
    "SpeechConfig",
    "Tools",
    "discover_tools",
    "draw_specs",
    "make_config",
    "speaker_is_test",
    "synthesise",
    "which",
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

_SPEED_RANGE = (110, 230)  # espeak-ng words per minute (-s)
_PITCH_RANGE = (20, 80)  # espeak-ng pitch (-p, 0..99)
_FLITE_REFERENCE_SPEED = 175  # espeak-ng's default speed: flite gets duration_stretch = 175 / speed
TRIM_DB = 40.0  # leading/trailing samples quieter than peak - 40 dB are trimmed ...
TRIM_MARGIN_S = 0.01  # ... keeping a 10 ms margin on each side
PCM_SCALE = 32768.0  # clips are stored as 16-bit PCM and returned as float32 in [-1, 1)


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
class SpeechConfig:
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
class ClipSpec:
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
class Tools:
    espeak_ng: str
    flite: str | None
    espeak_version: str
    flite_version: str | None
    accents: tuple[str, ...]
    variants: tuple[str, ...]
    flite_voices: tuple[str, ...]



def make_config(num_clips: int, seed: int, sample_rate: int, duration: float, flite_fraction: float) -> SpeechConfig:
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
    return SpeechConfig(num_clips, seed, sample_rate, float(duration), float(flite_fraction))



def which(program: str | os.PathLike[str]) -> str | None:
    return shutil.which(os.fspath(program))


def _missing_espeak_message(program: str | os.PathLike[str]) -> str:
    return (
        f"espeak-ng was not found (looked for {os.fspath(program)!r} on PATH). SpokenDigits synthesises its clips "
        f"offline with it. Install it with `{INSTALL_COMMAND}` (Debian/Ubuntu, as root; flite is optional; "
        "`brew install espeak-ng flite` on macOS), or pass espeak_ng='/path/to/espeak-ng'."
    )


def _run(cmd: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(cmd), capture_output=True, timeout=timeout, check=False)


def discover_tools(espeak_ng: str | os.PathLike[str], flite: str | os.PathLike[str] | None) -> Tools:
    """Find the programs and the voices they offer (espeak-ng is required, flite optional)."""
    espeak_path = which(espeak_ng)
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

    flite_path = which(flite) if flite is not None else None
    flite_version = None
    flite_voices: tuple[str, ...] = ()
    if flite_path is not None:
        listed = _run([flite_path, "-lv"]).stdout.decode("utf-8", "replace")
        names = set(listed.replace("Voices available:", " ").split())
        flite_voices = tuple(v for v in FLITE_VOICES if v in names)
        flite_version = " ".join(_run([flite_path, "--version"]).stdout.decode("utf-8", "replace").split())
        if not flite_voices:
            flite_path = None
    return Tools(
        espeak_ng=espeak_path,
        flite=flite_path,
        espeak_version=" ".join(text.split()),
        flite_version=flite_version,
        accents=accents,
        variants=variants,
        flite_voices=flite_voices,
    )



def draw_specs(config: SpeechConfig, tools: Tools) -> list[ClipSpec]:
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
            specs.append(ClipSpec(i, label, "flite", flite_voice, "", speed, -1))
        else:
            specs.append(ClipSpec(i, label, "espeak-ng", accent, variant, speed, pitch))
    return specs


def _command(spec: ClipSpec, tools: Tools, path: Path) -> list[str]:
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
    loud = torch.nonzero(x.abs() > peak * 10 ** (-TRIM_DB / 20)).flatten()
    margin = round(TRIM_MARGIN_S * sample_rate)
    start = max(int(loud[0]) - margin, 0)
    stop = min(int(loud[-1]) + 1 + margin, x.numel())
    return x[start:stop]


class Resamplers:
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


def synthesise(
    spec: ClipSpec, tools: Tools, config: SpeechConfig, resample: Resamplers, workdir: Path
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
    x = _trim(resample(torch.from_numpy(pcm.astype(np.float32) / PCM_SCALE), rate), config.sample_rate)
    kept = min(x.numel(), config.num_samples)
    out = np.zeros(config.num_samples, dtype=np.int16)
    out[:kept] = torch.round(x[:kept] * PCM_SCALE).clamp_(-32768, 32767).to(torch.int16).numpy()
    return out, kept, x.numel()
