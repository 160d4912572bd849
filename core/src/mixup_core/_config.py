"""Configuration by name: specs, config files, required plugins, and the registry names of mixers."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata as md
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from ._errors import ConfigError, MissingPluginError, UnknownMixerError, format_validation_error, one_line
from ._mixer import Mixer, field_default
from ._plugins import get_registry
from ._registry import MixerInfo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "MixerSpec",
    "check_requires",
    "create_mixer",
    "describe_mixer",
    "list_mixers",
    "load_config",
    "mixer_from_config",
    "qualified_name",
    "to_config",
]

MixerSpec = Union[Mixer, str, Mapping[str, Any]]
"""A mixer, a name (``"cutmix"``, ``"image:cutmix"``) or a mapping ``{"name": ..., **params}``."""

def _to_container(obj: Any) -> Any:
    """Turn OmegaConf/Hydra config objects into plain containers (without importing OmegaConf otherwise)."""
    if type(obj).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(obj, resolve=True)
    return obj

def _resolve_class(name: str) -> tuple[type[Mixer], str]:
    plugin_part, sep, attr = name.partition(":")
    if sep and "." in plugin_part:
        # an import path "package.module:Class", for unregistered mixers
        try:
            obj: Any = importlib.import_module(plugin_part)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise UnknownMixerError(f"Unknown mixer {name!r}: cannot import it ({type(exc).__name__}: {exc})") from exc
        if not (isinstance(obj, type) and issubclass(obj, Mixer)):
            raise ConfigError(f"{name!r} is not a Mixer subclass")
        return obj, name
    info = get_registry().get(name)
    return info.load(), info.name

def create_mixer(spec: MixerSpec, **params: Any) -> Mixer:
    """Build a mixer from a name, a mapping or an instance.

    Args:
        spec: a `Mixer` (returned as is), a name (bare ``"mixup"`` when unique, or qualified
            ``"core:mixup"``; ``"package.module:Class"`` for an unregistered class), or a mapping
            ``{"name": ..., **params}`` (OmegaConf/Hydra objects are accepted). A mapping may list
            ``"requires": ["mixup-audio>=0.1"]``, checked first. Nested specs (``choice``) work.
        **params: parameters added to (or overriding) those of the spec.

    Raises:
        UnknownMixerError: no such mixer (with "did you mean" and the broken plugins).
        AmbiguousMixerError: a bare name provided by several plugins.
        ConfigError: unknown parameters or invalid values (the message quotes them).
        PluginLoadError: the mixer's plugin failed to load (chained to the original error).

    Examples:
        >>> create_mixer({"name": "mixup", "alpha": 0.2, "mode": "sample"})
        Mixup(alpha=0.2, mode='sample')
    """
    spec = _to_container(spec)
    if isinstance(spec, Mixer):
        if params:
            raise ConfigError(f"parameters {sorted(params)} cannot be applied to an existing mixer instance {spec!r}")
        return spec
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping):
        options = dict(spec)
        if "name" not in options:
            raise ConfigError(f"a mixer mapping needs a 'name' key, got keys {sorted(options)}")
        name = options.pop("name")
        if "requires" in options:
            check_requires(options.pop("requires"))
    else:
        raise ConfigError(
            f"a mixer spec is a Mixer, a name or a mapping with 'name', got {type(spec).__name__}: {spec!r}"
        )
    if not isinstance(name, str):
        raise ConfigError(f"a mixer name must be a string, got name={name!r}")
    options.update(params)
    cls, qualified = _resolve_class(name)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in options if k not in fields]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), fields, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown parameter {', '.join(hints)} for mixer {qualified!r}; its parameters are: {', '.join(fields)}"
        )
    for key in cls.nested_mixers:
        if key in options:
            options[key] = _build_nested(options[key])
    try:
        return cls(**options)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid parameters for mixer {qualified!r}: {format_validation_error(exc)}") from exc

def _build_nested(value: Any) -> Any:
    """The mixers of a parameter that holds mixers (``Choice.mixers``): a spec or a list of specs, built."""
    value = _to_container(value)
    if isinstance(value, (list, tuple)):
        return [create_mixer(v) for v in value]
    return create_mixer(value)


def qualified_name(mixer: type[Mixer] | Mixer) -> str:
    """The registry name of a mixer class (or of an instance's class): ``plugin:name``, or
    ``module:Class`` for a class that no plugin registers. Builds the registry when needed.

    Examples:
        >>> from mixup_core import Mixup
        >>> qualified_name(Mixup)
        'core:mixup'
    """
    cls = mixer if isinstance(mixer, type) else type(mixer)
    name = get_registry().name_of(cls)
    return name if name is not None else cls.qualified_name()


def to_config(mixer: Mixer) -> dict[str, Any]:
    """A mapping that `create_mixer` turns back into an equal mixer, named as the registry names it.

    The same as ``mixer.to_config()`` once the registry has seen the mixer's class (and those of the
    mixers it holds); this function builds the registry first, so the names are the registry's in any case.

    Examples:
        >>> from mixup_core import Mixup
        >>> to_config(Mixup(alpha=0.2, mode="sample"))
        {'name': 'core:mixup', 'alpha': 0.2, 'mode': 'sample'}
    """
    if not isinstance(mixer, Mixer):
        raise TypeError(f"to_config takes a mixup_core.Mixer, got {type(mixer).__name__}: {mixer!r}")
    _resolve_names(mixer)
    return mixer.to_config()


def _resolve_names(mixer: Mixer) -> None:
    qualified_name(mixer)
    for key in type(mixer).nested_mixers:
        value = getattr(mixer, key, None)
        for inner in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(inner, Mixer):
                _resolve_names(inner)


def list_mixers(pattern: str | None = None, modality: str | None = None) -> list[MixerInfo]:
    """Installed mixers, as `MixerInfo` records (``name``, ``modality``, ``plugin``,
    ``distribution``, ``version``, ``summary`` …), naturally sorted by qualified name.

    Args:
        pattern: fnmatch pattern on the qualified or bare name (``"image:*"``, ``"*mix"``).
        modality: keep mixers of this modality (mixers of modality ``"any"`` are always kept).

    Examples:
        >>> [m.name for m in list_mixers("core:*")]
        ['core:choice', 'core:mixup']
    """
    return get_registry().list(pattern, modality)

def describe_mixer(name: str) -> dict[str, Any]:
    """Everything known about a mixer: provenance, paper, cost, and its parameters with defaults and ranges.

    Examples:
        >>> describe_mixer("mixup")["params"]["alpha"]["default"]
        1.0
    """
    info = get_registry().get(name)
    cls = info.load()
    schema = cls.param_schema()
    params: dict[str, Any] = {}
    defaults = {f.name: field_default(f) for f in dataclasses.fields(cls)}
    for key, prop in schema.get("properties", {}).items():
        entry = {k: v for k, v in prop.items() if k != "title"}
        if "default" not in entry and defaults.get(key) is not dataclasses.MISSING:
            entry["default"] = defaults.get(key)
        params[key] = entry
    doc = (cls.__doc__ or "").strip()
    return {**info.to_dict(), "params": params, "doc": doc}

def load_config(source: str | Path | Mapping[str, Any] | Any) -> dict[str, Any]:
    """Read a config from a YAML, TOML or JSON file, an OmegaConf/Hydra object or a mapping.

    Examples:
        >>> load_config({"mixer": {"name": "mixup"}})
        {'mixer': {'name': 'mixup'}}
    """
    source = _to_container(source)
    if isinstance(source, Mapping):
        return dict(source)
    if not isinstance(source, (str, Path)):
        raise ConfigError(f"a config is a path, a mapping or an OmegaConf object, got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"config file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); a config "
                          f"is a YAML, TOML or JSON text file (got {str(path)!r})") from None
    except OSError as exc:
        raise ConfigError(f"config file: cannot be read ({exc.strerror}) (got {str(path)!r})") from None
    if "\x00" in text:
        raise ConfigError(f"config file: a binary file, not YAML, TOML or JSON text (got {str(path)!r})")
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config files are .yaml, .yml, .toml or .json, got {str(path)!r}")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"config file: cannot be parsed: {one_line(exc)} (got {str(path)!r})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at top level, got {type(data).__name__}")
    return dict(data)

def mixer_from_config(source: str | Path | Mapping[str, Any] | Any) -> Mixer:
    """Build the mixer of a config: either a mixer spec itself, or a document with a ``mixer`` key
    and optional ``requires`` (checked before anything is built).

    Examples:
        >>> mixer_from_config({"requires": ["mixup-core>=0.1"], "mixer": {"name": "mixup", "alpha": 0.4}})
        Mixup(alpha=0.4)
    """
    doc = load_config(source)
    if "mixer" in doc:
        check_requires(doc.get("requires") or [])
        return create_mixer(doc["mixer"])
    return create_mixer(doc)

def check_requires(requires: Iterable[str] | str) -> None:
    """Check that required distributions are installed with matching versions.

    Args:
        requires: requirement strings such as ``"mixup-audio>=0.1,<0.2"``.

    Raises:
        MissingPluginError: naming the requirement and the ``pip install`` command that fixes it.
    """
    if isinstance(requires, str):
        requires = [requires]
    for text in requires:
        try:
            req = Requirement(str(text))
        except InvalidRequirement as exc:
            raise ConfigError(f"invalid requirement {text!r} in requires: {exc}") from exc
        try:
            version = md.version(req.name)
        except md.PackageNotFoundError:
            raise MissingPluginError(
                f"the config requires {str(req)!r}, which is not installed; install it with: pip install '{req}'"
            ) from None
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise MissingPluginError(
                f"the config requires {str(req)!r}, but {req.name} {version} is installed; "
                f"install a matching version with: pip install '{req}'"
            )

