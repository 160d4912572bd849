"""Hook specifications of the ``mixup`` plugin system (pluggy project name ``"mixup"``).

A plugin is a module (or any object) with functions marked by `hookimpl`, made known to
mixup-core through an entry point in the group ``mixup``; the entry point's name is the plugin
name used in qualified mixer names (``image:cutmix``). Every hook name starts with ``mixup_``;
a function with that prefix that matches no hook is an error, so misspellings never pass silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._mixer import Mixer
    from ._registry import MixerInfo, MixerRegistry

__all__ = ["PreviewOptions", "hookimpl", "hookspec", "mixup_preview", "mixup_register_mixers"]

hookspec = pluggy.HookspecMarker("mixup")
"""Marker of hook specifications (used by mixup-core only)."""

hookimpl = pluggy.HookimplMarker("mixup")
"""Marker of hook implementations, re-exported as ``mixup_core.hookimpl``."""


@dataclass(frozen=True)
class PreviewOptions:
    """Options of ``mixup preview``, passed to `mixup_preview`.

    Args:
        out: path of the picture to write (PNG).
        inputs: a folder of examples (images, audio clips …), or ``None``.
        dataset: a named example set known to the plugin, or ``None`` for its default.
        batch_size: how many examples to mix.
        seed: seed of the ``torch.Generator`` used for the plan.
    """

    out: Path
    inputs: Path | None = None
    dataset: str | None = None
    batch_size: int = 4
    seed: int = 0


@hookspec
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the plugin's mixers.

    Called once per plugin when the registry is built. Call ``registry.add(...)`` for each mixer:
    with a `Mixer` subclass, or lazily with ``"module:Class"`` plus ``name``,
    ``modality`` and ``summary``, so that listing mixers never imports heavy dependencies.
    The registry records the plugin, distribution and version of each entry.

    :param registry: the `MixerRegistry` being built.

    Example::

        from mixup_core import hookimpl

        @hookimpl
        def mixup_register_mixers(registry):
            registry.add(MyMixer)
            registry.add("my_pkg._heavy:HeavyMixer", name="heavy", modality="audio",
                         summary="A mixer whose module imports torchaudio.")
    """


@hookspec(firstresult=True)
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Draw a preview of what ``mixer`` does (originals, masks, mixes, label weights) to a file.

    ``mixup preview NAME`` calls this hook; the first plugin that handles the mixer's modality
    (``info.modality``) writes ``options.out`` and returns its path; the others return ``None``.

    :param mixer: the mixer built from the command line's name and ``--param`` values.
    :param info: its registry entry (modality, plugin, summary …).
    :param options: where to read examples from and where to write the picture.
    """
