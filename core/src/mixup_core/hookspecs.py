"""Hook specifications of the ``mixup`` plugin system (pluggy project name ``"mixup"``).

A plugin is a module (or any object) with functions marked by :data:`hookimpl`, made known to
mixup-core through an entry point in the group ``mixup``; the entry point's name is the plugin
name used in qualified mixer names (``image:cutmix``). Every hook name starts with ``mixup_``;
a function with that prefix that matches no hook is an error, so misspellings never pass silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._registry import MixerRegistry

__all__ = ["hookimpl", "hookspec", "mixup_register_mixers"]

hookspec = pluggy.HookspecMarker("mixup")
"""Marker of hook specifications (used by mixup-core only)."""

hookimpl = pluggy.HookimplMarker("mixup")
"""Marker of hook implementations, re-exported as ``mixup_core.hookimpl``."""


@hookspec
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the plugin's mixers.

    Called once per plugin when the registry is built. Call ``registry.add(...)`` for each mixer:
    with a :class:`~mixup_core.Mixer` subclass, or lazily with ``"module:Class"`` plus ``name``,
    ``modality`` and ``summary``, so that listing mixers never imports heavy dependencies.
    The registry records the plugin, distribution and version of each entry.

    :param registry: the :class:`~mixup_core.MixerRegistry` being built.

    Example::

        from mixup_core import hookimpl

        @hookimpl
        def mixup_register_mixers(registry):
            registry.add(MyMixer)
            registry.add("my_pkg._heavy:HeavyMixer", name="heavy", modality="audio",
                         summary="A mixer whose module imports torchaudio.")
    """
