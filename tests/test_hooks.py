"""One test per hook specification, named ``test_hook_<hook name>`` (tests/test_docs.py checks that each exists).

Each test registers a temporary in-process plugin that implements the hook, and checks what the hook is
documented to do in docs/hooks.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mixup_core import (
    MixerInfo,
    MixerRegistry,
    Mixup,
    create_mixer,
    get_registry,
    hookimpl,
    list_mixers,
    mixer_dataclass,
    register_plugin,
    unregister_plugin,
)
from mixup_core.cli import main
from mixup_core.hookspecs import PreviewOptions

PLUGIN = "hooktest"
MODALITY = "hooktest-modality"  # a modality no installed plugin knows, so only the test plugin previews it


@mixer_dataclass
class EchoMixup(Mixup):
    """Echo: mixup under another name, registered by the test plugin."""

    name: ClassVar[str] = "echo"
    modality: ClassVar[str] = MODALITY


class HookTestPlugin:
    """A plugin implementing every hook; records the preview calls it answers."""

    def __init__(self) -> None:
        self.previews: list[tuple[Any, MixerInfo, PreviewOptions]] = []

    @hookimpl
    def mixup_register_mixers(self, registry: MixerRegistry) -> None:
        registry.add(EchoMixup, aliases=["echo-mixup"])
        registry.add("mixup_core.builtin:Mixup", name="lazy-echo", modality=MODALITY, summary="Registered lazily.")

    @hookimpl
    def mixup_preview(self, mixer: Any, info: MixerInfo, options: PreviewOptions) -> str | None:
        if info.modality != MODALITY:
            return None
        self.previews.append((mixer, info, options))
        options.out.write_bytes(b"\x89PNG test preview")
        return str(options.out)


@pytest.fixture
def plugin() -> Iterator[HookTestPlugin]:
    obj = HookTestPlugin()
    register_plugin(obj, PLUGIN, distribution="mixup-hooktest", version="1.2.3")
    try:
        yield obj
    finally:
        unregister_plugin(PLUGIN)


def test_hook_mixup_register_mixers(plugin: HookTestPlugin, capsys: pytest.CaptureFixture[str]) -> None:
    # listed, with its provenance
    infos = {info.name: info for info in list_mixers(f"{PLUGIN}:*")}
    assert sorted(infos) == ["hooktest:echo", "hooktest:lazy-echo"]
    echo = infos["hooktest:echo"]
    assert (echo.bare, echo.plugin, echo.distribution, echo.version) == ("echo", PLUGIN, "mixup-hooktest", "1.2.3")
    assert echo.modality == MODALITY
    assert echo.summary == "Echo: mixup under another name, registered by the test plugin."
    assert echo.aliases == ("echo-mixup",)
    assert infos["hooktest:lazy-echo"].target == "mixup_core.builtin:Mixup"  # not imported while listing

    # the plugin record knows its hooks and mixers
    record = next(p for p in get_registry().plugins() if p.name == PLUGIN)
    assert record.status == "loaded"
    assert record.hooks == ["mixup_preview", "mixup_register_mixers"]
    assert record.mixers == ["hooktest:echo", "hooktest:lazy-echo"]

    # the registered mixers are built by qualified, bare or alias name
    assert isinstance(create_mixer("hooktest:echo"), EchoMixup)
    assert isinstance(create_mixer({"name": "Echo_Mixup", "alpha": 0.3}), EchoMixup)
    assert type(create_mixer("hooktest:lazy-echo")) is Mixup

    # and `mixup mixers --json` shows the provenance
    assert main(["mixers", "--json", f"{PLUGIN}:*"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["hooktest:echo"]["plugin"] == PLUGIN
    assert listed["hooktest:echo"]["distribution"] == "mixup-hooktest"
    assert listed["hooktest:echo"]["version"] == "1.2.3"


def test_hook_mixup_register_mixers_failure_removes_the_plugin() -> None:
    class Broken:
        @hookimpl
        def mixup_register_mixers(self, registry: MixerRegistry) -> None:
            registry.add(EchoMixup)
            registry.add(EchoMixup)  # the same name twice: the whole plugin fails

    register_plugin(Broken(), "hooktest-broken")
    try:
        record = next(p for p in get_registry().plugins() if p.name == "hooktest-broken")
        assert record.status == "failed"
        assert record.mixers == []
        assert "twice" in str(record.error)
        assert list_mixers("hooktest-broken:*") == []
    finally:
        unregister_plugin("hooktest-broken")


def test_hook_mixup_preview(plugin: HookTestPlugin, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "echo.png"
    rc = main(
        ["preview", "hooktest:echo", "--param", "alpha=0.5", "--param", "mode=sample", "--out", str(out), "--seed", "3"]
    )
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes().startswith(b"\x89PNG")
    ((mixer, info, options),) = plugin.previews
    assert isinstance(mixer, EchoMixup)
    assert (mixer.alpha, mixer.mode) == (0.5, "sample")
    assert info.name == "hooktest:echo"
    assert (options.out, options.seed, options.batch_size, options.inputs, options.dataset) == (out, 3, 4, None, None)


def test_hook_mixup_preview_without_a_handler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoPreview:
        @hookimpl
        def mixup_register_mixers(self, registry: MixerRegistry) -> None:
            registry.add(EchoMixup)

        @hookimpl
        def mixup_preview(self, mixer: Any, info: MixerInfo, options: PreviewOptions) -> str | None:
            return None

    monkeypatch.setenv("MIXUP_LOAD_PLUGINS", "hooktest-none")  # only core and this plugin
    register_plugin(NoPreview(), "hooktest-none")
    try:
        assert main(["preview", "hooktest-none:echo", "--out", str(tmp_path / "none.png")]) == 2
        assert "no installed plugin can preview" in capsys.readouterr().err
        assert not (tmp_path / "none.png").exists()
    finally:
        unregister_plugin("hooktest-none")
