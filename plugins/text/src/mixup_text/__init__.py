"""mixup-text: text mixers for mixup-core, registered under the prefix ``text:``."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
