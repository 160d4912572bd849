"""The ``timm:<arch>`` and ``torchvision:<arch>`` model families, local pretrained checkpoints, and a user's
``python:`` model, in studies on image folders written here (nothing is downloaded)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import TensorDataset

pytest.importorskip("torchvision", reason='image files need torchvision: pip install "mixup-image[folder]"')
pytest.importorskip("timm", reason="the timm: family needs timm")
from PIL import Image

from mixup_core import ConfigError, TaskData, get_models
from mixup_core.cli import main
from mixup_image.lab import MLP, find_classifier, load_pretrained, small_cnn, timm_model, torchvision_model

pytestmark = pytest.mark.xdist_group("lab-compare")

TIMM_ARCH = "test_resnet"  # timm's 0.4M-parameter test ResNet (timm >= 1.0.9)


def _data(channels: int = 3, classes: int = 3, size: int = 16) -> TaskData:
    x, y = torch.randn(6, channels, size, size), torch.arange(6) % classes
    ds = TensorDataset(x, y)
    return TaskData(ds, ds, classes, [str(c) for c in range(classes)], "image", input_shape=(channels, size, size))


def _folder(root: Path, classes: tuple[str, ...] = ("ok", "scratch"), per_class: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            array = rng.integers(0, 128, size=(12, 12, 3), dtype=np.uint8) + 100 * c
            Image.fromarray(array.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def _study(tmp_path: Path, model: dict[str, object]) -> Path:
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "families", "dataset": {"name": "image:folder", "root": str(_folder(tmp_path / "parts"))},
        "model": model, "train": {"epochs": 1, "batch_size": 4}, "seeds": [0],
        "arms": [{"name": "baseline"}, {"name": "mixup", "mixer": {"name": "mixup", "alpha": 0.2}}],
    }))
    return cfg


# ---------------------------------------------------------------------------------------------- studies
def test_a_timm_model_runs_in_a_study(tmp_path: Path) -> None:
    cfg = _study(tmp_path, {"name": f"timm:{TIMM_ARCH}", "drop_rate": 0.1})
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--quiet", "--out", str(out)]) == 0
    runs = sorted(out.glob("runs/*/seed-0/metrics.json"))
    assert [json.loads(p.read_text())["arm"] for p in runs] == ["baseline", "mixup"]
    assert all(0 <= json.loads(p.read_text())["accuracy"] <= 1 for p in runs)


def test_a_python_model_runs_in_a_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "def build(data, width=8):\n"
        "    c = data.input_shape[0]\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(c, width, 3), torch.nn.AdaptiveAvgPool2d(1),\n"
        "                               torch.nn.Flatten(), torch.nn.Linear(width, data.num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _study(tmp_path, {"name": "python:my_models:build", "width": 4})
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--quiet", "--out", str(out)]) == 0
    assert len(list(out.glob("runs/*/seed-0/metrics.json"))) == 2
    sys.modules.pop("my_models", None)


# ---------------------------------------------------------------------------------------------- families
def test_timm_family_builds_any_arch_for_the_data() -> None:
    info = get_models().get(f"timm:{TIMM_ARCH}")
    assert info.bound == {"arch": TIMM_ARCH}
    model = info.load()(_data(channels=1, classes=5))
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 5)  # in_chans and num_classes from the data
    assert model.mixup_classifier == "fc"
    name, head = find_classifier(model)
    assert name == "fc"
    assert head is model.get_classifier()
    assert "timm:<arch>" in get_models().names()
    assert "torchvision:<arch>" in get_models().names()


def test_torchvision_family_names_its_head() -> None:
    model = get_models().get("torchvision:squeezenet1_1").load()(_data(classes=4, size=32))
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 4)
    assert model.mixup_classifier == "classifier.1"  # a 1x1 convolution with 4 outputs
    assert find_classifier(model)[1].out_channels == 4
    with pytest.raises(ConfigError, match=r"takes 3-channel images, but the data set gives input_shape=\(1, 32, 32\); "
                                          "set the data set's channels: rgb"):
        torchvision_model(_data(channels=1, size=32), arch="squeezenet1_1")


def test_find_classifier_on_the_plugins_own_models() -> None:
    assert find_classifier(small_cnn(_data(), channels=4))[0] == "classifier"
    with pytest.raises(ValueError, match="cannot tell the classifier of Sequential"):
        find_classifier(torch.nn.Sequential(torch.nn.Linear(2, 2)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: timm_model(_data(), arch="resnet_nope"), r"timm has no classification model 'resnet_nope'"),
        (lambda: timm_model(_data(), arch="test_resnett"), r"did you mean timm:test_resnet"),
        (lambda: timm_model(_data(), arch=TIMM_ARCH, pretrained=True), "would download weights"),
        (lambda: timm_model(_data(), arch=TIMM_ARCH, no_such_option=1), r"model \(timm:test_resnet\): "),
        (lambda: torchvision_model(_data(), arch="resnet_nope"), r"torchvision has no classification model"),
        (lambda: torchvision_model(_data(), arch="resnet18", weights="DEFAULT"), "would download weights"),
        (lambda: timm_model(TaskData([1], [1], 2, ["a", "b"], "text"), arch=TIMM_ARCH), "input_shape=None"),
    ],
)
def test_family_errors_name_the_model(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        call()


def test_missing_timm_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match="pip install timm"):
        timm_model(_data(), arch=TIMM_ARCH)


# ---------------------------------------------------------------------------------------------- pretrained_path
def test_pretrained_path_round_trip_and_a_new_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = timm_model(_data(classes=3), arch=TIMM_ARCH)
    path = tmp_path / "ckpt.pt"
    torch.save(source.state_dict(), path)
    same = get_models().get(f"timm:{TIMM_ARCH}").load()(_data(classes=3), pretrained_path=str(path))
    for (k, a), (_, b) in zip(source.state_dict().items(), same.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    torch.manual_seed(1)
    fresh = timm_model(_data(classes=5), arch=TIMM_ARCH)
    torch.manual_seed(1)  # the same initialisation, then the checkpoint on top
    other = timm_model(_data(classes=5), arch=TIMM_ARCH, pretrained_path=path)
    state, new, init = source.state_dict(), other.state_dict(), fresh.state_dict()
    for k in new:
        if k.startswith("fc."):  # the 3-class head is dropped: the 5-class one keeps its fresh weights
            assert torch.equal(new[k], init[k])
            assert new[k].shape[0] == 5
        else:
            assert torch.equal(new[k], state[k]), k
    # wrapped checkpoints ({"state_dict": ...}) and torchvision models load the same way
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, tmp_path / "wrapped.pt")
    assert load_pretrained(timm_model(_data(classes=4), arch=TIMM_ARCH), tmp_path / "wrapped.pt", num_classes=4) == [
        "fc.bias", "fc.weight"]
    tv = torchvision_model(_data(classes=10, size=32), arch="squeezenet1_1")
    torch.save(tv.state_dict(), tmp_path / "tv.pt")
    tv2 = torchvision_model(_data(classes=2, size=32), arch="squeezenet1_1", pretrained_path=tmp_path / "tv.pt")
    assert torch.equal(tv2.features[0].weight, tv.features[0].weight)
    assert tv2.classifier[1].weight.shape[0] == 2


def test_pretrained_path_errors_name_the_file_and_the_keys(tmp_path: Path) -> None:
    other = tmp_path / "mlp.pt"
    torch.save(MLP(12, 3, hidden=(4,)).state_dict(), other)
    with pytest.raises(ConfigError) as info:
        timm_model(_data(), arch=TIMM_ARCH, pretrained_path=other)
    text = str(info.value)
    assert text.startswith(f"model.pretrained_path: {other} does not fit timm:{TIMM_ARCH}: missing keys [")
    assert "unexpected keys ['classifier.bias', 'classifier.weight', 'layers.0.0.bias', 'layers.0.0.weight']" in text
    wide = tmp_path / "wide.pt"
    torch.save(MLP(12, 3, hidden=(8,)).state_dict(), wide)
    with pytest.raises(ConfigError, match=r"shape mismatches \(file vs model\) \['classifier.weight \(3, 8\) vs \(3, "
                                          r"4\)', 'layers.0.0.bias \(8,\) vs \(4,\)'"):
        load_pretrained(MLP(12, 3, hidden=(4,)), wide, num_classes=3)
    with pytest.raises(ConfigError, match=f"model.pretrained_path: {tmp_path / 'nope.pt'}: no such file"):
        load_pretrained(MLP(12, 3), tmp_path / "nope.pt", num_classes=3)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"not a state dict that torch.load\(weights_only=True\) reads"):
        load_pretrained(MLP(12, 3), tmp_path / "text.pt", num_classes=3)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ConfigError, match="holds a list, not a state dict"):
        load_pretrained(MLP(12, 3), tmp_path / "list.pt", num_classes=3)
