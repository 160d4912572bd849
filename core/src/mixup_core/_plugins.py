"""Plugin loading: entry points of the group ``mixup``, one failure never breaks the others."""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs
from ._components import ComponentRegistry
from ._registry import MixerRegistry, PluginInfo
from ._version import __version__
from .builtin import Choice, Mixup
from .hookspecs import hookimpl

__all__ = [
    "ENTRY_POINT_GROUP",
    "get_datasets",
    "get_models",
    "get_plugin_manager",
    "get_registry",
    "register_plugin",
    "reset_registry",
    "unregister_plugin",
]

logger = logging.getLogger("mixup_core")

ENTRY_POINT_GROUP = "mixup"
"""The entry-point group that plugins declare; the entry-point name is the plugin name."""

_LOCK = threading.RLock()
_REGISTRY: MixerRegistry | None = None
_MANAGER: pluggy.PluginManager | None = None
_EXTRA: dict[str, tuple[object, str | None, str | None]] = {}


class _Manager(pluggy.PluginManager):
    """A pluggy manager that also treats unmarked ``mixup_*`` functions as hook implementations,
    so that a misspelled hook fails `check_pending` instead of being ignored."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("mixup_") and callable(getattr(plugin, name, None)):
            return {}  # pluggy fills in the default of every option
        return opts


def _env_list(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _entry_points() -> list[md.EntryPoint]:
    return sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


class CorePlugin:
    """Core's own plugin (name ``core``): the mixers of `mixup_core.builtin` and the model family
    ``python:<module>:<function>``, registered through the same hooks as every plugin."""

    @staticmethod
    @hookimpl
    def mixup_register_mixers(registry: MixerRegistry) -> None:
        """Register core's mixers: ``core:mixup`` and ``core:choice``."""
        registry.add(Mixup)
        registry.add(Choice)

    @staticmethod
    @hookimpl
    def mixup_register_models(registry: ComponentRegistry) -> None:
        """Register the ``python:<module>:<function>`` family: the user's own model factory (imports user code)."""
        registry.add_family("mixup_core.models:python_model", prefix="python", param="target", modality="any",
                            summary="your own factory function(data, **params) -> nn.Module; "
                                    "importing it runs its module")


def _candidates() -> list[tuple[str, Callable[[], object], str | None, str | None]]:
    found: list[tuple[str, Callable[[], object], str | None, str | None]] = [
        ("core", lambda: CorePlugin, "mixup-core", __version__)
    ]
    seen = {"core"}
    for ep in _entry_points():
        if ep.name in seen:
            logger.warning("mixup: two plugins are named %r; the second (%s) is ignored", ep.name, ep.value)
            continue
        seen.add(ep.name)
        dist = getattr(ep, "dist", None)
        found.append((ep.name, ep.load, getattr(dist, "name", None), getattr(dist, "version", None)))
    for name, (obj, dist_name, version) in _EXTRA.items():
        found.append((name, _loader(obj), dist_name, version))
    return found


def _loader(obj: object) -> Callable[[], object]:
    """The ``load`` of a plugin registered in-process (like an entry point's ``load``)."""
    return lambda: obj


def _build() -> tuple[pluggy.PluginManager, MixerRegistry]:
    pm = _Manager("mixup")
    pm.add_hookspecs(hookspecs)
    if os.environ.get("MIXUP_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
        pm.enable_tracing()
    registry = MixerRegistry()
    allowed = _env_list("MIXUP_LOAD_PLUGINS")
    blocked = _env_list("MIXUP_DISABLE_PLUGINS") or set()
    loaded: list[tuple[PluginInfo, object]] = []
    for name, load, dist_name, version in _candidates():
        info = PluginInfo(name=name, distribution=dist_name, version=version)
        if name in blocked or (allowed is not None and name != "core" and name not in allowed):
            pm.set_blocked(name)
            registry._fail(
                info, RuntimeError("disabled by MIXUP_DISABLE_PLUGINS or MIXUP_LOAD_PLUGINS"), status="disabled"
            )
            continue
        if ":" in name or "." in name or not name:
            registry._fail(info, ValueError(f"invalid plugin name {name!r}: it may not contain ':' or '.'"))
            continue
        try:
            plugin = load()
            if plugin.__hash__ is None:  # pluggy keeps plugins in sets; fail here, not in every other plugin
                raise TypeError(
                    "a plugin must be hashable (a module, a class or an instance), got "
                    f"{type(plugin).__name__}: {plugin!r}"
                )
            pm.register(plugin, name=name)
        except Exception as exc:  # one broken plugin must not break the others
            logger.warning("mixup: plugin %r (%s) failed to load: %s: %s", name, dist_name, type(exc).__name__, exc)
            registry._fail(info, exc)
            continue
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            pm.unregister(plugin)
            logger.warning("mixup: plugin %r has an unknown hook: %s", name, exc)
            registry._fail(info, exc)
            continue
        info.hooks = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))
        loaded.append((info, plugin))
    for info, plugin in loaded:
        others = [p for _, p in loaded if p is not plugin]
        caller = pm.subset_hook_caller("mixup_register_mixers", remove_plugins=others)
        registry._begin(info)
        try:
            caller(registry=registry)
        except Exception as exc:
            logger.warning("mixup: plugin %r failed to register its mixers: %s: %s", info.name, type(exc).__name__, exc)
            registry._fail(info, exc)
        finally:
            registry._end()
    for kind, components in (("datasets", registry.datasets), ("models", registry.models)):
        for info, plugin in loaded:
            others = [p for _, p in loaded if p is not plugin]
            caller = pm.subset_hook_caller(f"mixup_register_{kind}", remove_plugins=others)
            components._plugin = info.name
            try:
                caller(registry=components)
            except Exception as exc:
                logger.warning(
                    "mixup: plugin %r failed to register its %s: %s: %s", info.name, kind, type(exc).__name__, exc
                )
                components.errors[info.name] = exc
            finally:
                components._plugin = None
    return pm, registry


def get_registry(*, refresh: bool = False) -> MixerRegistry:
    """The registry of every installed mixer, built on first use and cached.

    Environment variables, read when the registry is built:
    ``MIXUP_LOAD_PLUGINS=a,b`` loads only those plugins (core always loads; empty loads none),
    ``MIXUP_DISABLE_PLUGINS=a,b`` blocks plugins, ``MIXUP_TRACE_PLUGINS=1`` prints every hook call.

    Args:
        refresh: rebuild it (after installing a plugin, or changing the variables).
    """
    global _REGISTRY, _MANAGER
    with _LOCK:
        if _REGISTRY is None or refresh:
            if _REGISTRY is not None:
                _REGISTRY.release()
            _MANAGER, _REGISTRY = _build()
        return _REGISTRY


def get_datasets() -> ComponentRegistry:
    """The data sets registered by plugins for experiments (see ``mixup_register_datasets``)."""
    return get_registry().datasets


def get_models() -> ComponentRegistry:
    """The model factories registered by plugins for experiments (see ``mixup_register_models``)."""
    return get_registry().models


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager behind the registry (built on first use)."""
    get_registry()
    assert _MANAGER is not None
    return _MANAGER


def reset_registry() -> None:
    """Forget the cached registry; the next use rebuilds it from the entry points."""
    global _REGISTRY, _MANAGER
    with _LOCK:
        if _REGISTRY is not None:
            # the names of classes are rebuilt with the registry, so a removed plugin's names go too
            _REGISTRY.release()
        _REGISTRY = None
        _MANAGER = None


def register_plugin(plugin: object, name: str, *, distribution: str | None = None, version: str | None = None) -> None:
    """Register an in-process plugin (a module or object with hook implementations).

    Useful in notebooks and tests; installed packages should use an entry point instead.
    The registry is rebuilt. Undo with `unregister_plugin`.

    Args:
        plugin: the object with ``@hookimpl`` functions.
        name: the plugin name (prefix of its mixers' qualified names).
        distribution: shown by ``mixup plugins``.
        version: shown by ``mixup plugins``.
    """
    with _LOCK:
        _EXTRA[name] = (plugin, distribution, version)
        reset_registry()


def unregister_plugin(name: str) -> None:
    """Remove an in-process plugin registered with `register_plugin`."""
    with _LOCK:
        _EXTRA.pop(name, None)
        reset_registry()
