"""`mixup_core.lightning`: the Lightning callback on a tiny model trained on the CPU."""

from __future__ import annotations

import functools
import importlib
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mixup_core import Mixup, mixer_dataclass, soft_cross_entropy

# Lightning takes seconds of CPU to import (it brings torchmetrics and torchvision): it is imported by
# the tests, not at collection, and the tests share one xdist worker so that only that worker pays.
pytestmark = [
    pytest.mark.xdist_group("lightning"),
    pytest.mark.filterwarnings(
        "ignore:.*(num_workers|log_every_n_steps|does not have many workers|GPU available|TPU available|LeafSpec).*"
    ),
]

N, D, C, B = 32, 8, 3, 8
_data = torch.Generator().manual_seed(123)
X = torch.randn(N, D, generator=_data)
Y = torch.randint(0, C, (N,), generator=_data)
XV = torch.randn(16, D, generator=_data)
YV = torch.randint(0, C, (16,), generator=_data)


class DictData(Dataset):  # type: ignore[type-arg]
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


def _tuple_collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


@functools.cache
def _tiny_net() -> type:
    """The LightningModule class of the tests (built on first use: it needs Lightning)."""
    pl = pytest.importorskip("lightning.pytorch")
    from mixup_core.lightning import mixup_loss

    class TinyNet(pl.LightningModule):
        """A linear classifier that records what its steps receive."""

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(D, C)
            self.train_seen: list[dict[str, Any]] = []
            self.val_seen: list[dict[str, Any]] = []

        @staticmethod
        def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
            return (batch["x"], batch["y"]) if isinstance(batch, dict) else (batch[0], batch[1])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = self._xy(batch)
            self.train_seen.append(
                {
                    "epoch": self.current_epoch,
                    "idx": batch_idx,
                    "x": x.detach().clone(),
                    "y": y.clone(),
                    "mt": getattr(self, "mixup_targets", None),
                }
            )
            return mixup_loss(self, self(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = self._xy(batch)
            self.val_seen.append({"idx": batch_idx, "x": x.clone(), "mt": getattr(self, "mixup_targets", None)})
            return mixup_loss(self, self(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.5)

    return TinyNet


def _loaders(kind: str) -> tuple[DataLoader, DataLoader]:  # type: ignore[type-arg]
    if kind == "dict":
        return DataLoader(DictData(X, Y), batch_size=B), DataLoader(DictData(XV, YV), batch_size=B)
    collate = _tuple_collate if kind == "tuple" else None
    return (
        DataLoader(TensorDataset(X, Y), batch_size=B, collate_fn=collate),
        DataLoader(TensorDataset(XV, YV), batch_size=B, collate_fn=collate),
    )


def fit(callback: Any, *, kind: str = "list", max_epochs: int = 2) -> Any:
    """Train a fresh `TinyNet` (same initial weights every time) for ``max_epochs`` with ``callback``."""
    pl = pytest.importorskip("lightning.pytorch")
    TinyNet = _tiny_net()
    torch.manual_seed(0)
    model = TinyNet()
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[] if callback is None else [callback],
    )
    train, val = _loaders(kind)
    trainer.fit(model, train, val)
    return model


@pytest.fixture
def lit() -> Any:
    """The module under test (skips when Lightning is not installed)."""
    pytest.importorskip("lightning.pytorch")
    return importlib.import_module("mixup_core.lightning")


def _check_mixed(rec: dict[str, Any]) -> None:
    """The recorded batch is mixed, and its stored targets match its inputs source by source."""
    mt = rec["mt"]
    assert mt is not None
    sl = slice(rec["idx"] * B, (rec["idx"] + 1) * B)
    x0, y0 = X[sl], Y[sl]
    assert torch.equal(rec["y"], y0)  # the batch's targets are left as they were
    assert torch.equal(mt.targets, y0)
    dense = mt.dense(C)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(B))
    assert (dense.max(dim=1).values < 1 - 1e-4).any(), "no row is soft"
    # Mixup: each mixed input is the weighted sum of its sources, with the label weights.
    expected = (mt.weights.unsqueeze(-1) * x0[mt.indices]).sum(dim=1)
    torch.testing.assert_close(rec["x"], expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(rec["x"], x0)


def test_training_batches_are_mixed_and_validation_batches_are_not(core_only: None, lit: Any) -> None:
    model = fit(lit.MixupCallback({"name": "mixup", "alpha": 1.0}, seed=3, num_classes=C))
    assert len(model.train_seen) == 2 * N // B
    for rec in model.train_seen:
        _check_mixed(rec)
    # plans differ from batch to batch (the step is part of the generator's seed)
    lams = [tuple(r["mt"].lam.tolist()) for r in model.train_seen]
    assert len(set(lams)) == len(lams)
    assert len(model.val_seen) == 2 * len(XV) // B
    for rec in model.val_seen:
        sl = slice(rec["idx"] * B, (rec["idx"] + 1) * B)
        assert torch.equal(rec["x"], XV[sl])
        assert rec["mt"] is None
    assert model.mixup_targets is None  # nothing left behind after training


def test_same_seed_same_weights_other_seed_other_weights(core_only: None, lit: Any) -> None:
    a = fit(lit.MixupCallback("mixup", seed=7))
    b = fit(lit.MixupCallback("mixup", seed=7))
    c = fit(lit.MixupCallback("mixup", seed=8))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_off_after_epoch_stops_mixing(core_only: None, lit: Any) -> None:
    model = fit(lit.MixupCallback("mixup", seed=0, off_after_epoch=1), max_epochs=2)
    first = [r for r in model.train_seen if r["epoch"] == 0]
    last = [r for r in model.train_seen if r["epoch"] == 1]
    assert first
    assert last
    for rec in first:
        _check_mixed(rec)
    for rec in last:
        assert rec["mt"] is None
        assert torch.equal(rec["x"], X[rec["idx"] * B : (rec["idx"] + 1) * B])


def test_mixer_by_config_dict_on_dict_batches(core_only: None, lit: Any) -> None:
    spec = {"name": "choice", "mixers": [{"name": "mixup", "alpha": 0.5}, {"name": "mixup", "alpha": 2.0}]}
    cb = lit.MixupCallback(spec, seed=1, num_classes=C, batch_keys=("x", "y"))
    assert type(cb.mixer).__name__ == "Choice"
    model = fit(cb, kind="dict")
    for rec in model.train_seen:
        _check_mixed(rec)


def test_tuple_batches_need_a_getter(core_only: None, lit: Any) -> None:
    with pytest.raises(TypeError, match=r"list or a dict.*tuple.*batch_keys=lambda"):
        fit(lit.MixupCallback("mixup"), kind="tuple", max_epochs=1)
    model = fit(lit.MixupCallback("mixup", batch_keys=lambda b: (b[0], b[1])), kind="tuple", max_epochs=1)
    for rec in model.train_seen:
        _check_mixed(rec)


def test_dict_batch_with_wrong_keys_names_them(core_only: None, lit: Any) -> None:
    with pytest.raises(KeyError, match=r"no key 0.*\['x', 'y'\].*batch_keys"):
        fit(lit.MixupCallback("mixup"), kind="dict", max_epochs=1)


def test_bad_arguments(core_only: None, lit: Any) -> None:
    with pytest.raises(ValueError, match="off_after_epoch=-1"):
        lit.MixupCallback("mixup", off_after_epoch=-1)
    with pytest.raises(ValueError, match=r"batch_keys=\(0,\)"):
        lit.MixupCallback("mixup", batch_keys=(0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed=-1"):
        lit.MixupCallback("mixup", seed=-1)
    with pytest.raises(ValueError, match="num_classes=0"):
        lit.MixupCallback("mixup", num_classes=0)
    with pytest.raises(Exception, match="no-such-mixer"):
        lit.MixupCallback("no-such-mixer")

    @mixer_dataclass
    class Hidden(Mixup):
        def forward(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, **kw: Any) -> Any:
            raise NotImplementedError

    with pytest.raises(TypeError, match=r"inside the model's forward.*mixed_step"):
        lit.MixupCallback(Hidden())


def test_mixup_loss(lit: Any) -> None:
    module = nn.Linear(2, C)
    logits = torch.randn(4, C)
    y = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(lit.mixup_loss(module, logits, y), F.cross_entropy(logits, y))
    mixed = Mixup(alpha=1.0)(torch.randn(4, 2), y, generator=torch.Generator().manual_seed(0), num_classes=C)
    module.mixup_targets = mixed.targets  # type: ignore[assignment]
    torch.testing.assert_close(lit.mixup_loss(module, logits, y), soft_cross_entropy(logits, mixed.targets))
    assert not torch.allclose(lit.mixup_loss(module, logits, y), F.cross_entropy(logits, y))
    with pytest.raises(ValueError, match=r"4 samples but logits.shape=\(3, 3\)"):
        lit.mixup_loss(module, logits[:3], y[:3])


def test_step_generator_is_rank_generator_of_rank_and_batch(lit: Any) -> None:
    from mixup_core.distributed import rank_generator

    cb = lit.MixupCallback("mixup", seed=5)

    def draw(trainer: Any, batch_idx: int) -> torch.Tensor:
        return torch.rand(4, generator=cb.generator(trainer, batch_idx))

    t = SimpleNamespace(global_step=3, global_rank=1, world_size=2, accumulate_grad_batches=1)
    assert torch.equal(draw(t, 3), torch.rand(4, generator=rank_generator(5, rank=1, step=3, world_size=2)))
    other_rank = SimpleNamespace(global_step=3, global_rank=0, world_size=2, accumulate_grad_batches=1)
    assert not torch.equal(draw(t, 3), draw(other_rank, 3))
    # micro-batches of one accumulation window share global_step but not their generator
    acc = SimpleNamespace(global_step=3, global_rank=0, world_size=1, accumulate_grad_batches=2)
    assert not torch.equal(draw(acc, 6), draw(acc, 7))
    assert torch.equal(draw(acc, 7), torch.rand(4, generator=rank_generator(5, rank=0, step=7, world_size=1)))


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "lightning" or m.startswith("lightning.")]:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "lightning", None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)  # type: ignore[arg-type]
    monkeypatch.delitem(sys.modules, "mixup_core.lightning", raising=False)
    with pytest.raises(ImportError, match=r'pip install "mixup-core\[lightning\]"'):
        importlib.import_module("mixup_core.lightning")
