"""`mixup init PATH`: the plugins' detect hook picks the data set, and the written config runs unchanged."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from mixup_core import hookimpl
from mixup_core.cli import main
from mixup_core.data import DataGuess
from mixup_lab._config import load_study_config

pytestmark = pytest.mark.xdist_group("lab-compare")


def _plugin(score: float = 1.0, name: str = "digits") -> types.ModuleType:
    """Recognises a folder holding a file ``digits.marker`` as scikit-learn's digits (small and offline)."""

    @hookimpl
    def mixup_detect_data(path: Path) -> DataGuess | None:
        if not (path / f"{name}.marker").exists():
            return None
        return DataGuess("image", {"name": "image:digits"},
                         {"name": "image:mlp"}, [{"name": "mixup", "mixer": {"name": "mixup", "alpha": 0.2}}],
                         f"{name} marker", [str(i) for i in range(10)], score=score,
                         train={"epochs": 1, "batch_size": 64})

    module = types.ModuleType(f"detect_{name}_{int(score * 100)}")
    module.mixup_detect_data = mixup_detect_data  # type: ignore[attr-defined]
    return module


def test_init_writes_a_config_that_compare_runs_unchanged(
    mixup_temp_plugin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sklearn")
    mixup_temp_plugin(_plugin(), "detectdemo")
    data = tmp_path / "My Photos"
    data.mkdir()
    (data / "digits.marker").write_text("")
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(data)]) == 0
    written = tmp_path / "my-photos.yaml"
    assert capsys.readouterr().out.splitlines()[0] == str(written.relative_to(tmp_path))
    text = written.read_text()
    assert "# critical:" in text
    assert "Classes found: 0, 1, 2" in text
    raw = yaml.safe_load(text)
    assert raw["name"] == "my-photos"
    assert [a["name"] for a in raw["arms"]] == ["baseline", "mixup"]
    assert raw["train"]["epochs"] == 1  # the guess's overrides win over the defaults
    cfg = load_study_config(written)
    assert cfg.dataset.name == "image:digits"
    assert main(["compare", str(written), "--seeds", "0", "--quiet", "--out", str(tmp_path / "study")]) == 0
    runs = sorted((tmp_path / "study").glob("runs/*/seed-0/metrics.json"))
    assert [json.loads(p.read_text())["arm"] for p in runs] == ["baseline", "mixup"]


def test_init_keeps_the_highest_score(mixup_temp_plugin: Any, tmp_path: Path) -> None:
    from mixup_lab._init import detect_data

    mixup_temp_plugin(_plugin(0.3), "low")
    mixup_temp_plugin(_plugin(0.9), "high")
    (tmp_path / "digits.marker").write_text("")
    assert detect_data(tmp_path).score == 0.9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init", "{tmp}/missing"], "mixup: error: PATH: no such file or folder (got '{tmp}/missing')"),
        (["init", "{tmp}"], "mixup: error: PATH: no installed plugin recognises '{tmp}'"),
    ],
)
def test_init_errors_are_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(message.format(tmp=tmp_path))


def test_init_refuses_to_overwrite(mixup_temp_plugin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mixup_temp_plugin(_plugin(), "detectdemo")
    (tmp_path / "digits.marker").write_text("")
    out = tmp_path / "study.yaml"
    out.write_text("mine")
    assert main(["init", str(tmp_path), "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"mixup: error: --out: the file exists; pass --force to overwrite it (got '{out}')"
    )
    assert out.read_text() == "mine"
    assert main(["init", str(tmp_path), "--out", str(out), "--force", "--quiet"]) == 0
    assert out.read_text().startswith("# Study written by `mixup init`")
