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


def test_standard_tests_reach_the_mixer_through_the_helpers() -> None:
    """`call`, `apply` and `sample` are the only ways in, so a subclass can move the kit to a device."""
    import torch

    seen: list[str] = []

    class Recording(MixerConformanceTests):
        mixer_name = "core:mixup"
        checks_target_values = False

        def call(self, mixer, inputs, targets, **kwargs):  # type: ignore[no-untyped-def]
            seen.append("call")
            return super().call(mixer, inputs, targets, **kwargs)

        def apply(self, mixer, inputs, plan):  # type: ignore[no-untyped-def]
            seen.append("apply")
            return super().apply(mixer, inputs, plan)

        def sample(self, mixer, inputs, targets, *, generator):  # type: ignore[no-untyped-def]
            seen.append("sample")
            return super().sample(mixer, inputs, targets, generator=generator)

    case = Recording()
    case.test_plan_replay()
    assert seen == ["call", "apply", "sample"]
    seen.clear()
    case.test_identity()
    assert seen[-1] == "apply"
    # with checks_target_values = False an out-of-range label is not required to raise
    case.test_exception()
    out = case.call(case.make_mixer(), case.make_inputs(4), torch.tensor([0, 1, 2, 3]))
    assert out.inputs.shape[0] == 4
