"""A plugin module that cannot be imported (test data for mixup-core's plugin loader)."""

from __future__ import annotations

MESSAGE = "mixup_broken needs the package 'not-installed-dependency', which is missing"

raise ImportError(MESSAGE)
