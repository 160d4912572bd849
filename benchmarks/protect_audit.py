"""How often does protection fail? A count over seeds for every registered mixer with ``protect``.

For each registered batch mixer that has a ``protect`` parameter, in ``mode="batch"`` and
``mode="sample"`` (when it has a ``mode``), the script mixes a batch of ``identity_inputs`` (each
source marks its own channel, so the mixed output gives every source's real share, as the
conformance kit measures it) with a random ``protected`` mask, once per seed, and counts the
batches in which protection failed:

- ``protect="floor"``: a protected sample holds less than ``protect_floor`` of its own output (as
  anchor), or appears in another output with a share below ``protect_floor`` (as partner);
- ``protect="exclude"``: a protected sample is mixed at all (its own output is not 100 % itself) or
  appears in another output (used as a partner).

Shares are normalised per output (their sum is 1), so that a mixer whose amplitudes are not convex
weights (Between-Class learning divides by the RMS norm) is measured on its mixing ratio.

    python benchmarks/protect_audit.py                  # 200 seeds, floor 0.7, batch of 8
    python benchmarks/protect_audit.py --quick          # 20 seeds
    python benchmarks/protect_audit.py --only image:resizemix --seeds 500
    python benchmarks/protect_audit.py --device cuda      # mixed on a GPU

Nothing here is timed; it prints a markdown table of failing batches per mixer and mode, and how
many protected samples were still mixed (as anchor, as partner) under ``"floor"``: protection unmixes
a sample only when its mix would break the floor.
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings

import torch

from mixup_core import create_mixer, list_mixers
from mixup_core.testing import identity_inputs, source_shares

TOL = 1e-5


def _fields(mixer: object) -> set[str]:
    return {f.name for f in dataclasses.fields(mixer)}  # type: ignore[arg-type]


def protected_mask(batch_size: int, seed: int) -> torch.Tensor:
    """About a third of the batch protected, at least one sample (drawn from its own generator)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    mask = torch.rand(batch_size, generator=g) < 0.35
    if not bool(mask.any()):
        mask[int(torch.randint(0, batch_size, (1,), generator=g))] = True
    return mask


def violations(shares: torch.Tensor, protected: torch.Tensor, protect: str, floor: float) -> dict[str, bool]:
    """Which guarantees a ``(B, B)`` share matrix (row: output, column: source) breaks."""
    shares = shares / shares.sum(dim=1, keepdim=True).clamp(min=1e-12)
    n = shares.shape[0]
    own = shares.diagonal()
    off = shares.clone()
    off[torch.arange(n), torch.arange(n)] = 0
    present = off > TOL  # source j appears in output i (i != j)
    if protect == "floor":
        anchor = bool((protected & (own < floor - TOL)).any())
        partner = bool((present & (off < floor - TOL) & protected[None, :]).any())
    else:
        anchor = bool((protected & (own < 1 - TOL)).any())
        partner = bool((present & protected[None, :]).any())
    return {"anchor": anchor, "partner": partner}


def audit(
    name: str,
    params: dict,
    mode: str | None,
    protect: str,
    floor: float,
    seeds: int,
    batch_size: int,
    device: str = "cpu",
) -> dict:
    extra = {} if mode is None else {"mode": mode}
    mixer = create_mixer({"name": name, **params, **extra, "protect": protect, "protect_floor": floor})
    cls = type(mixer)
    x = identity_inputs(batch_size, tuple(cls.example_shape), cls.feature_dim).to(device)
    y = torch.arange(batch_size, device=device)
    counts = {"anchor": 0, "partner": 0, "any": 0, "protected": 0, "as_anchor": 0, "as_partner": 0}
    for seed in range(seeds):
        protected = protected_mask(batch_size, seed).to(device)
        kwargs = cls.example_call_kwargs(x, y, batch_size)
        out = mixer(
            x, y, generator=torch.Generator().manual_seed(seed), num_classes=batch_size, protected=protected, **kwargs
        )
        shares = source_shares(out.inputs, cls.feature_dim).cpu()
        protected = protected.cpu()
        bad = violations(shares, protected, protect, floor)
        counts["anchor"] += bad["anchor"]
        counts["partner"] += bad["partner"]
        counts["any"] += bad["anchor"] or bad["partner"]
        # how much mixing protection leaves: protected samples mixed as anchors, and used as partners
        counts["protected"] += int(protected.sum())
        counts["as_anchor"] += int((protected & (shares.diagonal() < 1 - TOL)).sum())
        off = shares.clone().fill_diagonal_(0)
        counts["as_partner"] += int((protected & (off > TOL).any(dim=0)).sum())
    return counts


EXTRA_CONFIGS: list[tuple[str, dict]] = [
    ("image:cutmix", {"correct_lam": False}),  # labels keep the drawn λ: protection is on the pixels
    ("image:saliencymix", {"correct_lam": False}),
    ("tabular:row-mixup", {"categorical_slices": [[0, 2]]}),  # a drawn categorical block: all one row's
]
"""Configurations audited besides each registered mixer's defaults."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--floor", type=float, default=0.7)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--only", action="append", default=None, help="a registry name (repeatable)")
    parser.add_argument("--quick", action="store_true", help="20 seeds")
    parser.add_argument("--device", default="cpu", help="where the batches are mixed (plans are drawn on the CPU)")
    args = parser.parse_args()
    seeds = 20 if args.quick else args.seeds
    warnings.simplefilter("ignore")
    print(f"{seeds} seeds, batch of {args.batch_size}, protect_floor={args.floor}: batches where protection failed\n")
    print("| mixer | mode | floor: failing batches (anchor / partner) | exclude: failing batches (mixed / partner) "
          "| floor: protected samples mixed as anchor / as partner |")
    print("|---|---|---:|---:|---:|")
    cases: list[tuple[str, dict]] = []
    for info in list_mixers():
        if info.cost != "dataset":
            cases.append((info.name, dict(info.load().example_params)))
    cases += EXTRA_CONFIGS
    for name, params in cases:
        if args.only and name not in args.only:
            continue
        probe = create_mixer({"name": name, **params})
        if "protect" not in _fields(probe):
            continue
        label = name + "".join(f" {k}={v}" for k, v in params.items())
        modes = ["batch", "sample"] if "mode" in _fields(probe) else [None]
        for mode in modes:
            fl = audit(name, params, mode, "floor", args.floor, seeds, args.batch_size, args.device)
            ex = audit(name, params, mode, "exclude", args.floor, seeds, args.batch_size, args.device)
            print(
                f"| {label} | {mode or '-'} | {fl['any']} ({fl['anchor']} / {fl['partner']}) "
                f"| {ex['any']} ({ex['anchor']} / {ex['partner']}) "
                f"| {fl['as_anchor']} / {fl['as_partner']} of {fl['protected']} |",
                flush=True,
            )

if __name__ == "__main__":
    main()
