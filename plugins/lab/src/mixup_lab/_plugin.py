"""Entry point of the ``lab`` plugin: the ``compare``, ``tune`` and ``report`` commands."""

from __future__ import annotations

from typing import Any

from mixup_core import hookimpl


@hookimpl
def mixup_cli_commands(subparsers: Any) -> None:
    """Add ``mixup compare``, ``mixup tune`` and ``mixup report``."""
    from ._cli import add_commands

    add_commands(subparsers)
