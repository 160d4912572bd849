"""Users' own sound clips: the ``audio:folder`` data set, its WAV reader, ``mixup init`` on audio, and bad inputs.

Every clip is written by the tests (sine tones and noise, a different tone per class, at a few sample rates,
mono and stereo, as PCM 8/16/24/32-bit and float WAV; FLAC through soundfile when it is installed).
"""

from __future__ import annotations

import doctest
import json
import pickle
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

import mixup_audio._detect as detect_module
import mixup_audio._files as files_module
from mixup_audio.datasets import (
    FORMATS_INSTALL_COMMAND,
    AudioFiles,
    AudioInfo,
    MissingDecoderError,
    audio_info,
    read_audio,
)
from mixup_audio.lab import LOGMEL_MIXERS, audio_cnn, load_folder_task
from mixup_core import ConfigError, TaskData, get_datasets
from mixup_core.cli import main
from mixup_core.data import DataError

pytestmark = pytest.mark.xdist_group("lab-compare")

TONES = {"hum": 200.0, "beep": 1000.0, "whistle": 2500.0}


# ---------------------------------------------------------------------------------------------- writing clips
def write_wav(path: Path, x: np.ndarray, rate: int, kind: str = "pcm16", *, extensible: bool = False) -> Path:
    """Write ``x`` ``(channels, frames)`` in [-1, 1] as a WAV file of the given sample encoding."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    channels = x.shape[0]
    inter = x.T.reshape(-1)
    if kind == "pcm8":
        data, tag, width = np.round(inter * 127 + 128).clip(0, 255).astype(np.uint8).tobytes(), 1, 1
    elif kind == "pcm16":
        data, tag, width = np.round(inter * 32767).astype("<i2").tobytes(), 1, 2
    elif kind == "pcm24":
        v = np.round(inter * 8388607).astype("<i4")
        data, tag, width = np.frombuffer(v.tobytes(), np.uint8).reshape(-1, 4)[:, :3].tobytes(), 1, 3
    elif kind == "pcm32":
        data, tag, width = np.round(inter * 2147483647).astype("<i4").tobytes(), 1, 4
    else:
        data, tag, width = inter.astype("<f4").tobytes(), 3, 4
    block = channels * width
    if extensible:
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, 8 * width, 22, 8 * width, 0) + guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, 8 * width)
    extra = b"LIST" + struct.pack("<I", 5) + b"INFO\x00\x00"  # an odd-sized chunk before the data (padded)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def tone(freq: float, seconds: float, rate: int, *, channels: int = 1, seed: int = 0, amp: float = 0.5) -> np.ndarray:
    """A sine tone with a little noise, ``(channels, frames)``; channel k is scaled by 1/(k+1)."""
    t = np.arange(round(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    x = amp * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    return np.stack([x / (k + 1) for k in range(channels)])


def make_folders(root: Path, *, per_class: int = 6, rates: tuple[int, ...] = (8000,), seconds: float = 0.5,
                 classes: dict[str, float] = TONES) -> Path:
    """``root/<class>/<i>.wav``: a tone per class, cycling through ``rates`` and mono/stereo files."""
    for c, (name, freq) in enumerate(classes.items()):
        for i in range(per_class):
            rate = rates[i % len(rates)]
            write_wav(root / name / f"{i}.wav", tone(freq * (1 + 0.03 * i), seconds, rate, channels=1 + i % 2,
                                                     seed=10 * c + i), rate)
    return root


def make_manifest(root: Path, *, suffix: str = ".csv", rows: list[dict[str, str]] | None = None) -> Path:
    """Clips under ``root/audio`` and a manifest listing them with group (speaker) and split columns."""
    if rows is None:
        rows = []
        for c, (name, freq) in enumerate(TONES.items()):
            for i in range(6):
                rel = f"audio/{name}-{i}.wav"
                write_wav(root / rel, tone(freq, 0.4, 8000, seed=c * 10 + i), 8000)
                rows.append(
                    {"file": rel, "sound": name, "speaker": f"s{i % 3}", "split": "test" if i % 3 == 2 else "train"}
                )
    path = root / f"manifest{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), path)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        lines = [sep.join(rows[0])] + [sep.join(r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def peak_hz(x: torch.Tensor, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.double().numpy().reshape(-1)))
    return float(np.argmax(spectrum) * rate / x.shape[-1])


# ---------------------------------------------------------------------------------------------- the reader
@pytest.mark.parametrize(("kind", "tol"), [("pcm8", 1 / 64), ("pcm16", 1e-4), ("pcm24", 1e-6), ("pcm32", 1e-6),
                                           ("float32", 1e-7)])
@pytest.mark.parametrize("extensible", [False, True])
def test_wav_reader_decodes_every_encoding(tmp_path: Path, kind: str, tol: float, extensible: bool) -> None:
    x = tone(440.0, 0.1, 11025, channels=2, seed=1)
    path = write_wav(tmp_path / "a.wav", x, 11025, kind, extensible=extensible)
    assert audio_info(path) == AudioInfo(11025, 2, x.shape[1])
    y, rate = read_audio(path)
    assert rate == 11025
    assert y.dtype == torch.float32
    assert tuple(y.shape) == x.shape
    assert np.abs(y.numpy() - x).max() <= tol
    if kind != "pcm8":
        sf = pytest.importorskip("soundfile")
        ref, _ = sf.read(str(path), dtype="float32", always_2d=True)
        np.testing.assert_allclose(y.numpy(), ref.T, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a RIFF/WAVE file"),
        (b"this is not audio at all, just text pretending", "not a RIFF/WAVE file"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no valid 'fmt ' chunk"),
    ],
)
def test_wav_header_check_rejects_bad_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        audio_info(path)


def test_wav_header_check_rejects_truncated_and_empty_files(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", tone(300, 0.2, 8000), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated: the data chunk declares 3200 bytes, the file holds 3100"):
        audio_info(cut)
    empty = write_wav(tmp_path / "empty.wav", np.zeros((1, 0)), 8000)
    with pytest.raises(ValueError, match="no audio frames"):
        audio_info(empty)


def test_flac_mp3_ogg_need_soundfile_and_the_error_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.flac"
    path.write_bytes(b"fLaC")
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile -> ImportError
    with pytest.raises(MissingDecoderError, match=r"reading \.flac files needs the soundfile package") as info:
        audio_info(path)
    assert FORMATS_INSTALL_COMMAND in str(info.value)
    assert isinstance(info.value, ImportError)
    # WAV files do not need it
    wav = write_wav(tmp_path / "a.wav", tone(300, 0.1, 8000), 8000)
    assert read_audio(wav)[1] == 8000


def test_flac_through_soundfile(tmp_path: Path) -> None:
    sf = pytest.importorskip("soundfile")
    x = tone(500, 0.25, 16000, channels=2)
    sf.write(str(tmp_path / "a.flac"), x.T, 16000, subtype="PCM_16")
    assert audio_info(tmp_path / "a.flac") == AudioInfo(16000, 2, 4000)
    y, rate = read_audio(tmp_path / "a.flac")
    assert rate == 16000
    assert np.abs(y.numpy() - x).max() < 1e-4


@pytest.mark.parametrize(("suffix", "fmt", "subtype"), [(".ogg", "OGG", "VORBIS"), (".mp3", "MP3", "MPEG_LAYER_III"),
                                                     (".wav", "WAV", "ULAW")])
def test_lossy_and_other_encodings_through_soundfile(tmp_path: Path, suffix: str, fmt: str, subtype: str) -> None:
    sf = pytest.importorskip("soundfile")
    path = tmp_path / f"a{suffix}"
    try:
        sf.write(str(path), tone(1000, 0.5, 16000).T, 16000, format=fmt, subtype=subtype)
    except Exception as exc:  # an encoder missing from this libsndfile build
        pytest.skip(f"libsndfile cannot write {fmt}/{subtype}: {exc}")
    info = audio_info(path)  # a µ-law WAV: the built-in reader hands over to soundfile
    assert (info.sample_rate, info.channels) == (16000, 1)
    assert info.frames >= 4000
    x, rate = read_audio(path)
    assert rate == 16000
    assert abs(peak_hz(x, 16000) - 1000) < 5


def test_module_doctests() -> None:
    for module in (files_module, detect_module):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0
        assert result.attempted >= 1


# ---------------------------------------------------------------------------------------------- AudioFiles
def test_channels_resampling_and_length(tmp_path: Path) -> None:
    mono = write_wav(tmp_path / "mono.wav", tone(1000, 0.5, 8000), 8000)
    stereo = write_wav(tmp_path / "stereo.wav", tone(1000, 0.5, 22050, channels=2), 22050)
    for channels in (1, 2):
        ds = AudioFiles([mono, stereo], [0, 1], sample_rate=16000, num_samples=8000, channels=channels)
        for i in range(2):
            x, y = ds[i]
            assert tuple(x.shape) == (channels, 8000)
            assert y == i
            assert abs(peak_hz(x[:1], 16000) - 1000) <= 2  # the tone keeps its pitch after resampling
    raw, _ = read_audio(stereo)
    ds = AudioFiles([stereo, mono], [0, 0], sample_rate=22050, num_samples=raw.shape[1], channels=1)
    torch.testing.assert_close(ds[0][0], raw.mean(dim=0, keepdim=True))  # mono: the mean of the channels
    x = AudioFiles([mono], [0], sample_rate=8000, num_samples=4000, channels=2)[0][0]
    torch.testing.assert_close(x[0], x[1])  # stereo: a mono clip duplicated


def test_crop_and_pad(tmp_path: Path) -> None:
    x = tone(300, 1.0, 8000, seed=3)
    path = write_wav(tmp_path / "long.wav", x, 8000, "float32")
    clip = torch.from_numpy(x.astype(np.float32))
    # test split: the centre crop, the same every time
    centre = AudioFiles([path], [0], sample_rate=8000, num_samples=2000, crop="centre")
    torch.testing.assert_close(centre[0][0], clip[:, 3000:5000])
    torch.testing.assert_close(centre[0][0], centre[0][0])
    # training split: a random window, reproducible from torch's seed, different across draws
    train = AudioFiles([path], [0], sample_rate=8000, num_samples=2000, crop="random")

    def offsets(seed: int, n: int = 5) -> list[int]:
        torch.manual_seed(seed)
        out = []
        for _ in range(n):
            w = train[0][0]
            c = clip[0].numpy()
            start = int(np.flatnonzero((c[:-1] == float(w[0, 0])) & (c[1:] == float(w[0, 1])))[0])
            torch.testing.assert_close(w, clip[:, start:start + 2000])  # a window of the clip
            out.append(start)
        return out

    assert offsets(0) == offsets(0)
    assert offsets(0) != offsets(1)
    assert len(set(offsets(0))) > 1
    # a shorter clip is zero-padded at the end
    padded = AudioFiles([path], [0], sample_rate=8000, num_samples=9000, crop="random")[0][0]
    torch.testing.assert_close(padded[:, :8000], clip)
    assert torch.count_nonzero(padded[:, 8000:]) == 0


def test_audio_files_pickle_and_workers_reproduce(tmp_path: Path) -> None:
    data = load_folder_task(make_folders(tmp_path / "clips", per_class=4, seconds=0.6), seconds=0.25)
    assert len(pickle.loads(pickle.dumps(data.train))) == len(data.train)
    clone = pickle.loads(pickle.dumps(data.test))
    torch.testing.assert_close(clone[1][0], data.test[1][0])

    def batches(seed: int) -> list[torch.Tensor]:
        loader = DataLoader(data.train, batch_size=4, shuffle=True, num_workers=2,
                            generator=torch.Generator().manual_seed(seed))
        return [x for x, _ in loader]

    first, again, other = batches(0), batches(0), batches(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    centre = DataLoader(data.test, batch_size=8, num_workers=2)
    torch.testing.assert_close(next(iter(centre))[0], torch.stack([data.test[i][0] for i in range(len(data.test))][:8]))


# ---------------------------------------------------------------------------------------------- the loader
def test_folder_layout_log_mel_fits_audio_cnn(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "clips", rates=(8000, 16000, 11025), seconds=0.5)
    data = load_folder_task(root, sample_rate=16000, seconds=0.5, n_mels=32)
    assert isinstance(data, TaskData)
    assert data.class_names == sorted(TONES)
    assert data.modality == "audio"
    assert data.input_shape == (1, 32, 51)  # 8000 samples, hop 160 -> 51 frames
    assert data.info["layout"] == "folders"
    assert data.info["skipped"] == 0
    assert data.info["sample_rates_found"] == {"8000": 6, "11025": 6, "16000": 6}
    assert data.info["counts"]["train"] == {"beep": 5, "hum": 5, "whistle": 5}
    assert data.info["counts"]["test"] == {"beep": 1, "hum": 1, "whistle": 1}
    assert data.info["domain"] == "db"
    assert data.info["mixers"] == list(LOGMEL_MIXERS)
    assert data.train_groups is None
    x, y = data.train[0]
    assert y in (0, 1, 2)
    assert tuple(x.shape) == data.input_shape
    assert x.dtype == torch.float32
    batch = torch.stack([data.train[i][0] for i in range(4)])
    model = audio_cnn(data, channels=[4, 8])
    assert model(batch).shape == (4, 3)
    json.dumps(data.info)  # stored in the study folder as JSON


@pytest.mark.parametrize("channels", ["mono", "stereo"])
def test_waveform_features_and_resampled_length(tmp_path: Path, channels: str) -> None:
    root = make_folders(tmp_path / "clips", per_class=3, rates=(8000, 22050), seconds=0.4)
    data = load_folder_task(root, sample_rate=16000, features="waveform", channels=channels)
    c = 1 if channels == "mono" else 2
    assert data.input_shape == (c, 6400)  # seconds not given: the longest clip, 0.4 s at 16 kHz
    assert data.info["num_samples"] == 6400
    for ds in (data.train, data.test):
        for i in range(len(ds)):
            assert tuple(ds[i][0].shape) == (c, 6400)
    model = audio_cnn(data, channels=[4])  # waveforms: the log-mel front end goes inside the model
    assert model(torch.stack([data.train[0][0], data.train[1][0]])).shape == (2, 3)


def test_one_rate_needs_no_sample_rate(tmp_path: Path) -> None:
    data = load_folder_task(make_folders(tmp_path / "c", per_class=3, rates=(11025,)), features="waveform",
                                  seconds=0.2)
    assert data.info["sample_rate"] == 11025
    assert data.input_shape == (1, 2205)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_manifest_with_group_and_split_columns(tmp_path: Path, suffix: str) -> None:
    manifest = make_manifest(tmp_path, suffix=suffix)
    data = load_folder_task(manifest, path_column="file", label_column="sound", group_column="speaker",
                                  features="waveform")
    assert data.info["layout"] == "manifest"
    assert data.class_names == sorted(TONES)
    assert data.info["split"] == "given (split column)"
    assert len(data.train) == 12
    assert len(data.test) == 6
    assert set(data.test_groups or []) == {"s2"}
    assert set(data.train_groups or []) == {"s0", "s1"}
    assert all(Path(p).name.split("-")[1] in ("2.wav", "5.wav") for p in data.test.paths)


def test_manifest_group_aware_split_without_split_column(tmp_path: Path) -> None:
    rows = []
    for c, (name, freq) in enumerate(TONES.items()):
        for i in range(8):
            rel = f"clips/{name}{i}.wav"
            write_wav(tmp_path / rel, tone(freq, 0.2, 8000, seed=i + 10 * c), 8000)
            rows.append({"path": rel, "label": name, "group": f"mic{i % 4}"})
    data = load_folder_task(make_manifest(tmp_path, rows=rows), test_fraction=0.25, split_seed=3,
                                  features="waveform")
    assert data.train_groups is not None
    assert data.test_groups is not None
    assert not set(data.train_groups) & set(data.test_groups)
    assert len(data.test) == 6


def test_on_error_skip_leaves_bad_files_out(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "clips", per_class=4)
    (root / "beep" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    data = load_folder_task(root, on_error="skip", features="waveform")
    assert data.info["skipped"] == 1
    assert "broken.wav: unreadable (ValueError" in data.info["skipped_files"][0]
    assert len(data.train) + len(data.test) == 12


def test_missing_soundfile_is_one_error_even_with_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_folders(tmp_path / "clips", per_class=3)
    (root / "hum" / "x.flac").write_bytes(b"fLaC")
    monkeypatch.setitem(sys.modules, "soundfile", None)
    for on_error in ("stop", "skip"):
        with pytest.raises(DataError, match="needs the soundfile package") as info:
            load_folder_task(root, on_error=on_error)
        assert FORMATS_INSTALL_COMMAND in str(info.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"channels": "quad"}, "channels must be 'mono' or 'stereo', got channels='quad'"),
        ({"features": "mfcc"}, "features must be 'log-mel' or 'waveform', got features='mfcc'"),
        ({"sample_rate": 100}, "sample_rate must be >= 1000"),
        ({"seconds": -1}, "seconds must be a positive number, got seconds=-1"),
        ({"seconds": 0.001}, "seconds=0.001 gives 8 samples at 8000 Hz, too short"),
        ({"label_column": ""}, "label_column must be a column name"),
        ({"extensions": "wav"}, "extensions must be a non-empty list"),
        ({"on_error": "ignore"}, "on_error must be 'stop' or 'skip'"),
        ({"test_fraction": 1.5}, "test_fraction must be a number in (0, 1)"),
    ],
)
def test_bad_parameters_name_themselves(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    root = make_folders(tmp_path / "clips", per_class=2)
    with pytest.raises(ConfigError) as info:
        load_folder_task(root, **params)
    assert message in str(info.value)


def test_registered_as_audio_folder() -> None:
    assert get_datasets().get("audio:folder").load() is load_folder_task


# ---------------------------------------------------------------------------------------------- mixup init
def test_detect_folders_and_manifest(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "clips", rates=(16000, 16000, 8000), seconds=0.37)
    guess = detect_module.detect_audio(root)
    assert guess is not None
    assert guess.score == 1.0
    assert guess.dataset == {"name": "audio:folder", "root": str(root), "sample_rate": 16000, "seconds": 0.37,
                             "channels": "mono", "features": "log-mel"}
    assert guess.model == {"name": "audio:audio-cnn"}
    assert [a["mixer"]["name"] for a in guess.arms] == ["audio:spectrogram", "audio:specmix"]
    assert guess.class_names == sorted(TONES)
    manifest = make_manifest(tmp_path / "m")
    for path in (manifest, manifest.parent):  # the manifest, or the folder that holds it
        guess = detect_module.detect_audio(path)
        assert guess is not None
        assert guess.dataset["root"] == str(manifest)
        assert (guess.dataset["path_column"], guess.dataset["label_column"], guess.dataset["group_column"]) == (
            "file", "sound", "speaker")
    # not audio: images, a table of texts
    (tmp_path / "img" / "cat").mkdir(parents=True)
    (tmp_path / "img" / "cat" / "a.png").write_bytes(b"\x89PNG")
    assert detect_module.detect_audio(tmp_path / "img") is None
    (tmp_path / "texts.csv").write_text("text,label\nhello,a\nbye,b\n", encoding="utf-8")
    assert detect_module.detect_audio(tmp_path / "texts.csv") is None


def _runs(out: Path) -> dict[str, dict[str, Any]]:
    return {json.loads(p.read_text())["arm"]: json.loads(p.read_text()) for p in out.glob("runs/*/seed-0/metrics.json")}


def test_init_then_compare_on_class_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folders(tmp_path / "My Sounds", per_class=5, rates=(8000, 16000), seconds=0.3)
    cfg = tmp_path / "study.yaml"
    assert main(["init", str(root), "--out", str(cfg)]) == 0
    raw = yaml.safe_load(cfg.read_text())
    assert raw["dataset"]["name"] == "audio:folder"
    assert raw["dataset"]["sample_rate"] == 16000  # the most common rate of the headers read (ties: the highest)
    assert [a["name"] for a in raw["arms"]] == ["baseline", "mixup-power", "specmix"]
    out = tmp_path / "study"
    assert main(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out), "--set", "train.epochs=1",
                 "--set", "train.batch_size=8", "--set", "model.channels=[4, 8]"]) == 0
    runs = _runs(out)
    assert sorted(runs) == ["baseline", "mixup-power", "specmix"]
    assert all(0 <= r["accuracy"] <= 1 for r in runs.values())
    study = json.loads((out / "study.json").read_text())
    assert study["dataset_info"]["counts"]["test"] == {"beep": 1, "hum": 1, "whistle": 1}
    assert (out / "report.md").is_file()


def test_init_then_compare_on_a_manifest_with_workers(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "data")
    cfg = tmp_path / "m.yaml"
    assert main(["init", str(manifest), "--out", str(cfg), "--quiet"]) == 0
    out = tmp_path / "study"
    assert main(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out), "--arms", "baseline,mixup-power",
                 "--set", "train.epochs=1", "--set", "train.workers=2",
                 "--set", "model.channels=[4]"]) == 0
    assert sorted(_runs(out)) == ["baseline", "mixup-power"]
    study = json.loads((out / "study.json").read_text())
    assert study["dataset_info"]["layout"] == "manifest"


# ---------------------------------------------------------------------------------------------- bad inputs
def _mixed_rates(root: Path) -> Path:
    return make_folders(root, per_class=2, rates=(8000, 22050))


def _empty_class(root: Path) -> Path:
    make_folders(root, per_class=2)
    (root / "silence").mkdir()
    return root


def _one_class(root: Path) -> Path:
    return make_folders(root, per_class=3, classes={"hum": 200.0})


def _corrupt(root: Path) -> Path:
    make_folders(root, per_class=2)
    good = (root / "hum" / "0.wav").read_bytes()
    (root / "hum" / "0.wav").write_bytes(good[: len(good) // 2])
    return root


def _outside(root: Path) -> Path:
    make_folders(root.parent / "elsewhere", per_class=1)
    (root).mkdir()
    (root / "m.csv").write_text("path,label\n../elsewhere/hum/0.wav,hum\n../elsewhere/beep/0.wav,beep\n")
    return root / "m.csv"


def _no_label(root: Path) -> Path:
    make_folders(root, per_class=1)
    (root / "m.csv").write_text("path,kind\nhum/0.wav,hum\nbeep/0.wav,beep\n")
    return root / "m.csv"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_empty_class, ["{root}/silence", "'silence' has no"]),
        (_one_class, ["1 class found (['hum'])"]),
        (_corrupt, ["{root}/hum/0.wav: unreadable (ValueError: truncated"]),
        (_mixed_rates, ["different sample rates: 8000 Hz (e.g. {root}/", "22050 Hz (e.g. {root}/",
                        "set sample_rate"]),
        (_outside, ["{root}: row 1: the path '../elsewhere/hum/0.wav' is outside the manifest's folder"]),
        (_no_label, ["{root}: no label column 'label'"]),
    ],
    ids=["empty-class-folder", "single-class", "corrupt-file", "mixed-rates", "path-outside-root", "no-label-column"],
)
def test_bad_inputs_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, expected: list[str]
) -> None:
    root = make(tmp_path / "data")
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "bad", "dataset": {"name": "audio:folder", "root": str(root)}, "model": {"name": "audio:audio-cnn"},
        "train": {"epochs": 1}, "seeds": [0], "arms": [{"name": "baseline"}],
    }))
    out = tmp_path / "study"
    assert main(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mixup: error: ")
    assert "Traceback" not in captured.err
    for part in expected:
        assert part.format(root=root) in err, err
    assert not out.exists()
