"""Write the small inspection data set of the docs' first page: grey 32 x 32 photos of parts, in class folders.

    python docs/scripts/make_parts.py parts      # then: mixup compare parts --critical crack --budget 2m

Classes: ``ok`` (a plain textured surface), ``scratch`` (a thin straight light line) and ``crack`` (a dark
jagged line), 150 / 70 / 40 images; every image is drawn from ``numpy.random.default_rng(seed)``, so the
same command writes the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _surface(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.uniform(90, 150)
    grain = rng.normal(0, 12, (size, size))
    shade = np.linspace(-15, 15, size)[None, :] * rng.uniform(-1, 1)
    return base + grain + shade


def _scratch(img: np.ndarray, rng: np.random.Generator) -> None:
    size = img.shape[0]
    y0, y1 = rng.uniform(4, size - 4, 2)
    for x in range(size):
        y = round(y0 + (y1 - y0) * x / (size - 1))
        img[y, x] += rng.uniform(45, 80)


def _crack(img: np.ndarray, rng: np.random.Generator) -> None:
    size = img.shape[0]
    x = rng.uniform(8, size - 8)
    for y in range(size):
        x = float(np.clip(x + rng.normal(0, 1.2), 1, size - 2))
        img[y, int(x)] -= rng.uniform(40, 70)
        img[y, int(x) + 1] -= rng.uniform(10, 30)


def write_parts(root: Path, *, seed: int = 0, size: int = 32, counts: dict[str, int] | None = None) -> Path:
    """Write the class folders under ``root`` and return it."""
    from PIL import Image

    counts = counts or {"ok": 150, "scratch": 70, "crack": 40}
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = _surface(rng, size)
            if name == "scratch":
                _scratch(img, rng)
            elif name == "crack":
                _crack(img, rng)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name / f"{name}-{i:03d}.png")
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the folder to write")
    write_parts(parser.parse_args().root)
