"""RICAP: conformance, four area-weighted crops, partners, boundary distribution, protection and groups."""

from __future__ import annotations

import pytest
import torch

from mixup_core import BetaLambda, ConfigError, create_mixer, describe_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import RICAP, TilePlan
from mixup_image._tiles import draw_partners, tile_map


class TestRICAPBatch(MixerConformanceTests):
    mixer_name = "image:ricap"
    batch_sizes = (1, 2, 3, 5, 8)


class TestRICAPSample(MixerConformanceTests):
    mixer_name = "ricap"
    mixer_params = {"mode": "sample", "beta": 1.0}
    sample_shape = (3, 15, 9)
    batch_sizes = (1, 2, 3, 5, 8)


def _labelled(n: int, h: int, w: int) -> torch.Tensor:
    """Every pixel holds a unique value: 1 + its flat index over the whole batch."""
    return torch.arange(1, n * h * w + 1, dtype=torch.float64).view(n, 1, h, w).expand(n, 2, h, w).contiguous()


def _tiles_of(plan: TilePlan) -> list[list[tuple[int, int, int, int, int, int, int]]]:
    """Per sample, per tile: (source, y0, y1, x0, x1, oy, ox) from the plan, for a loop reference."""
    h_total, w_total = plan.size
    rows = []
    for i in range(plan.batch_size):
        h, w = (int(v) for v in plan.boundary[i])
        src = [i, *(int(v) for v in plan.index[i])]
        rects = [(0, h, 0, w), (0, h, w, w_total), (h, h_total, 0, w), (h, h_total, w, w_total)]
        rows.append([(src[t], *rects[t], *(int(v) for v in plan.offsets[i, t])) for t in range(4)])
    return rows


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_each_region_is_a_crop_of_its_source_with_area_weight(mode: str) -> None:
    n, h_total, w_total = 9, 13, 17
    x = _labelled(n, h_total, w_total)
    out = RICAP(mode=mode, beta=1.0, num_classes=n)(x, torch.arange(n), generator=torch.Generator().manual_seed(4))
    plan = out.plan
    assert isinstance(plan, TilePlan)
    assert plan.index.shape == (n, 3)
    assert plan.lam.shape == (n, 4)
    for i, tiles in enumerate(_tiles_of(plan)):
        for t, (src, y0, y1, x0, x1, oy, ox) in enumerate(tiles):
            th, tw = y1 - y0, x1 - x0
            assert 0 <= oy <= h_total - th
            assert 0 <= ox <= w_total - tw
            expected = x[src, :, oy : oy + th, ox : ox + tw]
            assert torch.equal(out.inputs[i, :, y0:y1, x0:x1], expected), f"sample {i}, tile {t}"
            assert plan.lam[i, t].item() == pytest.approx(th * tw / (h_total * w_total), abs=1e-7)
    # class weights (targets = the sample ids) are the exact pixel shares of each source
    pixel_source = (out.inputs[:, 0] - 1).long() // (h_total * w_total)  # (B, H, W)
    shares = torch.nn.functional.one_hot(pixel_source, n).double().mean(dim=(1, 2))
    torch.testing.assert_close(out.targets.dense(n, dtype=torch.float64), shares, atol=1e-7, rtol=0)  # type: ignore[union-attr]
    torch.testing.assert_close(plan.lam.sum(dim=1), torch.ones(n), atol=1e-6, rtol=0)


def test_boundary_is_round_of_size_times_beta_draws() -> None:
    n, h_total, w_total, beta = 6, 20, 30, 0.3
    plan = RICAP(beta=beta).sample(torch.rand(n, 3, h_total, w_total), generator=torch.Generator().manual_seed(11))
    g = torch.Generator().manual_seed(11)
    torch.randperm(n, generator=g)  # the partners are drawn first
    ratios = BetaLambda(alpha=beta).sample(2, g).double()
    expected = torch.tensor([round(h_total * float(ratios[0])), round(w_total * float(ratios[1]))])
    assert torch.equal(plan.boundary, expected.expand(n, 2))  # type: ignore[attr-defined]


def test_boundary_distribution_follows_beta() -> None:
    x = torch.rand(4, 1, 40, 40)

    def fractions(beta: float) -> torch.Tensor:
        plans = [RICAP(beta=beta).sample(x, generator=torch.Generator().manual_seed(s)) for s in range(200)]
        return torch.stack([p.boundary[0].double() / 40 for p in plans])  # type: ignore[attr-defined]

    narrow, wide = fractions(50.0), fractions(0.1)
    assert (narrow - 0.5).abs().max() < 0.2  # Beta(50, 50) concentrates at a quarter each
    assert ((wide < 0.1) | (wide > 0.9)).float().mean() > 0.6  # Beta(0.1, 0.1) near the borders
    assert (wide.mean() - 0.5).abs() < 0.08


def test_batch_mode_shares_the_boundary_sample_mode_does_not() -> None:
    x = torch.rand(16, 3, 24, 24)
    batch = RICAP(beta=1.0).sample(x, generator=torch.Generator().manual_seed(0))
    sample = RICAP(beta=1.0, mode="sample").sample(x, generator=torch.Generator().manual_seed(0))
    assert (batch.boundary == batch.boundary[0]).all()  # type: ignore[attr-defined]
    assert len({tuple(b.tolist()) for b in sample.boundary}) > 4  # type: ignore[attr-defined]
    # crop offsets are per sample in both modes
    assert len({tuple(o.flatten().tolist()) for o in batch.offsets}) > 4  # type: ignore[attr-defined]


def test_partners_are_three_distinct_other_samples() -> None:
    for n in (4, 5, 16, 33):
        for seed in range(5):
            index = draw_partners(n, 3, generator=torch.Generator().manual_seed(seed))
            table = torch.cat([torch.arange(n)[:, None], index], dim=1)
            assert all(len(set(row.tolist())) == 4 for row in table), f"n={n}"
            for j in range(3):  # every sample is the j-th partner of exactly one other
                assert torch.equal(index[:, j].sort().values, torch.arange(n))


def test_small_batches_reuse_partners_and_batch_of_one_is_unmixed() -> None:
    index2 = draw_partners(2, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(index2, torch.tensor([[1, 1, 1], [0, 0, 0]]))
    index3 = draw_partners(3, 3, generator=torch.Generator().manual_seed(0))
    for i, row in enumerate(index3.tolist()):
        assert i not in row
        assert len(set(row[:2])) == 2
        assert row[2] == row[0]
    x = torch.rand(1, 3, 8, 8)
    out = RICAP(num_classes=3)(x, torch.tensor([2]), generator=torch.Generator().manual_seed(0))
    assert out.plan.is_identity
    assert out.inputs is x
    torch.testing.assert_close(out.targets.dense(), torch.tensor([[0.0, 0.0, 1.0]]))  # type: ignore[union-attr]


def test_protected_samples_stay_unmixed_and_are_never_partners() -> None:
    n = 10
    x = _labelled(n, 8, 8)
    protected = torch.zeros(n, dtype=torch.bool)
    protected[[1, 4, 7]] = True
    out = RICAP(beta=1.0)(x, generator=torch.Generator().manual_seed(2), protected=protected)
    plan = out.plan
    assert torch.equal(out.inputs[protected], x[protected])
    assert (plan.index[protected] == torch.arange(n)[protected, None]).all()
    assert not torch.isin(plan.index[~protected], torch.tensor([1, 4, 7])).any()
    assert (plan.lam[protected] == torch.tensor([1.0, 0, 0, 0])).all()


def test_groups_keep_partners_within_the_group() -> None:
    groups = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2, 5])
    plan = RICAP().sample(torch.rand(10, 3, 8, 8), groups=groups, generator=torch.Generator().manual_seed(0))
    assert (groups[plan.index] == groups[:, None]).all()
    assert torch.equal(plan.index[8:], torch.tensor([[8, 8, 8], [9, 9, 9]]))  # groups of one stay unmixed


def test_per_sample_p_in_sample_mode() -> None:
    n = 400
    plan = RICAP(mode="sample", p=0.3).sample(torch.rand(n, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    mixed = (plan.lam[:, 0] < 1).float().mean().item()
    assert 0.2 < mixed < 0.4


def test_tile_map_matches_the_plan() -> None:
    x = _labelled(6, 10, 12)
    out = RICAP(beta=1.0, mode="sample")(x, generator=torch.Generator().manual_seed(5))
    tiles = tile_map(out.plan)  # type: ignore[arg-type]
    source = out.plan.partner_indices().gather(1, tiles.view(6, -1)).view(6, 10, 12)
    pixel_source = (out.inputs[:, 0] - 1).long() // 120
    assert torch.equal(source, pixel_source)


def test_invalid_parameters_and_inputs() -> None:
    with pytest.raises(ConfigError, match="beta"):
        create_mixer("image:ricap", beta=0.0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*\(4, 3, 8\)"):
        RICAP()(torch.rand(4, 3, 8), torch.arange(4), num_classes=4)
    mixer = RICAP()
    plan = mixer.sample(torch.rand(4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"size \(8, 8\)"):
        mixer.apply(torch.rand(4, 3, 9, 8), plan)


def test_registry_entry() -> None:
    info = describe_mixer("image:ricap")
    assert info["cost"] == "none"
    assert "1811.09030" in info["paper"]
    assert info["params"]["beta"]["default"] == 0.3
