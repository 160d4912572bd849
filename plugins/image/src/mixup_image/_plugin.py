"""Entry point of the ``image`` plugin: registers its mixers with mixup-core."""

from __future__ import annotations

from mixup_core import MixerRegistry, hookimpl


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the image mixers (none yet: this distribution is a skeleton)."""
