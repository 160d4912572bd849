"""Exception types raised by mixup-core.

Every error names the argument it is about and quotes the offending value, so that a wrong config
or a wrong batch is fixed from the message alone.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousMixerError",
    "ConfigError",
    "MissingPluginError",
    "MixupError",
    "PluginLoadError",
    "UnknownMixerError",
    "format_validation_error",
    "one_line",
]


class MixupError(Exception):
    """Base class of every error raised on purpose by mixup-core and its plugins."""


class ConfigError(MixupError, ValueError):
    """A configuration or argument is invalid (unknown key, value out of range, wrong type)."""


class UnknownMixerError(MixupError, KeyError):
    """No installed plugin provides a mixer of that name.

    A `KeyError` subclass, so ``except KeyError`` keeps working; its message is shown as is
    (``KeyError`` would otherwise quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AmbiguousMixerError(UnknownMixerError):
    """A bare mixer name is provided by several plugins; the message lists the qualified names."""


class PluginLoadError(MixupError, ImportError):
    """A plugin failed to load; raised (chained to the original error) when one of its mixers is asked for."""


class MissingPluginError(MixupError, ImportError):
    """A config requires a plugin distribution that is missing or has the wrong version."""


def format_validation_error(exc: BaseException) -> str:
    """One line per problem of a pydantic ``ValidationError``: ``field=value: message``."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        ctx = err.get("ctx") or {}
        if err.get("type") == "value_error" and "error" in ctx:
            parts.append(str(ctx["error"]))
            continue
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}={err.get('input')!r}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)


def one_line(message: object) -> str:
    """``message`` (an exception or text) on one line: its lines stripped and joined, empty lines dropped.

    The ``mixup`` command prints every error as one line ``mixup: error: …``; parsers (YAML, JSON) write
    multi-line messages that this flattens.

    Examples:
        >>> one_line("while parsing a flow sequence\\n  in \"<unicode string>\", line 1\\n")
        'while parsing a flow sequence in "<unicode string>", line 1'
    """
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())
