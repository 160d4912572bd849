"""`torch.compile` of the tensor mixers' ``apply`` (issue 8), and the dry run of scripts/gpu_check.py.

Every registered mixer whose inputs are plain tensors (``cost == "none"``) must trace without a
graph break: ``torch.compile(..., fullgraph=True)`` turns any break into an error. The plan is
drawn eagerly (sampling uses a CPU ``torch.Generator`` and stays outside the compiled region); the
compiled ``apply`` then reads the plan's tensors as graph inputs, so a Python branch on their values
would break the graph. ``backend="eager"`` checks tracing only, which is what "no graph breaks"
means, and keeps the file fast; one test runs the real inductor backend.

Not compiled here, by design (`NOT_COMPILED`): mixers guided by a model (``cost`` ``forward``,
``gradients``, ``hook``) run a model, its gradients or a forward hook inside the mix, and
data-set level generators (``dataset``, G-Mixup) build new graphs on the CPU; neither is a tensor
``apply``. ``graph:ifmixup`` is tested on its dense tensor path; its PyG ``Batch`` path builds
Python objects and is not compiled.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import torch

from mixup_core import create_mixer, list_mixers

REPO = Path(__file__).resolve().parent.parent

NOT_COMPILED: dict[str, str] = {
    "forward": "guided by a model's forward pass (CAMs, attention): the mix runs the model, not only tensors",
    "gradients": "guided by input gradients (saliency): the mix runs a backward pass of the model",
    "hook": "mixes hidden states through a forward hook on the model: compile the model, not the mixer",
    "dataset": "generates new samples from the data set on the CPU (G-Mixup): not a batch apply",
}
"""Mixer costs excluded from the fullgraph test, with the reason."""

NO_FULLGRAPH: dict[str, str] = {}
"""Tensor mixers known to break the graph, with the reason (xfail). Empty: every one compiles."""

TENSOR_MIXERS = [info for info in list_mixers() if info.cost not in NOT_COMPILED]


def _batch(name: str, **params: object) -> tuple[object, torch.Tensor, torch.Tensor]:
    examples = next(info for info in TENSOR_MIXERS if info.name == name).load().example_params
    mixer = create_mixer({"name": name, **examples, **params})
    x = torch.randn((4, *type(mixer).example_shape), generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3])
    return mixer, x, y


SAMPLE_MODE = {"core:mixup", "image:cutmix", "image:mosaic", "image:ricap"}
"""Mixers also traced with ``mode="sample"`` (one λ, box or split per sample): a representative subset
whose per-sample plans take other code paths, kept small so the file stays fast."""


def _modes(name: str) -> list[str]:
    return ["batch", "sample"] if name in SAMPLE_MODE else ["default"]


CASES = [
    pytest.param(
        info.name,
        mode,
        id=f"{info.name}-{mode}",
        marks=[pytest.mark.xfail(reason=NO_FULLGRAPH[info.name], strict=True)] if info.name in NO_FULLGRAPH else [],
    )
    for info in TENSOR_MIXERS
    for mode in _modes(info.name)
]


def test_every_tensor_mixer_is_covered_and_every_exclusion_has_a_reason() -> None:
    names = {info.name for info in TENSOR_MIXERS}
    assert {"core:mixup", "core:choice", "image:cutmix", "image:mosaic", "audio:waveform", "graph:ifmixup"} <= names
    for info in list_mixers():
        assert info.cost in NOT_COMPILED or info.name in names, (
            f"{info.name} (cost {info.cost!r}) is neither tested nor excluded"
        )


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_apply_compiles_without_graph_breaks(name: str, mode: str) -> None:
    params = {} if mode == "default" else {"mode": mode}
    mixer, x, y = _batch(name, **params)
    plan = mixer.sample(x, y, generator=torch.Generator().manual_seed(1))  # type: ignore[attr-defined]
    assert not plan.is_identity, "the plan must mix, or apply would return its inputs untraced"
    eager = mixer.apply(x, plan)  # type: ignore[attr-defined]
    torch._dynamo.reset()
    compiled = torch.compile(lambda inp: mixer.apply(inp, plan), fullgraph=True, backend="eager")  # type: ignore[attr-defined]
    out = compiled(x)
    assert not torch.equal(out, x), "the compiled apply returned the unmixed batch"
    torch.testing.assert_close(out, eager, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["core:mixup", "image:cutmix"])
def test_one_compilation_serves_fresh_plans(name: str) -> None:
    """Compiling ``mixer.apply`` itself (plan as an argument) does not recompile for every new plan."""
    from torch._dynamo.utils import counters

    mixer, x, y = _batch(name)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(mixer.apply, fullgraph=True, backend="eager")  # type: ignore[attr-defined]
    for seed in range(5):
        plan = mixer.sample(x, y, generator=torch.Generator().manual_seed(seed))  # type: ignore[attr-defined]
        torch.testing.assert_close(compiled(x, plan), mixer.apply(x, plan), rtol=0, atol=0)  # type: ignore[attr-defined]
    # the first call specialises, at most one recompilation makes the plan's values dynamic
    assert counters["stats"]["unique_graphs"] <= 2, dict(counters["stats"])


def _cpp_compiler() -> str | None:
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        compiler = get_cpp_compiler()
        subprocess.run([compiler, "--version"], capture_output=True, check=True, timeout=30)
        return compiler
    except Exception:
        return None


@pytest.mark.xdist_group("compile")
@pytest.mark.parametrize("name", ["core:mixup", "image:cutmix"])
def test_apply_compiles_with_inductor(name: str) -> None:
    if _cpp_compiler() is None:
        pytest.skip("inductor needs a C++ compiler on the CPU, none was found")
    mixer, x, y = _batch(name)
    plan = mixer.sample(x, y, generator=torch.Generator().manual_seed(1))  # type: ignore[attr-defined]
    torch._dynamo.reset()
    compiled = torch.compile(lambda inp: mixer.apply(inp, plan), fullgraph=True)  # type: ignore[attr-defined]
    torch.testing.assert_close(compiled(x), mixer.apply(x, plan))  # type: ignore[attr-defined]


# ---------------------------------------------------------------- scripts/gpu_check.py


def _gpu_check_module() -> object:
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="the dry run is for machines without CUDA")
def test_gpu_check_dry_run_without_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    gpu_check = _gpu_check_module()
    argv = ["--out", str(tmp_path), "--mixers", "core:mixup,image:cutmix"]
    assert gpu_check.main(argv) == 2  # type: ignore[attr-defined]
    assert "CUDA is not available" in capsys.readouterr().err
    assert gpu_check.main([*argv, "--dry-run"]) == 0  # type: ignore[attr-defined]
    assert "CUDA is not available" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dry_run"] is True
    assert [(r["mixer"], r["status"]) for r in summary["sync"]] == [("core:mixup", "ok"), ("image:cutmix", "ok")]
    assert summary["bench"]["status"] == "not run"
    assert "--device cuda" in summary["bench"]["command"]
    assert "| core:mixup | ok |" in (tmp_path / "summary.md").read_text()
    generated = (tmp_path / "test_gpu_kit_generated.py").read_text()
    assert "make_cuda_kit_classes(['core:mixup', 'image:cutmix']" in generated


def test_gpu_check_kit_classes_keep_the_standard_tests() -> None:
    """The kit classes of the GPU check (here on the CPU) pass standard tests through the moved call."""
    classes = _gpu_check_module().make_cuda_kit_classes(["image:cutmix"], "cpu")  # type: ignore[attr-defined]
    (cls,) = classes.values()
    case = cls()
    case.test_standard_tests_kept()
    case.test_smoke()
    case.test_plan_replay()
    case.test_identity()
    case.test_exception()  # checks_target_values is False for the device classes
