"""Fine-tuning options of a study's train section: frozen backbone, head learning rate, clipping, AMP, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mixup_core import ConfigError, get_models
from mixup_core.cli import main
from mixup_lab._config import load_study_config
from mixup_lab._runner import classifier_head, load_study_data, train_and_evaluate

pytest.importorskip("sklearn")
pytestmark = pytest.mark.xdist_group("lab-compare")

CONFIG = Path(__file__).resolve().parents[3] / "examples" / "configs" / "digits.yaml"


def _cfg(**train: Any) -> Any:
    raw = {
        "name": "ft",
        "dataset": {"name": "image:digits"},
        "model": {"name": "image:mlp"},
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.01, **train},
        "seeds": [0],
        "arms": [{"name": "baseline"}, {"name": "mixup", "mixer": {"name": "mixup", "alpha": 0.4}}],
    }
    return load_study_config(raw)


def _initial(cfg: Any, study: Any, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = get_models().get(cfg.model.name).load()(study.data, **cfg.model.params)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_defaults_keep_the_setup_hash_of_earlier_studies() -> None:
    # the hash of examples/configs/digits.yaml before the fine-tuning options and train.workers existed
    assert load_study_config(CONFIG).setup_hash() == "c99093589599c566"
    assert load_study_config(CONFIG).model_copy(update={}).setup_hash() == "c99093589599c566"
    changed = _cfg(freeze_backbone=True).setup_hash()
    assert changed != _cfg().setup_hash()
    assert _cfg(workers=2).setup_hash() == _cfg().setup_hash()


def test_freeze_backbone_trains_only_the_head() -> None:
    cfg = _cfg(freeze_backbone=True, checkpoint="last")
    study = load_study_data(cfg)
    start = _initial(cfg, study)
    result = train_and_evaluate(cfg, cfg.arms[1], 0, study)
    last = result.checkpoints["last"]
    torch.manual_seed(0)
    model = get_models().get(cfg.model.name).load()(study.data)
    head = {
        f"{name}" for name, p in model.named_parameters() if any(p is q for q in classifier_head(model).parameters())
    }
    assert head, "the MLP's last Linear is its head"
    for name, value in last.items():
        if name in head:
            assert not torch.equal(value, start[name]), f"head parameter {name} did not train"
        else:
            torch.testing.assert_close(value, start[name], rtol=0, atol=0, msg=f"backbone parameter {name} moved")


def test_head_lr_makes_two_parameter_groups() -> None:
    from mixup_lab._runner import _optimizer

    cfg = _cfg(head_lr=0.1, optimizer="sgd")
    study = load_study_data(cfg)
    torch.manual_seed(0)
    model = get_models().get("image:mlp").load()(study.data)
    opt = _optimizer(cfg, model)
    head_ids = {id(p) for p in classifier_head(model).parameters()}
    lrs = {group["lr"]: {id(p) for p in group["params"]} for group in opt.param_groups}
    assert set(lrs) == {0.1, 0.01}
    assert lrs[0.1] == head_ids
    assert lrs[0.01].isdisjoint(head_ids)
    assert len(lrs[0.1]) + len(lrs[0.01]) == len(list(model.parameters()))


def test_grad_clip_bounds_every_step() -> None:
    study = load_study_data(_cfg())
    moved = {}
    for clip in (None, 1e-4):
        cfg = _cfg(optimizer="sgd", schedule="constant", epochs=1, checkpoint="last", grad_clip=clip)
        start = _initial(cfg, study)
        last = train_and_evaluate(cfg, cfg.arms[0], 0, study).checkpoints["last"]
        moved[clip] = float(torch.sqrt(sum(((last[k] - start[k]) ** 2).sum() for k in start)))
    steps = -(-1437 // 64)  # at most this many steps in one epoch of the digits training split
    # SGD with Nesterov momentum 0.9: each step moves by at most lr · clip · (1 + 0.9 + 0.81 + …) ≤ lr · clip · 19
    assert moved[1e-4] <= 0.01 * 1e-4 * 19 * steps
    assert moved[None] > 100 * moved[1e-4]


def test_best_and_last_checkpoints_on_a_validation_split(tmp_path: Path) -> None:
    cfg = _cfg(epochs=3, checkpoint="both", val_fraction=0.2)
    out = tmp_path / "study"
    from mixup_lab._runner import run_compare

    run_compare(cfg, out=out, progress=False, report=False)
    for arm in ("baseline", "mixup"):
        folder = out / "runs" / arm / "seed-0"
        history = json.loads((folder / "history.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        val = [h["val_nll"] for h in history]
        assert len(val) == 3
        assert metrics["best_epoch"] == int(np.argmin(val)) + 1
        best = torch.load(folder / "best.pt", weights_only=True)
        last = torch.load(folder / "last.pt", weights_only=True)
        assert set(best) == set(last)
        assert metrics["device"] == "cpu"
        assert metrics["amp"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.checkpoint=best"], "train: checkpoint 'best' picks the best epoch on a validation split"),
        (["train.amp=true"], "train: amp: automatic mixed precision runs on CUDA"),
        (["train.head_lr=0"], "train.head_lr: Input should be greater than 0"),
        (["train.grad_clip=-1"], "train.grad_clip: Input should be greater than 0"),
        (["train.val_fraction=1"], "train.val_fraction: Input should be less than 1"),
        (["train.checkpoint=sometimes"], "train.checkpoint: Input should be 'none', 'last', 'best' or 'both'"),
    ],
)
def test_bad_fine_tuning_options_are_refused_before_training(
    overrides: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", str(CONFIG), "--quiet", "--out", str(tmp_path / "study")]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "study").exists()


def test_freeze_without_a_head_is_a_config_error() -> None:
    from mixup_lab._runner import _optimizer

    cfg = _cfg(freeze_backbone=True)
    with pytest.raises(ConfigError, match=r"train.freeze_backbone: cannot find the classifier head of Conv2d"):
        _optimizer(cfg, torch.nn.Conv2d(1, 2, 3))


def test_classifier_head_prefers_the_named_head() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 3)),
                                torch.nn.Linear(3, 3))
    assert classifier_head(model) is model[2]  # the last Linear
    model.mixup_classifier = "1.1"  # type: ignore[assignment]
    assert classifier_head(model) is model[1][1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (scripts/gpu_check.py runs it on a GPU)")
def test_amp_on_cuda_trains_in_float16_with_gradient_scaling() -> None:
    cfg = _cfg(device="cuda", amp=True, grad_clip=1.0, checkpoint="last")
    study = load_study_data(cfg)
    seen: list[torch.dtype] = []
    result = None
    handle = torch.nn.Module.register_module_forward_hook(
        lambda module, args, output: seen.append(output.dtype) if isinstance(output, torch.Tensor) else None
    )
    try:
        result = train_and_evaluate(cfg, cfg.arms[1], 0, study)
    finally:
        handle.remove()
    assert result.metrics["amp"] is True
    assert result.metrics["device"].startswith("cuda")
    assert torch.float16 in seen, "no layer ran in float16 under autocast"
    assert np.isfinite(result.history[-1]["train_loss"])
    assert all(v.device.type == "cpu" for v in result.checkpoints["last"].values())
    assert 0.0 <= result.metrics["accuracy"] <= 1.0
