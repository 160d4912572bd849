"""One prepared check of the tensor mixers on a CUDA GPU (issue 8).

Three parts, each under the time left of one overall limit (``--time-limit``, default 8 minutes):

1. **Host synchronisation** — for every tensor mixer, a plan is drawn on the CPU, one warm-up
   ``mixer.apply(x_cuda, plan)`` runs, then the same call runs inside
   ``torch.cuda.set_sync_debug_mode("error")``: a mixer whose hot path synchronises the device with
   the host (``.item()``, ``bool(cuda_tensor)``, a device-to-host copy …) raises there, and the
   place is recorded.
2. **Conformance kit on CUDA** — `mixup_core.testing.MixerConformanceTests` is subclassed for every
   tensor mixer with the mixer run on CUDA tensors (the kit's CPU inputs are moved to the GPU before
   the call and the results moved back before the kit's assertions, so every standard test checks a
   CUDA run against the kit's CPU expectations; ``test_plan_replay`` thereby also compares the CUDA
   result with the CPU ``apply`` exactly). Run by pytest in a subprocess (``-p no:cacheprovider``).
2b. **CUDA-only tests of the suite** — ``pytest -k cuda`` on ``plugins/lab/tests/test_finetune.py``
   (a study trained with ``train.amp: true``: float16 autocast and gradient scaling).
3. **Image benchmarks on the GPU** — ``benchmarks/bench_image.py --device cuda`` (``--quick`` with
   ``--bench-quick``), its table saved to ``bench_image_cuda.md``.

A summary is written to ``summary.json`` and ``summary.md`` in ``--out`` (default ``$OUT``, else
``./gpu_check_out``). Without CUDA the script says so and exits 0 after ``--dry-run`` (which runs
the CPU-safe parts: every mixer resolved, a plan drawn and applied on the CPU, the kit classes built,
the benchmark's command line checked); without ``--dry-run`` it exits 2.

    python scripts/gpu_check.py                       # on a GPU machine, summary in $OUT
    python scripts/gpu_check.py --dry-run --out /tmp/gc
    python scripts/gpu_check.py --mixers core:mixup,image:cutmix --skip-bench

Exit status: 0 when every part that ran passed (or a dry run), 1 when a check failed or a part ran
out of time, 2 when CUDA is absent without ``--dry-run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
BENCH_IMAGE = REPO / "benchmarks" / "bench_image.py"

MODEL_GUIDED_COSTS = frozenset({"forward", "gradients", "hook", "dataset"})
"""Mixer costs that need a model, gradients, a hook or a data set: not plain tensor mixers."""

__all__ = ["main", "make_cuda_kit_classes", "sync_check", "tensor_mixer_names"]


def tensor_mixer_names() -> list[str]:
    """Registered mixers whose inputs are plain tensors (``cost == "none"``)."""
    from mixup_core import list_mixers

    return [info.name for info in list_mixers() if info.cost not in MODEL_GUIDED_COSTS]


def _example_batch(name: str) -> tuple[Any, torch.Tensor]:
    """Mixer ``name`` with its defaults and a CPU batch of 8 of its ``example_shape``."""
    from mixup_core import create_mixer

    mixer = create_mixer({"name": name})
    x = torch.randn((8, *type(mixer).example_shape), generator=torch.Generator().manual_seed(0))
    return mixer, x


def _where(exc: BaseException) -> str:
    """The innermost frame of the mixup packages in ``exc``'s traceback (where a sync happened)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "mixup_" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f"{Path(f.filename).name}:{f.lineno} ({f.line})"


def sync_check(name: str, device: str) -> dict[str, Any]:
    """Apply mixer ``name`` to an example batch on ``device`` with a CPU-drawn plan.

    On CUDA the second call runs with ``torch.cuda.set_sync_debug_mode("error")``: the result is
    ``"ok"``, ``"syncs"`` (with the place) or ``"error"``. On the CPU (dry run) it only checks that
    the call works and keeps the shape.
    """
    record: dict[str, Any] = {"mixer": name}
    with warnings.catch_warnings():
        _sync_check(name, device, record)
    return record


def _sync_check(name: str, device: str, record: dict[str, Any]) -> None:
    try:
        warnings.simplefilter("ignore")  # example data outside a mixer's declared domain warns
        mixer, x = _example_batch(name)
        plan = mixer.sample(x, torch.arange(x.shape[0]) % 4, generator=torch.Generator().manual_seed(1))
        xd = x.to(device)
        warm = mixer.apply(xd, plan)  # lazy initialisation (kernels, handles) may synchronise once
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                out = mixer.apply(xd, plan)
            finally:
                torch.cuda.set_sync_debug_mode(0)
            torch.cuda.synchronize()
        else:
            out = warm
        if out.shape != xd.shape or out.device != xd.device:
            raise AssertionError(
                f"apply returned shape {tuple(out.shape)} on {out.device} for {tuple(xd.shape)} on {xd.device}"
            )
        record["status"] = "ok"
    except RuntimeError as exc:
        text = str(exc)
        synced = "synchroniz" in text.lower()
        record["status"] = "syncs" if synced else "error"
        record["detail"] = text.splitlines()[0][:300] if text else type(exc).__name__
        record["where"] = _where(exc)
    except Exception as exc:
        record["status"] = "error"
        record["detail"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        record["where"] = _where(exc)


def _say(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _to(value: Any, device: torch.device | str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def make_cuda_kit_classes(names: list[str], device: str = "cuda") -> dict[str, type]:
    """Conformance-kit test classes that run each mixer on ``device``.

    Each class overrides only the kit's three helpers through which every standard test reaches
    the mixer (never a standard test): `call`, `apply` and `sample` move tensor inputs and targets to
    ``device`` before the mixer sees them, and `call`/`apply` move the results back to the inputs'
    original device, so every comparison in the kit is between two runs on ``device`` (plan replay
    included) checked against the kit's CPU expectations. Inputs that the kit already put on
    ``device`` (``test_dtype_device_memory_format``) stay there. ``checks_target_values`` is
    ``False``: the library checks label values on CPU tensors only (reading CUDA values would
    synchronise the device with the host), as the kit's documentation says.
    """
    import re

    from mixup_core import MixedBatch
    from mixup_core.testing import MixerConformanceTests

    def call(
        self: Any, mixer: Any, inputs: Any, targets: Any, *, generator: Any = None, num_classes: Any = None,
        protected: Any = None,
    ) -> Any:
        home = inputs.device if isinstance(inputs, torch.Tensor) else None
        out = MixerConformanceTests.call(
            self, mixer, _to(inputs, device), _to(targets, device), generator=generator, num_classes=num_classes,
            protected=_to(protected, device),
        )
        if home is None:
            return out
        assert out.inputs.device.type == torch.device(device).type, f"mixed inputs left {device}: {out.inputs.device}"
        targets_back = out.targets
        if targets_back is not None:
            moved = {f.name: _to(getattr(targets_back, f.name), home) for f in dataclasses.fields(targets_back)}
            targets_back = dataclasses.replace(targets_back, **moved)
        return MixedBatch(inputs=out.inputs.to(home), targets=targets_back, plan=out.plan)

    def apply(self: Any, mixer: Any, inputs: Any, plan: Any) -> Any:
        out = MixerConformanceTests.apply(self, mixer, _to(inputs, device), plan)
        assert out.device.type == torch.device(device).type, f"apply left {device}: {out.device}"
        return out.to(inputs.device)

    def sample(self: Any, mixer: Any, inputs: Any, targets: Any, *, generator: Any, protected: Any = None) -> Any:
        return MixerConformanceTests.sample(
            self,
            mixer,
            _to(inputs, device),
            _to(targets, device),
            generator=generator,
            protected=_to(protected, device),
        )

    helpers = {"call": call, "apply": apply, "sample": sample, "checks_target_values": False}
    classes: dict[str, type] = {}
    for name in names:
        cls_name = "TestCuda_" + re.sub(r"\W", "_", name)
        classes[cls_name] = type(cls_name, (MixerConformanceTests,), {"mixer_name": name, **helpers})
    return classes


def _kit_module_source(names: list[str], device: str) -> str:
    return textwrap.dedent(
        f"""\
        # generated by scripts/gpu_check.py
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from gpu_check import make_cuda_kit_classes
        globals().update(make_cuda_kit_classes({names!r}, {device!r}))
        """
    )


def _run(cmd: list[str], timeout: float, log: Path) -> dict[str, Any]:
    start = time.monotonic()
    if timeout <= 5:
        return {"status": "skipped", "detail": "no time left", "command": " ".join(cmd)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        log.write_text(out)
        return {
            "status": "timeout",
            "seconds": round(time.monotonic() - start, 1),
            "command": " ".join(cmd),
            "log": log.name,
        }
    log.write_text(proc.stdout + ("\n--- stderr ---\n" + proc.stderr if proc.stderr else ""))
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    return {
        "status": "ok" if proc.returncode == 0 else "failed",
        "returncode": proc.returncode,
        "seconds": round(time.monotonic() - start, 1),
        "command": " ".join(cmd),
        "log": log.name,
        "last_line": tail[:300],
    }


def _markdown(summary: dict[str, Any]) -> str:
    lines = [f"# GPU check ({summary['device']})", "", f"torch {summary['torch']}, {summary['seconds']} s", ""]
    if summary.get("message"):
        lines += [summary["message"], ""]
    lines += ["## Host synchronisation in `apply`", "", "| mixer | status | where |", "|---|---|---|"]
    for r in summary["sync"]:
        lines.append(f"| {r['mixer']} | {r['status']} | {r.get('where') or r.get('detail', '')} |")
    for part in ("kit", "cuda_tests", "bench"):
        r = summary.get(part)
        if r:
            lines += [
                "",
                f"## {part}",
                "",
                f"{r['status']}: `{r.get('command', '')}` {r.get('last_line', r.get('detail', ''))}",
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the GPU check; returns the exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_check_out"), help="summary folder (default $OUT)"
    )
    parser.add_argument("--time-limit", type=float, default=480.0, help="seconds for everything (default 480)")
    parser.add_argument("--mixers", default=None, help="comma-separated mixer names (default: every tensor mixer)")
    parser.add_argument("--dry-run", action="store_true", help="without CUDA: run the CPU-safe parts only and exit 0")
    parser.add_argument("--skip-kit", action="store_true", help="do not run the conformance kit")
    parser.add_argument("--skip-bench", action="store_true", help="do not run the image benchmarks")
    parser.add_argument("--bench-quick", action="store_true", help="pass --quick to bench_image.py")
    args = parser.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.time_limit
    args.out.mkdir(parents=True, exist_ok=True)

    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        _say(
            "gpu_check: CUDA is not available on this machine (torch.cuda.is_available() is False); "
            "run it on a GPU machine, or pass --dry-run to check the CPU-safe parts",
            err=True,
        )
        return 2
    device = "cuda" if cuda else "cpu"
    names = args.mixers.split(",") if args.mixers else tensor_mixer_names()
    summary: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.machine()}), CUDA absent: dry run",
        "torch": torch.__version__,
        "mixers": names,
        "dry_run": not cuda,
    }
    if not cuda:
        summary["message"] = (
            "CUDA is not available: dry run of the CPU-safe parts (no sync check, kit or benchmark on a GPU)."
        )
        _say(f"gpu_check: {summary['message']}")

    # 1. host synchronisation of the hot path
    summary["sync"] = [sync_check(name, device) for name in names]
    for r in summary["sync"]:
        _say(f"sync {r['mixer']}: {r['status']} {r.get('where', '')} {r.get('detail', '')}".rstrip())

    # 2. conformance kit on CUDA
    kit_file = args.out / "test_gpu_kit_generated.py"
    kit_file.write_text(_kit_module_source(names, device))
    if cuda and not args.skip_kit:
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            str(kit_file),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(args.out),
            "--junitxml",
            str(args.out / "kit_junit.xml"),
        ]
        summary["kit"] = _run(cmd, min(deadline - time.monotonic() - 60, 330), args.out / "kit.log")
    else:
        classes = make_cuda_kit_classes(names, device)  # the dry run checks that the classes build
        summary["kit"] = {
            "status": "not run",
            "detail": f"{len(classes)} kit classes built; written to {kit_file.name}",
        }

    # 2b. the suite's CUDA-only tests (AMP training in mixup-lab, CUDA paths of the mixers' tests)
    cuda_tests = [str(REPO / "plugins" / "lab" / "tests" / "test_finetune.py")]
    if cuda:
        cmd = [sys.executable, "-m", "pytest", *cuda_tests, "-q", "-p", "no:cacheprovider", "-k", "cuda"]
        summary["cuda_tests"] = _run(cmd, min(deadline - time.monotonic() - 60, 120), args.out / "cuda_tests.log")
    else:
        summary["cuda_tests"] = {"status": "not run", "detail": "needs CUDA"}

    # 3. image benchmarks on the GPU
    bench_cmd = [sys.executable, str(BENCH_IMAGE), "--device", "cuda"] + (["--quick"] if args.bench_quick else [])
    if cuda and not args.skip_bench:
        result = _run(bench_cmd, deadline - time.monotonic() - 5, args.out / "bench_image_cuda.md")
        summary["bench"] = result
    else:
        summary["bench"] = {
            "status": "not run",
            "command": " ".join(bench_cmd),
            "detail": "needs CUDA" if not cuda else "--skip-bench",
        }

    summary["seconds"] = round(time.monotonic() - start, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "summary.md").write_text(_markdown(summary))
    _say(f"gpu_check: summary in {args.out / 'summary.md'} ({summary['seconds']} s)")
    if not cuda:
        bad = [r for r in summary["sync"] if r["status"] != "ok"]
        return 1 if bad else 0
    failed = [r for r in summary["sync"] if r["status"] != "ok"]
    failed += [
        summary[p] for p in ("kit", "cuda_tests", "bench") if summary[p]["status"] in ("failed", "timeout", "skipped")
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
