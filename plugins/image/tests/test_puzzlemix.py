"""PuzzleMix: conformance, exact mask shares, graph-cut smoothness, saliency steering, block transport."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_core import MixedBatch, Mixer, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import PuzzleMix, PuzzleMixPlan


class TinyNet(nn.Module):
    """A channel-agnostic conv net (the kit's share test feeds B channels), initialised from a seed."""

    def __init__(self, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(16, num_classes)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(x.mean(dim=1, keepdim=True)))
        return self.fc(F.adaptive_avg_pool2d(h, 2).flatten(1))


_MODELS: dict[int, TinyNet] = {}


def tiny(num_classes: int) -> TinyNet:
    if num_classes not in _MODELS:
        _MODELS[num_classes] = TinyNet(num_classes)
    return _MODELS[num_classes]


class _WithModel(MixerConformanceTests):
    """The model is given at construction; a mixer rebuilt from its config (no model) gets it per call."""

    mixer_params: dict[str, Any] = {"model": tiny(5)}

    def call_kwargs(
        self, mixer: Mixer, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        return {"model": tiny(num_classes)}


class TestPuzzleMixBatch(_WithModel):
    mixer_name = "image:puzzlemix"


class TestPuzzleMixSample(_WithModel):
    mixer_name = "puzzlemix"
    mixer_params: dict[str, Any] = {"model": tiny(5), "mode": "sample", "n_labels": 2, "block_num": [2, 3, 4]}
    sample_shape = (3, 12, 20)


def _half_squared_norm(output: torch.Tensor, _: object) -> torch.Tensor:
    return output.square().sum() / 2


class TestPuzzleMixSaliencyNoTransport(MixerConformanceTests):
    """Precomputed saliency per call instead of a model, and no transport.

    The constructor's model (the identity, with loss ½‖x‖², whose input gradient is x) gives the same
    saliency ‖x‖ for the kit's direct ``sample`` calls.
    """

    mixer_name = "image:puzzlemix"
    mixer_params: dict[str, Any] = {
        "transport": False,
        "block_num": [4],
        "model": nn.Identity(),
        "loss_fn": _half_squared_norm,
    }
    sample_shape = (3, 15, 9)

    def call_kwargs(
        self, mixer: Mixer, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        return {"saliency": inputs.detach().float().norm(dim=1)} if inputs.ndim == 4 else {}


# ------------------------------------------------------------------------------------- helpers
def _mix(mixer: PuzzleMix, x: torch.Tensor, seed: int, **kw: Any) -> MixedBatch:
    y = torch.arange(x.shape[0]) % 5
    if "saliency" not in kw:
        kw["model"] = tiny(5)
    return mixer(x, y, generator=torch.Generator().manual_seed(seed), num_classes=5, **kw)


def _label_changes(block_mask: torch.Tensor) -> int:
    return int((block_mask[:, 1:] != block_mask[:, :-1]).sum() + (block_mask[:, :, 1:] != block_mask[:, :, :-1]).sum())


# ------------------------------------------------------------------------------------ the mask
@pytest.mark.parametrize("n_labels", [2, 3])
def test_mask_values_and_lambda_is_mask_mean(n_labels: int) -> None:
    mixer = PuzzleMix(n_labels=n_labels, mode="sample")
    x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    seen: set[float] = set()
    for seed in range(6):
        plan = _mix(mixer, x, seed).plan
        assert isinstance(plan, PuzzleMixPlan)
        torch.testing.assert_close(plan.lam, plan.mask.mean(dim=(1, 2, 3)), atol=1e-6, rtol=0)
        gh, gw = plan.block_mask.shape[1:]
        up = plan.block_mask.repeat_interleave(16 // gh, 1).repeat_interleave(16 // gw, 2)[:, None]
        assert torch.equal(plan.mask, up), "the pixel mask is the block mask upsampled"
        seen |= set(plan.mask.unique().tolist())
    allowed = {0.0, 1.0} if n_labels == 2 else {0.0, 0.5, 1.0}
    assert seen <= allowed
    assert {0.0, 1.0} <= seen or 0.5 in seen
    if n_labels == 3:
        assert 0.5 in seen, "three labels never produced a half-mixed block"


def test_mixed_pixels_follow_the_mask_exactly() -> None:
    """Without transport, each pixel is mask·x_a + (1 − mask)·x_b; with it, of the transported images."""
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for transport in (False, True):
        mixer = PuzzleMix(transport=transport, mode="sample")
        out = _mix(mixer, x, 3)
        plan = out.plan
        assert isinstance(plan, PuzzleMixPlan)
        anchors, partners = mixer.transport_images(x, plan)
        if not transport:
            assert torch.equal(anchors, x)
            assert torch.equal(partners, x[plan.index])
        torch.testing.assert_close(out.inputs, plan.mask * anchors + (1 - plan.mask) * partners, atol=1e-6, rtol=0)


def test_smoothness_beta_reduces_label_changes() -> None:
    """Large β (label smoothness) gives fewer label changes between neighbouring blocks than β = 0."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 16, 16, generator=g)
    sal = torch.rand(16, 16, 16, generator=g) ** 3  # rough saliency: many local optima
    changes = {}
    for beta in (0.0, 40.0):
        mixer = PuzzleMix(smooth_beta=beta, gamma=0.0, n_labels=2, transport=False, block_num=[8], lam=0.5)
        changes[beta] = sum(_label_changes(_mix(mixer, x, s, saliency=sal).plan.block_mask) for s in range(3))  # type: ignore[attr-defined]
    assert changes[40.0] < 0.5 * changes[0.0], changes


def test_saliency_steers_the_mask() -> None:
    """When the partner has one very salient block, that block is kept from it far more often than another."""
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    sal = torch.ones(2, 16, 16)
    sal[1, :4, :4] = 50.0  # block (0, 0) of image 1 (the partner of image 0)
    mixer = PuzzleMix(n_labels=2, transport=False, block_num=[4])
    salient = plain = 0
    runs = 40
    for seed in range(runs):
        plan = _mix(mixer, x, seed, saliency=sal).plan
        assert int(plan.index[0]) == 1
        if float(plan.lam[0]) == 1.0:
            continue
        salient += int(plan.block_mask[0, 0, 0] == 0)  # type: ignore[attr-defined]
        plain += int(plan.block_mask[0, 3, 3] == 0)  # type: ignore[attr-defined]
    assert salient >= 0.9 * runs, (salient, plain)
    assert salient > plain + 0.3 * runs, (salient, plain)


def test_salient_partner_content_survives_transport() -> None:
    """With transport the partner's salient block may move, but it stays visible in the mix."""
    x = torch.zeros(2, 1, 16, 16)
    x[1, :, 12:, 12:] = 5.0  # a distinctive block (3, 3) in image 1
    sal = torch.ones(2, 16, 16)
    sal[1, 12:, 12:] = 50.0
    mixer = PuzzleMix(n_labels=2, block_num=[4], t_eps=0.1)
    visible = 0
    for seed in range(20):
        out = _mix(mixer, x, seed, saliency=sal)
        visible += int((out.inputs[0] == 5.0).sum() == 16)
    assert visible >= 18


# ----------------------------------------------------------------------------------- transport
def _blocks(img: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    c, h, w = img.shape
    gh, gw = grid
    cells = img.reshape(c, gh, h // gh, gw, w // gw).permute(1, 3, 0, 2, 4).reshape(gh * gw, -1)
    return cells[cells[:, 0].argsort()]


def test_transport_permutes_blocks() -> None:
    """Transport rearranges the blocks of each image: the multiset of blocks is kept, and it moves some."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(12, 3, 16, 16, generator=g)
    sal = torch.rand(12, 16, 16, generator=g) ** 6
    mixer = PuzzleMix(block_num=[4], t_eps=0.05, mode="sample")
    moved = 0
    gain = 0.0
    for seed in range(4):
        plan = _mix(mixer, x, seed, saliency=sal).plan
        assert isinstance(plan, PuzzleMixPlan)
        assert plan.anchor_source is not None
        assert plan.partner_source is not None
        n = plan.cells[0] * plan.cells[1]
        for src in (plan.anchor_source, plan.partner_source):
            assert torch.equal(src.sort(dim=1).values, torch.arange(n).expand(12, n))
        anchors, partners = mixer.transport_images(x, plan)
        for i in range(12):
            assert torch.equal(_blocks(anchors[i], plan.cells), _blocks(x[i], plan.cells))
            assert torch.equal(_blocks(partners[i], plan.cells), _blocks(x[plan.index[i]], plan.cells))
        moved += int((plan.anchor_source != torch.arange(n)).any(dim=1).sum())
        # saliency shown through the mask grows: salient blocks were moved into the visible cells
        s = sal.reshape(12, 4, 4, 4, 4).mean(dim=(2, 4)).reshape(12, n)
        shown = plan.block_mask.reshape(12, n) > 0
        gain += float(((s.gather(1, plan.anchor_source) - s) * shown).sum())
    assert moved > 0
    assert gain > 0


def test_t_size_transports_cells_finer_than_the_blocks() -> None:
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    sal = torch.rand(6, 16, 16, generator=torch.Generator().manual_seed(6)) ** 6
    mixer = PuzzleMix(block_num=[2], t_size=4, t_eps=0.05, n_labels=2, mode="sample")
    moved = 0
    for seed in range(3):
        out = _mix(mixer, x, seed, saliency=sal)
        plan = out.plan
        assert isinstance(plan, PuzzleMixPlan)
        assert plan.anchor_source is not None
        assert plan.partner_source is not None
        assert tuple(plan.block_mask.shape[1:]) == (2, 2)
        assert plan.cells == (4, 4)
        for src in (plan.anchor_source, plan.partner_source):
            assert torch.equal(src.sort(dim=1).values, torch.arange(16).expand(6, 16))
            moved += int((src != torch.arange(16)).any(dim=1).sum())
        anchors, partners = mixer.transport_images(x, plan)
        torch.testing.assert_close(out.inputs, plan.mask * anchors + (1 - plan.mask) * partners, atol=1e-6, rtol=0)
    assert moved > 0


def test_unmixed_samples_keep_their_blocks() -> None:
    out = _mix(PuzzleMix(lam=1.0), torch.rand(4, 3, 16, 16), 0)
    plan = out.plan
    assert isinstance(plan, PuzzleMixPlan)
    assert plan.anchor_source is not None
    assert torch.equal(plan.anchor_source, torch.arange(plan.anchor_source.shape[1]).expand_as(plan.anchor_source))
    assert bool((plan.mask == 1).all())


# ------------------------------------------------------------------------------------ saliency
def test_precomputed_saliency_gives_the_same_plan_as_the_model() -> None:
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    y = torch.arange(6) % 5
    model = tiny(5)
    xg = x.clone().requires_grad_(True)
    F.cross_entropy(model(xg), y).backward()
    assert xg.grad is not None
    sal = xg.grad.norm(dim=1)
    mixer = PuzzleMix()
    a = mixer.sample(x, y, model=model, generator=torch.Generator().manual_seed(9))
    b = mixer.sample(x, y, saliency=sal, generator=torch.Generator().manual_seed(9))
    assert a.to_dict() == b.to_dict()


def test_saliency_pass_leaves_model_and_inputs_alone() -> None:
    model = TinyNet(5).eval()
    x = torch.rand(4, 3, 16, 16).requires_grad_(True)
    _mix(PuzzleMix(), x, 0, model=model)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert x.grad is None


def test_no_saliency_pass_when_nothing_is_mixed() -> None:
    def forbidden(_: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the model was run for a batch that is not mixed")

    x = torch.rand(4, 3, 16, 16)
    for mixer in (PuzzleMix(p=0.0), PuzzleMix(lam=1.0), PuzzleMix(enabled=False)):
        out = _mix(mixer, x, 0, model=forbidden)
        assert torch.equal(out.inputs, x)


def test_model_is_runtime_not_configuration() -> None:
    x, y = torch.rand(4, 3, 16, 16), torch.arange(4)
    model = tiny(5)
    mixer = PuzzleMix(model=model, smooth_beta=0.5)
    config = mixer.to_config()
    assert config == {"name": "image:puzzlemix", "smooth_beta": 0.5}
    assert create_mixer(config, model=model) == mixer
    a = mixer(x, y, generator=torch.Generator().manual_seed(0), num_classes=5)
    b = PuzzleMix(smooth_beta=0.5)(x, y, model=model, generator=torch.Generator().manual_seed(0), num_classes=5)
    assert a.plan.to_dict() == b.plan.to_dict()


def test_custom_loss_and_soft_targets() -> None:
    x = torch.rand(4, 3, 16, 16)
    soft = torch.softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    out = PuzzleMix()(x, soft, model=tiny(5), generator=torch.Generator().manual_seed(0))
    assert out.targets is not None
    calls = []

    def loss_fn(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        calls.append(targets)
        return logits.logsumexp(dim=1)  # a per-sample loss: summed

    PuzzleMix()(x, None, model=tiny(5), loss_fn=loss_fn, generator=torch.Generator().manual_seed(0))
    assert len(calls) == 1
    assert calls[0] is None


# ------------------------------------------------------------------------------------- options
def test_block_grid_is_drawn_per_batch_from_the_options() -> None:
    x = torch.rand(4, 3, 16, 16)
    grids = {tuple(_mix(PuzzleMix(), x, s).plan.block_mask.shape[1:]) for s in range(12)}  # type: ignore[attr-defined]
    assert grids == {(2, 2), (4, 4), (8, 8)}
    assert PuzzleMix(block_num=5).grid_options() == [2, 4, 8, 16]
    odd = _mix(PuzzleMix(block_num=[4]), torch.rand(4, 3, 15, 9), 0).plan
    assert tuple(odd.block_mask.shape[1:]) == (3, 3)  # type: ignore[attr-defined]


def test_config_roundtrip_with_options() -> None:
    mixer = PuzzleMix(block_num=[2, 4], smooth_beta=0.8, n_labels=2, t_size=4, algorithm="expansion")
    assert create_mixer(mixer.to_config()) == mixer
    out = _mix(mixer, torch.rand(4, 3, 16, 16), 0)
    assert set(out.plan.mask.unique().tolist()) <= {0.0, 1.0}  # type: ignore[attr-defined]


# -------------------------------------------------------------------------------------- errors
def test_missing_model_is_a_clear_error() -> None:
    x, y = torch.rand(4, 3, 16, 16), torch.arange(4)
    with pytest.raises(TypeError, match=r"model.*saliency"):
        PuzzleMix()(x, y, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match=r"model.*saliency"):
        PuzzleMix().sample(x, y)


def test_bad_saliency_and_options_are_rejected() -> None:
    x, y = torch.rand(4, 3, 16, 16), torch.arange(4)
    with pytest.raises(ValueError, match=r"saliency.*\(4, 16, 16\).*\(4, 8, 8\)"):
        PuzzleMix()(x, y, saliency=torch.rand(4, 8, 8))
    with pytest.raises(ValueError, match="saliency"):
        PuzzleMix()(x, y, saliency=-torch.rand(4, 16, 16))
    with pytest.raises(ValueError, match="targets"):
        PuzzleMix()(x, None, model=tiny(5), generator=torch.Generator().manual_seed(0))
    for bad in ({"n_labels": 4}, {"block_num": 1}, {"block_num": []}, {"t_size": 0}, {"t_eps": 0.0}):
        with pytest.raises(ValueError):
            PuzzleMix(**bad)


def test_missing_gco_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gco", None)
    with pytest.raises(ImportError, match=r'pip install "mixup-image\[puzzlemix\]"'):
        PuzzleMix()


# ---------------------------------------------------------------------------------- the reference's choices
def _reference_pairwise(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, indices: torch.Tensor, block_num: int, neigh_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairwise data terms of snu-mllab/PuzzleMix ``mixup_graph`` (before β·γ), re-derived:
    ``avg_pool2d(x·std + mean, neigh_size)`` and ``neigh_penalty``; returned as [PP, PA, AP, AA]."""
    block_size = x.shape[-1] // block_num
    k = block_size // neigh_size
    pool1 = F.avg_pool2d(x * std + mean, neigh_size)
    pool2 = pool1[indices]

    def penalty(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        px = (a[:, :, :-1, :] - b[:, :, 1:, :])[:, :, k - 1 :: k, :]
        py = (a[:, :, :, :-1] - b[:, :, :, 1:])[:, :, :, k - 1 :: k]
        return F.avg_pool2d(px.abs().mean(1), kernel_size=(1, k)), F.avg_pool2d(py.abs().mean(1), kernel_size=(k, 1))

    pairs = [penalty(pool2, pool2), penalty(pool2, pool1), penalty(pool1, pool2), penalty(pool1, pool1)]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def test_data_term_unnormalises_as_the_reference() -> None:
    from mixup_image._base import unnormalise
    from mixup_image._puzzlemix import boundary_terms

    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    raw = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    x = (raw - m) / s
    index = torch.tensor([3, 0, 5, 1, 2, 4])
    ref_v, ref_h = _reference_pairwise(x, m, s, index, block_num=4, neigh_size=4)
    vertical, horizontal = boundary_terms(unnormalise(x, mean, std, mixer="PuzzleMix"), index, (4, 4), 4)
    # ours: AA, AP, PA, PP (first letter: upper/left block); the reference's: PP, PA, AP, AA
    torch.testing.assert_close(vertical, ref_v.flip(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(horizontal, ref_h.flip(0), rtol=1e-5, atol=1e-6)
    # on the normalised values the terms are those of another image, larger by about 1/std
    raw_v, _ = boundary_terms(x, index, (4, 4), 4)
    assert raw_v.mean() > 3 * ref_v.mean()
    # the mixer: mean/std on normalised inputs give the plan of the [0, 1] images
    sal = raw.square().sum(1)
    plan_norm = PuzzleMix(mean=mean, std=std, block_num=[4], gamma=5.0).sample(
        x, saliency=sal, generator=torch.Generator().manual_seed(1)
    )
    plan_raw = PuzzleMix(block_num=[4], gamma=5.0).sample(raw, saliency=sal, generator=torch.Generator().manual_seed(1))
    assert torch.equal(plan_norm.block_mask, plan_raw.block_mask)
    assert PuzzleMix().neigh_size == 4  # the authors' README and OpenMixup's configs


def test_mean_std_are_checked_against_the_channels() -> None:
    with pytest.raises(ValueError, match=r"mean must hold one value or one per channel \(3"):
        PuzzleMix(mean=[0.5, 0.5]).sample(
            torch.rand(2, 3, 8, 8), saliency=torch.rand(2, 8, 8), generator=torch.Generator().manual_seed(0)
        )
    with pytest.raises(Exception, match="std"):
        create_mixer("image:puzzlemix", std=[0.0])


class _BatchNormDropoutNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(F.adaptive_avg_pool2d(F.relu(self.bn(self.conv(x))), 1).flatten(1)))


def test_saliency_is_computed_in_eval_mode_and_the_modes_are_restored() -> None:
    """The reference: ``model.eval()`` for the saliency pass, then ``model.train()``."""
    torch.manual_seed(0)
    model = _BatchNormDropoutNet().train()
    model.fc.eval()  # a submodule the user froze stays frozen
    x = torch.rand(6, 3, 16, 16)
    y = torch.arange(6) % 5
    stats = model.bn.running_mean.clone()
    plan = PuzzleMix(block_num=[4]).sample(x, y, model=model, generator=torch.Generator().manual_seed(2))
    assert model.training
    assert model.bn.training
    assert model.drop.training
    assert not model.fc.training
    assert torch.equal(model.bn.running_mean, stats)  # no batch-norm update: eval mode
    # the same plan as the saliency of the model in eval mode, computed by hand
    model.eval()
    xg = x.clone().requires_grad_(True)
    F.cross_entropy(model(xg), y).backward()
    assert xg.grad is not None
    by_hand = PuzzleMix(block_num=[4]).sample(
        x, saliency=xg.grad.norm(dim=1), generator=torch.Generator().manual_seed(2)
    )
    assert plan.to_dict() == by_hand.to_dict()
