"""Conformance kit for mixers (install ``mixup-core[testing]``).

A plugin tests each of its mixers by subclassing `MixerConformanceTests` and setting a few
class attributes::

    from mixup_core.testing import MixerConformanceTests

    class TestCutMix(MixerConformanceTests):
        mixer_name = "image:cutmix"
        mixer_params = {"alpha": 1.0}

Every standard test then runs for that mixer. A subclass may override a standard test only to
mark it ``pytest.mark.xfail(reason=...)``; ``test_standard_tests_kept`` fails otherwise.
"""

from __future__ import annotations

from ._kit import STANDARD_TESTS, MixerConformanceTests, identity_inputs, source_shares

__all__ = ["STANDARD_TESTS", "MixerConformanceTests", "identity_inputs", "source_shares"]
