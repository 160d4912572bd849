"""The mixer registry: name → mixer, with provenance, collisions and did-you-mean."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._components import ComponentRegistry, normalize_name
from ._errors import AmbiguousMixerError, ConfigError, PluginLoadError, UnknownMixerError
from ._mixer import Mixer

__all__ = ["MixerInfo", "MixerRegistry", "PluginInfo"]

_NAME_ATTRIBUTE = "_registered_name"
"""The class attribute in which a registry records the name it registered a mixer class under
(read by `mixup_core.Mixer.qualified_name`)."""


@dataclass
class PluginInfo:
    """What is known about one plugin: where it comes from, and whether it loaded.

    Args:
        name: the plugin name (the entry-point name), used as prefix of its mixers' names.
        distribution: the installed distribution that provides it (``None`` for in-process plugins).
        version: that distribution's version.
        error: the exception raised while loading or registering it, if any.
        mixers: qualified names of the mixers it registered.
        hooks: names of the hooks it implements.
        status: ``"loaded"``, ``"failed"`` or ``"disabled"``.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    error: BaseException | None = None
    mixers: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    status: str = "loaded"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (as printed by ``mixup plugins --json``)."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "hooks": list(self.hooks),
            "mixers": list(self.mixers),
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }


@dataclass(frozen=True)
class MixerInfo:
    """A registry entry: a mixer and its provenance.

    Args:
        name: the qualified name, ``plugin:mixer``.
        bare: the name without the plugin prefix.
        modality: ``"any"``, ``"image"``, ``"audio"``, ``"text"``, ``"graph"`` …
        plugin: the plugin that registered it.
        distribution: the distribution of that plugin.
        version: the distribution's version.
        summary: one line on what the mixer does.
        paper: the reference it implements.
        cost: what it needs beyond the batch (``none``, ``forward``, ``gradients``, ``hook``, ``dataset``).
        target: the mixer class, or a lazy ``"module:Class"`` string.
        aliases: other bare names that resolve to it.
    """

    name: str
    bare: str
    modality: str
    plugin: str
    distribution: str | None
    version: str | None
    summary: str
    paper: str
    cost: str
    target: Any
    aliases: tuple[str, ...] = ()
    registry: Any = field(default=None, compare=False, repr=False)

    def load(self) -> type[Mixer]:
        """Import (if lazy) and return the mixer class."""
        target = self.target
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                obj: Any = importlib.import_module(module_name)
                for part in attr.split("."):
                    obj = getattr(obj, part)
            except Exception as exc:
                raise PluginLoadError(
                    f"mixer {self.name!r} of plugin {self.plugin!r} ({self.distribution or 'in-process'}) could not be "
                    f"imported from {target!r}: {type(exc).__name__}: {exc}"
                ) from exc
            target = obj
        if isinstance(self.registry, MixerRegistry):
            self.registry._record(target, self.name)
        return target

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (as printed by ``mixup mixers --json``)."""
        return {
            "name": self.name,
            "modality": self.modality,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "summary": self.summary,
            "paper": self.paper,
            "cost": self.cost,
            "aliases": list(self.aliases),
        }


def _summary_of(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def _natural_key(text: str) -> list[Any]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text)]


class MixerRegistry:
    """Mixers by name, filled by the plugins' ``mixup_register_mixers`` hooks.

    Names are ``plugin:mixer``. A bare name resolves when exactly one plugin provides it; a bare
    name shared by several plugins raises `AmbiguousMixerError` listing the qualified names;
    an unknown name raises `UnknownMixerError` with suggestions and the plugins that failed
    to load. Matching ignores case and treats ``_`` like ``-``.

    Examples:
        >>> registry = get_registry()   # doctest: +SKIP
        >>> registry.get("mixup").name   # doctest: +SKIP
        'core:mixup'
    """

    def __init__(self) -> None:
        self._entries: dict[str, MixerInfo] = {}
        self._names: dict[type, str] = {}
        self._plugins: dict[str, PluginInfo] = {}
        self._current: PluginInfo | None = None
        self.datasets = ComponentRegistry("dataset")
        """Data sets for experiments, filled by ``mixup_register_datasets``."""
        self.models = ComponentRegistry("model")
        """Model factories for experiments, filled by ``mixup_register_models``."""

    # -------------------------------------------------------------- building (used by the loader)
    def _begin(self, plugin: PluginInfo) -> None:
        self._plugins[plugin.name] = plugin
        self._current = plugin

    def _end(self) -> None:
        self._current = None

    def _fail(self, plugin: PluginInfo, error: BaseException, status: str = "failed") -> None:
        plugin.error = error
        plugin.status = status
        for qualified in plugin.mixers:
            self._entries.pop(qualified, None)
        plugin.mixers = []
        self._plugins[plugin.name] = plugin

    def add(
        self,
        mixer: type[Mixer] | str,
        *,
        name: str | None = None,
        modality: str | None = None,
        summary: str | None = None,
        paper: str | None = None,
        cost: str | None = None,
        aliases: Iterable[str] = (),
    ) -> MixerInfo:
        """Register a mixer for the plugin whose hook is running.

        Args:
            mixer: a `Mixer` subclass, or ``"module:Class"`` to import it lazily.
            name: bare name (default: the class's ``name``); lazy entries must give it.
            modality: default: the class's ``modality``; lazy entries must give it.
            summary: one line (default: the first line of the class docstring).
            paper: the reference (default: the class's ``paper``).
            cost: what it needs beyond the batch (default: the class's ``cost``).
            aliases: other bare names for it.
        """
        plugin = self._current
        if plugin is None:
            raise RuntimeError("registry.add() is only valid inside a mixup_register_mixers hook")
        if isinstance(mixer, str):
            if ":" not in mixer or name is None or modality is None:
                raise ConfigError(
                    f"a lazy mixer is given as 'module:Class' with name= and modality=, got {mixer!r}, "
                    f"name={name!r}, modality={modality!r}"
                )
            bare, mod, summ, pap, cst = name, modality, summary or "", paper or "", cost or "none"
        else:
            if not (inspect.isclass(mixer) and issubclass(mixer, Mixer)):
                raise ConfigError(f"registry.add() takes a Mixer subclass or 'module:Class', got {mixer!r}")
            bare = name or mixer.name
            if not bare:
                raise ConfigError(f"{mixer.__qualname__} has no name: set the class attribute name or pass name=")
            mod = modality or mixer.modality
            summ = summary or _summary_of(mixer)
            pap = paper or mixer.paper
            cst = cost or mixer.cost
        bare = normalize_name(bare)
        if ":" in bare:
            raise ConfigError(f"a bare mixer name cannot contain ':', got {bare!r}")
        qualified = f"{plugin.name}:{bare}"
        if qualified in self._entries:
            raise ConfigError(f"plugin {plugin.name!r} registers the mixer {qualified!r} twice")
        info = MixerInfo(
            name=qualified,
            bare=bare,
            modality=mod,
            plugin=plugin.name,
            distribution=plugin.distribution,
            version=plugin.version,
            summary=summ,
            paper=pap,
            cost=cst,
            target=mixer,
            aliases=tuple(normalize_name(a) for a in aliases),
            registry=self,
        )
        self._entries[qualified] = info
        plugin.mixers.append(qualified)
        if not isinstance(mixer, str):
            self._record(mixer, qualified)
        return info

    # -------------------------------------------------------------- names of classes
    def _record(self, cls: type, qualified: str) -> None:
        """Record ``cls``'s qualified name (the first registration wins) on the registry and the class."""
        if cls in self._names:
            return
        self._names[cls] = qualified
        if not isinstance(cls.__dict__.get(_NAME_ATTRIBUTE), str):
            type.__setattr__(cls, _NAME_ATTRIBUTE, qualified)

    def name_of(self, cls: type) -> str | None:
        """The qualified name under which ``cls`` is registered (lazy entries are matched by their
        ``"module:Class"`` path without importing anything), or ``None``."""
        if cls in self._names:
            return self._names[cls]
        path = f"{cls.__module__}:{cls.__qualname__}"
        for info in self._entries.values():
            if info.target == path:
                self._record(cls, info.name)
                return info.name
        return None

    def release(self) -> None:
        """Take back the names this registry recorded on classes (when the registry is replaced)."""
        for cls, qualified in self._names.items():
            if cls.__dict__.get(_NAME_ATTRIBUTE) == qualified:
                type.__delattr__(cls, _NAME_ATTRIBUTE)
        self._names.clear()

    # -------------------------------------------------------------- queries
    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, sorted by name."""
        return sorted(self._plugins.values(), key=lambda p: p.name)

    def broken_plugins(self) -> list[PluginInfo]:
        """Plugins that failed to load or to register their mixers."""
        return [p for p in self.plugins() if p.status == "failed"]

    def list(self, pattern: str | None = None, modality: str | None = None) -> list[MixerInfo]:
        """Entries whose qualified or bare name matches the fnmatch ``pattern``, naturally sorted."""
        out = []
        pat = normalize_name(pattern) if pattern else None
        for info in self._entries.values():
            if modality is not None and info.modality not in (modality, "any"):
                continue
            if pat is not None and not (
                fnmatch.fnmatchcase(info.name, pat)
                or fnmatch.fnmatchcase(info.bare, pat)
                or pat in (info.name, info.bare)
            ):
                continue
            out.append(info)
        return sorted(out, key=lambda i: _natural_key(i.name))

    def __contains__(self, name: object) -> bool:
        try:
            self.get(str(name))
        except KeyError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> MixerInfo:
        """Resolve a qualified or bare name to its entry (errors as described in the class docstring)."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a mixer name must be a non-empty string, got {name!r}")
        key = normalize_name(name)
        if ":" in key:
            plugin, _, bare = key.partition(":")
            if key in self._entries:
                return self._entries[key]
            for info in self._entries.values():
                if info.plugin == plugin and bare in info.aliases:
                    return info
            broken = self._plugins.get(plugin)
            if broken is not None and broken.status == "failed":
                raise PluginLoadError(
                    f"mixer {name!r} is provided by the plugin {plugin!r} ({broken.distribution or 'in-process'}), "
                    f"which failed to load: {type(broken.error).__name__}: {broken.error}. See `mixup plugins`."
                ) from broken.error
            if broken is not None and broken.status == "disabled":
                raise UnknownMixerError(f"mixer {name!r}: the plugin {plugin!r} is disabled ({broken.error})")
            self._unknown(name, key)
        matches = [i for i in self._entries.values() if i.bare == key or key in i.aliases]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            choices = ", ".join(sorted(repr(m.name) for m in matches))
            raise AmbiguousMixerError(
                f"mixer name {name!r} is ambiguous: it is provided by several plugins; use one of {choices}"
            )
        self._unknown(name, key)
        raise AssertionError  # unreachable

    def _unknown(self, name: str, key: str) -> None:
        names = sorted(set(self._entries) | {i.bare for i in self._entries.values()})
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
        close_q = []
        for c in close:
            if ":" in c:
                close_q.append(c)
            else:
                close_q.extend(i.name for i in self._entries.values() if i.bare == c)
        suggestion = f" Did you mean {' or '.join(repr(c) for c in dict.fromkeys(close_q))}?" if close_q else ""
        modality = key.partition(":")[0] if ":" in key else None
        pool = [i.name for i in self._entries.values() if modality is None or i.plugin == modality]
        listing = f" Installed mixers: {', '.join(sorted(pool)) or 'none'}."
        broken = self.broken_plugins()
        note = ""
        if broken:
            note = " Plugins that failed to load: " + "; ".join(
                f"{p.name} ({type(p.error).__name__}: {p.error})" for p in broken
            ) + "."
        error = UnknownMixerError(f"Unknown mixer {name!r}.{suggestion}{listing}{note}")
        if broken:
            raise error from broken[0].error
        raise error
