"""Every ready config, GPU recipe and evaluation template runs end to end with a tiny budget.

Ready configs (examples/configs) run on the offline data sets; the GPU recipe (examples/recipes) runs on a
few fake CIFAR batch files in torchvision's format; the templates (examples/templates) point at the user's
data, so each runs on a small generated data set of its modality put in place of ``dataset.root``. Each
config is shrunk the same way: one epoch, one seed, a small slice of its data; what is checked is that the
config validates, trains every arm, and writes a report that names every arm.
"""

from __future__ import annotations

import csv
import json
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mixup_core import ConfigError
from mixup_lab._cli import read_study
from mixup_lab._runner import run_compare

ROOT = Path(__file__).resolve().parents[1]
READY = sorted((ROOT / "examples" / "configs").glob("*.yaml"))
RECIPES = sorted((ROOT / "examples" / "recipes").glob("*.yaml"))
TEMPLATES = sorted((ROOT / "examples" / "templates").glob("*.yaml"))

pytestmark = pytest.mark.xdist_group("ready-configs")

# the data-set parameters that make each registered data set small (one epoch and one seed come on top)
SHRINK: dict[str, list[str]] = {
    "image:digits": ["dataset.train_size=120", "dataset.test_fraction=0.1"],
    "image:fashion-mnist": ["dataset.train_size=200", "dataset.test_size=100"],
    "image:cifar": ["dataset.train_size=40", "dataset.test_size=20", "model.width=4", "train.workers=0",
                    "train.batch_size=16"],
    "audio:spoken-digits": ["dataset.num_clips=200", "dataset.train_size=60", "dataset.test_size=30"],
    "text:fortunes": ["dataset.train_size=32", "dataset.test_size=16", "dataset.max_length=16"],
    "graph:ba-motif": ["dataset.num_graphs=80"],
    "graph:families": ["dataset.num_graphs=80"],
    "graph:solubility": ["dataset.train_size=120"],
    "tabular:table": [],
    "image:folder": ["dataset.size=[16, 16]", "train.workers=0"],
    "audio:folder": ["train.workers=0"],
    "text:table": [],
    "graph:folder": [],
}


def _header(path: Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


def _tiny(path: Path, extra: list[str]) -> list[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    name = raw["dataset"]["name"]
    assert name in SHRINK, f"{path.name}: add {name!r} to SHRINK so that its tiny run stays tiny"
    return ["train.epochs=1", "seeds=[0]", "examples=2", "train.threads=1", *SHRINK[name], *extra]


def _run(path: Path, out: Path, extra: list[str] | None = None) -> str:
    cfg = read_study(path, _tiny(path, extra or []))
    try:
        folder = run_compare(cfg, out=out, progress=False)
    except ConfigError as exc:  # an offline data set that this machine lacks (Debian package, espeak-ng)
        if "cannot be loaded" in str(exc) or "not found" in str(exc):
            pytest.skip(f"{path.name}: {exc}")
        raise
    report = (folder / "report.md").read_text(encoding="utf-8")
    for arm in cfg.arms:
        assert f"| {arm.name} |" in report, f"{path.name}: arm {arm.name!r} missing from the report"
    runs = sorted(folder.glob("runs/*/seed-0/metrics.json"))
    assert len(runs) == len(cfg.arms)
    for run in runs:
        metrics = json.loads(run.read_text())
        assert 0.0 <= metrics["accuracy"] <= 1.0
    return report


# ---------------------------------------------------------------------------------------------- ready configs
def test_ready_configs_state_their_paper_and_expected_direction() -> None:
    """Each ready config says in its header which published effect it expects (or that it expects none)."""
    assert READY
    for path in [*READY, *RECIPES]:
        header = _header(path)
        assert re.search(r"\bExpect(ed|s)?\b", header), f"{path.name}: no 'Expected:' line in the header"
        assert re.search(r"(19|20)\d\d", header), f"{path.name}: the header cites no paper (author, year)"
        cfg = read_study(path)  # valid as shipped
        assert len(cfg.seeds) >= 3, path.name


@pytest.mark.parametrize("path", READY, ids=[p.stem for p in READY])
def test_ready_config_runs_with_a_tiny_budget(path: Path, tmp_path: Path) -> None:
    _run(path, tmp_path / "study")


# ---------------------------------------------------------------------------------------------- GPU recipe
def write_fake_cifar(root: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` with five small training batches, a test batch and the meta file."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        labels = np.arange(per_batch) % 10
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, :1024] = (labels * 25)[:, None]  # the red plane tells the class: something to learn
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels.tolist(), b"batch_label": name.encode()}, fh)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_cases_per_batch": per_batch}, fh)
    return root


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_gpu_recipe_validates_and_runs_on_fake_cifar(path: Path, tmp_path: Path) -> None:
    cfg = read_study(path)
    assert cfg.train.device == "auto"
    assert cfg.train.amp
    assert cfg.train.epochs == 200
    assert cfg.model.name == "image:preact-resnet18"
    assert [a.name for a in cfg.arms] == ["baseline", "mixup", "cutmix"]
    root = write_fake_cifar(tmp_path / "cifar")
    report = _run(path, tmp_path / "study", [f"dataset.root={root}"])
    assert "cifar10" in report


# ---------------------------------------------------------------------------------------------- templates
def _png_folders(root: Path, classes: list[str], per_class: int = 8) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8) + np.uint8(120 * c)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _wav(path: Path, x: np.ndarray, rate: int) -> None:
    data = np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _wav_folders(root: Path, classes: list[str], per_class: int = 8, rate: int = 16000) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(rate // 2) / rate
    for c, name in enumerate(classes):
        for i in range(per_class):
            x = 0.4 * np.sin(2 * np.pi * (300 + 500 * c + 10 * i) * t) + 0.01 * rng.standard_normal(t.size)
            _wav(root / name / f"{i}.wav", x, rate)
    return root


def _table(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _tickets(path: Path) -> Path:
    words = {"billing": ["invoice", "refund", "charge", "payment"], "technical": ["error", "crash", "login", "bug"],
             "sales": ["quote", "pricing", "demo", "licence"]}
    rng = np.random.default_rng(0)
    rows = [[f"my {rng.choice(w)} and {rng.choice(w)} question number {i}", queue]
            for queue, w in words.items() for i in range(12)]
    return _table(path, ["text", "queue"], rows)


def _equipment(path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for m in range(8):
        for i in range(12):
            status = "failure" if i % 3 == 0 else "normal"
            temp = 60 + 25 * (status == "failure") + rng.normal(0, 3)
            rows.append([f"m{m}", round(temp, 2), round(rng.normal(1, 0.2), 3), rng.choice(["day", "night"]), status])
    return _table(path, ["machine", "temperature", "vibration", "shift", "status"], rows)


def _molecules(path: Path) -> Path:
    import torch
    from torch_geometric.data import Data

    graphs = []
    for i in range(24):
        n = 5 + i % 4
        ring = i % 2 == 0  # rings vs chains
        edges = [(k, k + 1) for k in range(n - 1)] + ([(n - 1, 0)] if ring else [])
        both = edges + [(b, a) for a, b in edges]
        graphs.append(Data(x=torch.eye(3)[torch.randint(0, 3, (n,))], edge_index=torch.tensor(both).t(),
                           y=torch.tensor([int(ring)])))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(graphs, path)
    return path


def _template_data(name: str, tmp: Path) -> Path:
    makers: dict[str, Callable[[Path], Path]] = {
        "visual-inspection": lambda p: _png_folders(p / "images", ["defect", "ok"]),
        "machine-sound": lambda p: _wav_folders(p / "sounds", ["fault", "normal"]),
        "ticket-routing": lambda p: _tickets(p / "tickets.csv"),
        "molecule-property": lambda p: _molecules(p / "molecules.pt"),
        "equipment-logs": lambda p: _equipment(p / "logs.csv"),
    }
    assert name in makers, f"add a small generated data set for the template {name!r}"
    return makers[name](tmp)


def test_every_business_scenario_has_a_template() -> None:
    names = {p.stem for p in TEMPLATES}
    assert {"visual-inspection", "machine-sound", "ticket-routing", "molecule-property", "equipment-logs"} <= names
    for path in TEMPLATES:
        assert "/path/to/" in yaml.safe_load(path.read_text())["dataset"]["root"], path.name
        assert "docs/which-mixer.md" in _header(path), f"{path.name}: the header should point at the guide"


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_template_runs_on_generated_data(path: Path, tmp_path: Path) -> None:
    root = _template_data(path.stem, tmp_path / "data")
    _run(path, tmp_path / "study", [f"dataset.root={root}"])
