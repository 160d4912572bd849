"""Speed of the image mixers side by side with timm, torchvision and kornia, in one run.

Every case mixes the same batch and produces dense soft targets (labels included). The cases run
in rounds, in a shuffled order each round, and each case's time is divided by the reference's time
in the same round (``torch.lerp(x, x[perm], w)`` out of place, plus its one-hot label mix, on the
same tensors), so load on the machine affects both sides of each ratio alike. The table gives the
median ratio with its min–max over rounds, and the median time in milliseconds.

    python benchmarks/bench_image.py                 # all cases, CPU
    python benchmarks/bench_image.py --quick         # fewer repeats, small shapes only
    python benchmarks/bench_image.py --device cuda   # on a GPU (synchronised timing)

The table in benchmarks/README.md was produced by this script.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mixup_core import create_mixer


@dataclass
class Case:
    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], object]
    fresh_input: bool = False  # the case overwrites its input: give it a copy each run (not timed)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_once(case: Case, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    xi = x.clone(memory_format=torch.preserve_format) if case.fresh_input else x
    _sync(device)
    t0 = time.perf_counter()
    case.fn(xi, y)
    _sync(device)
    return (time.perf_counter() - t0) * 1e3


def run_rounds(
    cases: list[Case], x: torch.Tensor, y: torch.Tensor, rounds: int, device: torch.device
) -> dict[str, list[float]]:
    """Times of every case over ``rounds`` rounds (two warm-up rounds first), in a shuffled order each round."""
    import random

    order = list(range(len(cases)))
    rng = random.Random(0)
    times: dict[str, list[float]] = {c.name: [] for c in cases}
    for r in range(rounds + 2):
        rng.shuffle(order)
        for i in order:
            t = time_once(cases[i], x, y, device)
            if r >= 2:
                times[cases[i].name].append(t)
    return times


def build_cases(num_classes: int, device: torch.device, shape: tuple[int, ...]) -> list[Case]:
    g = torch.Generator().manual_seed(0)
    b = shape[0]
    cases: list[Case] = []
    buf = torch.empty(shape, device=device)

    def reference(x: torch.Tensor, y: torch.Tensor) -> object:
        perm = torch.randperm(b, generator=g).to(device)
        w = float(torch.rand(1, generator=g))
        oh = F.one_hot(y, num_classes).float()
        return torch.lerp(x, x[perm], w), torch.lerp(oh, oh[perm], w)

    def floor(x: torch.Tensor, y: torch.Tensor) -> object:
        perm = torch.randperm(b, generator=g).to(device)
        w = float(torch.rand(1, generator=g))
        oh = F.one_hot(y, num_classes).float()
        return torch.lerp(x, x[perm], w, out=buf), torch.lerp(oh, oh[perm], w)

    cases.append(Case("reference: torch.lerp out of place", reference))
    cases.append(Case("floor: torch.lerp(out=buf)", floor))

    def ours(spec: dict, **call: object) -> Callable[[torch.Tensor, torch.Tensor], object]:
        mixer = create_mixer({**spec, "num_classes": num_classes})

        def run(x: torch.Tensor, y: torch.Tensor) -> object:
            out = mixer(x, y, generator=g, **call)
            return out.inputs, out.targets.dense()

        return run

    cases.append(Case("mixup batch", ours({"name": "mixup"})))
    cases.append(Case("mixup batch inplace", ours({"name": "mixup", "inplace": True}), fresh_input=True))
    out_buf = torch.empty(shape, device=device)
    cases.append(Case("mixup batch out=buf", ours({"name": "mixup"}, out=out_buf)))
    cases.append(Case("mixup sample", ours({"name": "mixup", "mode": "sample"})))
    cases.append(Case("cutmix batch", ours({"name": "image:cutmix"})))
    cases.append(Case("cutmix sample", ours({"name": "image:cutmix", "mode": "sample"})))
    from mixup_core import list_mixers

    registered = {i.name for i in list_mixers("image:*")}
    for name in ("fmix", "resizemix", "gridmix", "smoothmix", "saliencymix"):
        if f"image:{name}" in registered:
            cases.append(Case(f"{name} sample", ours({"name": f"image:{name}", "mode": "sample"})))

    try:
        from timm.data import Mixup as TimmMixup
    except ImportError:
        TimmMixup = None
    if TimmMixup is not None:
        for label, kw in (
            ("timm mixup batch (in place)", {"mixup_alpha": 1.0, "mode": "batch"}),
            ("timm mixup elem (in place)", {"mixup_alpha": 1.0, "mode": "elem"}),
            ("timm cutmix batch (in place)", {"mixup_alpha": 0.0, "cutmix_alpha": 1.0, "mode": "batch"}),
            ("timm cutmix elem (in place)", {"mixup_alpha": 0.0, "cutmix_alpha": 1.0, "mode": "elem"}),
        ):
            fn = TimmMixup(label_smoothing=0.0, num_classes=num_classes, **kw)
            if b % 2 == 0:
                cases.append(Case(label, lambda x, y, fn=fn: fn(x, y), fresh_input=True))
    try:
        from torchvision.transforms import v2
    except ImportError:
        v2 = None
    if v2 is not None:
        mix = v2.MixUp(alpha=1.0, num_classes=num_classes)
        cut = v2.CutMix(alpha=1.0, num_classes=num_classes)
        cases.append(Case("torchvision v2 MixUp", lambda x, y: mix(x, y)))
        cases.append(Case("torchvision v2 CutMix", lambda x, y: cut(x, y)))
    try:
        import kornia.augmentation as K
    except ImportError:
        K = None
    if K is not None:
        kmix = K.RandomMixUpV2(p=1.0, data_keys=["input", "class"])
        kcut = K.RandomCutMixV2(p=1.0, data_keys=["input", "class"])
        cases.append(Case("kornia RandomMixUpV2 (per sample)", lambda x, y: kmix(x, y)))
        cases.append(Case("kornia RandomCutMixV2 (per sample)", lambda x, y: kcut(x, y)))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--quick", action="store_true", help="small shapes and 3 repeats (a smoke run)")
    parser.add_argument("--only", default=None, help="run only cases whose name contains this text")
    args = parser.parse_args()
    device = torch.device(args.device)
    shapes = [
        ((256, 3, 32, 32), "contiguous"),
        ((128, 3, 224, 224), "contiguous"),
        ((128, 3, 224, 224), "channels_last"),
    ]
    repeats = args.repeats
    if args.quick:
        shapes, repeats = [((64, 3, 32, 32), "contiguous")], 3
    num_classes = 1000
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, repeats {repeats}\n")
    for shape, layout in shapes:
        x = torch.rand(shape, device=device)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, num_classes, (shape[0],), device=device)
        cases = build_cases(num_classes, device, shape)
        if args.only:
            cases = [c for c in cases if args.only in c.name or c.name.startswith(("reference", "floor"))]
        times = run_rounds(cases, x, y, repeats, device)
        ref = times[cases[0].name]
        print(f"### {shape}, {layout}\n")
        print("| case | median ms | ratio to reference (median) | ratio min–max |")
        print("|---|---:|---:|---:|")
        for case in cases:
            t = times[case.name]
            ratios = [a / b for a, b in zip(t, ref, strict=True)]
            print(
                f"| {case.name} | {statistics.median(t):.2f} | {statistics.median(ratios):.2f}× | "
                f"{min(ratios):.2f}–{max(ratios):.2f} |"
            )
        print()


if __name__ == "__main__":
    main()
