"""`mixup preview audio:<name>`: the picture, its examples (synthetic or WAV files) and the hook's dispatch."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import pytest
import torch

from mixup_audio import _preview
from mixup_core import cli, create_mixer, get_registry
from mixup_core.hookspecs import PreviewOptions

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize("name", ["audio:specmix", "audio:bc"])
def test_cli_preview_writes_the_grid(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.png"
    assert cli.main(["preview", name, "--dataset", "synthetic", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert _png_size(out) == _preview.figure_size_px(4)
    with Image.open(out) as im:  # a picture, not a blank canvas
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 100


def test_cli_preview_is_reproducible_with_params(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    args = ["preview", "audio:time-cutmix", "--param", "mode=sample", "--batch-size", "3", "--seed", "2"]
    assert cli.main([*args, "--out", str(a)]) == 0
    assert cli.main([*args, "--out", str(b)]) == 0
    assert _png_size(a) == _preview.figure_size_px(3)
    assert a.read_bytes() == b.read_bytes()


def test_synthetic_clips_are_deterministic_and_labelled() -> None:
    opts = PreviewOptions(out=Path("unused.png"), dataset="synthetic", batch_size=4, seed=1)
    a, la, names = _preview.load_examples(opts)
    b, lb, _ = _preview.load_examples(opts)
    assert torch.equal(a, b)
    assert torch.equal(la, lb)
    assert a.shape == (4, 1, _preview.SAMPLE_RATE)
    assert sorted(la.tolist()) == [0, 1, 2, 3]
    assert names == _preview.SYNTHETIC_CLASSES
    assert float(a.abs().max()) <= 1.0
    tone = a[int((la == names.index("tone")).nonzero()[0])][0]
    spectrum = torch.fft.rfft(tone).abs()
    assert float(spectrum.max()) > 20 * float(spectrum.median())  # a tone has one strong peak


def _write_wav(path: Path, data: torch.Tensor, rate: int, width: int) -> None:
    """``data`` (C, T) in [-1, 1] as integer PCM of ``width`` bytes."""
    frames = data.T.contiguous()
    if width == 1:
        raw = (frames * 127 + 128).round().to(torch.uint8).numpy().tobytes()
    elif width == 2:
        raw = (frames * 32767).round().to(torch.int16).numpy().tobytes()
    else:  # 24-bit little endian
        v = (frames * (2**23 - 1)).round().to(torch.int32).flatten()
        v = torch.where(v < 0, v + (1 << 24), v)
        raw = torch.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], dim=1).to(torch.uint8).numpy().tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[0])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def test_preview_from_a_folder_of_wav_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "soundfile", None)  # the standard-library reader
    folder = tmp_path / "wavs"
    folder.mkdir()
    t8 = torch.arange(8000) / 8000
    _write_wav(folder / "a_tone8k.wav", 0.5 * torch.sin(2 * math.pi * 440 * t8)[None], 8000, 2)
    t22 = torch.arange(11025) / 22050
    stereo = torch.stack([0.25 * torch.sin(2 * math.pi * 1000 * t22), -0.25 * torch.sin(2 * math.pi * 1000 * t22)])
    _write_wav(folder / "b_stereo24.wav", stereo, 22050, 3)
    _write_wav(folder / "c_u8.wav", 0.5 * torch.sin(2 * math.pi * 300 * t8[:4000])[None], 8000, 1)
    (folder / "notes.txt").write_text("ignored")
    data, rate = _preview.read_wav(folder / "b_stereo24.wav")
    assert rate == 22050
    assert data.shape == (2, 11025)
    torch.testing.assert_close(data, stereo, atol=1e-6, rtol=0)
    waves, labels, names = _preview.load_examples(PreviewOptions(out=tmp_path / "x.png", inputs=folder, batch_size=8))
    assert names == ("a_tone8k", "b_stereo24", "c_u8")
    assert labels.tolist() == [0, 1, 2]
    assert waves.shape == (3, 1, 16000)  # 1 s at 16 kHz: the longest clip after resampling
    # resampled, not stretched: the 440 Hz tone is still at 440 Hz
    spectrum = torch.fft.rfft(waves[0, 0]).abs()
    assert abs(int(spectrum.argmax()) - 440) <= 1
    assert float(waves[1].abs().max()) < 1e-3  # the stereo channels cancel when mixed down
    assert float(waves[2, 0, 8500:].abs().max()) == 0.0  # the 0.5 s clip is zero-padded
    out = tmp_path / "folder.png"
    assert cli.main(["preview", "audio:specmix", "--inputs", str(folder), "--out", str(out)]) == 0
    assert _png_size(out) == _preview.figure_size_px(3)


def test_bad_sources_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["preview", "audio:specmix", "--dataset", "esc50", "--out", str(tmp_path / "e.png")]) == 2
    assert "synthetic" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["preview", "audio:bc", "--inputs", str(empty), "--out", str(tmp_path / "f.png")]) == 2
    assert "no WAV files" in capsys.readouterr().err


def test_hook_declines_other_modalities(tmp_path: Path) -> None:
    info = get_registry().get("audio:specmix")
    other = type(info)(**{**info.__dict__, "modality": "image"})
    assert _preview.mixup_preview(info.load()(), other, PreviewOptions(out=tmp_path / "n.png")) is None
    assert not (tmp_path / "n.png").exists()


def test_share_row_is_the_mask_or_the_bc_coefficient() -> None:
    waves, labels, _ = _preview.load_examples(PreviewOptions(out=Path("u.png"), batch_size=4))
    specs = _preview.log_mel_db(waves)
    assert specs.shape[:3] == (4, 1, 64)
    specmix = create_mixer("audio:specmix")
    out = specmix(specs, labels, num_classes=4, generator=torch.Generator().manual_seed(0))
    share = _preview._anchor_share(specmix, out.plan, specs, specs.shape[-1])
    torch.testing.assert_close(share.mean(dim=(1, 2)), out.plan.lam)
    bc = create_mixer("audio:bc")
    out = bc(waves, labels, num_classes=4, generator=torch.Generator().manual_seed(0))
    coef = _preview._anchor_share(bc, out.plan, waves, 50)
    p = out.plan.p  # type: ignore[attr-defined]
    expected = p / torch.sqrt(p**2 + (1 - p) ** 2)
    torch.testing.assert_close(coef.mean(dim=(1, 2)), expected, atol=1e-5, rtol=0)
