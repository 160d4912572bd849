"""A study on data with groups and class counts keeps both: groups in study.json, counts in the report."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

from mixup_core import ComponentRegistry, TaskData, hookimpl
from mixup_core.cli import main
from mixup_core.data import class_counts

pytestmark = pytest.mark.xdist_group("lab-compare")


def load_lines(**_: Any) -> TaskData:
    """Two classes of 2-d points from four production lines; the test split holds lines C and D."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 2, generator=g)
    y = (x[:, 0] > 0).long()
    groups = [f"line-{'ABCD'[i % 4]}" for i in range(80)]
    train = [i for i in range(80) if groups[i] in ("line-A", "line-B")]
    test = [i for i in range(80) if groups[i] in ("line-C", "line-D")]
    names = ["ok", "scratch"]
    return TaskData(
        TensorDataset(x[train], y[train]),
        TensorDataset(x[test], y[test]),
        2,
        names,
        "tabular",
        input_shape=(2,),
        info={
            "source": "generated",
            "counts": {"train": class_counts(y[train], names), "test": class_counts(y[test], names)},
        },
        train_groups=[groups[i] for i in train],
        test_groups=[groups[i] for i in test],
    )


def _plugin() -> types.ModuleType:
    @hookimpl
    def mixup_register_datasets(registry: ComponentRegistry) -> None:
        registry.add(load_lines, name="lines", modality="tabular", summary="points from four lines")

    module = types.ModuleType("lines_plugin")
    module.mixup_register_datasets = mixup_register_datasets  # type: ignore[attr-defined]
    return module


def test_groups_and_counts_reach_the_study_record(mixup_temp_plugin: Any, tmp_path: Path) -> None:
    mixup_temp_plugin(_plugin(), "lines")
    cfg = tmp_path / "study.yaml"
    cfg.write_text(
        "name: lines\ndataset: {name: lines:lines}\nmodel: {name: image:mlp}\ntrain: {epochs: 1, batch_size: 16}\n"
        "seeds: [0]\narms: [{name: baseline}, {name: mixup, mixer: {name: mixup}}]\nexamples: 0\n"
    )
    assert main(["compare", str(cfg), "--quiet", "--out", str(tmp_path / "out")]) == 0
    study = json.loads((tmp_path / "out" / "study.json").read_text())
    data = load_lines()
    assert study["test_groups"] == data.test_groups
    assert set(study["test_groups"]) == {"line-C", "line-D"}
    report = (tmp_path / "out" / "report.md").read_text()
    counts = data.info["counts"]
    assert f"  | ok | {counts['train']['ok']} | {counts['test']['ok']} |" in report
    assert "  | **all** | 40 | 40 |" in report
