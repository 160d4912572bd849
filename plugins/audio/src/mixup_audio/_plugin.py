"""Entry point of the ``audio`` plugin: registers its mixers with mixup-core."""

from __future__ import annotations

from mixup_core import MixerRegistry, hookimpl


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the audio mixers (none yet: this distribution is a skeleton)."""
