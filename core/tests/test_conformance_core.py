"""The conformance kit applied to core's own mixers, in their main configurations."""

from __future__ import annotations

from mixup_core.testing import MixerConformanceTests


class TestMixupBatch(MixerConformanceTests):
    mixer_name = "core:mixup"


class TestMixupSampleMode(MixerConformanceTests):
    mixer_name = "mixup"
    mixer_params = {"mode": "sample", "alpha": 0.4}


class TestMixupFlat(MixerConformanceTests):
    mixer_name = "mixup"
    sample_shape = (7,)


class TestChoice(MixerConformanceTests):
    mixer_name = "choice"
    mixer_params = {"mixers": [{"name": "mixup", "alpha": 0.2}, {"name": "mixup", "mode": "sample"}], "weights": [1, 3]}
