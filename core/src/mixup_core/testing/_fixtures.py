"""pytest fixtures shipped with mixup-core (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .._plugins import get_registry, register_plugin, unregister_plugin
from .._registry import MixerRegistry

__all__ = ["mixup_temp_plugin"]


@pytest.fixture
def mixup_temp_plugin() -> Iterator[Callable[[object, str], MixerRegistry]]:
    """Register in-process plugins for one test; they are removed afterwards.

    Example::

        def test_my_plugin(mixup_temp_plugin):
            registry = mixup_temp_plugin(my_plugin_module, "mine")
            assert "mine:my-mixer" in registry
    """
    names: list[str] = []

    def register(plugin: object, name: str) -> MixerRegistry:
        names.append(name)
        register_plugin(plugin, name)
        return get_registry()

    try:
        yield register
    finally:
        for name in names:
            unregister_plugin(name)
