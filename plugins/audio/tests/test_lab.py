"""Tests of mixup_audio.lab: the spoken-digits TaskData loader, the audio-cnn factory and their registration.

The loader tests synthesise 80 clips once (a few seconds) and need espeak-ng (skipped, with the install command,
when it is absent); the model and registry tests run without it.
"""

from __future__ import annotations

import doctest
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import mixup_audio.lab as lab
import mixup_core
from mixup_audio.datasets import DIGIT_WORDS, INSTALL_COMMAND
from mixup_audio.lab import (
    LOGMEL_MIXERS,
    WAVEFORM_MIXERS,
    AudioCNN,
    DataNotFoundError,
    audio_cnn,
    load_spoken_digits_task,
    stratified_subset,
)
from mixup_core import ConfigError, MixupError, TaskData, create_mixer, mixed_step

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason=f"espeak-ng is not installed ({INSTALL_COMMAND})")

pytestmark = pytest.mark.xdist_group("spoken-digits")

CLIPS = 80


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root holding 80 clips (seed 0), synthesised once for the module."""
    if not HAVE_ESPEAK:
        pytest.skip(f"espeak-ng is not installed ({INSTALL_COMMAND})")
    root = tmp_path_factory.mktemp("lab-spoken-digits")
    load_spoken_digits_task(num_clips=CLIPS, cache_dir=root, progress=False, features="waveform")
    return root


@pytest.fixture(scope="module")
def logmel(cache: Path) -> TaskData:
    return load_spoken_digits_task(num_clips=CLIPS, cache_dir=cache, progress=False)


@pytest.fixture(scope="module")
def waveform(cache: Path) -> TaskData:
    return load_spoken_digits_task(num_clips=CLIPS, cache_dir=cache, progress=False, features="waveform")


# ---------------------------------------------------------------------------------------------- loader
@needs_espeak
def test_logmel_items_shapes_and_domain(logmel: TaskData) -> None:
    assert isinstance(logmel, TaskData)
    assert (logmel.num_classes, logmel.modality, logmel.class_names) == (10, "audio", list(DIGIT_WORDS))
    assert len(logmel.train) + len(logmel.test) == CLIPS
    # 64 mel bands; 16,000 samples with hop 160 and centred frames: 1 + 16000 // 160 = 101 frames
    assert logmel.input_shape == (1, 64, 101)
    x, y = logmel.train[0]
    assert x.shape == (1, 64, 101)
    assert x.dtype == torch.float32
    assert isinstance(y, int)
    assert 0 <= y < 10
    assert (logmel.info["features"], logmel.info["domain"], logmel.info["sample_rate"]) == ("logmel", "db", 16000)
    assert logmel.info["mixers"] == list(LOGMEL_MIXERS)
    # dB features clamped per clip to its maximum minus top_db = 80
    feats = logmel.train.inputs
    span = feats.amax(dim=(1, 2, 3)) - feats.amin(dim=(1, 2, 3))
    assert bool((span <= 80.0 + 1e-3).all())
    assert logmel.info["class_counts"]["train"] == np.bincount(logmel.train.labels.numpy(), minlength=10).tolist()
    # the default collate gives (B, 1, 64, 101) and (B,) int64
    xb, yb = next(iter(DataLoader(logmel.train, batch_size=4)))
    assert xb.shape == (4, 1, 64, 101)
    assert yb.dtype == torch.int64


@needs_espeak
def test_waveform_items_and_same_clips_as_logmel(waveform: TaskData, logmel: TaskData) -> None:
    assert waveform.input_shape == (1, 16000)
    assert (waveform.info["domain"], waveform.info["mixers"]) == ("waveform", list(WAVEFORM_MIXERS))
    x, _ = waveform.train[0]
    assert x.shape == (1, 16000)
    assert x.dtype == torch.float32
    assert waveform.train.inputs.abs().max().item() <= 1.0
    assert torch.equal(waveform.train.labels, logmel.train.labels)
    # audio-cnn's front end computes, inside the model, exactly the features of features="logmel"
    model = audio_cnn(waveform)
    assert model.frontend is not None
    torch.testing.assert_close(model.frontend.featurize(waveform.test.inputs), logmel.test.inputs)


@needs_espeak
def test_subsets_are_stratified_and_fixed_by_split_seed(cache: Path, logmel: TaskData) -> None:
    kw = {"num_clips": CLIPS, "cache_dir": cache, "progress": False, "features": "waveform"}
    a = load_spoken_digits_task(train_size=20, test_size=8, split_seed=3, **kw)
    b = load_spoken_digits_task(train_size=20, test_size=8, split_seed=3, **kw)
    c = load_spoken_digits_task(train_size=20, test_size=8, split_seed=4, **kw)
    assert (len(a.train), len(a.test)) == (20, 8)
    assert torch.equal(a.train.inputs, b.train.inputs)
    assert torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.inputs, c.train.inputs)
    # each class keeps its share of the full split, within one clip (largest remainder)
    for part, size in (("train", 20), ("test", 8)):
        full = np.bincount(getattr(logmel, part).labels.numpy(), minlength=10)
        kept = np.bincount(getattr(a, part).labels.numpy(), minlength=10)
        assert kept.sum() == size
        assert np.all(np.abs(kept - size * full / full.sum()) < 1)
    with pytest.raises(ConfigError, match=rf"train_size=1000 exceeds the {len(logmel.train)} clips of the train split"):
        load_spoken_digits_task(train_size=1000, **kw)


def test_stratified_subset_counts() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    # quotas 5·(4, 2, 4)/10 = (2, 1, 2)
    idx = stratified_subset(labels, 5, seed=0)
    assert np.bincount(labels[idx]).tolist() == [2, 1, 2]
    assert np.array_equal(idx, stratified_subset(labels, 5, seed=0))


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ConfigError, match=r"features must be 'logmel' or 'waveform', got features='mfcc'"):
        load_spoken_digits_task(features="mfcc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"num_clips must be an int, got float 10.5"):
        load_spoken_digits_task(num_clips=10.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"top_db must be a positive number, got top_db=-3"):
        load_spoken_digits_task(top_db=-3)


def test_missing_espeak_names_the_packages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # neither espeak-ng nor flite can be found
    with pytest.warns(UserWarning, match="flite was not found"), pytest.raises(DataNotFoundError) as info:
        load_spoken_digits_task(num_clips=20, cache_dir=tmp_path / "cache", progress=False)
    message = str(info.value)
    assert "espeak-ng" in message
    assert INSTALL_COMMAND in message
    assert "cache_dir" in message
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, MixupError)


# ---------------------------------------------------------------------------------------------- model
def _task(shape: tuple[int, ...], info: dict[str, object] | None = None, n: int = 4) -> TaskData:
    x, y = torch.randn(n, *shape), torch.arange(n) % 10
    return TaskData(TensorDataset(x, y), TensorDataset(x, y), 10, list(DIGIT_WORDS), "audio", input_shape=shape,
                    info=info or {})


def test_audio_cnn_on_logmel_shape() -> None:
    model = audio_cnn(_task((1, 64, 101)), channels=[4])
    assert model.frontend is None
    # bn0 over 64 bands (2·64) + conv 1·4·9 + bn 2·4 + classifier 4·10 + 10
    assert sum(p.numel() for p in model.parameters()) == 128 + 36 + 8 + 50
    assert model(torch.randn(3, 1, 64, 101)).shape == (3, 10)
    assert model(torch.randn(3, 1, 64, 37)).shape == (3, 10)  # any number of frames
    assert {"features.block1", "bn0", "classifier"} <= set(dict(model.named_modules()))


def test_audio_cnn_on_waveforms_builds_the_front_end_from_info() -> None:
    data = _task((1, 8000), {"sample_rate": 8000, "n_mels": 32, "n_fft": 256, "hop_length": 80, "top_db": 80.0})
    model = audio_cnn(data)
    assert isinstance(model, AudioCNN)
    assert model.frontend is not None
    assert (model.frontend.sample_rate, model.n_mels) == (8000, 32)
    assert model(torch.randn(2, 1, 8000)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"expects waveforms \(B, 1, T\), got shape \(2, 8000\)"):
        model(torch.randn(2, 8000))


def test_audio_cnn_refuses_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"needs the data's info\['sample_rate'\]"):
        audio_cnn(_task((1, 8000)))
    with pytest.raises(ConfigError, match=r"input_shape=\(1, 2, 3, 4\)"):
        audio_cnn(_task((1, 2, 3, 4)))
    with pytest.raises(ConfigError, match=r"channels must be a non-empty list of positive ints, got channels=\[\]"):
        audio_cnn(_task((1, 64, 101)), channels=[])
    with pytest.raises(ValueError, match=r"expects log-mel features \(B, 1, 64, frames\), got shape \(2, 1, 32, 10\)"):
        audio_cnn(_task((1, 64, 101)))(torch.randn(2, 1, 32, 10))


def test_registered_by_name() -> None:
    ds = mixup_core.get_datasets().get("spoken-digits")
    assert (ds.name, ds.modality) == ("audio:spoken-digits", "audio")
    assert ds.load() is load_spoken_digits_task
    assert mixup_core.get_models().get("audio-cnn").load() is audio_cnn


# ---------------------------------------------------------------------------------------------- one training step
def _check_step(model: torch.nn.Module, step: mixup_core.MixedStep, batch: int) -> None:
    assert step.logits.shape == (batch, 10)
    assert step.targets is not None
    dense = step.targets.dense(10)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(batch))  # label mass 1 per example
    assert bool((dense < 1).any())
    loss = step.loss()
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@needs_espeak
def test_mixed_step_spectrogram_mixer_on_logmel(logmel: TaskData) -> None:
    torch.manual_seed(0)
    model = mixup_core.get_models().get("audio-cnn").load()(logmel, channels=[8, 16])
    x, y = next(iter(DataLoader(logmel.train, batch_size=12)))
    mixer = create_mixer({"name": "audio:spectrogram", "domain": "db", "alpha": 1.0})
    step = mixed_step(model, x, y, mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=10)
    _check_step(model, step, 12)


@needs_espeak
def test_mixed_step_waveform_mixer_on_waveforms(waveform: TaskData) -> None:
    torch.manual_seed(0)
    model = audio_cnn(waveform, channels=[8, 16])
    x, y = next(iter(DataLoader(waveform.train, batch_size=12)))
    mixer = create_mixer({"name": "audio:waveform", "alpha": 1.0})
    step = mixed_step(model, x, y, mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=10)
    _check_step(model, step, 12)


def test_docstring_examples() -> None:
    result = doctest.testmod(lab, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 3
