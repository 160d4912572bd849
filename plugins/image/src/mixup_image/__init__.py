"""mixup-image: image mixers for mixup-core, registered under the prefix ``image:``."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
