"""Reading users' sound files: a header check, a decoder, and a streaming data set of clips.

WAV files are read by a small RIFF reader of this module (numpy only): PCM 8/16/24/32-bit and IEEE
float 32/64-bit, plain or ``WAVE_FORMAT_EXTENSIBLE``. Everything else (FLAC, MP3, OGG/Vorbis, and WAV
encodings the reader does not know, such as ADPCM or µ-law) goes through ``soundfile`` (libsndfile
in a wheel), an optional dependency: ``pip install "mixup-audio[formats]"``. torchaudio is not used
for decoding: from release 2.9 on its file I/O goes through torchcodec, which needs FFmpeg on the
system.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torchaudio
from torch.utils.data import Dataset

__all__ = [
    "AUDIO_EXTENSIONS",
    "FORMATS_INSTALL_COMMAND",
    "AudioFiles",
    "AudioInfo",
    "MissingDecoderError",
    "audio_info",
    "read_audio",
]

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg")
"""The file suffixes of sound clips that the ``audio:folder`` data set reads (case-insensitive)."""

FORMATS_INSTALL_COMMAND = 'pip install "mixup-audio[formats]"'
"""The command that installs the decoder of FLAC, MP3 and OGG files (``soundfile``)."""

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_STREAMING = 0xFFFFFFFF  # a data-chunk size some recorders leave when they cannot seek back


class MissingDecoderError(ImportError):
    """A file needs ``soundfile``, which is not installed; the message gives the pip command."""


class _Unsupported(ValueError):
    """A valid WAV file in an encoding the built-in reader does not decode (ADPCM, µ-law …)."""


@dataclass(frozen=True)
class AudioInfo:
    """What a sound file's header says.

    Args:
        sample_rate: samples per second per channel, in Hz.
        channels: number of channels.
        frames: number of samples per channel.

    Examples:
        >>> AudioInfo(16000, 1, 8000).seconds
        0.5
    """

    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        """The duration in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class _WavLayout:
    info: AudioInfo
    tag: int  # _PCM or _FLOAT
    width: int  # bytes per sample
    offset: int  # of the first sample in the file


def _wav_layout(path: Path) -> _WavLayout:
    """Parse the chunks of a RIFF/WAVE file (headers only: sample data are skipped, never read)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] in (b"RF64", b"BW64"):
            raise _Unsupported("an RF64 WAV file (over 4 GiB)")
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("not a RIFF/WAVE file")
        fmt: bytes | None = None
        data: tuple[int, int] | None = None
        pos = 12
        while pos + 8 <= size and (fmt is None or data is None):
            f.seek(pos)
            chunk, length = struct.unpack("<4sI", f.read(8))
            if chunk == b"fmt ":
                fmt = f.read(min(length, 40))
            elif chunk == b"data":
                available = size - pos - 8
                if length == _STREAMING:
                    length = available
                elif length > available:
                    raise ValueError(f"truncated: the data chunk declares {length} bytes, the file holds {available}")
                data = (pos + 8, length)
            pos += 8 + length + (length & 1)
    if fmt is None or len(fmt) < 16:
        raise ValueError("no valid 'fmt ' chunk")
    if data is None:
        raise ValueError("no 'data' chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            raise ValueError("a WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk without its sub-format")
        tag = struct.unpack("<H", fmt[24:26])[0]
    if channels < 1 or rate < 1:
        raise ValueError(f"the header gives {channels} channels at {rate} Hz")
    width = block_align // channels if block_align % channels == 0 else 0
    if (tag, width) not in {(_PCM, 1), (_PCM, 2), (_PCM, 3), (_PCM, 4), (_FLOAT, 4), (_FLOAT, 8)} or bits > 8 * width:
        raise _Unsupported(f"a WAV encoding the built-in reader does not decode (format tag {tag:#06x}, {bits}-bit)")
    frames = data[1] // block_align
    return _WavLayout(AudioInfo(int(rate), int(channels), int(frames)), tag, width, data[0])


def _soundfile(path: Path, why: str = "") -> Any:
    try:
        import soundfile
    except ImportError as exc:
        what = why or f"{path.suffix.lower() or 'these'} files"
        raise MissingDecoderError(
            f"reading {what} needs the soundfile package: {FORMATS_INSTALL_COMMAND} (or pip install soundfile); "
            "PCM and float WAV files are read without it"
        ) from exc
    return soundfile


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """The sample rate, channels and length of a sound file, from its header (cheap: no samples are decoded).

    This is the check that ``audio:folder`` runs on every file before anything trains.

    Args:
        path: a ``.wav`` file (read by the built-in reader), or any format libsndfile reads
            (``.flac``, ``.mp3``, ``.ogg`` …) when ``soundfile`` is installed.

    Raises:
        ValueError: the file is not a valid sound file, or holds no samples.
        MissingDecoderError: the file needs ``soundfile`` and it is not installed (an `ImportError`
            whose message gives ``pip install "mixup-audio[formats]"``).
        OSError: the file cannot be opened.

    Examples:
        >>> import tempfile, wave, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
        >>> with wave.open(str(path), "wb") as f:
        ...     f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000); f.writeframes(b"\\0\\0" * 4000)
        >>> audio_info(path)
        AudioInfo(sample_rate=8000, channels=1, frames=4000)
    """
    path = Path(path)
    info = None
    if path.suffix.lower() in (".wav", ".wave"):
        try:
            info = _wav_layout(path).info
        except _Unsupported as exc:
            sf = _soundfile(path, f"{exc}")
            info = _soundfile_info(sf, path)
    else:
        info = _soundfile_info(_soundfile(path), path)
    if info.frames < 1:
        raise ValueError("no audio frames")
    return info


def _soundfile_info(sf: Any, path: Path) -> AudioInfo:
    i = sf.info(str(path))
    return AudioInfo(int(i.samplerate), int(i.channels), int(i.frames))


def _decode_wav(layout: _WavLayout, path: Path) -> np.ndarray:
    info = layout.info
    with open(path, "rb") as f:
        f.seek(layout.offset)
        raw = f.read(info.frames * info.channels * layout.width)
    if layout.tag == _FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if layout.width == 4 else "<f8").astype(np.float32)
    elif layout.width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif layout.width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    else:
        dtype, scale = ("<i2", 32768.0) if layout.width == 2 else ("<i4", 2147483648.0)
        x = np.frombuffer(raw, dtype=dtype).astype(np.float32) / np.float32(scale)
    return x.reshape(info.frames, info.channels)


def read_audio(path: str | os.PathLike[str]) -> tuple[torch.Tensor, int]:
    """Decode a sound file to ``(float32 tensor (channels, frames) in [-1, 1], sample rate)``.

    WAV files (PCM 8/16/24/32-bit, float 32/64-bit) are decoded by the built-in reader; other
    formats need ``soundfile`` (see `audio_info`).

    Args:
        path: the file.

    Raises:
        ValueError: the file is not a valid sound file.
        MissingDecoderError: the file needs ``soundfile`` and it is not installed.

    Examples:
        >>> import tempfile, wave, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
        >>> with wave.open(str(path), "wb") as f:
        ...     f.setnchannels(2); f.setsampwidth(2); f.setframerate(8000); f.writeframes(b"\\0\\0\\0\\x40" * 100)
        >>> x, rate = read_audio(path)
        >>> tuple(x.shape), rate, float(x[1, 0])
        ((2, 100), 8000, 0.5)
    """
    path = Path(path)
    if path.suffix.lower() in (".wav", ".wave"):
        try:
            layout = _wav_layout(path)
        except _Unsupported as exc:
            samples, rate = _soundfile(path, f"{exc}").read(str(path), dtype="float32", always_2d=True)
        else:
            samples, rate = _decode_wav(layout, path), layout.info.sample_rate
    else:
        samples, rate = _soundfile(path).read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(samples.T, dtype=np.float32)), int(rate)


def _fix_length(x: torch.Tensor, num_samples: int, crop: Literal["random", "centre"]) -> torch.Tensor:
    """Zero-pad at the end, or crop (a random window, drawn from torch's generator, or the centre one)."""
    length = x.shape[-1]
    if length < num_samples:
        return torch.nn.functional.pad(x, (0, num_samples - length))
    if length > num_samples:
        spare = length - num_samples
        start = int(torch.randint(spare + 1, ())) if crop == "random" else spare // 2
        return x[..., start : start + num_samples]
    return x


class AudioFiles(Dataset[tuple[torch.Tensor, int]]):
    """Sound clips streamed from disk: each item is decoded, mixed to the channels, resampled, cut to length.

    Item ``i`` is ``(tensor, class index)``: the waveform ``(channels, num_samples)``, or, with a
    ``frontend``, its log-mel features ``(channels, n_mels, frames)`` in dB. Nothing is held in memory
    but the paths, so DataLoader workers decode in parallel; the data set and its items pickle.

    Steps per item: decode (`read_audio`); channels (``1``: the mean of the file's channels; ``2``: a
    mono file duplicated, the first two channels of a file with more); resample to ``sample_rate``
    with ``torchaudio.functional.resample`` when the file's rate differs; fix the length to
    ``num_samples``: a shorter clip is zero-padded at the end, a longer one cropped, at a random
    offset for ``crop="random"`` (training) or in the centre for ``crop="centre"`` (test). The random
    offset is drawn from torch's global generator of the process that reads the clip, which the
    ``mixup compare`` runner seeds from the run's seed (``torch.manual_seed`` in the main process;
    PyTorch seeds each DataLoader worker from the loader's seeded generator): a run is reproducible
    given its seed and ``train.workers``, and every epoch draws new crops.

    Args:
        paths: the files.
        labels: the class index of each file.
        sample_rate: the rate of the items, in Hz.
        num_samples: the length of the items, in samples at ``sample_rate``.
        channels: 1 (mono) or 2 (stereo).
        crop: ``"random"`` or ``"centre"``.
        frontend: a module with ``featurize(waveforms (B, C, T)) -> (B, C, n_mels, frames)``
            (`mixup_audio.LogMelMixupFrontEnd`), or ``None`` for waveform items.

    Examples:
        >>> import tempfile, wave, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
        >>> with wave.open(str(path), "wb") as f:
        ...     f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000); f.writeframes(b"\\0\\x10" * 4000)
        >>> ds = AudioFiles([path], [0], sample_rate=16000, num_samples=16000, channels=2, crop="centre")
        >>> x, y = ds[0]
        >>> tuple(x.shape), y
        ((2, 16000), 0)
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        labels: Sequence[int],
        *,
        sample_rate: int,
        num_samples: int,
        channels: int = 1,
        crop: Literal["random", "centre"] = "centre",
        frontend: torch.nn.Module | None = None,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths for {len(labels)} labels")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got channels={channels!r}")
        if crop not in ("random", "centre"):
            raise ValueError(f"crop must be 'random' or 'centre', got crop={crop!r}")
        if num_samples < 1 or sample_rate < 1:
            raise ValueError(f"sample_rate and num_samples must be positive, got {sample_rate} and {num_samples}")
        self.paths = [str(p) for p in paths]
        self.labels = torch.as_tensor(list(labels), dtype=torch.int64)
        self.sample_rate = int(sample_rate)
        self.num_samples = int(num_samples)
        self.channels = channels
        self.crop: Literal["random", "centre"] = crop
        self.frontend = frontend

    def __len__(self) -> int:
        return len(self.paths)

    def waveform(self, i: int) -> torch.Tensor:
        """Clip ``i`` as a waveform ``(channels, num_samples)`` at ``sample_rate`` (before any front end)."""
        x, rate = read_audio(self.paths[i])
        if self.channels == 1:
            x = x.mean(dim=0, keepdim=True)
        elif x.shape[0] == 1:
            x = x.expand(2, -1)
        else:
            x = x[:2]
        if rate != self.sample_rate:
            x = torchaudio.functional.resample(x.contiguous(), rate, self.sample_rate)
        return _fix_length(x, self.num_samples, self.crop).contiguous()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.waveform(i)
        if self.frontend is not None:
            with torch.no_grad():
                x = self.frontend.featurize(x[None])[0]  # type: ignore[operator]  # typed nn.Module: has featurize
        return x, int(self.labels[i])

    def __repr__(self) -> str:
        kind = "waveforms" if self.frontend is None else "log-mel"
        return (f"AudioFiles({len(self)} clips, {kind}, sample_rate={self.sample_rate}, "
                f"num_samples={self.num_samples}, channels={self.channels}, crop={self.crop!r})")
