"""The standard tests every mixer must pass."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import torch

from .._components import normalize_name
from .._config import create_mixer
from .._errors import ConfigError
from .._mixer import Mixer
from .._plan import MixPlan
from .._targets import MixedBatch

__all__ = ["STANDARD_TESTS", "MixerConformanceTests", "identity_inputs", "source_shares"]

PROTECT_FLOOR = 0.7
"""The ``protect_floor`` of the protection tests: above 1/2, so a protected sample must dominate its mixes."""


def identity_inputs(
    batch_size: int, sample_shape: tuple[int, ...], feature_dim: int = 1, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Inputs whose ``feature_dim`` has size ``batch_size`` and marks where each value comes from.

    ``x[i, ..., j, ...] = 1`` if ``i == j`` else ``0`` along ``feature_dim``. After any mix that
    moves values only along the other dimensions, the mean of mixed sample ``i`` over those
    dimensions in channel ``j`` is the share of source ``j`` in it (see `source_shares`).
    """
    shape = [batch_size, *sample_shape]
    shape[feature_dim] = batch_size
    eye_shape = [1] * len(shape)
    eye_shape[0] = eye_shape[feature_dim] = batch_size
    return torch.eye(batch_size, dtype=dtype).reshape(eye_shape).expand(shape).contiguous()


def source_shares(mixed: torch.Tensor, feature_dim: int = 1) -> torch.Tensor:
    """``(B, B)`` shares of each source in each mixed sample, from mixed `identity_inputs`."""
    dims = [d for d in range(mixed.ndim) if d not in (0, feature_dim)]
    return mixed.float().mean(dim=dims) if dims else mixed.float()


def _share_message(where: str) -> Callable[[str], str]:
    """The ``msg`` of `torch.testing.assert_close` when label weights and input shares differ."""
    return lambda m: f"label weights differ from input shares ({where}): {m}"


class MixerConformanceTests:
    """Standard tests for one mixer; subclass and set ``mixer_name`` (and ``mixer_params``).

    Only ``mixer_name`` is required; the other class attributes have defaults.

    Attributes:
        mixer_name: registry name of the mixer.
        mixer_params: parameters passed to `create_mixer`.
        sample_shape: shape of one sample (default: the mixer's ``example_shape``).
        feature_dim: batch dimension the mixer never mixes across (default: the mixer's).
        num_classes: classes of the random class-index targets.
        batch_sizes: batch sizes of the smoke test (1 and an odd size included).
        dtypes: dtypes whose preservation is checked.
        share_atol: tolerance of the label/area consistency check.
        label_follows_share: set to ``False`` for label policies that deliberately differ from
            the input shares (SnapMix); the test then checks that weights are finite. Default:
            the mixer class's ``label_follows_share``.
        checks_target_values: whether a class index out of range must raise. The library checks
            target values on CPU tensors only (a check of CUDA values would synchronise the device
            with the host), so a subclass whose `call` runs the mixer on CUDA sets this to ``False``.

    Mixers that need more than ``(inputs, targets, generator)`` (a model, features) get it from
    their ``example_call_kwargs``; override `call_kwargs` to pass your own. Every standard test
    reaches the mixer through `call`, `apply` and `sample`, so a subclass can run the whole kit on
    another device by overriding those three helpers (moving tensors there and results back).
    """

    mixer_name: ClassVar[str] = ""
    mixer_params: ClassVar[dict[str, Any]] = {}
    sample_shape: ClassVar[tuple[int, ...] | None] = None
    feature_dim: ClassVar[int | None] = None
    num_classes: ClassVar[int] = 5
    batch_sizes: ClassVar[tuple[int, ...]] = (1, 2, 5, 8)
    dtypes: ClassVar[tuple[torch.dtype, ...]] = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
    share_atol: ClassVar[float] = 1e-5
    label_follows_share: ClassVar[bool | None] = None
    checks_target_values: ClassVar[bool] = True

    # ------------------------------------------------------------------ helpers
    def make_mixer(self, **overrides: Any) -> Mixer:
        """The mixer under test, with ``overrides`` on top of ``mixer_params``."""
        if not self.mixer_name:
            raise ConfigError(f"{type(self).__name__} must set mixer_name")
        return create_mixer({"name": self.mixer_name, **self.mixer_params, **overrides})

    def _cls(self) -> type[Mixer]:
        return type(self.make_mixer())

    def get_sample_shape(self) -> tuple[int, ...]:
        return tuple(self.sample_shape) if self.sample_shape is not None else tuple(self._cls().example_shape)

    def get_feature_dim(self) -> int:
        return self.feature_dim if self.feature_dim is not None else self._cls().feature_dim

    def make_inputs(self, batch_size: int, *, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
        """Random inputs ``(batch_size, *sample_shape)``."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn((batch_size, *self.get_sample_shape()), generator=g).to(dtype)

    def make_targets(self, batch_size: int, *, seed: int = 1) -> torch.Tensor:
        """Random class indices ``(batch_size,)`` in ``[0, num_classes)``."""
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, self.num_classes, (batch_size,), generator=g)

    def call_kwargs(
        self, mixer: Mixer, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        """Extra keyword arguments for ``mixer(...)`` and ``mixer.sample(...)`` (a model, features …).

        Default: the mixer class's ``example_call_kwargs``. Override to test with your own model.
        """
        return type(mixer).example_call_kwargs(inputs, targets, num_classes)

    def call(
        self,
        mixer: Mixer,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        *,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        protected: torch.Tensor | None = None,
    ) -> MixedBatch:
        """Call the mixer with the extra arguments of `call_kwargs` (and ``protected=`` when given)."""
        k = num_classes if num_classes is not None else self.num_classes
        valid = isinstance(inputs, torch.Tensor) and inputs.ndim > 0 and inputs.shape[0] > 0
        extra = self.call_kwargs(mixer, inputs, targets, k) if valid else {}
        if protected is not None:
            extra["protected"] = protected
        return mixer(inputs, targets, generator=generator, num_classes=k, **extra)

    def apply(self, mixer: Mixer, inputs: torch.Tensor, plan: MixPlan) -> torch.Tensor:
        """``mixer.apply(inputs, plan)``; override together with `call` to test on another device."""
        return mixer.apply(inputs, plan)

    def sample(
        self,
        mixer: Mixer,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        *,
        generator: torch.Generator,
        protected: torch.Tensor | None = None,
    ) -> MixPlan:
        """``mixer.sample(...)`` with the extra arguments of `call_kwargs` (and ``protected=`` when given)."""
        extra = self.call_kwargs(mixer, inputs, targets, self.num_classes)
        if protected is not None:
            extra["protected"] = protected
        return mixer.sample(inputs, targets, generator=generator, **extra)

    def follows_share(self) -> bool:
        if self.label_follows_share is not None:
            return self.label_follows_share
        return type(self.make_mixer()).label_follows_share

    def _has(self, mixer: Mixer, field: str) -> bool:
        return field in {f.name for f in dataclasses.fields(mixer)}

    # ------------------------------------------------------------------ standard tests
    def test_smoke(self) -> None:
        mixer = self.make_mixer()
        for b in self.batch_sizes:
            x, y = self.make_inputs(b), self.make_targets(b)
            out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(b))
            assert isinstance(out, MixedBatch)
            assert out.inputs.shape == x.shape, f"batch {b}: shape {tuple(out.inputs.shape)} != {tuple(x.shape)}"
            assert torch.isfinite(out.inputs).all()
            assert isinstance(out.plan, MixPlan)
            assert out.plan.batch_size == b
            assert out.targets is not None
            dense = out.targets.dense(self.num_classes)
            assert dense.shape == (b, self.num_classes)
            if out.targets.label_mix == "linear" and self.follows_share():
                torch.testing.assert_close(dense.sum(dim=1), torch.ones(b), atol=1e-5, rtol=0)
            if b == 1:
                torch.testing.assert_close(out.inputs, x, msg="a batch of one has no partner and must stay unmixed")

    def test_exception(self) -> None:
        mixer = self.make_mixer()
        x, y = self.make_inputs(4), self.make_targets(4)
        with pytest.raises(TypeError, match="inputs"):
            self.call(mixer, x.tolist(), y)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="empty"):
            self.call(mixer, x[:0], y[:0])
        if type(mixer).needs_float:
            with pytest.raises(TypeError, match="float"):
                self.call(mixer, (x * 10).to(torch.int64), y)
        with pytest.raises(ValueError, match=r"targets.*\(3,\)"):
            self.call(mixer, x, y[:3])
        bad = y.clone()
        bad[0] = self.num_classes + 7
        if self.checks_target_values:
            with pytest.raises(ValueError, match=str(self.num_classes + 7)):
                self.call(mixer, x, bad)
        with pytest.raises(ValueError, match="p"):
            self.make_mixer(p=1.5)
        with pytest.raises(ConfigError, match="no_such_option"):
            self.make_mixer(no_such_option=1)
        with pytest.raises(TypeError, match="generator"):
            self.call(mixer, x, y, generator="seed")  # type: ignore[arg-type]

    def test_generator_determinism(self) -> None:
        mixer = self.make_mixer()
        x, y = self.make_inputs(8), self.make_targets(8)
        a = self.call(mixer, x, y, generator=torch.Generator().manual_seed(123))
        b = self.call(mixer, x, y, generator=torch.Generator().manual_seed(123))
        torch.testing.assert_close(a.inputs, b.inputs, rtol=0, atol=0)
        assert a.targets is not None
        assert b.targets is not None
        torch.testing.assert_close(a.targets.dense(self.num_classes), b.targets.dense(self.num_classes), rtol=0, atol=0)
        assert a.plan.to_dict() == b.plan.to_dict()
        outputs = set()
        for s in range(6):
            other = self.call(mixer, x, y, generator=torch.Generator().manual_seed(s))
            outputs.add((other.inputs.sum().item(), repr(other.plan.to_dict())))
        assert len(outputs) > 1, "different seeds always gave the same mix"

    def test_plan_replay(self) -> None:
        mixer = self.make_mixer()
        x, y = self.make_inputs(6), self.make_targets(6)
        out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(self.apply(mixer, x, out.plan), out.inputs, rtol=0, atol=0)
        plan = self.sample(mixer, x, y, generator=torch.Generator().manual_seed(7))
        assert plan.to_dict() == out.plan.to_dict(), "sample() and __call__ must draw the same plan from the same seed"
        again = mixer.mix_targets(y, out.plan, num_classes=self.num_classes)
        assert out.targets is not None
        torch.testing.assert_close(again.dense(), out.targets.dense(), rtol=0, atol=0)

    def test_no_input_mutation(self) -> None:
        mixer = self.make_mixer()
        x, y = self.make_inputs(5), self.make_targets(5)
        x0, y0 = x.clone(), y.clone()
        params0 = copy.deepcopy(mixer.to_config())
        out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(x, x0, rtol=0, atol=0)
        assert torch.equal(y, y0)
        assert mixer.to_config() == params0, "calling a mixer must not change its configuration"
        if not out.plan.is_identity:
            assert out.inputs.data_ptr() != x.data_ptr()

    def test_identity(self) -> None:
        x, y = self.make_inputs(6), self.make_targets(6)
        off = self.call(self.make_mixer(enabled=False), x, y, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(off.inputs, x, rtol=0, atol=0)
        onehot = torch.nn.functional.one_hot(y, self.num_classes).float()
        assert off.targets is not None
        torch.testing.assert_close(off.targets.dense(self.num_classes), onehot)
        never = self.call(self.make_mixer(p=0.0), x, y, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(never.inputs, x, rtol=0, atol=0)
        mixer = self.make_mixer()
        if self._has(mixer, "lam"):
            one = self.call(self.make_mixer(lam=1.0), x, y, generator=torch.Generator().manual_seed(0))
            torch.testing.assert_close(one.inputs, x, rtol=0, atol=1e-6)
            assert one.targets is not None
            torch.testing.assert_close(one.targets.dense(self.num_classes), onehot)
        plan = MixPlan.identity(6)
        torch.testing.assert_close(self.apply(mixer, x, plan), x, rtol=0, atol=0)

    def test_label_share_consistency(self) -> None:
        """The anchor's (and every source's) label weight equals its share of the mixed input."""
        feature_dim = self.get_feature_dim()
        modes: list[dict[str, Any]] = [{}]
        probe = self.make_mixer()
        if self._has(probe, "mode"):
            modes = [{"mode": "batch"}, {"mode": "sample"}]
        for extra in modes:
            mixer = self.make_mixer(**extra)
            for b in (2, 5, 8):
                x = identity_inputs(b, self.get_sample_shape(), feature_dim)
                y = torch.arange(b)
                for seed in range(3):
                    out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(seed), num_classes=b)
                    assert out.targets is not None
                    weights = out.targets.dense(b)
                    if not self.follows_share():
                        assert torch.isfinite(weights).all()
                        continue
                    shares = source_shares(out.inputs, feature_dim)
                    where = f"{extra}, batch {b}, seed {seed}"
                    torch.testing.assert_close(
                        weights, shares, atol=self.share_atol, rtol=0,
                        msg=_share_message(where),
                    )

    def _protected_runs(self, protect: str, seeds: int) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """Mix `identity_inputs` of 8 samples with about a third of them protected, in each mode, for
        ``seeds`` seeds (geometry that breaks a floor only now and then needs dozens).

        Checks on the way what any protected call must keep: `sample` draws the call's plan and `apply`
        replays it (for the first seeds), and, when labels follow shares, every label weight is the
        source's real share.
        Yields ``(where, protected, shares)``: the ``(B, B)`` share of each source (column) in each
        mixed sample (row), normalised to sum to 1 per row.
        """
        probe = self.make_mixer()
        if not self._has(probe, "protect"):
            pytest.skip(f"{type(probe).__name__} has no protect parameter")
        feature_dim = self.get_feature_dim()
        modes: list[dict[str, Any]] = [{"mode": "batch"}, {"mode": "sample"}] if self._has(probe, "mode") else [{}]
        b = 8  # identity inputs put the batch along feature_dim: some sample shapes allow no more
        x = identity_inputs(b, self.get_sample_shape(), feature_dim)
        y = torch.arange(b) % self.num_classes
        onehot = torch.nn.functional.one_hot(y, self.num_classes).float()
        for extra in modes:
            mixer = self.make_mixer(protect=protect, protect_floor=PROTECT_FLOOR, **extra)
            for seed in range(seeds):
                protected = torch.rand(b, generator=torch.Generator().manual_seed(1000 + seed)) < 0.35
                where = f"protect={protect!r}, {extra}, seed {seed}, protected={protected.nonzero().flatten().tolist()}"
                out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(seed), protected=protected)
                if seed < 4:
                    plan = self.sample(mixer, x, y, generator=torch.Generator().manual_seed(seed), protected=protected)
                    assert plan.to_dict() == out.plan.to_dict(), f"sample() and __call__ drew different plans ({where})"
                    torch.testing.assert_close(self.apply(mixer, x, out.plan), out.inputs, rtol=0, atol=0)
                shares = source_shares(out.inputs, feature_dim)
                if self.follows_share():  # each class's label weight is the share of its samples
                    assert out.targets is not None
                    torch.testing.assert_close(
                        out.targets.dense(self.num_classes), shares @ onehot, atol=self.share_atol, rtol=0,
                        msg=_share_message(where),
                    )
                # a ratio per mixed sample (amplitude-normalised mixers such as BC do not sum to 1)
                yield where, protected, shares / shares.sum(dim=1, keepdim=True).clamp(min=1e-12)

    def test_protect_floor(self) -> None:
        """With ``protect="floor"``, a protected sample is never the minority of a mix: it keeps at least
        ``protect_floor`` of its own mixed sample, and wherever it is a partner it makes up at least
        ``protect_floor`` of that sample, measured on the real input shares."""
        tol = self.share_atol
        for where, protected, shares in self._protected_runs("floor", seeds=48):
            own = shares.diagonal()
            low = protected & (own < PROTECT_FLOOR - tol)
            assert not bool(low.any()), (
                f"protected samples {low.nonzero().flatten().tolist()} keep only {own[low].tolist()} of their own "
                f"mixed sample, below protect_floor={PROTECT_FLOOR} ({where})"
            )
            elsewhere = shares.clone().fill_diagonal_(0)
            diluted = protected[None, :] & (elsewhere > tol) & (elsewhere < PROTECT_FLOOR - tol)
            assert not bool(diluted.any()), (
                f"protected partners (mixed sample, source) {diluted.nonzero().tolist()} have shares "
                f"{elsewhere[diluted].tolist()}, below protect_floor={PROTECT_FLOOR} ({where})"
            )

    def test_protect_exclude(self) -> None:
        """With ``protect="exclude"``, a protected sample comes back unmixed and appears in no other sample."""
        tol = self.share_atol
        for where, protected, shares in self._protected_runs("exclude", seeds=16):
            own = shares.diagonal()
            mixed = protected & (own < 1 - tol)
            assert not bool(mixed.any()), (
                f"protected samples {mixed.nonzero().flatten().tolist()} were mixed (own shares "
                f"{own[mixed].tolist()}) ({where})"
            )
            elsewhere = shares.clone().fill_diagonal_(0)
            used = protected[None, :] & (elsewhere > tol)
            assert not bool(used.any()), (
                f"protected samples were used as partners: (mixed sample, source) {used.nonzero().tolist()} ({where})"
            )

    def test_gradients_flow(self) -> None:
        mixer = self.make_mixer()
        x = self.make_inputs(4, dtype=torch.float64).requires_grad_(True)
        y = self.make_targets(4)
        out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(1))
        weight = torch.randn(out.inputs.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        (out.inputs * weight).sum().backward()
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0

    def test_dtype_device_memory_format(self) -> None:
        mixer = self.make_mixer()
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            for dtype in self.dtypes:
                x = self.make_inputs(4, dtype=dtype).to(device)
                y = self.make_targets(4).to(device)
                out = self.call(mixer, x, y, generator=torch.Generator().manual_seed(0))
                assert out.inputs.dtype == dtype, f"dtype {dtype} became {out.inputs.dtype}"
                assert out.inputs.device == x.device
                assert out.targets is not None
                assert out.targets.dense(self.num_classes).device == x.device
            if len(self.get_sample_shape()) == 3:
                x = self.make_inputs(4).to(device).contiguous(memory_format=torch.channels_last)
                out = self.call(mixer, x, self.make_targets(4).to(device), generator=torch.Generator().manual_seed(0))
                assert out.inputs.is_contiguous(memory_format=torch.channels_last), "channels_last was not kept"

    def test_config_roundtrip(self) -> None:
        mixer = self.make_mixer()
        config = mixer.to_config()
        assert normalize_name(config["name"]).endswith(":" + normalize_name(self.mixer_name).rpartition(":")[2])
        rebuilt = create_mixer(config)
        assert rebuilt == mixer
        assert type(mixer).__name__ in repr(mixer)
        x, y = self.make_inputs(6), self.make_targets(6)
        a = self.call(mixer, x, y, generator=torch.Generator().manual_seed(5))
        b = self.call(rebuilt, x, y, generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(a.inputs, b.inputs, rtol=0, atol=0)

    def test_standard_tests_kept(self) -> None:
        """A subclass may override a standard test only to mark it xfail with a reason."""
        for name in STANDARD_TESTS:
            mine = getattr(type(self), name)
            if mine is getattr(MixerConformanceTests, name):
                continue
            marks = getattr(mine, "pytestmark", [])
            ok = any(m.name == "xfail" and m.kwargs.get("reason") for m in marks)
            assert ok, f"{type(self).__name__}.{name} overrides a standard test without pytest.mark.xfail(reason=...)"


STANDARD_TESTS: tuple[str, ...] = tuple(
    name for name in vars(MixerConformanceTests) if name.startswith("test_") and name != "test_standard_tests_kept"
)
"""Names of the standard tests of `MixerConformanceTests` (every ``test_*`` method but the guard
``test_standard_tests_kept``, which checks that none of them is dropped or overridden without an xfail reason)."""
