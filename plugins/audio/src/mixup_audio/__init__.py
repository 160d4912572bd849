"""mixup-audio: audio mixers for mixup-core, registered under the prefix ``audio:``."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
