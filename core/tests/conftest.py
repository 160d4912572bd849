"""Shared fixtures of core's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mixup_core


@pytest.fixture
def core_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry with core's mixers only, whatever plugins are installed in the environment.

    In-process plugins are loaded only when named in ``MIXUP_LOAD_PLUGINS``: a test that registers
    some sets the variable to their names before building the registry.
    """
    monkeypatch.setenv("MIXUP_LOAD_PLUGINS", "")
    monkeypatch.delenv("MIXUP_DISABLE_PLUGINS", raising=False)
    mixup_core.reset_registry()
    yield
    mixup_core.reset_registry()
