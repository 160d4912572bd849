"""Selecting mixers by name: create_mixer, list_mixers, plugins, collisions, failures, environment variables."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, ClassVar

import pluggy
import pytest
import torch

import mixup_core
from mixup_core import (
    AmbiguousMixerError,
    Choice,
    ConfigError,
    MixerInfo,
    MixerRegistry,
    Mixup,
    PluginLoadError,
    UnknownMixerError,
    create_mixer,
    get_registry,
    hookimpl,
    list_mixers,
    mixer_dataclass,
    register_plugin,
    unregister_plugin,
)

pytestmark = pytest.mark.usefixtures("core_only")


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@mixer_dataclass
class FooMix(Mixup):
    """Foo: a mixer of the test plugins."""

    name: ClassVar[str] = "foo"


@mixer_dataclass
class PictureMix(Mixup):
    """Picture: an image mixer of the test plugins."""

    name: ClassVar[str] = "picture"
    modality: ClassVar[str] = "image"


@mixer_dataclass
class SoundMix(Mixup):
    """Sound: an audio mixer of the test plugins."""

    name: ClassVar[str] = "sound"
    modality: ClassVar[str] = "audio"


def make_plugin(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A module-like plugin whose attributes are the given functions (marked as hooks)."""
    module = types.ModuleType(f"test_plugin_{name}")
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def registering(*mixers: Any, **kwargs: Any) -> Callable[[MixerRegistry], None]:
    def hook(registry: MixerRegistry) -> None:
        for mixer in mixers:
            registry.add(mixer, **kwargs)

    return hook


def load_only(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Let the named in-process plugins load (and no installed one)."""
    monkeypatch.setenv("MIXUP_LOAD_PLUGINS", ",".join(names))


# ----------------------------------------------------------------------------------- create_mixer


def test_create_mixer_returns_an_instance_as_is() -> None:
    mixer = Mixup(alpha=0.3)
    assert create_mixer(mixer) is mixer
    with pytest.raises(ConfigError, match="alpha"):
        create_mixer(mixer, alpha=0.5)


@pytest.mark.parametrize("name", ["mixup", "core:mixup", "Core:MIXUP", " mixup ", "mixup_core.builtin:Mixup"])
def test_create_mixer_by_name(name: str) -> None:
    mixer = create_mixer(name)
    assert type(mixer) is Mixup
    assert mixer == Mixup()


def test_create_mixer_from_a_mapping() -> None:
    spec = {"name": "mixup", "alpha": 0.2, "mode": "sample", "num_classes": 10, "p": 0.5, "enabled": False}
    mixer = create_mixer(spec)
    assert mixer == Mixup(alpha=0.2, mode="sample", num_classes=10, p=0.5, enabled=False)
    assert spec["name"] == "mixup", "the spec is not modified"
    # keyword arguments add to (or override) the spec's
    assert create_mixer({"name": "core:mixup", "alpha": 0.2}, alpha=0.7, lam_max=True) == Mixup(alpha=0.7, lam_max=True)
    assert create_mixer("mixup", alpha=0.7) == Mixup(alpha=0.7)


def test_create_mixer_builds_nested_composites() -> None:
    mixer = create_mixer(
        {
            "name": "choice",
            "weights": [2, 1],
            "mixers": [
                "mixup",
                {"name": "choice", "mixers": [{"name": "mixup", "alpha": 0.2}, Mixup(mode="sample")]},
            ],
        }
    )
    assert isinstance(mixer, Choice)
    assert mixer.mixers[0] == Mixup()
    inner = mixer.mixers[1]
    assert isinstance(inner, Choice)
    assert inner.mixers == [Mixup(alpha=0.2), Mixup(mode="sample")]
    out = mixer(torch.randn(4, 3, generator=g(0)), generator=g(1))
    assert out.inputs.shape == (4, 3)


def test_create_mixer_spec_errors() -> None:
    with pytest.raises(ConfigError, match="'name'"):
        create_mixer({"alpha": 0.2})
    with pytest.raises(ConfigError, match="42"):
        create_mixer(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name=3"):
        create_mixer({"name": 3})
    with pytest.raises(UnknownMixerError, match="no_such_module"):
        create_mixer("no_such_module.sub:Mixer")
    with pytest.raises(ConfigError, match="not a Mixer"):
        create_mixer("mixup_core._plan:MixPlan")


# ------------------------------------------------------------------------------------ list_mixers


def test_list_mixers_records() -> None:
    infos = list_mixers()
    assert [i.name for i in infos] == ["core:choice", "core:mixup"]
    info = next(i for i in infos if i.name == "core:mixup")
    assert isinstance(info, MixerInfo)
    assert info.bare == "mixup"
    assert info.modality == "any"
    assert info.plugin == "core"
    assert info.distribution == "mixup-core"
    assert info.version == mixup_core.__version__
    assert info.summary.startswith("mixup:")
    assert info.load() is Mixup
    record = info.to_dict()
    for key in ("name", "modality", "plugin", "distribution", "version", "summary"):
        assert record[key] == getattr(info, key)


def test_list_mixers_pattern() -> None:
    assert [i.name for i in list_mixers("core:*")] == ["core:choice", "core:mixup"]
    assert [i.name for i in list_mixers("*mix*")] == ["core:mixup"]
    assert [i.name for i in list_mixers("mixup")] == ["core:mixup"]
    assert [i.name for i in list_mixers("CORE:CHOICE")] == ["core:choice"]
    assert list_mixers("image:*") == []


def test_list_mixers_modality_and_plugin_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    load_only(monkeypatch, "media")
    register_plugin(
        make_plugin("media", mixup_register_mixers=registering(PictureMix, SoundMix)),
        "media",
        distribution="mixup-media",
        version="1.2.3",
    )
    try:
        names = [i.name for i in list_mixers()]
        assert names == ["core:choice", "core:mixup", "media:picture", "media:sound"]
        image = [i.name for i in list_mixers(modality="image")]
        assert image == ["core:choice", "core:mixup", "media:picture"], "modality-agnostic mixers are kept"
        assert [i.name for i in list_mixers("media:*", modality="audio")] == ["media:sound"]
        info = get_registry().get("picture")
        assert (info.name, info.plugin, info.distribution, info.version, info.modality) == (
            "media:picture",
            "media",
            "mixup-media",
            "1.2.3",
            "image",
        )
        assert info.summary == "Picture: an image mixer of the test plugins."
        assert type(create_mixer("picture")) is PictureMix
        plugin = next(p for p in get_registry().plugins() if p.name == "media")
        assert plugin.status == "loaded"
        assert plugin.mixers == ["media:picture", "media:sound"]
        assert plugin.hooks == ["mixup_register_mixers"]
    finally:
        unregister_plugin("media")
    assert [i.name for i in list_mixers()] == ["core:choice", "core:mixup"]
    with pytest.raises(UnknownMixerError):
        create_mixer("media:picture")


# ------------------------------------------------------------------------------- name resolution


def test_ambiguous_bare_name(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "north", "south")
    mixup_temp_plugin(make_plugin("north", mixup_register_mixers=registering(FooMix)), "north")
    registry = mixup_temp_plugin(make_plugin("south", mixup_register_mixers=registering(FooMix)), "south")
    with pytest.raises(AmbiguousMixerError) as info:
        create_mixer("foo")
    message = str(info.value)
    assert "'north:foo'" in message
    assert "'south:foo'" in message
    assert isinstance(info.value, KeyError)
    assert type(create_mixer("south:foo")) is FooMix
    assert registry.get("north:foo").plugin == "north"
    assert "foo" not in registry  # ambiguous names are not resolvable
    assert "north:foo" in registry


def test_aliases(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "aka")
    registry = mixup_temp_plugin(
        make_plugin("aka", mixup_register_mixers=registering(FooMix, aliases=["foo_mix"])), "aka"
    )
    assert registry.get("FOO-MIX").name == "aka:foo"
    assert registry.get("aka:foo_mix").name == "aka:foo"


def test_unknown_name_suggests() -> None:
    with pytest.raises(UnknownMixerError) as info:
        create_mixer("mixpu")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert message.startswith("Unknown mixer 'mixpu'.")
    assert "Did you mean 'core:mixup'?" in message
    with pytest.raises(KeyError, match="Did you mean 'core:mixup'"):
        create_mixer("core:mixpu")
    with pytest.raises(UnknownMixerError, match="Installed mixers: core:choice, core:mixup"):
        create_mixer("zzzzzz")
    with pytest.raises(ConfigError, match="non-empty"):
        get_registry().get("  ")


# -------------------------------------------------------------------------------- broken plugins


class Boom(RuntimeError):
    pass


def _half_then_boom(registry: MixerRegistry) -> None:
    registry.add(FooMix)
    raise Boom("the plugin's hook broke")


def test_plugin_whose_hook_raises(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "broken", "good")
    mixup_temp_plugin(make_plugin("broken", mixup_register_mixers=_half_then_boom), "broken")
    registry = mixup_temp_plugin(make_plugin("good", mixup_register_mixers=registering(PictureMix)), "good")
    broken = next(p for p in registry.plugins() if p.name == "broken")
    assert broken.status == "failed"
    assert isinstance(broken.error, Boom)
    assert broken.mixers == []
    assert [p.name for p in registry.broken_plugins()] == ["broken"]
    assert broken.to_dict()["error"] == "Boom: the plugin's hook broke"
    # its mixers raise PluginLoadError chained to the original error
    with pytest.raises(PluginLoadError, match=r"broken.*failed to load.*the plugin's hook broke") as info:
        create_mixer("broken:foo")
    assert info.value.__cause__ is broken.error
    assert "in-process" in str(info.value)
    # an unknown bare name mentions the broken plugin, chained to its error too
    with pytest.raises(UnknownMixerError, match="failed to load: broken") as unknown:
        create_mixer("foo")
    assert unknown.value.__cause__ is broken.error
    # the other plugins keep working
    assert type(create_mixer("picture")) is PictureMix
    assert type(create_mixer("good:picture")) is PictureMix
    assert type(create_mixer("mixup")) is Mixup


def test_lazy_mixer_that_cannot_be_imported(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "lazy")

    def hook(registry: MixerRegistry) -> None:
        registry.add("no_such_module_for_mixup:Ghost", name="ghost", modality="audio", summary="Never imported.")

    registry = mixup_temp_plugin(make_plugin("lazy", mixup_register_mixers=hook), "lazy")
    info = registry.get("ghost")
    assert (info.name, info.modality, info.summary) == ("lazy:ghost", "audio", "Never imported.")
    assert [i.name for i in list_mixers("lazy:*")] == ["lazy:ghost"], "listing never imports"
    with pytest.raises(PluginLoadError, match="no_such_module_for_mixup") as err:
        create_mixer("ghost")
    assert isinstance(err.value.__cause__, ModuleNotFoundError)


def test_misspelled_hook_fails_the_plugin(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "typo", "good")
    typo = types.ModuleType("typo")
    typo.mixup_register_mixer = registering(FooMix)  # type: ignore[attr-defined]  # unmarked and misspelled
    mixup_temp_plugin(typo, "typo")
    registry = mixup_temp_plugin(make_plugin("good", mixup_register_mixers=registering(PictureMix)), "good")
    plugin = next(p for p in registry.plugins() if p.name == "typo")
    assert plugin.status == "failed"
    assert isinstance(plugin.error, pluggy.PluginValidationError)
    assert "mixup_register_mixer" in str(plugin.error)
    with pytest.raises(PluginLoadError, match="mixup_register_mixer"):
        create_mixer("typo:foo")
    assert type(create_mixer("picture")) is PictureMix


def test_unmarked_but_correct_hook_is_used(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "plain")
    plain = types.ModuleType("plain")
    plain.mixup_register_mixers = registering(FooMix)  # type: ignore[attr-defined]
    registry = mixup_temp_plugin(plain, "plain")
    assert registry.get("foo").name == "plain:foo"


def test_hook_with_a_wrong_signature_fails_the_plugin(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "wrong", "good")
    mixup_temp_plugin(make_plugin("wrong", mixup_register_mixers=lambda registry, extra: None), "wrong")
    registry = mixup_temp_plugin(make_plugin("good", mixup_register_mixers=registering(PictureMix)), "good")
    assert [p.name for p in registry.broken_plugins()] == ["wrong"]
    assert "good:picture" in registry


def test_unhashable_plugin_object_fails_alone(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "ns", "good")
    namespace = types.SimpleNamespace(mixup_register_mixers=hookimpl(registering(FooMix)))
    mixup_temp_plugin(namespace, "ns")
    registry = mixup_temp_plugin(make_plugin("good", mixup_register_mixers=registering(PictureMix)), "good")
    plugin = next(p for p in registry.plugins() if p.name == "ns")
    assert plugin.status == "failed"
    assert "hashable" in str(plugin.error)
    assert "good:picture" in registry


def test_registering_a_name_twice_fails_the_plugin(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "twice")
    registry = mixup_temp_plugin(make_plugin("twice", mixup_register_mixers=registering(FooMix, FooMix)), "twice")
    plugin = next(p for p in registry.plugins() if p.name == "twice")
    assert plugin.status == "failed"
    assert "twice:foo" in str(plugin.error)
    assert isinstance(plugin.error, ConfigError)


def test_registry_add_outside_a_hook() -> None:
    with pytest.raises(RuntimeError, match="mixup_register_mixers"):
        get_registry().add(FooMix)


# ------------------------------------------------------------------------- environment variables


def _register_two(mixup_temp_plugin: Any) -> MixerRegistry:
    mixup_temp_plugin(make_plugin("first", mixup_register_mixers=registering(PictureMix)), "first")
    return mixup_temp_plugin(make_plugin("second", mixup_register_mixers=registering(SoundMix)), "second")


def test_load_plugins_variable(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    load_only(monkeypatch, "second")
    registry = _register_two(mixup_temp_plugin)
    assert [i.name for i in list_mixers()] == ["core:choice", "core:mixup", "second:sound"]
    status = {p.name: p.status for p in registry.plugins()}
    assert status["first"] == "disabled"
    assert status["second"] == "loaded"
    assert status["core"] == "loaded", "core always loads"
    with pytest.raises(UnknownMixerError, match="disabled"):
        create_mixer("first:picture")
    # an empty list loads core only
    monkeypatch.setenv("MIXUP_LOAD_PLUGINS", "")
    mixup_core.reset_registry()
    assert [i.name for i in list_mixers()] == ["core:choice", "core:mixup"]


def test_disable_plugins_variable(monkeypatch: pytest.MonkeyPatch, mixup_temp_plugin: Any) -> None:
    monkeypatch.delenv("MIXUP_LOAD_PLUGINS")
    monkeypatch.setenv("MIXUP_DISABLE_PLUGINS", "first, image, audio, text, graph, example")
    registry = _register_two(mixup_temp_plugin)
    status = {p.name: p.status for p in registry.plugins()}
    assert status["first"] == "disabled"
    assert status["second"] == "loaded"
    assert "second:sound" in registry
    assert "first:picture" not in registry
    assert all(not i.name.startswith("first:") for i in list_mixers())
    monkeypatch.delenv("MIXUP_DISABLE_PLUGINS")
    monkeypatch.setenv("MIXUP_LOAD_PLUGINS", "first,second")
    mixup_core.reset_registry()
    assert "first:picture" in get_registry()
