"""Per-rank generators and the cross-rank partner pool (mixup_core.distributed).

The multi-process test launches a real ``torchrun --standalone --nproc_per_node=2`` job on the gloo
backend (CPU) twice with the same seed; ``_ddp_worker.py`` is the script each rank runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mixup_core import create_mixer, list_mixers
from mixup_core.distributed import mix_across_ranks, rank_generator, shared_generator

WORKER = Path(__file__).with_name("_ddp_worker.py")
B = 4  # per-rank batch size in the worker


def draws(g: torch.Generator) -> list[float]:
    return torch.rand(4, generator=g).tolist()


# ------------------------------------------------------------------ rank_generator (no process group)


def test_rank_generator_is_deterministic_and_distinct_per_rank_step_and_seed() -> None:
    assert draws(rank_generator(7, rank=1, step=3, world_size=2)) == draws(
        rank_generator(7, rank=1, step=3, world_size=2)
    )
    streams = {
        (seed, rank, step): tuple(draws(rank_generator(seed, rank=rank, step=step, world_size=4)))
        for seed in (0, 1)
        for rank in range(4)
        for step in range(3)
    }
    assert len(set(streams.values())) == len(streams)  # 24 different streams
    # the shared stream differs from every per-rank stream of the same seed and step
    assert tuple(draws(shared_generator(0, step=0))) not in set(streams.values())
    assert draws(shared_generator(0, step=2)) == draws(shared_generator(0, step=2))


def test_rank_generator_follows_its_documented_formula() -> None:
    state = np.random.SeedSequence(5, spawn_key=(0, 2, 9)).generate_state(2, np.uint32)
    seed = (int(state[0]) << 32) | int(state[1])
    assert draws(rank_generator(5, rank=2, step=9, world_size=3)) == draws(torch.Generator().manual_seed(seed))


def test_rank_generator_defaults_to_rank_0_of_1_without_a_process_group() -> None:
    assert not torch.distributed.is_initialized()
    g = rank_generator(3, step=1)
    assert g.device.type == "cpu"
    assert draws(g) == draws(rank_generator(3, rank=0, step=1, world_size=1))


def test_rank_generator_drives_a_reproducible_plan() -> None:
    mixer = create_mixer({"name": "core:mixup", "num_classes": 3})
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    a = mixer(x, y, generator=rank_generator(11, rank=1, step=4, world_size=2))
    b = mixer(x, y, generator=rank_generator(11, rank=1, step=4, world_size=2))
    c = mixer(x, y, generator=rank_generator(11, rank=0, step=4, world_size=2))
    assert a.plan.to_dict() == b.plan.to_dict()
    assert torch.equal(a.inputs, b.inputs)
    assert a.plan.to_dict() != c.plan.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed must be an integer >= 0, got seed=-1"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"seed": 1, "step": -2}, "step=-2"),
        ({"seed": 1, "rank": 2, "world_size": 2}, "rank=2 and world_size=2"),
        ({"seed": 1, "rank": 0, "world_size": 0}, "world_size=0"),
    ],
)
def test_rank_generator_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rank_generator(**kwargs)


def test_mix_across_ranks_needs_a_process_group() -> None:
    assert not torch.distributed.is_initialized()
    mixer = create_mixer({"name": "core:mixup"})
    with pytest.raises(RuntimeError, match=r"initialised torch\.distributed process group"):
        mix_across_ranks(mixer, torch.randn(4, 8), None, generator=shared_generator(0))


# ------------------------------------------------------------------ torchrun job (2 ranks, gloo, CPU)


def _launch(outdir: Path) -> list[dict[str, Any]]:
    outdir.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(outdir),
    ]
    for _ in range(3):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        # torch 2.15's gloo can abort a worker after Python has finished ("terminate called without an active
        # exception", no Python frame; about one launch in fifty): torch's exit, not ours, so launch again
        if proc.returncode == 0 or "terminate called without an active exception" not in proc.stderr:
            break
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return [json.loads((outdir / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = tmp_path_factory.mktemp("ddp")
    return _launch(base / "run1"), _launch(base / "run2")


@pytest.mark.xdist_group("torchrun")
def test_torchrun_ddp_training_is_reproducible_and_ranks_agree(
    ddp_runs: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    run1, run2 = ddp_runs
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in run1]
    strip2 = [{k: v for k, v in r.items() if k != "seconds"} for r in run2]
    assert strip == strip2, "two runs with the same seed and world size differ"
    r0, r1 = run1
    assert "core:mixup" in r0["train"]
    installed = {"image", "audio", "text", "graph"} & {m.plugin for m in list_mixers()}
    covered = {name.partition(":")[0] for name in r0["train"]}
    assert installed <= covered, f"a mixer of every installed plugin trains under DDP; missing: {installed - covered}"
    for name in [*r0["train"], "pool"]:
        a = r0["train"].get(name, r0["train_pool"])
        b = r1["train"].get(name, r1["train_pool"])
        # DDP keeps the replicas identical, and training moved the weights
        assert a["digest"] == b["digest"], name
        assert a["weights"] == b["weights"], name
        assert a["digest"] != a["initial_digest"], name
    for name in r0["train"]:
        # ranks draw different plans (rank_generator), and mixing happened
        assert r0["train"][name]["plans"] != r1["train"][name]["plans"], name
    # with the pool, every rank holds the same global plan
    assert r0["train_pool"]["plans"] == r1["train_pool"]["plans"]


@pytest.mark.xdist_group("torchrun")
def test_torchrun_cross_rank_pool_pairs_across_ranks_with_matching_labels(
    ddp_runs: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    ranks = ddp_runs[0]
    names = list(ranks[0]["pool"])
    assert "core:mixup" in names
    for name in names:
        per_rank = [r["pool"][name] for r in ranks]
        assert per_rank[0]["global_index"] == per_rank[1]["global_index"], f"{name}: ranks drew different global plans"
        across = 0
        shares_all, grads = [], []
        for rank, res in enumerate(per_rank):
            shares = torch.tensor(res["shares"])  # (B, 2B): share of each global sample in each local row
            dense = torch.tensor(res["dense"])
            # labels = global sample index, so the dense targets must equal the measured input shares
            torch.testing.assert_close(dense, shares, atol=1e-5, rtol=0)
            for i, (idx, w) in enumerate(zip(res["indices"], res["weights"], strict=True)):
                assert idx[0] == rank * B + i  # the anchor is this rank's own sample
                partner, share = idx[1], w[1]
                if share > 0 and partner // B != rank:
                    across += 1
                    assert shares[i, partner] > 0
            shares_all.append(shares)
            grads.append(torch.tensor(res["grad"]))
        assert across >= 1, f"{name}: no local sample was paired with a sample of the other rank"
        # gradients reach the owner: sample j gets sum over rows i of (rank(i)+1) · share(i, j) · elements
        coeff = torch.cat([shares_all[r] * (r + 1) for r in range(2)]).sum(dim=0)
        expected = coeff * per_rank[0]["elements_per_channel"]
        torch.testing.assert_close(torch.cat(grads), expected, atol=1e-3, rtol=1e-4)


@pytest.mark.xdist_group("torchrun")
def test_torchrun_pool_errors_are_raised_on_every_rank(
    ddp_runs: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    for r in ddp_runs[0]:
        assert r["error_batch_size"] is not None
        assert "same batch size on every rank" in r["error_batch_size"]
        assert "{0: 4, 1: 3}" in r["error_batch_size"]
        assert "{0: 'torch.float32', 1: 'torch.float64'}" in r["error_dtype"]
        assert "shared_generator" in r["error_generator"]
