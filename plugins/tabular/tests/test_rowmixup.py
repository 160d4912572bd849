"""tabular:row-mixup: numeric lerp, drawn (or soft) categories, label weights, and the PairMixer machinery."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from mixup_core import ConfigError, Mixup, create_mixer, mixed_step
from mixup_core.testing import MixerConformanceTests
from mixup_tabular import RowMixup, RowPlan, TabularMLP

SLICES = [[2, 5], [5, 7]]  # two numeric features, a 3-category and a 2-category block
NUMERIC = [0, 1]


def rows(n: int, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` encoded rows: 2 numeric features, then one-hot blocks of 3 and 2 categories."""
    g = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, 2, generator=g)
    a = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3)
    b = torch.nn.functional.one_hot(torch.randint(0, 2, (n,), generator=g), 2)
    return torch.cat([numeric, a, b], dim=1).to(dtype)


def test_registered_under_its_name_and_mixup_stays_core() -> None:
    assert type(create_mixer("tabular:row-mixup")) is RowMixup
    assert type(create_mixer("row-mixup")) is RowMixup
    assert type(create_mixer("mixup")) is Mixup  # the bare name still means core:mixup


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_numeric_features_are_lerped_exactly_and_labels_follow_lambda(mode: str) -> None:
    mixer = RowMixup(categorical_slices=SLICES, num_features=7, mode=mode, alpha=0.7, num_classes=3)
    x, y = rows(16), torch.arange(16) % 3
    out = mixer(x, y, generator=torch.Generator().manual_seed(1))
    plan = out.plan
    assert isinstance(plan, RowPlan)
    lam = plan.lam.double()[:, None]
    partner = x[plan.index]
    torch.testing.assert_close(
        out.inputs[:, NUMERIC], lam * x[:, NUMERIC] + (1 - lam) * partner[:, NUMERIC], rtol=0, atol=1e-12
    )
    # the share of the anchor in every numeric feature is λ, and so is the anchor's label weight
    moved = (x[:, NUMERIC] - partner[:, NUMERIC]).abs() > 1e-6
    share = (out.inputs[:, NUMERIC] - partner[:, NUMERIC]) / (x[:, NUMERIC] - partner[:, NUMERIC])
    torch.testing.assert_close(share[moved], lam.expand_as(share)[moved], rtol=0, atol=1e-9)
    assert out.targets is not None
    torch.testing.assert_close(out.targets.weights[:, 0], plan.lam, rtol=0, atol=0)
    torch.testing.assert_close(out.targets.weights[:, 1], 1 - plan.lam, rtol=0, atol=0)
    dense = out.targets.dense(3)
    expected = plan.lam[:, None] * torch.nn.functional.one_hot(y, 3) + (
        1 - plan.lam[:, None]
    ) * torch.nn.functional.one_hot(y[plan.index], 3)
    torch.testing.assert_close(dense, expected.float())


def test_drawn_categories_are_exact_one_hots_of_the_chosen_row() -> None:
    mixer = RowMixup(categorical_slices=SLICES, alpha=1.0, mode="sample", num_classes=2)
    x = rows(64)
    out = mixer(x, torch.arange(64) % 2, generator=torch.Generator().manual_seed(3))
    plan = out.plan
    assert isinstance(plan, RowPlan)
    assert plan.from_anchor.shape == (64, 2)
    for k, (a, b) in enumerate(SLICES):
        block = out.inputs[:, a:b]
        assert bool(((block == 0) | (block == 1)).all())
        assert bool((block.sum(1) == 1).all())
        chosen = torch.where(plan.from_anchor[:, k : k + 1], x[:, a:b], x[plan.index, a:b])
        torch.testing.assert_close(block, chosen, rtol=0, atol=0)
    assert plan.from_anchor.any()
    assert not plan.from_anchor.all()
    assert "from_anchor" in plan.to_dict()


def test_drawn_categories_follow_lambda_in_expectation() -> None:
    n = 20_000
    x = rows(n, dtype=torch.float32)
    fixed = RowMixup(categorical_slices=SLICES, lam=0.7, num_classes=2)
    plan = fixed.sample(x, generator=torch.Generator().manual_seed(0))
    assert isinstance(plan, RowPlan)
    assert float(plan.from_anchor.float().mean()) == pytest.approx(0.7, abs=0.01)
    # per-sample λ: each row's block is the anchor's with that row's λ (a calibration check in bins of λ)
    per_row = RowMixup(categorical_slices=SLICES, alpha=1.0, mode="sample", num_classes=2)
    plan = per_row.sample(x, generator=torch.Generator().manual_seed(1))
    assert isinstance(plan, RowPlan)
    lam, taken = plan.lam, plan.from_anchor.float().mean(1)
    for lo in (0.0, 0.25, 0.5, 0.75):
        rows_in = (lam >= lo) & (lam < lo + 0.25)
        assert float(taken[rows_in].mean()) == pytest.approx(float(lam[rows_in].mean()), abs=0.03)


def test_soft_categories_are_plain_mixup() -> None:
    soft = RowMixup(categorical_slices=SLICES, categorical="soft", alpha=0.4, mode="sample", num_classes=3)
    x, y = rows(12), torch.arange(12) % 3
    out = soft(x, y, generator=torch.Generator().manual_seed(5))
    plain = Mixup(alpha=0.4, mode="sample", num_classes=3)(x, y, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(out.inputs, plain.inputs, rtol=0, atol=0)
    torch.testing.assert_close(out.targets.dense(), plain.targets.dense(), rtol=0, atol=0)  # type: ignore[union-attr]
    assert type(out.plan).__name__ == "MixPlan"


def test_without_blocks_every_feature_is_numeric() -> None:
    x, y = rows(10), torch.arange(10) % 2
    out = RowMixup(alpha=0.5, num_classes=2)(x, y, generator=torch.Generator().manual_seed(2))
    plain = Mixup(alpha=0.5, num_classes=2)(x, y, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out.inputs, plain.inputs, rtol=0, atol=0)


def test_protected_rows_keep_their_categories() -> None:
    mixer = RowMixup(categorical_slices=SLICES, protect="exclude", num_classes=2)
    x = rows(10)
    protected = torch.zeros(10, dtype=torch.bool)
    protected[[1, 4]] = True
    out = mixer(x, torch.arange(10) % 2, protected=protected, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.inputs[protected], x[protected], rtol=0, atol=0)
    assert not bool(torch.isin(out.plan.index[~protected], torch.tensor([1, 4])).any())


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_protected_rows_give_every_category_of_their_mixes_under_a_floor(mode: str) -> None:
    """With ``protect="floor"``, a mixed protected row is the majority of the numeric features and the
    source of every categorical block, as anchor and as partner; other rows still draw their blocks."""
    mixer = RowMixup(categorical_slices=SLICES, mode=mode, protect_floor=0.7, num_classes=2)
    x, n = rows(12), 12
    mixed_protected = drawn_from_partner = 0
    for seed in range(40):
        protected = torch.rand(n, generator=torch.Generator().manual_seed(100 + seed)) < 0.3
        out = mixer(x, torch.arange(n) % 2, protected=protected, generator=torch.Generator().manual_seed(seed))
        plan = out.plan
        assert isinstance(plan, RowPlan)
        index, lam, from_anchor = plan.index, plan.lam, plan.from_anchor
        mixed = (index != torch.arange(n)) & (lam < 1)
        anchor_guarded, partner_guarded = mixed & protected, mixed & protected[index]
        assert bool((lam[anchor_guarded] >= 0.7 - 1e-6).all())
        assert bool(from_anchor[anchor_guarded].all())
        assert bool((1 - lam[partner_guarded] >= 0.7 - 1e-6).all())
        assert not bool(from_anchor[partner_guarded].any())
        mixed_protected += int((anchor_guarded | partner_guarded).sum())
        drawn_from_partner += int((~from_anchor[mixed & ~anchor_guarded & ~partner_guarded]).sum())
    assert mixed_protected > 0, "protected rows were never mixed: the test has no power"
    assert drawn_from_partner > 0, "no block was drawn from a partner: the test has no power"


def test_config_roundtrip_keeps_the_layout() -> None:
    mixer = create_mixer({"name": "tabular:row-mixup", "categorical_slices": SLICES, "num_features": 7, "alpha": 0.2})
    config = mixer.to_config()
    assert config == {"name": "tabular:row-mixup", "alpha": 0.2, "categorical_slices": SLICES, "num_features": 7}
    assert create_mixer(config) == mixer


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"categorical_slices": [[2, 5], [4, 7]]}, r"the blocks \[2, 5\] and \[4, 7\] overlap"),
        ({"categorical_slices": [[3, 3]]}, r"0 <= start < stop, got \[3, 3\]"),
        ({"categorical_slices": [[2, 9]], "num_features": 7}, r"the block \[2, 9\] ends past num_features=7"),
        ({"categorical_slices": [[2, 5, 6]]}, r"categorical_slices"),
        ({"categorical": "mean"}, r"categorical"),
    ],
)
def test_bad_layouts_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_mixer({"name": "tabular:row-mixup", **params})


def test_batches_of_another_layout_are_refused() -> None:
    with pytest.raises(ValueError, match=r"configured for rows of num_features=9 features, got inputs.shape=\(4, 7\)"):
        RowMixup(num_features=9)(rows(4))
    with pytest.raises(
        ValueError, match=r"categorical_slices=\[\[2, 5\], \[5, 8\]\] reach feature 8, but the rows have 7"
    ):
        RowMixup(categorical_slices=[[2, 5], [5, 8]])(rows(4))
    with pytest.raises(ValueError, match=r"mixes rows \(B, F\), got inputs.shape=\(4, 2, 7\)"):
        RowMixup(categorical_slices=SLICES)(torch.randn(4, 2, 7))


def test_mixed_step_checks_the_model_layout() -> None:
    model = TabularMLP(7, 2, hidden=[8], feature_layout={"num_features": 7, "categorical_slices": SLICES})
    x, y = rows(8, dtype=torch.float32), torch.arange(8) % 2
    good = RowMixup(categorical_slices=SLICES, num_features=7)
    step = mixed_step(model, x, y, mixer=good, generator=torch.Generator().manual_seed(0), num_classes=2)
    assert torch.isfinite(step.loss())
    assert isinstance(step.plan, RowPlan)
    stale = RowMixup(categorical_slices=[[2, 4], [4, 7]], num_features=7)
    with pytest.raises(ConfigError, match=r"categorical_slices=\[\[2, 4\], \[4, 7\]\], but the data set's one-hot "
                                          r"blocks are \[\[2, 5\], \[5, 7\]\]; run `mixup init` again"):
        mixed_step(model, x, y, mixer=stale, generator=torch.Generator().manual_seed(0), num_classes=2)
    with pytest.raises(ConfigError, match=r"categorical_slices=\[\], but the data set's one-hot blocks"):
        mixed_step(model, x, y, mixer=RowMixup(), generator=torch.Generator().manual_seed(0), num_classes=2)
    # soft categories do not depend on the blocks: only the width is checked
    mixed_step(
        model, x, y, mixer=RowMixup(categorical="soft"), generator=torch.Generator().manual_seed(0), num_classes=2
    )
    wide = RowMixup(categorical="soft", num_features=9)
    with pytest.raises(ConfigError, match=r"num_features=9, but the data set's rows have 7 features"):
        mixed_step(model, x, y, mixer=wide, generator=torch.Generator().manual_seed(0), num_classes=2)


# the conformance kit again, with categorical blocks (the registry's run uses the defaults: no blocks)
class TestKitDrawnCategories(MixerConformanceTests):
    mixer_name = "tabular:row-mixup"
    mixer_params: ClassVar[dict[str, Any]] = {"categorical_slices": [[0, 2]]}
    label_follows_share = False  # a drawn block is the anchor's in a share λ of rows only in expectation


class TestKitSoftCategories(MixerConformanceTests):
    mixer_name = "tabular:row-mixup"
    mixer_params: ClassVar[dict[str, Any]] = {"categorical_slices": [[0, 2]], "categorical": "soft"}
