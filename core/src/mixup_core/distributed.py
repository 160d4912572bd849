"""Mixing under ``torch.distributed``: per-rank reproducible generators and a cross-rank partner pool.

Two tools for data-parallel training (DDP, FSDP, ``torchrun``):

- `rank_generator` gives each rank its own CPU ``torch.Generator`` derived from
  ``(seed, rank, step)``, so ranks draw different plans and a run with the same seed and world size
  reproduces exactly, whatever the order in which ranks reach a step.
- `mix_across_ranks` (opt-in) draws partners from the *global* batch: the inputs and targets of
  every rank are all-gathered, one plan is sampled on the global batch with a generator that is
  identical on every rank (`shared_generator`), and each rank keeps its own rows. Small per-rank
  batches then get as many candidate partners as the whole job (OpenMixup's cross-GPU shuffle).

Examples:
    >>> import torch
    >>> from mixup_core import create_mixer
    >>> from mixup_core.distributed import rank_generator
    >>> mixer = create_mixer({"name": "mixup", "alpha": 0.4, "num_classes": 10})
    >>> g = rank_generator(1234, step=0)          # rank 0 of 1 without a process group
    >>> out = mixer(torch.randn(8, 3), torch.randint(0, 10, (8,)), generator=g)

    In a ``torchrun`` job (rank and world size come from ``torch.distributed``)::

        for step, (x, y) in enumerate(loader):
            out = mixer(x, y, generator=rank_generator(seed, step=step))
            # or, with partners taken from every rank:
            out = mix_across_ranks(mixer, x, y, generator=shared_generator(seed, step=step), num_classes=10)
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np
import torch

from ._mixer import Mixer
from ._random import check_generator
from ._targets import MixedBatch

__all__ = ["mix_across_ranks", "rank_generator", "shared_generator"]

_PER_RANK_TAG = 0
_SHARED_TAG = 1
_MAX_DIMS = 12


def _check_int(name: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def _dist_rank_world(group: Any = None) -> tuple[int, int] | None:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return None


def _seed_from(seed: int, spawn_key: tuple[int, ...]) -> int:
    state = np.random.SeedSequence(seed, spawn_key=spawn_key).generate_state(2, np.uint32)
    return (int(state[0]) << 32) | int(state[1])


def rank_generator(
    seed: int, *, rank: int | None = None, step: int = 0, world_size: int | None = None
) -> torch.Generator:
    """A CPU generator for the plans of one rank at one step, derived from ``(seed, rank, step)``.

    The generator's seed is a hash of the three integers: NumPy's
    ``SeedSequence(seed, spawn_key=(0, rank, step)).generate_state(2, uint32)`` joined into one
    64-bit integer (high word first). NumPy documents ``spawn_key`` as the way to derive
    independent streams from one seed, so different ranks and steps get unrelated draws, and
    neighbouring seeds (0, 1, 2 …) do not give overlapping streams as ``manual_seed(seed + rank)``
    would. The mapping depends on nothing else (not on the process, the device or the order in
    which ranks reach a step), so a run with the same seed and world size reproduces exactly.

    A fresh generator per step costs a few microseconds; deriving it from the step (rather than
    keeping one generator alive) also makes a resumed run draw the same plans as an uninterrupted
    one.

    Args:
        seed: the run's seed, an integer >= 0.
        rank: this process's rank; ``None`` takes ``torch.distributed.get_rank()`` when a process
            group is initialised, else 0.
        step: the training step (or any counter that identifies the batch), >= 0.
        world_size: the number of ranks, used to check ``rank``; ``None`` takes
            ``torch.distributed.get_world_size()`` when a process group is initialised, else 1
            (or ``rank + 1`` when only ``rank`` is given).

    Returns:
        A new CPU ``torch.Generator``.

    Raises:
        ValueError: a negative or non-integer ``seed``, ``rank``, ``step`` or ``world_size``, or
            ``rank >= world_size``.

    Examples:
        >>> g0 = rank_generator(7, rank=0, step=3, world_size=2)
        >>> g1 = rank_generator(7, rank=1, step=3, world_size=2)
        >>> torch.rand(1, generator=g0).item() != torch.rand(1, generator=g1).item()
        True
    """
    seed = _check_int("seed", seed)
    step = _check_int("step", step)
    found = _dist_rank_world()
    if rank is None:
        rank = found[0] if found is not None else 0
    rank = _check_int("rank", rank)
    if world_size is None:
        world_size = found[1] if found is not None else max(1, rank + 1)
    world_size = _check_int("world_size", world_size, minimum=1)
    if rank >= world_size:
        raise ValueError(f"rank must be smaller than world_size, got rank={rank} and world_size={world_size}")
    return torch.Generator().manual_seed(_seed_from(seed, (_PER_RANK_TAG, rank, step)))


def shared_generator(seed: int, *, step: int = 0) -> torch.Generator:
    """A CPU generator that is identical on every rank at one step: for `mix_across_ranks`.

    Its seed is ``SeedSequence(seed, spawn_key=(1, step)).generate_state(2, uint32)`` joined into
    64 bits, so it differs from every per-rank stream of `rank_generator` (whose spawn keys
    start with 0).

    Args:
        seed: the run's seed, an integer >= 0 (the same on every rank).
        step: the training step, >= 0.

    Examples:
        >>> a, b = shared_generator(7, step=2), shared_generator(7, step=2)
        >>> torch.equal(a.get_state(), b.get_state())
        True
    """
    seed = _check_int("seed", seed)
    step = _check_int("step", step)
    return torch.Generator().manual_seed(_seed_from(seed, (_SHARED_TAG, step)))


# ---------------------------------------------------------------------------------------- pool


def _code(text: str) -> int:
    return zlib.crc32(text.encode())


_DTYPE_NAMES = {_code(str(d)): str(d) for d in vars(torch).values() if isinstance(d, torch.dtype)}


def _metadata(inputs: torch.Tensor, targets: torch.Tensor | None, generator: torch.Generator) -> list[int]:
    """A fixed-length description of this rank's call, compared across ranks."""
    in_shape = list(inputs.shape[1:])[:_MAX_DIMS]
    t_shape = list(targets.shape[1:])[:_MAX_DIMS] if targets is not None else []
    state = generator.get_state()
    return [
        int(inputs.shape[0]),
        inputs.ndim,
        _code(str(inputs.dtype)),
        _code(inputs.device.type),
        -1 if targets is None else targets.ndim,
        0 if targets is None else _code(str(targets.dtype)),
        zlib.crc32(state.numpy().tobytes()),
        *(in_shape + [-1] * (_MAX_DIMS - len(in_shape))),
        *(t_shape + [-1] * (_MAX_DIMS - len(t_shape))),
    ]


def _check_consensus(rows: list[list[int]], inputs: torch.Tensor, targets: torch.Tensor | None) -> None:
    """Raise the same error on every rank when the ranks' calls disagree."""
    sizes = [r[0] for r in rows]
    if len(set(sizes)) > 1:
        raise ValueError(
            "mix_across_ranks needs the same batch size on every rank, got batch sizes "
            f"{ {rank: n for rank, n in enumerate(sizes)} } (rank: size); drop the last uneven batch "
            "(DataLoader(drop_last=True) with a DistributedSampler) or mix within each rank"
        )
    devices = {r[3] for r in rows}
    if len(devices) > 1:
        raise ValueError(
            "mix_across_ranks needs inputs on the same kind of device on every rank; the ranks' inputs "
            f"are on different device types (this rank: {inputs.device})"
        )
    dtypes = [_DTYPE_NAMES.get(r[2], "?") for r in rows]
    if len(set(dtypes)) > 1:
        raise ValueError(
            f"mix_across_ranks needs inputs of the same dtype on every rank, got dtypes "
            f"{ {rank: d for rank, d in enumerate(dtypes)} } (rank: dtype)"
        )
    shapes = [tuple(x for x in r[7 : 7 + _MAX_DIMS] if x >= 0) for r in rows]
    if len({(r[1], s) for r, s in zip(rows, shapes, strict=True)}) > 1:
        raise ValueError(
            "mix_across_ranks needs inputs of the same sample shape on every rank, got inputs.shape[1:] "
            f"{ {rank: s for rank, s in enumerate(shapes)} } (rank: shape); pad or crop to a common shape "
            "first, or mix within each rank"
        )
    t_kinds = [(r[4], r[5], tuple(r[7 + _MAX_DIMS :])) for r in rows]
    if len(set(t_kinds)) > 1:
        described = {
            rank: ("None" if k[0] < 0 else f"{_DTYPE_NAMES.get(k[1], '?')} {tuple(x for x in k[2] if x >= 0)}")
            for rank, k in enumerate(t_kinds)
        }
        raise ValueError(
            "mix_across_ranks needs targets of the same kind on every rank (all None, or the same dtype and "
            f"per-sample shape), got (rank: dtype shape[1:]) {described}"
        )
    if len({r[6] for r in rows}) > 1:
        raise ValueError(
            "mix_across_ranks needs a generator in the same state on every rank (all ranks must draw the "
            "same global plan), but the ranks' generator states differ; pass "
            "generator=shared_generator(seed, step=step), not a per-rank generator"
        )


def mix_across_ranks(
    mixer: Mixer,
    inputs: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    generator: torch.Generator,
    num_classes: int | None = None,
    group: Any = None,
) -> MixedBatch:
    """Mix this rank's batch with partners drawn from the batches of every rank.

    Every rank calls it with its own batch of the same size ``B`` (a collective call). The inputs of
    all ranks are all-gathered into a global batch of ``W·B`` samples, in rank order (sample ``i`` of
    rank ``r`` is global sample ``r·B + i``), with ``torch.distributed.nn.functional.all_gather``, so
    gradients of a rank's mixed samples flow back to the rank that owns each source (this matters
    when mixing features; raw inputs need no gradient). The targets are all-gathered too. The mixer
    is then called on the global batch with ``generator``, which must be in the same state on every
    rank (use `shared_generator`): every rank draws the same global plan, so the pairings are
    consistent (if rank 0's sample 3 takes rank 1's sample 5 as partner, every rank agrees on it).
    Each rank keeps its own rows ``r·B … r·B + B − 1``.

    Any mixer whose inputs are one tensor works (images, spectrograms, waveforms, embeddings); the
    mixer is applied to the global batch, so this costs ``W`` times the local mixing work and one
    all-gather of the batch: meant for small per-rank batches. Batches that are not one tensor of a
    fixed per-sample shape (variable-size graphs, e.g. ``torch_geometric`` batches, ragged lists)
    cannot be gathered and are refused: mix them within each rank with `rank_generator`.
    Model-guided mixers that need extra call arguments (a model, features) are not supported here.

    Before gathering anything, the ranks exchange a small description of their call (batch size,
    dtype, device type, per-sample shapes, generator state), and every rank raises the same error
    when they disagree, so a bad call fails instead of hanging. Errors found on one rank only
    (non-tensor inputs, targets on another device) are raised before any collective; the other ranks
    then wait in their next collective until the process group's timeout.

    Args:
        mixer: the mixer to apply.
        inputs: this rank's batch, a tensor ``(B, ...)``; same ``B``, per-sample shape, dtype and
            device type on every rank.
        targets: this rank's targets, ``(B,)`` class indices or float ``(B, ...)``, or ``None``.
        generator: CPU generator in the same state on every rank (`shared_generator`).
        num_classes: number of classes, needed when targets are class indices (overrides the
            mixer's).
        group: the process group (``None``: the default group).

    Returns:
        A `MixedBatch` whose ``inputs`` are this rank's ``B`` mixed samples. Its ``targets`` are
        `MixedTargets` whose ``targets`` field holds the targets of the *global* batch and whose
        ``indices`` are global sample indices (so partner labels come from other ranks; ``dense()``
        and the losses work as usual, but ``y_a`` is the global batch's targets, not this rank's).
        Its ``plan`` is the plan of the global batch (this rank's rows are ``r·B … r·B + B − 1``), for
        audits.

    Raises:
        RuntimeError: no process group is initialised.
        TypeError: ``inputs`` is not a tensor (e.g. a batch of variable-size graphs), or the
            generator is not a CPU ``torch.Generator``.
        ValueError: the ranks disagree on the batch size, dtype, device type, per-sample shape, the
            kind of targets or the generator state; or targets live on another device than inputs.

    Examples:
        >>> out = mix_across_ranks(mixer, x, y, generator=shared_generator(seed, step=step),
        ...                        num_classes=10)   # doctest: +SKIP
        >>> loss = soft_cross_entropy(model(out.inputs), out.targets)   # doctest: +SKIP
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "mix_across_ranks needs an initialised torch.distributed process group (it all-gathers the batch "
            "of every rank): call torch.distributed.init_process_group(...) first (torchrun sets up the "
            "environment), or mix within one process with mixer(inputs, targets, "
            "generator=rank_generator(seed, step=step))"
        )
    if not isinstance(mixer, Mixer):
        raise TypeError(f"mixer must be a mixup_core.Mixer, got {type(mixer).__name__}: {mixer!r}")
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"mix_across_ranks needs inputs that are one tensor (B, ...) with the same per-sample shape on "
            f"every rank, got inputs of type {type(inputs).__name__}; batches of variable-size samples "
            "(e.g. torch_geometric batches of graphs) cannot be all-gathered: mix them within each rank "
            "with mixer(inputs, targets, generator=rank_generator(seed, step=step))"
        )
    if generator is None:
        raise TypeError("mix_across_ranks needs an explicit generator=shared_generator(seed, step=step), got None")
    generator = check_generator(generator)
    if inputs.ndim == 0:
        raise ValueError(f"inputs must have a batch dimension, got inputs.shape={tuple(inputs.shape)}")
    if targets is not None:
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"targets must be a torch.Tensor or None, got {type(targets).__name__}: {targets!r}")
        if targets.device != inputs.device:
            raise ValueError(
                f"targets and inputs must be on the same device for mix_across_ranks, got inputs on "
                f"{inputs.device} and targets on {targets.device}"
            )
        if targets.ndim == 0:
            raise ValueError(f"targets must have a batch dimension, got targets.shape={tuple(targets.shape)}")

    rank, world = dist.get_rank(group), dist.get_world_size(group)
    meta = torch.tensor(_metadata(inputs, targets, generator), dtype=torch.long, device=inputs.device)
    metas = [torch.empty_like(meta) for _ in range(world)]
    dist.all_gather(metas, meta, group=group)
    _check_consensus([m.cpu().tolist() for m in metas], inputs, targets)

    # imported here: torch builds without distributed support have no torch.distributed.nn (optional)
    from torch.distributed.nn.functional import all_gather as autograd_all_gather

    n = int(inputs.shape[0])
    global_inputs = torch.cat(list(autograd_all_gather(inputs, group=group)), dim=0)
    global_targets = None
    if targets is not None:
        parts = [torch.empty_like(targets) for _ in range(world)]
        dist.all_gather(parts, targets.detach().contiguous(), group=group)
        global_targets = torch.cat(parts, dim=0)

    out = mixer(global_inputs, global_targets, generator=generator, num_classes=num_classes)
    rows = slice(rank * n, (rank + 1) * n)
    local_targets = None
    if out.targets is not None:
        local_targets = dataclasses.replace(
            out.targets, indices=out.targets.indices[rows], weights=out.targets.weights[rows]
        )
    return MixedBatch(inputs=out.inputs[rows], targets=local_targets, plan=out.plan)
