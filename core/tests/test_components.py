"""Data sets and models registered for experiments, the CLI hook, and the generic mixed step."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

from mixup_core import (
    ComponentRegistry,
    ConfigError,
    MixedForward,
    ModelContext,
    TaskData,
    UnknownComponentError,
    create_mixer,
    get_datasets,
    get_models,
    hookimpl,
    mixed_step,
    output_logits,
)
from mixup_core.cli import main


def _data(**_: Any) -> TaskData:
    """Two Gaussian blobs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=g)
    y = torch.arange(40) % 2
    x[y == 1] += 2.0
    return TaskData(
        TensorDataset(x[:30], y[:30]), TensorDataset(x[30:], y[30:]), 2, ["a", "b"], "any", input_shape=(6,)
    )


def _model(data: TaskData, hidden: int = 4) -> torch.nn.Module:
    """A tiny MLP."""
    return torch.nn.Sequential(
        torch.nn.Linear(data.input_shape[0], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, data.num_classes)
    )


def _module(**hooks: Any) -> types.ModuleType:
    mod = types.ModuleType("plugin_under_test")
    for name, fn in hooks.items():
        setattr(mod, name, fn)
    return mod


def _plugin() -> types.ModuleType:
    @hookimpl
    def mixup_register_datasets(registry: ComponentRegistry) -> None:
        registry.add(_data, name="blobs", modality="any")
        registry.add("mixup_core._components:TaskData", name="lazy-thing", modality="image", summary="lazy")

    @hookimpl
    def mixup_register_models(registry: ComponentRegistry) -> None:
        registry.add(_model, name="tiny-mlp", modality="any")

    def run(args: Any) -> int:
        sys.stdout.write(f"hello {args.who}\n")
        return 0

    @hookimpl
    def mixup_cli_commands(subparsers: Any) -> None:
        p = subparsers.add_parser("hello", help="say hello")
        p.add_argument("who")
        p.set_defaults(func=run)

    return _module(
        mixup_register_datasets=mixup_register_datasets,
        mixup_register_models=mixup_register_models,
        mixup_cli_commands=mixup_cli_commands,
    )


def test_hook_mixup_register_datasets(mixup_temp_plugin: Any) -> None:
    mixup_temp_plugin(_plugin(), "demo")
    info = get_datasets().get("blobs")
    assert info.name == "demo:blobs"
    assert info.summary == "Two Gaussian blobs."
    data = info.load()()
    model = get_models().get("demo:tiny-mlp").load()(data, hidden=3)
    assert model(torch.randn(2, 6)).shape == (2, 2)
    assert get_datasets().get("lazy_thing").load() is TaskData  # lazy, "_" = "-"
    assert [i.name for i in get_datasets().list("*blob*")] == ["demo:blobs"]
    assert get_datasets().list(modality="audio") == [
        i for i in get_datasets().list(modality="audio") if i.modality in ("audio", "any")
    ]


def test_unknown_and_ambiguous_names(mixup_temp_plugin: Any) -> None:
    mixup_temp_plugin(_plugin(), "demo")
    mixup_temp_plugin(_plugin(), "other")
    with pytest.raises(UnknownComponentError, match="did you mean 'demo:blobs'"):
        get_datasets().get("demo:blob")
    with pytest.raises(ConfigError, match=r"ambiguous.*demo:blobs, other:blobs"):
        get_datasets().get("blobs")
    assert get_datasets().get("other:blobs").plugin == "other"
    with pytest.raises(ConfigError, match="non-empty"):
        get_models().get("")


def test_failing_registration_is_isolated(mixup_temp_plugin: Any) -> None:
    @hookimpl
    def mixup_register_datasets(registry: ComponentRegistry) -> None:
        raise RuntimeError("broken data")

    mixup_temp_plugin(_module(mixup_register_datasets=mixup_register_datasets), "bad")
    mixup_temp_plugin(_plugin(), "demo")
    assert "demo:blobs" in get_datasets()
    assert isinstance(get_datasets().errors["bad"], RuntimeError)
    with pytest.raises(UnknownComponentError, match="failed to register theirs: bad"):
        get_datasets().get("nothing-here")


def test_add_outside_a_hook_and_bad_targets() -> None:
    reg = ComponentRegistry("model")
    with pytest.raises(RuntimeError, match="mixup_register_models"):
        reg.add(_model, name="m", modality="any")
    reg._plugin = "p"
    with pytest.raises(ConfigError, match="module:attribute"):
        reg.add("no_colon", name="m", modality="any")
    with pytest.raises(ConfigError, match="bare name"):
        reg.add(_model, name="a:b", modality="any")
    reg.add(_model, name="m", modality="any")
    with pytest.raises(ConfigError, match="twice"):
        reg.add(_model, name="m", modality="any")


def test_taskdata_validates() -> None:
    ds = TensorDataset(torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match="class_names has 1 names"):
        TaskData(ds, ds, 2, ["a"], "any")
    with pytest.raises(ValueError, match="num_classes"):
        TaskData(ds, ds, 1, ["a"], "any")
    with pytest.raises(ValueError, match="test split is empty"):
        TaskData(ds, TensorDataset(torch.zeros(0, 1), torch.zeros(0)), 2, ["a", "b"], "any")


def test_hook_mixup_cli_commands(mixup_temp_plugin: Any, capsys: pytest.CaptureFixture[str]) -> None:
    mixup_temp_plugin(_plugin(), "demo")
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "demo:blobs" in out
    assert "demo:tiny-mlp" in out
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out.strip() == "hello world"


def test_mixed_step_input_level_matches_a_manual_step() -> None:
    data = _data()
    torch.manual_seed(0)
    model = _model(data)
    x, y = data.train.tensors[0][:8], data.train.tensors[1][:8]
    mixer = create_mixer({"name": "mixup", "alpha": 1.0})
    step = mixed_step(model, x, y, mixer=mixer, generator=torch.Generator().manual_seed(3), num_classes=2)
    manual = mixer(x, y, generator=torch.Generator().manual_seed(3), num_classes=2)
    torch.testing.assert_close(step.logits, model(manual.inputs))
    torch.testing.assert_close(step.targets.dense(), manual.targets.dense())
    torch.testing.assert_close(step.targets.dense().sum(1), torch.ones(8))
    step.loss().backward()
    assert all(p.grad is not None for p in model.parameters())
    base = mixed_step(model, x, y, mixer=None, num_classes=2)
    assert base.targets is None
    torch.testing.assert_close(base.loss(), torch.nn.functional.cross_entropy(model(x), y))


def test_mixed_step_passes_protected_and_model() -> None:
    seen: dict[str, Any] = {}

    class Spy(type(create_mixer("mixup"))):  # type: ignore[misc]
        context_type = ModelContext  # its call arguments include model=, so mixed_step passes the model

        def __call__(self, inputs: Any, targets: Any = None, **kw: Any) -> Any:
            seen["model"], seen["protected"] = kw.get("model"), kw.get("protected")
            return super().__call__(inputs, targets, **kw)

    data = _data()
    model = _model(data)
    x, y = data.train.tensors[0][:6], data.train.tensors[1][:6]
    mask = torch.tensor([True, False, False, False, False, False])
    mixed_step(model, x, y, mixer=Spy(), generator=torch.Generator().manual_seed(0), num_classes=2, protected=mask)
    assert seen["model"] is model
    assert seen["protected"] is mask


def test_mixed_step_uses_forward_of_hidden_layer_mixers() -> None:
    class Hidden(type(create_mixer("mixup"))):  # type: ignore[misc]
        def forward(
            self, model: Any, inputs: Any, targets: Any = None, *, generator: Any = None, num_classes: Any = None
        ) -> MixedForward:
            out = self(inputs, targets, generator=generator, num_classes=num_classes)
            return MixedForward(output=(model(out.inputs) * 0 + 7.0,), targets=out.targets, plan=out.plan, layer="x")

    data = _data()
    model = _model(data)
    step = mixed_step(model, data.train.tensors[0][:4], data.train.tensors[1][:4], mixer=Hidden(), num_classes=2,
                      generator=torch.Generator().manual_seed(0))
    assert torch.all(step.logits == 7.0)
    assert step.plan is not None


def test_mixed_step_errors() -> None:
    model = torch.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="targets"):
        mixed_step(model, torch.zeros(2, 3), [0, 1], mixer=None, num_classes=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mixer must be"):
        mixed_step(model, torch.zeros(2, 3), torch.tensor([0, 1]), mixer="mixup", num_classes=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no logits"):
        output_logits({"a": 1})


def test_hook_mixup_register_models(mixup_temp_plugin: Any) -> None:
    mixup_temp_plugin(_plugin(), "demo")
    info = get_models().get("tiny-mlp")
    assert (info.name, info.kind, info.modality) == ("demo:tiny-mlp", "model", "any")
    torch.manual_seed(0)
    a = info.load()(_data())
    torch.manual_seed(0)
    b = info.load()(_data())
    torch.testing.assert_close(a[0].weight, b[0].weight)


def test_a_mixer_that_runs_the_step_itself() -> None:
    from mixup_core import MixedStep, Mixup, mixer_dataclass

    calls: list[Any] = []

    @mixer_dataclass
    class Stepper(Mixup):
        def runs_step(self, inputs: Any) -> bool:
            calls.append(inputs)
            return isinstance(inputs, dict)

        def mixed_step(self, model: Any, inputs: Any, targets: Any, **kwargs: Any) -> MixedStep:
            return MixedStep(model(inputs["x"]), None, targets)

    model = torch.nn.Linear(3, 2)
    mixer = Stepper()
    y = torch.tensor([0, 1])
    step = mixed_step(model, {"x": torch.ones(2, 3)}, y, mixer=mixer, num_classes=2)
    torch.testing.assert_close(step.logits, model(torch.ones(2, 3)))
    step = mixed_step(
        model, torch.ones(2, 3), y, mixer=mixer, num_classes=2, generator=torch.Generator().manual_seed(0)
    )
    assert step.targets is not None  # the mixer declined; the generic path mixed
    assert len(calls) == 2
