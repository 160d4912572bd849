"""Manifold Mixup: conformance at the input, one-stream hook == two-stream reference, layer draw, gradients."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from mixup_core import ConfigError, MixedForward, create_mixer, describe_mixer, soft_cross_entropy
from mixup_core.testing import MixerConformanceTests
from mixup_image import ManifoldMixup


class TestManifoldBatch(MixerConformanceTests):
    mixer_name = "image:manifold"
    mixer_params = {"layers": ["input", "block1"]}


class TestManifoldSample(MixerConformanceTests):
    mixer_name = "manifold"
    mixer_params = {"mode": "sample", "alpha": 0.4}
    sample_shape = (3, 7, 5)


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            stem=nn.Conv2d(3, 4, 3, padding=1),
            block1=nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.GELU()),
            block2=nn.Sequential(nn.Conv2d(6, 6, 3, stride=2, padding=1), nn.GroupNorm(2, 6), nn.Tanh()),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            head=nn.Linear(6, 5),
        )
    ).double()


def _modules_in_order(net: nn.Sequential) -> list[tuple[str, nn.Module]]:
    """The leaf computation as (name-of-the-stage, module) pairs, flattening the nested blocks."""
    out: list[tuple[str, nn.Module]] = []
    for name, module in net.named_children():
        if isinstance(module, nn.Sequential):
            out.extend((f"{name}.{sub}", m) for sub, m in module.named_children())
            out.append((name, nn.Identity()))  # the end of the block
        else:
            out.append((name, module))
    return out


def _two_stream(
    net: nn.Sequential, x: torch.Tensor, layer: str, index: torch.Tensor, lam: torch.Tensor
) -> torch.Tensor:
    """The reference: run both halves of each pair separately to ``layer``, mix with λ, continue."""
    weight = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    h_a, h_b = x, x[index]
    steps = _modules_in_order(net)
    mixed = False
    if layer == "":
        h = weight * h_a + (1 - weight) * h_b
        mixed = True
    for name, module in steps:
        if mixed:
            h = module(h)
            continue
        h_a, h_b = module(h_a), module(h_b)
        if name == layer:
            lam_h = lam.to(h_a.dtype).view(-1, *([1] * (h_a.ndim - 1)))
            h = lam_h * h_a + (1 - lam_h) * h_b
            mixed = True
    assert mixed, f"layer {layer!r} not reached"
    return h


@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("layer", ["input", "stem", "block1", "block2.0", "block2", "pool"])
def test_one_stream_hook_equals_two_stream_reference(layer: str, mode: str) -> None:
    net = _net()
    x = torch.randn(7, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 5, (7,), generator=torch.Generator().manual_seed(2))
    mixer = ManifoldMixup(layers=[layer], mode=mode, num_classes=5)
    res = mixer.forward(net, x, y, generator=torch.Generator().manual_seed(3))
    assert isinstance(res, MixedForward)
    assert res.layer == ("" if layer == "input" else layer)
    plan = res.plan
    assert not plan.is_identity
    expected = _two_stream(net, x, res.layer, plan.index, plan.lam)
    torch.testing.assert_close(res.output, expected, atol=1e-12, rtol=1e-10)
    # targets follow the same λ and pairs
    dense = res.targets.dense(dtype=torch.float64)  # type: ignore[union-attr]
    onehot = torch.nn.functional.one_hot(y, 5).double()
    lam = plan.lam.double()[:, None]
    torch.testing.assert_close(dense, lam * onehot + (1 - lam) * onehot[plan.index])


def test_drawn_layer_follows_the_generator() -> None:
    net = _net()
    layers = ["input", "stem", "block1", "block2"]
    mixer = ManifoldMixup(layers=layers, num_classes=5)
    seen = []
    for seed in range(60):
        g = torch.Generator().manual_seed(seed)
        k = int(torch.randint(len(layers), (1,), generator=g))
        drawn = mixer.draw_layer(torch.Generator().manual_seed(seed))
        assert drawn == ("" if k == 0 else layers[k]), f"seed {seed}"
        seen.append(drawn)
    assert set(seen) == {"", "stem", "block1", "block2"}  # k = 0 (the input) is drawn too
    x, y = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.arange(4)
    for seed in range(6):
        res = mixer.forward(net, x, y, generator=torch.Generator().manual_seed(seed))
        assert res.layer == seen[seed], f"seed {seed}"
        again = mixer.forward(net, x, y, generator=torch.Generator().manual_seed(seed))
        assert again.layer == res.layer
        assert again.plan.to_dict() == res.plan.to_dict()
        torch.testing.assert_close(again.output, res.output, rtol=0, atol=0)


def test_gradients_flow_to_parameters_before_the_mixing_layer() -> None:
    net = _net()
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6) % 5
    res = ManifoldMixup(layers=["block1"], mode="sample", num_classes=5).forward(
        net, x, y, generator=torch.Generator().manual_seed(4)
    )
    soft_cross_entropy(res.output, res.targets).backward()  # type: ignore[arg-type]
    hooked = {n: p.grad.clone() for n, p in net.named_parameters()}  # type: ignore[union-attr]
    for name in ("stem.weight", "block1.0.weight"):
        assert torch.isfinite(hooked[name]).all(), name
        assert hooked[name].abs().sum() > 0, name
    # and they equal the gradients of the two-stream reference
    net.zero_grad()
    ref = _two_stream(net, x, "block1", res.plan.index, res.plan.lam)
    soft_cross_entropy(ref, res.targets).backward()  # type: ignore[arg-type]
    for name, p in net.named_parameters():
        torch.testing.assert_close(hooked[name], p.grad, atol=1e-12, rtol=1e-9, msg=name)


def test_input_gradients_and_where_input() -> None:
    net = _net()
    x = torch.randn(5, 3, 8, 8, dtype=torch.float64).requires_grad_(True)
    mixer = ManifoldMixup(layers=["block2"], where="input")
    res = mixer.forward(net, x, torch.arange(5) % 5, generator=torch.Generator().manual_seed(0), num_classes=5)
    # mixing block2's input is mixing block1's output
    expected = _two_stream(net, x.detach(), "block1", res.plan.index, res.plan.lam)
    torch.testing.assert_close(res.output, expected, atol=1e-12, rtol=1e-10)
    res.output.sum().backward()
    assert x.grad is not None
    assert x.grad.abs().sum() > 0


def test_input_layer_alone_is_input_mixup() -> None:
    net = _net()
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    mixer = ManifoldMixup(alpha=1.0, layers=["input"])
    res = mixer.forward(net, x, generator=torch.Generator().manual_seed(0))
    assert res.layer == ""
    assert res.targets is None
    g = torch.Generator().manual_seed(0)
    torch.randint(1, (1,), generator=g)  # the layer draw
    plain = create_mixer("core:mixup")(x, generator=g)
    torch.testing.assert_close(res.output, net(plain.inputs), rtol=0, atol=0)
    assert res.plan.to_dict() == plain.plan.to_dict()


def test_default_layers_are_the_input_and_the_first_half_of_the_blocks() -> None:
    """The reference (PreActResNet ``mixup_hidden``) draws k = randint(0, 2): the input, layer1, layer2."""
    torchvision = pytest.importorskip("torchvision")
    timm = pytest.importorskip("timm")
    from mixup_image.manifold import default_layers

    resnet = torchvision.models.resnet18(num_classes=5)
    assert default_layers(resnet) == ["input", "layer1", "layer2"]
    assert default_layers(timm.create_model("resnet18", num_classes=5)) == ["input", "layer1", "layer2"]
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=5, num_classes=5)
    assert default_layers(vit) == ["input", "blocks.0", "blocks.1", "blocks.2"]
    assert default_layers(_net()) == ["input", "stem", "block1"]  # a Sequential: its weighted children but the head
    # the drawn layer is uniform over the three, as the reference's randint(0, 2)
    mixer = ManifoldMixup(num_classes=5)
    x, y = torch.rand(4, 3, 32, 32), torch.arange(4)
    counts: dict[str, int] = {}
    for seed in range(150):
        layer = mixer.draw_layer(torch.Generator().manual_seed(seed), model=resnet)
        assert (
            layer
            == ["", "layer1", "layer2"][int(torch.randint(3, (1,), generator=torch.Generator().manual_seed(seed)))]
        )
        counts[layer] = counts.get(layer, 0) + 1
    assert set(counts) == {"", "layer1", "layer2"}
    assert min(counts.values()) > 30
    res = mixer.forward(resnet, x, y, generator=torch.Generator().manual_seed(1))
    assert res.layer in ("", "layer1", "layer2")


def test_a_model_without_recognised_blocks_is_refused() -> None:
    class Opaque(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(x).mean(dim=(2, 3)))

    with pytest.raises(ValueError, match=r"layers were not given.*Opaque.*layers=\['input'\]"):
        ManifoldMixup().forward(Opaque(), torch.rand(2, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    assert ManifoldMixup().draw_layer(torch.Generator()) == ""  # no model: the input (a plain mixer call)

def test_errors_name_the_problem() -> None:
    net = _net()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="block9"):
        ManifoldMixup(layers=["block1", "block9"]).forward(net, x)
    with pytest.raises(TypeError, match="model"):
        ManifoldMixup().forward(lambda t: t, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="generator"):
        ManifoldMixup(layers=["stem"]).forward(net, x, generator=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="layers"):
        create_mixer("image:manifold", layers=["stem", " "])
    with pytest.raises(ConfigError, match="where"):
        create_mixer("image:manifold", where="middle")


def test_registry_entry_and_defaults() -> None:
    info = describe_mixer("image:manifold")
    assert info["cost"] == "hook"
    assert "1806.05236" in info["paper"]
    assert info["params"]["alpha"]["default"] == 2.0
    mixer = create_mixer({"name": "image:manifold", "layers": ["input", "layer1"], "mode": "sample"})
    assert create_mixer(mixer.to_config()) == mixer
