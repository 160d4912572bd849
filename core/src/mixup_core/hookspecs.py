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
    import argparse

    from ._components import ComponentRegistry, DataGuess
    from ._mixer import Mixer
    from ._registry import MixerInfo, MixerRegistry

__all__ = [
    "PreviewOptions",
    "hookimpl",
    "hookspec",
    "mixup_cli_commands",
    "mixup_detect_data",
    "mixup_preview",
    "mixup_register_datasets",
    "mixup_register_mixers",
    "mixup_register_models",
]

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


@hookspec
def mixup_register_datasets(registry: ComponentRegistry) -> None:
    """Register named data sets for experiments (``mixup compare``), as loaders returning `TaskData`.

    A loader is called with the parameters of the config's ``dataset`` section (sizes, a split
    seed, a data folder …) and returns a `mixup_core.TaskData`. Register lazily with
    ``"module:function"`` so that listing never imports heavy dependencies.

    :param registry: the data-set `ComponentRegistry`.

    Example::

        @hookimpl
        def mixup_register_datasets(registry):
            registry.add("my_pkg.data:load_leaves", name="leaves", modality="image",
                         summary="Leaf photos, 12 classes")
    """


@hookspec
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register named model factories for experiments (``mixup compare``).

    A factory is called as ``factory(data, **params)`` with the experiment's `TaskData` and the
    config's ``model`` parameters, and returns an ``nn.Module`` whose output is the logits (a
    tensor, or an object with a ``logits`` attribute).

    :param registry: the model `ComponentRegistry`.
    """


@hookspec
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise a user's data at ``path`` (a folder or a table) for ``mixup init``.

    Return a `mixup_core.data.DataGuess` (the data set with its parameters, a model, arms suited to
    the modality, and a confidence ``score``) when the layout is one of the plugin's registered data
    sets (``image:folder``, ``audio:folder``, ``text:table`` …), or ``None``. Every plugin is asked;
    the highest score wins. Look only at names, headers and a few files: this runs before anything
    is loaded.

    :param path: the path given to ``mixup init``, as an absolute `pathlib.Path`.
    """


@hookspec
def mixup_cli_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``mixup`` command line.

    Add a parser with ``subparsers.add_parser(name, help=...)`` and give it a handler with
    ``parser.set_defaults(func=handler)``; the handler takes the parsed ``argparse.Namespace``
    and returns the exit status. Errors derived from `mixup_core.MixupError` print as
    ``mixup: error: …`` with status 2.

    :param subparsers: the ``mixup`` parser's sub-parsers.
    """
