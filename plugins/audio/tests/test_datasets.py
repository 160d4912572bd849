"""Tests of mixup_audio.datasets: spoken digits synthesised offline with espeak-ng and flite.

The sets here are tiny (at most 200 clips, about 2 s of synthesis on 2 cores). Tests that synthesise
need espeak-ng (CI installs it, see .ci/run); the argument and missing-program checks run without it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torchaudio

from mixup_audio import datasets
from mixup_audio.datasets import (
    DIGIT_WORDS,
    INSTALL_COMMAND,
    SpokenDigits,
    load_spoken_digits,
    speaker_is_test,
)
from mixup_core import ConfigError

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_FLITE = shutil.which("flite") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason=f"espeak-ng is not installed ({INSTALL_COMMAND})")

pytestmark = pytest.mark.xdist_group("spoken-digits")  # one worker synthesises the module's 200 clips once

SMALL = {"num_clips": 40, "progress": False}


@pytest.fixture(scope="module")
def digits200(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SpokenDigits, SpokenDigits]:
    """200 clips, seed 0, generated once for the module: (cache root, train, test)."""
    if not HAVE_ESPEAK:
        pytest.skip(f"espeak-ng is not installed ({INSTALL_COMMAND})")
    root = tmp_path_factory.mktemp("spoken-digits")
    train = SpokenDigits(root, "train", num_clips=200, seed=0, progress=False)
    test = SpokenDigits(root, "test", num_clips=200, seed=0, progress=False)
    return root, train, test


def _all_clips(train: SpokenDigits, test: SpokenDigits) -> torch.Tensor:
    return torch.cat([train.waveforms, test.waveforms])


# ------------------------------------------------------------------------------------------------
# content and split


@needs_espeak
def test_clip_shape_dtype_rate_and_item(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    _, train, test = digits200
    assert len(train) + len(test) == 200
    for ds in (train, test):
        assert ds.waveforms.shape == (len(ds), 1, 16000)  # 1 s at 16 kHz
        assert ds.waveforms.dtype == torch.float32
        assert ds.labels.dtype == ds.lengths.dtype == torch.int64
        assert ds.sample_rate == 16000
        assert ds.classes == DIGIT_WORDS
        assert len(ds.speakers) == len(ds)
    waveform, label = train[3]
    assert waveform.shape == (1, 16000)
    assert isinstance(label, int)
    assert torch.equal(waveform, train.waveforms[3])
    # works with the default collate function
    batch_x, batch_y = next(iter(torch.utils.data.DataLoader(train, batch_size=8)))
    assert batch_x.shape == (8, 1, 16000)
    assert batch_y.tolist() == train.labels[:8].tolist()


@needs_espeak
def test_labels_in_range_and_balanced(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    _, train, test = digits200
    labels = torch.cat([train.labels, test.labels])
    assert labels.min() >= 0
    assert labels.max() <= 9
    assert torch.bincount(labels, minlength=10).tolist() == [20] * 10  # clip i says word i % 10
    counts = torch.bincount(train.labels, minlength=10)
    assert counts.min() >= 0.5 * counts.float().mean(), counts.tolist()  # the speaker split keeps them mixed


@needs_espeak
def test_train_and_test_speakers_are_disjoint(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    _, train, test = digits200
    assert len(test) > 0
    assert len(train) > len(test)
    assert not set(train.speakers) & set(test.speakers)
    assert all(speaker_is_test(s) for s in test.speakers)
    assert not any(speaker_is_test(s) for s in train.speakers)
    speakers = set(train.speakers) | set(test.speakers)
    assert len(speakers) > 50  # accents x variants give hundreds of identities
    assert all(s.startswith(("espeak-ng:en-", "flite:")) for s in speakers)
    if HAVE_FLITE:
        flite = [s for s in train.speakers + test.speakers if s.startswith("flite:")]
        assert 5 <= len(flite) <= 40, len(flite)  # about 10 % of 200 clips
        assert {s.split(":")[1] for s in flite} <= set(datasets.FLITE_VOICES)


@needs_espeak
def test_clips_are_non_silent_and_lengths_fit(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    _, train, test = digits200
    x, lengths = _all_clips(train, test).squeeze(1), torch.cat([train.lengths, test.lengths])
    assert lengths.min() > 0.15 * 16000
    assert lengths.max() <= 16000
    positions = torch.arange(16000)
    padding = positions >= lengths[:, None]
    assert not x[padding].any(), "samples past `lengths` must be zero padding"
    rms = (x.pow(2).sum(1) / lengths).sqrt()
    assert rms.min() > 0.01, rms.min()  # about -40 dBFS: every clip holds speech
    assert x.abs().max() <= 1.0
    # trimmed: the first sample above peak - 40 dB comes at most 10 ms (the kept margin) after the start
    peak = x.abs().amax(1, keepdim=True)
    onset = (x.abs() > peak * 0.01).float().argmax(1)
    assert onset.max() <= 0.01 * 16000 + 1, onset.max()


@needs_espeak
def test_manifest_records_parameters_and_counts(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    root, train, test = digits200
    folder = train.folder
    assert folder.parent == root / "spoken-digits"
    assert folder.name.startswith(f"v{datasets.SPOKEN_DIGITS_VERSION}-")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == train.manifest
    params = manifest["parameters"]
    assert params["num_clips"] == 200
    assert params["seed"] == 0
    assert params["sample_rate"] == 16000
    assert params["duration"] == 1.0
    assert params["words"] == list(DIGIT_WORDS)
    assert manifest["counts"]["train"] == len(train)
    assert manifest["counts"]["test"] == len(test)
    assert manifest["tools"]["espeak-ng"].startswith("eSpeak NG")
    assert len(manifest["tools"]["espeak_accents"]) == 8
    assert not any(v.startswith("mb-") for v in manifest["tools"]["espeak_variants"])


@needs_espeak
def test_load_spoken_digits_matches_the_dataset(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    root, train, test = digits200
    x_train, y_train, x_test, y_test = load_spoken_digits(root, num_clips=200, seed=0, progress=False)
    assert torch.equal(x_train, train.waveforms)
    assert torch.equal(y_train, train.labels)
    assert torch.equal(x_test, test.waveforms)
    assert torch.equal(y_test, test.labels)


@needs_espeak
def test_log_mel_nearest_centroid_beats_chance(digits200: tuple[Path, SpokenDigits, SpokenDigits]) -> None:
    """The words are learnable across speakers: a log-mel nearest-centroid classifier on held-out speakers."""
    _, train, test = digits200
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, hop_length=320, n_mels=32)

    def features(x: torch.Tensor) -> torch.Tensor:
        return (mel(x.squeeze(1)) + 1e-6).log().flatten(1)

    f_train, f_test = features(train.waveforms), features(test.waveforms)
    mean, std = f_train.mean(0), f_train.std(0) + 1e-6
    f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
    centroids = torch.stack([f_train[train.labels == k].mean(0) for k in range(10)])
    accuracy = (torch.cdist(f_test, centroids).argmin(1) == test.labels).float().mean().item()
    assert accuracy > 0.3, accuracy  # chance is 0.1 (measured: 0.5 on the 50 test clips)


# ------------------------------------------------------------------------------------------------
# reproducibility and cache


@needs_espeak
def test_same_seed_gives_identical_clips_and_other_seed_differs(
    digits200: tuple[Path, SpokenDigits, SpokenDigits], tmp_path: Path
) -> None:
    _, train200, _ = digits200
    again = SpokenDigits(tmp_path / "a", "train", seed=0, **SMALL)
    # a clip depends on its own draws only: 40 clips of seed 0 are the first 40 of 200
    assert torch.equal(again.waveforms, train200.waveforms[: len(again)])
    assert again.speakers == train200.speakers[: len(again)]
    assert torch.equal(again.lengths, train200.lengths[: len(again)])
    other = SpokenDigits(tmp_path / "b", "train", seed=1, **SMALL)
    assert other.folder.name != again.folder.name
    assert other.speakers != again.speakers
    n = min(len(other), len(again))
    assert not torch.equal(other.waveforms[:n], again.waveforms[:n])


@needs_espeak
def test_second_call_loads_the_cache_without_running_a_program(
    digits200: tuple[Path, SpokenDigits, SpokenDigits], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, train, _ = digits200

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    # generate=False only loads: another seed has no cache and says how to make one
    with pytest.raises(FileNotFoundError, match="generate=True"):
        SpokenDigits(root, "train", num_clips=200, seed=5, generate=False, flite_fraction=0.0)
    monkeypatch.setenv("PATH", "")  # not even the programs are needed to load
    again = SpokenDigits(root, "train", num_clips=200, seed=0, progress=False)
    assert torch.equal(again.waveforms, train.waveforms)
    assert again.speakers == train.speakers
    assert again.folder == train.folder


def test_cache_root_defaults_to_mixup_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MIXUP_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "cache" / "spoken-digits"))):
        SpokenDigits(num_clips=7, generate=False, flite_fraction=0.0)
    monkeypatch.delenv("MIXUP_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(tmp_path / "home" / ".cache" / "mixup" / "spoken-digits"))
    ):
        SpokenDigits(num_clips=7, generate=False, flite_fraction=0.0)


# ------------------------------------------------------------------------------------------------
# missing programs and bad arguments


def test_missing_espeak_ng_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    # flite is missing too: a warning first (espeak-ng only), then the error for espeak-ng
    with (
        pytest.warns(UserWarning, match="flite was not found"),
        pytest.raises(FileNotFoundError, match="espeak-ng was not found") as info,
    ):
        SpokenDigits(tmp_path, num_clips=10, progress=False)
    assert "apt-get install -y --no-install-recommends espeak-ng flite" in str(info.value)
    # an explicit program path that does not exist
    with pytest.raises(FileNotFoundError, match="apt-get install -y --no-install-recommends espeak-ng flite"):
        load_spoken_digits(tmp_path, num_clips=10, espeak_ng=tmp_path / "nowhere" / "espeak-ng", flite_fraction=0.0)


@needs_espeak
def test_without_flite_generates_with_espeak_only_and_warns(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="flite was not found"):
        ds = SpokenDigits(
            tmp_path, "train", num_clips=12, sample_rate=8000, duration=0.5, flite=tmp_path / "no-flite", progress=False
        )
    assert ds.waveforms.shape == (len(ds), 1, 4000)
    assert ds.lengths.max() <= 4000
    assert all(s.startswith("espeak-ng:") for s in ds.speakers)
    assert ds.manifest["parameters"]["flite_fraction"] == 0.0
    assert ds.manifest["tools"]["flite"] is None
    # its own cache folder, found again without flite
    with pytest.warns(UserWarning, match="flite was not found"):
        again = SpokenDigits(
            tmp_path, "train", num_clips=12, sample_rate=8000, duration=0.5, flite=tmp_path / "no-flite", generate=False
        )
    assert again.folder == ds.folder
    assert torch.equal(again.waveforms, ds.waveforms)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "val"}, ValueError, "split must be 'train' or 'test', got 'val'"),
        ({"num_clips": 0}, ConfigError, "num_clips must be >= 1, got num_clips=0"),
        ({"num_clips": 2.5}, ConfigError, "num_clips must be an int, got float 2.5"),
        ({"seed": -1}, ConfigError, "seed must be >= 0, got seed=-1"),
        ({"sample_rate": 100}, ConfigError, "sample_rate must be >= 1000, got sample_rate=100"),
        ({"duration": 0}, ValueError, r"duration must be in \(0, 60\] seconds, got 0"),
        ({"duration": "1"}, TypeError, "duration must be a number of seconds, got str '1'"),
        ({"flite_fraction": 1.5}, ValueError, r"flite_fraction must be in \[0, 1\], got 1.5"),
        ({"workers": 0}, ConfigError, "workers must be >= 1, got workers=0"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SpokenDigits(tmp_path, **{"generate": False, **kwargs})


def test_speaker_split_rule() -> None:
    import zlib

    for speaker in ("espeak-ng:en-us+Andy", "espeak-ng:en-gb-scotland+klatt", "flite:slt", "flite:kal"):
        assert speaker_is_test(speaker) == (zlib.crc32(speaker.encode()) % 4 == 0)
