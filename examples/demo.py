"""A short demo of mixup-core: pick mixers by name, mix a batch, audit the plan, compute a loss.

Run with ``make demo`` (or ``python examples/demo.py`` inside the environment).
"""

from __future__ import annotations

import torch

from mixup_core import create_mixer, list_mixers, mixed_cross_entropy, soft_cross_entropy


def main() -> None:
    print(f"{len(list_mixers())} mixers installed\n")
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 32, 32, generator=g)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])

    mixer = create_mixer({"name": "mixup", "alpha": 0.4, "mode": "sample", "num_classes": 6})
    out = mixer(images, labels, generator=g)
    print(f"mixer: {mixer!r}")
    print("who was mixed with whom, and with which share of the anchor:")
    for i, (j, lam) in enumerate(zip(out.plan.index.tolist(), out.plan.lam.tolist(), strict=True)):
        print(f"  sample {i} <- partner {j}, λ = {lam:.3f}")
    print("soft targets:\n", out.targets.dense().numpy().round(3))

    logits = torch.randn(6, 6, generator=g)
    print(f"soft cross-entropy {soft_cross_entropy(logits, out.targets):.4f} "
          f"== two-term form {mixed_cross_entropy(logits, out.targets):.4f}")

    # protect critical cases: class 0 is never the minority of a mix
    guard = create_mixer({"name": "mixup", "mode": "sample", "num_classes": 6, "protected_classes": [0]})
    protected = guard(images, labels, generator=g)
    print("share of class 0 in each mixed sample:", protected.targets.dense()[:, 0].numpy().round(3))

    # RandomMix by config: one mixer per batch
    choice = create_mixer(
        {"name": "choice", "mixers": [{"name": "mixup", "alpha": 0.2}, {"name": "mixup", "alpha": 1.0}]}
    )
    print(f"choice picked mixer #{choice(images, labels, generator=g, num_classes=6).plan.choice}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
