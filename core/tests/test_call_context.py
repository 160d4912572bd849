"""The per-call context of the Mixer protocol (`CallContext`, `Mixer.bind`), the registry's names of mixer
classes, and the layering of mixup-core."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest
import torch

from mixup_core import (
    CallContext,
    Choice,
    ChoicePlan,
    Mixup,
    ModelContext,
    UnknownMixerError,
    create_mixer,
    get_registry,
    mixer_dataclass,
    qualified_name,
    register_plugin,
    to_config,
    unregister_plugin,
)


@dataclass(frozen=True, kw_only=True)
class ScaleContext(CallContext):
    scale: torch.Tensor | None = None


@mixer_dataclass
class Scaled(Mixup):
    """A mixup that multiplies λ by a per-call scale (only to exercise the call context)."""

    name: ClassVar[str] = "scaled"
    context_type: ClassVar[type[CallContext]] = ScaleContext

    def check_context(self, context: CallContext, inputs: torch.Tensor) -> CallContext:
        scale = cast(ScaleContext, context).scale
        if scale is not None and tuple(scale.shape) != (inputs.shape[0],):
            raise ValueError(f"scale must have shape ({inputs.shape[0]},), got scale.shape={tuple(scale.shape)}")
        return context if scale is None else context.replace(scale=scale.float())

    def _make_plan(self, inputs, index, lam, *, generator):  # type: ignore[no-untyped-def]
        scale = cast(ScaleContext, self.context).scale
        seen.append(scale)
        return super()._make_plan(inputs, index, lam if scale is None else lam * scale, generator=generator)


seen: list[Any] = []


def _g() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_call_arguments_reach_the_mixer_through_a_bound_copy() -> None:
    seen.clear()
    mixer = Scaled()
    x, scale = torch.randn(4, 3), torch.tensor([1, 1, 0, 0])
    out = mixer(x, generator=_g(), scale=scale)
    assert seen[-1].dtype == torch.float32  # checked and converted by check_context
    assert "_call_values" not in mixer.__dict__  # the mixer itself is never modified
    plain = Mixup()(x, generator=_g())
    torch.testing.assert_close(out.plan.lam, plain.plan.lam * scale.float())
    # the same plan from sample, from context=, and from a bound mixer
    assert mixer.sample(x, generator=_g(), scale=scale).to_dict() == out.plan.to_dict()
    assert mixer.sample(x, generator=_g(), context=ScaleContext(scale=scale)).to_dict() == out.plan.to_dict()
    bound = mixer.bind(scale=scale)
    assert cast(ScaleContext, bound.context).scale is scale
    assert bound.sample(x, generator=_g()).to_dict() == out.plan.to_dict()
    assert mixer.bind().context == ScaleContext()


def test_a_bind_adds_to_an_earlier_one_and_none_keeps_it() -> None:
    first = Scaled().bind(scale=torch.ones(2))
    again = first.bind(scale=None)
    assert again.call_values()["scale"] is first.call_values()["scale"]
    assert again.call_state() is not first.call_state()  # a fresh scratch space per bind


def test_unknown_call_arguments_name_the_ones_the_mixer_reads() -> None:
    with pytest.raises(TypeError, match=r"Scaled takes no call argument 'lengths'; its call arguments are: scale"):
        Scaled()(torch.randn(4, 3), lengths=torch.ones(4))
    with pytest.raises(TypeError, match=r"Mixup takes no call argument 'model'; its call arguments are: none"):
        Mixup()(torch.randn(4, 3), model=torch.nn.Identity())
    with pytest.raises(TypeError, match=r"context must be a mixup_core\.CallContext, got dict"):
        Mixup().bind({"scale": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"scale must have shape \(4,\), got scale.shape=\(3,\)"):
        Scaled()(torch.randn(4, 3), scale=torch.ones(3))


def test_choice_passes_each_candidate_the_arguments_it_reads() -> None:
    seen.clear()
    choice = Choice(mixers=[Scaled(), Mixup()], weights=[1.0, 0.0])
    assert choice.call_arguments() == ("scale",)
    out = choice(torch.randn(4, 3), generator=_g(), scale=torch.zeros(4))
    assert isinstance(out.plan, ChoicePlan)
    assert out.plan.choice == 0
    assert torch.equal(seen[-1], torch.zeros(4))
    other = Choice(mixers=[Mixup()])
    with pytest.raises(TypeError, match="takes no call argument 'scale'"):
        other(torch.randn(4, 3), scale=torch.zeros(4))


def test_model_context_is_what_mixed_step_passes_the_model_to() -> None:
    assert "model" in ModelContext.field_names()
    assert Mixup().call_arguments() == ()


def test_choice_takes_built_mixers_and_create_mixer_builds_them() -> None:
    with pytest.raises(ValueError, match="Choice takes built mixers"):
        Choice(mixers=["mixup"])
    built = create_mixer(
        {"name": "choice", "mixers": ["mixup", {"name": "choice", "mixers": [{"name": "mixup", "lam": 0.5}]}]}
    )
    assert isinstance(built.mixers[1], Choice)
    assert built.mixers[1].mixers[0] == Mixup(lam=0.5)
    assert repr(built) == "Choice(mixers=[Mixup(), Choice(mixers=[Mixup(lam=0.5)])])"
    with pytest.raises(UnknownMixerError, match="Unknown mixer 'nope'"):
        create_mixer({"name": "choice", "mixers": ["nope"]})


def test_names_come_from_the_registry_that_registered_the_class() -> None:
    @mixer_dataclass
    class Echo(Mixup):
        name: ClassVar[str] = "echo"

    plugin = type("EchoPlugin", (), {"mixup_register_mixers": staticmethod(lambda registry: registry.add(Echo))})
    assert Echo.qualified_name().endswith(":test_names_come_from_the_registry_that_registered_the_class.<locals>.Echo")
    register_plugin(plugin, "echoes")
    try:
        assert qualified_name(Echo) == "echoes:echo"
        assert Echo.qualified_name() == "echoes:echo"
        assert to_config(Echo(alpha=0.5)) == {"name": "echoes:echo", "alpha": 0.5}
        assert get_registry().name_of(Echo) == "echoes:echo"
    finally:
        unregister_plugin("echoes")
    assert qualified_name(Echo).endswith(".Echo")  # the plugin is gone, and so is the name it gave
    assert qualified_name(Mixup) == "core:mixup"


CORE = Path(__file__).resolve().parents[1] / "src" / "mixup_core"


def test_no_function_level_imports_in_core_except_optional_dependencies() -> None:
    optional = {
        "omegaconf",
        "pyarrow.parquet",
        "torch.distributed.nn.functional",
        "lightning.pytorch",
        "tomli",
        "tomllib",
    }
    found = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    names = [a.name for a in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    names = [("." * inner.level) + (inner.module or "")]
                else:
                    continue
                found += [f"{path.name}:{inner.lineno} {n}" for n in names if n not in optional]
    assert found == []


def test_the_import_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed")
    import subprocess

    root = CORE.parents[2]
    result = subprocess.run([str(lint)], cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 kept, 0 broken" in result.stdout
