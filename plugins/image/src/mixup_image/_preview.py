"""``mixup preview`` for image mixers: anchors, partners, anchor masks and mixes drawn in one grid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from mixup_core import ConfigError, MixPlan, hookimpl

from . import datasets

if TYPE_CHECKING:
    from mixup_core import Mixer, MixerInfo
    from mixup_core.hookspecs import PreviewOptions

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "figure_size_px",
    "load_examples",
    "mixup_preview",
    "render_preview",
]

FASHION_MNIST_DIR = Path(datasets.FASHION_MNIST_DIR)
"""Where Debian's ``dataset-fashion-mnist`` package puts the IDX files."""

SYNTHETIC_CLASSES = ("disc", "square", "triangle", "ring", "cross")
DATASETS = ("synthetic", "fashion-mnist", "digits")
"""The names accepted by ``--dataset``."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CELL_INCHES = 1.6
HEADER_INCHES = 0.5
DPI = 100
ROWS = ("anchor", "partner", "anchor mask", "mix")
ROW_LABELS = ("anchor", "partner", "anchor mask\n(yellow: anchor)", "mix")
MAX_SIDE = 128


def figure_size_px(batch_size: int) -> tuple[int, int]:
    """The ``(width, height)`` in pixels of a preview of ``batch_size`` examples."""
    width = CELL_INCHES * max(batch_size, 1)
    height = CELL_INCHES * len(ROWS) + HEADER_INCHES
    return round(width * DPI), round(height * DPI)


# ---------------------------------------------------------------------- examples
def _synthetic(n: int, seed: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Coloured shapes on a two-tone background; the label is the shape."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(SYNTHETIC_CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    images = torch.empty(n, 3, size, size)
    for i in range(n):  # a handful of preview images, not a training batch
        colour = 0.25 + 0.75 * torch.rand(3, generator=g)
        back_a, back_b = 0.15 * torch.rand(3, generator=g), 0.35 * torch.rand(3, generator=g)
        cy, cx = (torch.rand(2, generator=g) - 0.5) * 0.6
        r = 0.35 + 0.2 * float(torch.rand(1, generator=g))
        y, x = yy - cy, xx - cx
        kind = SYNTHETIC_CLASSES[int(labels[i])]
        if kind == "disc":
            shape = x**2 + y**2 <= r**2
        elif kind == "square":
            shape = (x.abs() <= r * 0.85) & (y.abs() <= r * 0.85)
        elif kind == "triangle":
            shape = (y <= r * 0.8) & (y >= -r + 2 * x.abs() * 0.9)
        elif kind == "ring":
            d = (x**2 + y**2).sqrt()
            shape = (d <= r) & (d >= r * 0.55)
        else:
            shape = ((x.abs() <= r * 0.3) & (y.abs() <= r)) | ((y.abs() <= r * 0.3) & (x.abs() <= r))
        background = torch.where((yy + xx > 0)[None], back_a[:, None, None], back_b[:, None, None])
        images[i] = torch.where(shape[None], colour[:, None, None], background)
    return images, labels, SYNTHETIC_CLASSES


def _fashion_mnist(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    images_path = FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    labels_path = FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    if not images_path.exists() or not labels_path.exists():
        raise ConfigError(
            f"the fashion-mnist files are not in {FASHION_MNIST_DIR}: install them with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or use --images DIR or --dataset synthetic"
        )
    try:
        images, labels = (torch.from_numpy(datasets.read_idx(p).copy()) for p in (images_path, labels_path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return images[pick, None].float() / 255.0, labels[pick].long(), datasets.FASHION_MNIST_CLASSES


def _digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ConfigError(
            "--dataset digits needs scikit-learn (its bundled 8×8 digits): `pip install scikit-learn`; "
            "or use --dataset synthetic or --images DIR"
        ) from exc
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32) / 16.0
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return images[pick, None], labels[pick], datasets.DIGITS_CLASSES


def _folder(folder: Path, n: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    if not folder.is_dir():
        raise ConfigError(f"--images must be a folder of PNG/JPEG files, got {str(folder)!r}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:n]
    if not files:
        raise ConfigError(f"no PNG or JPEG files in {str(folder)!r}")
    try:
        from PIL import Image
    except ImportError as exc:  # pillow comes with matplotlib
        raise ImportError('reading images needs Pillow: pip install "mixup-image[preview]"') from exc
    tensors = []
    for path in files:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            t = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).reshape(rgb.height, rgb.width, 3)
        tensors.append(t.permute(2, 0, 1).float() / 255.0)
    h, w = tensors[0].shape[-2:]
    scale = min(1.0, MAX_SIDE / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    images = torch.cat(
        [F.interpolate(t[None], size=size, mode="bilinear", antialias=True, align_corners=False) for t in tensors]
    )
    # every file is its own class, named after the file
    return images.clamp(0, 1), torch.arange(len(files)), tuple(p.stem for p in files)


def load_examples(options: PreviewOptions) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The images ``(B, C, H, W)`` in [0, 1], their labels and the class names for a preview."""
    n = max(1, int(options.batch_size))
    if options.inputs is not None:
        return _folder(Path(options.inputs), n)
    name = (options.dataset or "synthetic").lower().replace("_", "-")
    if name == "synthetic":
        return _synthetic(n, options.seed)
    if name in ("fashion-mnist", "fashionmnist"):
        return _fashion_mnist(n, options.seed)
    if name == "digits":
        return _digits(n, options.seed)
    raise ConfigError(f"unknown --dataset {options.dataset!r} for image mixers; choose one of {', '.join(DATASETS)}")


# ---------------------------------------------------------------------- drawing
def _anchor_mask(mixer: Mixer, plan: MixPlan, size: tuple[int, int]) -> torch.Tensor:
    """The anchor's weight per pixel ``(B, H, W)``.

    From ``mixer.anchor_mask`` when the mixer (or the mixer a ``core:choice`` picked) has it; else
    measured by replaying the plan on inputs whose channel ``j`` marks source ``j`` (exact for every
    mixer that keeps channels apart, as the conformance kit checks); else λ as a flat map.
    """
    inner_mixer, inner_plan = mixer, plan
    choice = getattr(plan, "choice", None)
    if choice is not None and hasattr(mixer, "mixers"):  # core:choice: look at the chosen mixer
        inner_mixer, inner_plan = mixer.mixers[choice], plan.inner  # type: ignore[attr-defined]  # a Choice and its plan
    n = plan.batch_size
    if hasattr(inner_mixer, "anchor_mask"):
        mask = inner_mixer.anchor_mask(inner_plan, size)
        return mask.float().reshape(n, *mask.shape[-2:])
    try:
        marked = torch.eye(n).view(n, n, 1, 1).expand(n, n, *size).contiguous()
        replayed = mixer.apply(marked, plan)
        return replayed[torch.arange(n), torch.arange(n)].float().clamp(0, 1)
    except Exception:  # a mixer whose plan cannot be replayed on other channels
        lam = plan.lam if plan.lam.ndim == 1 else plan.lam[:, 0]
        return lam.float().view(-1, 1, 1).expand(-1, *size)


def _show(ax: Any, image: torch.Tensor) -> None:
    img = image.detach().float().clamp(0, 1).cpu()
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(img[:3].permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _weights_title(row: torch.Tensor, names: tuple[str, ...], top: int = 2) -> str:
    values, classes = row.topk(min(top, row.numel()))
    parts = [
        f"{names[int(c)] if int(c) < len(names) else int(c)} {float(v):.2f}"
        for v, c in zip(values, classes, strict=True)
        if float(v) >= 0.005
    ]
    return "\n".join(parts)


def render_preview(mixer: Mixer, name: str, options: PreviewOptions) -> Path:
    """Mix examples with ``mixer``; draw the four rows (anchors, partners, anchor masks, mixes) to ``options.out``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError('mixup preview draws with matplotlib: pip install "mixup-image[preview]"') from exc
    if getattr(mixer, "cost", "none") == "dataset":
        raise ConfigError(f"{name} generates whole data sets (cost 'dataset'); there is no batch to preview")
    images, labels, names = load_examples(options)
    n, size = images.shape[0], (int(images.shape[-2]), int(images.shape[-1]))
    generator = torch.Generator().manual_seed(options.seed)
    # model-guided mixers get model-free stand-ins (their example_call_kwargs) for the picture
    extra = type(mixer).example_call_kwargs(images, labels, len(names))
    out = mixer(images, labels, generator=generator, num_classes=len(names), **extra)
    plan = out.plan
    partners = plan.index if plan.index.ndim == 1 else plan.index[:, 0]
    more = 0 if plan.index.ndim == 1 else plan.index.shape[1] - 1
    masks = _anchor_mask(mixer, plan, size)
    assert out.targets is not None
    dense = out.targets.dense(len(names))

    width, height = figure_size_px(n)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = 1.0 - HEADER_INCHES / (height / DPI)
    fig.subplots_adjust(left=0.3 / (width / DPI), right=0.99, bottom=0.01, top=top, wspace=0.06, hspace=0.42)
    axes = fig.subplots(len(ROWS), n, squeeze=False)
    params = ", ".join(f"{k}={v}" for k, v in mixer.to_config().items() if k not in ("name", "num_classes"))
    choice = getattr(plan, "choice", None)
    picked = ""
    if choice is not None and hasattr(mixer, "mixers"):  # a composite: say which mixer drew this batch
        picked = f" → {mixer.mixers[choice].qualified_name()}"
    title = f"{name}{picked}" + (f"  ({params})" if params else "")
    limit = int(width / DPI * 13)  # characters that fit at 9 pt
    title = title if len(title) <= limit else title[: limit - 1] + "…"
    fig.suptitle(title, fontsize=9, y=1.0 - 0.12 * HEADER_INCHES / (height / DPI), va="top")
    for i in range(n):
        j = int(partners[i])
        _show(axes[0, i], images[i])
        axes[0, i].set_title(f"anchor: {names[int(labels[i])]}", fontsize=7)
        _show(axes[1, i], images[j])
        title = f"partner: {names[int(labels[j])]}" if j != i else "partner: itself"
        axes[1, i].set_title(title + (f" (+{more} more)" if more else ""), fontsize=7)
        axes[2, i].imshow(masks[i].numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        axes[2, i].set_xticks([])
        axes[2, i].set_yticks([])
        axes[2, i].set_title(f"anchor share {float(masks[i].mean()):.2f}", fontsize=7)
        _show(axes[3, i], out.inputs[i])
        axes[3, i].set_title(_weights_title(dense[i], names), fontsize=7)
    for r, row_name in enumerate(ROW_LABELS):
        axes[r, 0].set_ylabel(row_name, fontsize=7)
    path = Path(options.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


@hookimpl
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Preview image mixers and modality-agnostic ones (``core:mixup``) on images; ``None`` otherwise."""
    if info.modality not in ("image", "any"):
        return None
    return str(render_preview(mixer, info.name, options))
