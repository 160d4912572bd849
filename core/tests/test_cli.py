"""The ``mixup`` command line, run in-process through ``mixup_core.cli.main``."""

from __future__ import annotations

import json
import types
from typing import Any, ClassVar

import pytest

from mixup_core import Mixup, __version__, hookimpl, mixer_dataclass, register_plugin, unregister_plugin
from mixup_core.cli import main

pytestmark = pytest.mark.usefixtures("core_only")


@mixer_dataclass
class CanvasMix(Mixup):
    """Canvas: an image mixer of the CLI tests."""

    name: ClassVar[str] = "canvas"
    modality: ClassVar[str] = "image"


@mixer_dataclass
class ChirpMix(Mixup):
    """Chirp: an audio mixer of the CLI tests."""

    name: ClassVar[str] = "chirp"
    modality: ClassVar[str] = "audio"


def _media_hook(registry: Any) -> None:
    registry.add(CanvasMix)
    registry.add(ChirpMix)


def _broken_hook(registry: Any) -> None:
    raise RuntimeError("cannot register")


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two in-process plugins: ``media`` (an image and an audio mixer) and ``shaky`` (broken)."""
    monkeypatch.setenv("MIXUP_LOAD_PLUGINS", "media,shaky")
    good = types.ModuleType("media")
    good.mixup_register_mixers = hookimpl(_media_hook)  # type: ignore[attr-defined]
    bad = types.ModuleType("shaky")
    bad.mixup_register_mixers = hookimpl(_broken_hook)  # type: ignore[attr-defined]
    register_plugin(good, "media", distribution="mixup-media", version="2.0")
    register_plugin(bad, "shaky")
    yield
    unregister_plugin("media")
    unregister_plugin("shaky")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_mixers_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "mixers")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "modality", "distribution", "summary"]
    rows = [line.split()[0] for line in lines[2:]]
    assert rows == ["core:choice", "core:mixup"]
    mixup_row = next(line for line in lines if line.startswith("core:mixup"))
    assert "mixup-core" in mixup_row
    assert "convex combination" in mixup_row
    assert err == ""


def test_mixers_pattern_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "mixers", "core:*", "--json")
    assert status == 0
    records = json.loads(out)
    assert [r["name"] for r in records] == ["core:choice", "core:mixup"]
    mixup = records[1]
    assert mixup["modality"] == "any"
    assert mixup["plugin"] == "core"
    assert mixup["distribution"] == "mixup-core"
    assert mixup["version"] == __version__
    assert mixup["summary"].startswith("mixup:")
    status, out, _ = run(capsys, "mixers", "*choice", "--json")
    assert [r["name"] for r in json.loads(out)] == ["core:choice"]


def test_mixers_modality(capsys: pytest.CaptureFixture[str], media: None) -> None:
    status, out, err = run(capsys, "mixers", "--modality", "image")
    assert status == 0
    names = [line.split()[0] for line in out.splitlines()[2:]]
    assert names == ["core:choice", "core:mixup", "media:canvas"]
    assert "media:chirp" not in out
    # the broken plugin is reported on stderr, the listing still works
    assert "1 plugin(s) failed to load: shaky" in err
    status, out, _ = run(capsys, "mixers", "--modality", "audio", "--json")
    assert [r["name"] for r in json.loads(out)] == ["core:choice", "core:mixup", "media:chirp"]


def test_plugins_json(capsys: pytest.CaptureFixture[str], media: None) -> None:
    status, out, _ = run(capsys, "plugins", "--json")
    assert status == 0
    plugins = {p["name"]: p for p in json.loads(out)}
    core = plugins["core"]
    assert core["distribution"] == "mixup-core"
    assert core["version"] == __version__
    assert core["status"] == "loaded"
    assert core["mixers"] == ["core:mixup", "core:choice"]
    assert core["hooks"] == ["mixup_register_mixers", "mixup_register_models"]
    assert core["error"] is None
    assert plugins["media"]["distribution"] == "mixup-media"
    assert plugins["media"]["version"] == "2.0"
    assert plugins["media"]["mixers"] == ["media:canvas", "media:chirp"]
    assert plugins["shaky"]["status"] == "failed"
    assert plugins["shaky"]["error"] == "RuntimeError: cannot register"
    for name, record in plugins.items():
        if name not in ("core", "media", "shaky"):
            assert record["status"] == "disabled"


def test_plugins_table(capsys: pytest.CaptureFixture[str], media: None) -> None:
    status, out, _ = run(capsys, "plugins")
    assert status == 0
    shaky = next(line for line in out.splitlines() if line.startswith("shaky"))
    assert "failed" in shaky
    assert "RuntimeError: cannot register" in shaky


def test_describe_shows_defaults_and_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "describe", "mixup")
    assert status == 0
    assert out.startswith("core:mixup  (mixup-core " + __version__)
    params = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and "default" in line}
    assert "default 1.0" in params["alpha"]
    assert "[> 0]" in params["alpha"]
    assert "default 1.0" in params["p"]
    assert "[>= 0, <= 1]" in params["p"]
    assert "default 0.5" in params["protect_floor"]
    assert "[>= 0.5, <= 1.0]" in params["protect_floor"]
    assert "'batch' | 'sample'" in params["mode"]
    assert "default 'batch'" in params["mode"]
    assert "default None" in params["num_classes"]
    assert "[>= 1]" in params["num_classes"]
    assert "default False" in params["inplace"]
    assert "paper:" in out


def test_describe_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "describe", "core:mixup", "--json")
    assert status == 0
    info = json.loads(out)
    assert info["name"] == "core:mixup"
    alpha = info["params"]["alpha"]
    assert alpha["default"] == 1.0
    assert alpha["exclusiveMinimum"] == 0
    assert info["params"]["p"]["minimum"] == 0
    assert info["params"]["p"]["maximum"] == 1
    assert info["params"]["protected_classes"]["default"] == []


def test_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "describe", "mixpu")
    assert status == 2
    assert out == ""
    assert err.startswith("mixup: error: Unknown mixer 'mixpu'.")
    assert "Did you mean 'core:mixup'?" in err


def test_failed_plugin_name(capsys: pytest.CaptureFixture[str], media: None) -> None:
    status, _, err = run(capsys, "describe", "shaky:anything")
    assert status == 2
    assert "failed to load" in err
    assert "cannot register" in err


def test_usage_errors_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out
