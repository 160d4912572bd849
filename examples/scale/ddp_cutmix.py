"""CutMix under DistributedDataParallel: each rank mixes its own shard with its own generator.

Run on the CPU with the gloo backend (or on GPUs with nccl):

    torchrun --standalone --nproc_per_node=2 examples/scale/ddp_cutmix.py --steps 20

The plans come from ``rank_generator(seed, step=step)``: ranks draw different plans, and a second
run with the same seed and world size reproduces the first exactly. ``--pool`` draws partners
from every rank's batch instead (``mix_across_ranks``). Prints rank 0's final loss and a digest of
the weights, which every rank shares.
"""

from __future__ import annotations

import argparse
import hashlib
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from mixup_core import create_mixer, soft_cross_entropy
from mixup_core.distributed import mix_across_ranks, rank_generator, shared_generator


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", action="store_true", help="partners from every rank (mix_across_ranks)")
    args = parser.parse_args(argv)

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank()
    device = (
        torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        if torch.cuda.is_available()
        else torch.device("cpu")
    )
    torch.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    )
    model = DDP(model.to(device), device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mixer = create_mixer({"name": "image:cutmix", "alpha": 1.0})
    loss = torch.zeros(())
    for step in range(args.steps):
        data = torch.Generator().manual_seed(1000 * rank + step)  # this rank's shard (a DistributedSampler in practice)
        images = torch.randn(16, 3, 16, 16, generator=data).to(device)
        labels = torch.randint(0, 10, (16,), generator=data).to(device)
        if args.pool:
            out = mix_across_ranks(
                mixer, images, labels, generator=shared_generator(args.seed, step=step), num_classes=10
            )
        else:
            out = mixer(images, labels, generator=rank_generator(args.seed, step=step), num_classes=10)
        loss = soft_cross_entropy(model(out.inputs), out.targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    weights = torch.cat([p.detach().reshape(-1).cpu() for p in model.parameters()])
    digest = hashlib.sha256(weights.numpy().tobytes()).hexdigest()[:16]
    line = f"rank {rank}: loss {loss.item():.4f} weights {digest}"
    print(line, flush=True)
    # every rank reaches this point before any tears the group down, and DDP's reducer (which holds the
    # group) goes first: destroying a gloo group while a peer still uses it can abort the process at exit
    dist.barrier()
    del model
    dist.destroy_process_group()
    return line


if __name__ == "__main__":
    main()
