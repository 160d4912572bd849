"""``mixup preview`` for tabular mixers: anchors, partners and mixes drawn as three heat maps of rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mixup_core import ConfigError, create_mixer, hookimpl

if TYPE_CHECKING:
    from mixup_core import Mixer, MixerInfo
    from mixup_core.hookspecs import PreviewOptions

__all__ = ["example_rows", "mixup_preview", "render_preview"]

_CLASSES = ("ok", "worn", "fault")
_DPI = 100


def example_rows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str], list[list[int]]]:
    """Synthetic encoded equipment-log rows: ``(x (n, 8), labels, class names, feature names, categorical slices)``.

    Three standardised numeric features (temperature, vibration, pressure), a one-hot pump type
    (A, B, C) and a one-hot shift (day, night).
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(_CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    numeric = torch.randn(n, 3, generator=g) + labels[:, None].float() - 1.0
    pump = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3).float()
    shift = torch.nn.functional.one_hot(torch.randint(0, 2, (n,), generator=g), 2).float()
    x = torch.cat([numeric, pump, shift], dim=1)
    names = ["temp", "vibration", "pressure", "pump=A", "pump=B", "pump=C", "shift=day", "shift=night"]
    return x, labels, list(_CLASSES), names, [[3, 6], [6, 8]]


def _table_rows(options: PreviewOptions) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str], list[list[int]]]:
    from ._detect import detect_table
    from .lab import load_table_task

    path = Path(options.inputs).expanduser()  # type: ignore[arg-type]
    guess = detect_table(path) if path.exists() else None
    if guess is None:
        raise ConfigError(
            f"--inputs: not a table of numeric and categorical columns with a label column (got {str(path)!r})"
        )
    data = load_table_task(**{k: v for k, v in guess.dataset.items() if k != "name"})
    n = min(options.batch_size, len(data.train))
    x, y = data.train.inputs[:n], data.train.labels[:n]
    return x, y, list(data.class_names), list(data.info["feature_names"]), list(data.info["categorical_slices"])


def render_preview(mixer: Mixer, name: str, options: PreviewOptions) -> Path:
    """Mix example rows with ``mixer`` and draw anchors, partners and mixes (with label weights) to ``options.out``.

    The rows are synthetic equipment-log rows (`example_rows`), or the first training rows of the
    table ``options.inputs``. A `mixup_tabular.RowMixup` without ``categorical_slices`` gets the
    example's blocks, so the picture shows how categories are drawn.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError('mixup preview draws with matplotlib: pip install "mixup-tabular[preview]"') from exc
    if options.dataset not in (None, "synthetic"):
        raise ConfigError(f"--dataset: tabular previews use synthetic rows or --inputs TABLE, got {options.dataset!r}")
    if options.inputs is not None:
        x, labels, classes, features, slices = _table_rows(options)
    else:
        x, labels, classes, features, slices = example_rows(max(options.batch_size, 2), options.seed)
    from .rowmixup import RowMixup

    if isinstance(mixer, RowMixup) and not mixer.categorical_slices:
        mixer = create_mixer({**mixer.to_config(), "categorical_slices": slices, "num_features": x.shape[1]})
    out = mixer(x, labels, generator=torch.Generator().manual_seed(options.seed), num_classes=len(classes))
    assert out.targets is not None
    dense = out.targets.dense(len(classes))
    partners = out.plan.index if out.plan.index.ndim == 1 else out.plan.index[:, 0]
    n, width = x.shape

    fig = Figure(figsize=(1.6 + 0.75 * width, 1.2 + 3 * (0.45 * n + 0.6)), dpi=_DPI)
    axes = fig.subplots(3, 1, squeeze=False)[:, 0]
    fig.subplots_adjust(left=1.5 / (1.6 + 0.75 * width), right=0.98, top=0.9, bottom=0.08, hspace=0.55)
    shown = {k: v for k, v in mixer.to_config().items() if k not in ("name", "num_classes", "categorical_slices")}
    if isinstance(mixer, RowMixup):
        shown.setdefault("categorical", mixer.categorical)
    params = ", ".join(f"{k}={v}" for k, v in shown.items())
    fig.suptitle(f"{name}" + (f"  ({params})" if params else ""), fontsize=9)

    def weights(i: int) -> str:
        top = dense[i].topk(min(2, len(classes)))
        return ", ".join(f"{classes[int(c)]} {float(v):.2f}" for v, c in zip(*top, strict=True) if float(v) >= 0.005)

    panels: list[tuple[str, torch.Tensor, list[str]]] = [
        ("anchors", x, [f"{i}: {classes[int(labels[i])]}" for i in range(n)]),
        ("partners", x[partners], [f"{int(partners[i])}: {classes[int(labels[partners[i]])]}" for i in range(n)]),
        ("mixes (label weights)", out.inputs, [weights(i) for i in range(n)]),
    ]
    for ax, (title, rows, ticks) in zip(axes, panels, strict=True):
        values = rows.detach().float()
        ax.imshow(values.numpy(), cmap="coolwarm", vmin=-2.5, vmax=2.5, aspect="auto", interpolation="nearest")
        for i in range(n):
            for j in range(width):
                ax.text(j, i, f"{float(values[i, j]):.2f}", ha="center", va="center", fontsize=6)
        for a, b in slices:
            for edge in (a - 0.5, b - 0.5):
                ax.axvline(edge, color="black", linewidth=1.2)
        ax.set_title(title, fontsize=8)
        ax.set_yticks(range(n), ticks, fontsize=7)
        ax.set_xticks(range(width), features, fontsize=7, rotation=30, ha="right")
    path = Path(options.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


@hookimpl
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Preview tabular mixers on table rows; ``None`` for other modalities."""
    if info.modality != "tabular":
        return None
    return str(render_preview(mixer, info.name, options))

