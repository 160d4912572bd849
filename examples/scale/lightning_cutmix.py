"""CutMix in a Lightning training loop with `MixupCallback` (pip install "mixup-core[lightning]").

    python examples/scale/lightning_cutmix.py --epochs 2

The callback mixes every training batch; the training step's one changed line is
``mixup_loss(self, logits, y)``. Validation batches are never mixed.
"""

from __future__ import annotations

import argparse

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mixup_core.lightning import MixupCallback, mixup_loss


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return mixup_loss(self, self(x), y)  # soft targets when the callback mixed this batch

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 3, 16, 16, generator=g), torch.randint(0, 4, (96,), generator=g)
    train = DataLoader(
        TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
    torch.manual_seed(0)
    model = Classifier()
    trainer = pl.Trainer(
        max_epochs=args.epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[MixupCallback({"name": "image:cutmix", "alpha": 1.0}, num_classes=4, seed=0)],
    )
    trainer.fit(model, train, val)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


if __name__ == "__main__":
    print(main())
