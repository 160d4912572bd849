"""One rank of the torchrun job launched by ``test_distributed.py`` (gloo backend, CPU).

Usage: ``python -m torch.distributed.run --standalone --nproc_per_node=2 _ddp_worker.py OUTDIR``.
Each rank writes ``OUTDIR/rank<r>.json``; the test compares ranks and runs. Not a test module.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from mixup_core import create_mixer, list_mixers, soft_cross_entropy
from mixup_core.distributed import mix_across_ranks, rank_generator, shared_generator

SEED = 1234
STEPS = 3
B = 4
C = 4

# (mixer name, per-sample shape, parameters); plugin mixers are skipped when not installed
CASES: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
    ("core:mixup", (8,), {"alpha": 1.0}),
    ("image:cutmix", (3, 8, 8), {"alpha": 1.0}),
    ("audio:waveform", (1, 64), {"alpha": 1.0}),
    ("text:embedding", (6, 8), {"alpha": 1.0}),  # token embeddings (B, L, D), as a text model's input layer sees them
    ("graph:embedding", (8,), {"alpha": 1.0}),  # pooled graph embeddings (B, D) after the readout
]


def weights_of(model: nn.Module) -> list[float]:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()


def digest(values: list[float]) -> str:
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def train(name: str, shape: tuple[int, ...], params: dict[str, Any], rank: int, *, pool: bool) -> dict[str, Any]:
    """A few DDP steps of a Linear classifier on mixed batches; returns weights and plans."""
    mixer = create_mixer({"name": name, **params})
    torch.manual_seed(0)  # same initial weights (DDP also broadcasts them from rank 0)
    features = 1
    for s in shape:
        features *= s
    model = DDP(nn.Sequential(nn.Flatten(), nn.Linear(features, C)))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    initial = digest(weights_of(model.module))
    plans = []
    for step in range(STEPS):
        data = torch.Generator().manual_seed(10_000 * rank + step)  # this rank's shard of the data
        x = torch.randn((B, *shape), generator=data)
        y = torch.randint(0, C, (B,), generator=data)
        if pool:
            out = mix_across_ranks(mixer, x, y, generator=shared_generator(SEED, step=step), num_classes=C)
        else:
            out = mixer(x, y, generator=rank_generator(SEED, step=step), num_classes=C)
        assert out.targets is not None
        loss = soft_cross_entropy(model(out.inputs), out.targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        plans.append(out.plan.to_dict())
    w = weights_of(model.module)
    return {"weights": w, "digest": digest(w), "initial_digest": initial, "plans": plans}


def pool_check(name: str, shape: tuple[int, ...], rank: int, world: int) -> dict[str, Any]:
    """Identity-coded inputs: channel g is 1 for global sample g, 0 elsewhere, constant in space/time.

    A mixed row's per-channel mean is then each source's share of that row, which the test compares
    with the dense mixed targets (labels = global sample index). Also checks that gradients of
    every rank's loss reach the rank that owns each source.
    """
    n = world * B
    mixer = create_mixer({"name": name, "alpha": 1.0})
    ids = torch.arange(rank * B, (rank + 1) * B)
    onehot = torch.nn.functional.one_hot(ids, n).float()  # (B, n)
    x = onehot.reshape(B, n, *([1] * (len(shape) - 1))).expand(B, n, *shape[1:]).clone().requires_grad_(True)
    if len(shape) == 1:  # (B, n) embeddings: a sample is its one-hot row
        x = onehot.clone().requires_grad_(True)
    out = mix_across_ranks(mixer, x, ids, generator=shared_generator(SEED, step=99), num_classes=n)
    assert out.targets is not None
    shares = out.inputs.detach().reshape(B, n, -1).mean(dim=2)  # (B, n): share of each global sample
    dense = out.targets.dense()
    # gradient: rank r's loss weights its mixed rows by (r + 1); the gradient that reaches global
    # sample j (one channel) is sum over ranks and rows of (r + 1) * (share of j in that row) * (#elements / n)
    (out.inputs * (rank + 1)).sum().backward()
    assert x.grad is not None
    got_grad = x.grad.reshape(B, n, -1)[torch.arange(B), ids].sum(dim=1)  # grad of each local sample's own channel
    return {
        "indices": out.targets.indices.tolist(),
        "weights": out.targets.weights.tolist(),
        "shares": shares.tolist(),
        "dense": dense.tolist(),
        "global_index": out.plan.index.tolist(),
        "global_lam": out.plan.lam.tolist(),
        "grad": got_grad.tolist(),
        "elements_per_channel": int(x[0, 0].numel()) if len(shape) > 1 else 1,
    }


def error_of(fn: Any) -> str | None:
    try:
        fn()
    except (ValueError, TypeError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def main() -> None:
    outdir = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    available = {m.name for m in list_mixers()}
    t0 = time.perf_counter()
    result: dict[str, Any] = {"rank": rank, "world": world, "train": {}, "pool": {}, "skipped": []}
    for name, shape, params in CASES:
        if name not in available:
            result["skipped"].append(name)
            continue
        result["train"][name] = train(name, shape, params, rank, pool=False)
        result["pool"][name] = pool_check(name, shape, rank, world)
    result["train_pool"] = train("core:mixup", (8,), {"alpha": 1.0}, rank, pool=True)

    mixer = create_mixer({"name": "core:mixup"})
    n = B if rank == 0 else B - 1  # rank 1 brings a smaller batch
    result["error_batch_size"] = error_of(
        lambda: mix_across_ranks(
            mixer, torch.randn(n, 8), torch.zeros(n, dtype=torch.long), generator=shared_generator(SEED), num_classes=C
        )
    )
    dtype = torch.float32 if rank == 0 else torch.float64
    result["error_dtype"] = error_of(
        lambda: mix_across_ranks(mixer, torch.randn(B, 8, dtype=dtype), None, generator=shared_generator(SEED))
    )
    result["error_generator"] = error_of(
        lambda: mix_across_ranks(mixer, torch.randn(B, 8), None, generator=rank_generator(SEED))
    )
    result["seconds"] = time.perf_counter() - t0
    dist.barrier()
    dist.destroy_process_group()
    (outdir / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
