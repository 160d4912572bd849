"""Bad input: every error is a ValueError/TypeError (or KeyError subclass) naming the argument and the value."""

from __future__ import annotations

import pytest
import torch

from mixup_core import (
    BetaLambda,
    ConfigError,
    FixedLambda,
    MixedTargets,
    MixPlan,
    Mixup,
    UniformLambda,
    UnknownMixerError,
    create_mixer,
    forward_mixed,
)


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


X = torch.randn(4, 3, generator=g(0))
Y = torch.tensor([0, 1, 2, 1])


def test_batch_size_mismatch() -> None:
    with pytest.raises(ValueError, match=r"targets.*batch size 4.*targets\.shape=\(3,\).*inputs\.shape=\(4, 3\)"):
        Mixup(num_classes=3)(X, Y[:3], generator=g(0))
    with pytest.raises(ValueError, match=r"targets\.shape=\(5, 2\)"):
        Mixup()(X, torch.zeros(5, 2), generator=g(0))
    with pytest.raises(ValueError, match=r"targets\.shape=\(\)"):
        Mixup()(X, torch.tensor(1), generator=g(0))


@pytest.mark.parametrize(("label", "num_classes"), [(3, 3), (10, 3), (-1, 3), (-5, None)])
def test_labels_outside_the_classes(label: int, num_classes: int | None) -> None:
    y = Y.clone()
    y[2] = label
    with pytest.raises(ValueError, match=rf"targets.*label {label}\b.*num_classes={num_classes}"):
        Mixup(num_classes=num_classes)(X, y, generator=g(0))
    if num_classes is not None:
        # the same check with num_classes given in the call
        with pytest.raises(ValueError, match=rf"label {label}\b"):
            Mixup()(X, y, generator=g(0), num_classes=num_classes)


def test_other_bad_targets() -> None:
    with pytest.raises(TypeError, match=r"targets.*list"):
        Mixup()(X, [0, 1, 2, 1], generator=g(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"class-index targets.*targets\.shape=\(4, 2\)"):
        Mixup()(X, torch.zeros(4, 2, dtype=torch.long), generator=g(0))
    with pytest.raises(ValueError, match=r"targets must be finite.*nan"):
        Mixup()(X, torch.tensor([[0.5, float("nan")]] * 4), generator=g(0))
    with pytest.raises(TypeError, match=r"targets.*complex64"):
        Mixup()(X, torch.zeros(4, dtype=torch.complex64), generator=g(0))


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), -1.0, 0.0])
def test_bad_alpha(alpha: float) -> None:
    value = repr(alpha).replace("-", r"\-") if alpha == alpha else "nan"
    with pytest.raises(ValueError, match=rf"(?s)alpha.*{value}"):
        Mixup(alpha=alpha)
    with pytest.raises(ValueError, match=rf"(?s)alpha.*{value}"):
        BetaLambda(alpha=alpha)
    with pytest.raises(ConfigError, match=rf"alpha={value}"):
        create_mixer({"name": "mixup", "alpha": alpha})
    with pytest.raises(ValueError, match=rf"(?s)beta.*{value}"):
        Mixup(beta=alpha)


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: Mixup(lam=1.5), r"lam.*1\.5"),
        (lambda: Mixup(lam=-0.1), r"lam.*-0\.1"),
        (lambda: Mixup(lam=float("nan")), r"lam.*nan"),
        (lambda: Mixup(lam={"dist": "uniform", "low": -0.2, "high": 0.5}), r"low.*-0\.2"),
        (lambda: Mixup(lam={"dist": "uniform", "low": 0.2, "high": 1.5}), r"high.*1\.5"),
        (lambda: Mixup(lam={"dist": "fixed", "value": 2}), r"value.*2"),
        (lambda: UniformLambda(0.2, 1.5), r"(?s)high.*1\.5"),
        (lambda: UniformLambda(-0.5, 0.5), r"(?s)low.*-0\.5"),
        (lambda: UniformLambda(0.9, 0.1), r"low=0\.9, high=0\.1"),
        (lambda: FixedLambda(1.01), r"(?s)value.*1\.01"),
        (lambda: BetaLambda(-1.0), r"(?s)alpha.*-1\.0"),
        (lambda: BetaLambda(0.5, float("inf")), r"(?s)beta.*inf"),
        (lambda: Mixup(protect_floor=0.2), r"(?s)protect_floor.*0\.2"),
        (lambda: Mixup(p=2), r"(?s)\bp\b.*2"),
    ],
)
def test_lambda_ranges_outside_0_1(make, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=pattern):
        make()


def test_empty_batch() -> None:
    with pytest.raises(ValueError, match=r"inputs.*empty.*inputs\.shape=\(0, 3\)"):
        Mixup()(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), generator=g(0))
    with pytest.raises(ValueError, match=r"inputs.*empty"):
        Mixup().sample(torch.zeros(0, 3), generator=g(0))


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_non_floating_inputs(dtype: torch.dtype) -> None:
    with pytest.raises(TypeError, match=rf"inputs.*{dtype}.*float"):
        Mixup()(torch.zeros(4, 3, dtype=dtype), Y, generator=g(0))


def test_inputs_that_are_not_tensors() -> None:
    with pytest.raises(TypeError, match=r"inputs must be a torch\.Tensor, got list"):
        Mixup()([[0.0, 1.0]] * 4, Y, generator=g(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"inputs\.shape=\(\)"):
        Mixup()(torch.tensor(1.0), generator=g(0))


def test_unknown_config_keys() -> None:
    with pytest.raises(ConfigError, match="'alpah'"):
        create_mixer({"name": "mixup", "alpah": 0.4})
    with pytest.raises(ValueError, match="alpah"):
        Mixup(alpah=0.4)  # type: ignore[call-arg]
    with pytest.raises(UnknownMixerError, match="'mixupp'"):
        create_mixer({"name": "mixupp"})


@pytest.mark.parametrize("generator", ["seed", 0, torch.Generator, [1, 2]])
def test_non_generator(generator: object) -> None:
    with pytest.raises(
        TypeError, match=rf"generator must be a torch\.Generator or None, got {type(generator).__name__}"
    ):
        Mixup()(X, Y, generator=generator)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="generator"):
        Mixup().sample(X, generator=generator)  # type: ignore[arg-type]


class _FakeCudaGenerator(torch.Generator):
    """A CPU generator that reports a CUDA device (so the check runs without a GPU)."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda", 0)


def test_cuda_generator_is_refused() -> None:
    with pytest.raises(ValueError, match=r"generator.*cuda:0"):
        Mixup()(X, Y, generator=_FakeCudaGenerator())
    with pytest.raises(ValueError, match=r"generator.*cuda:0"):
        forward_mixed(torch.nn.Identity(), X, mixer=Mixup(), generator=_FakeCudaGenerator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_real_cuda_generator_is_refused() -> None:  # pragma: no cover - runs on GPU machines only
    with pytest.raises(ValueError, match=r"generator.*cuda"):
        Mixup()(X.cuda(), Y.cuda(), generator=torch.Generator(device="cuda"))


def test_bad_groups() -> None:
    mixer = Mixup(pairing="within-group")
    with pytest.raises(ValueError, match=r"groups.*\(4,\).*shape \(3,\)"):
        mixer(X, generator=g(0), groups=torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match=r"groups.*torch\.float32"):
        mixer(X, generator=g(0), groups=torch.zeros(4))


def test_class_based_options_need_targets() -> None:
    with pytest.raises(ValueError, match=r"protected_classes.*targets=None"):
        Mixup(protected_classes=[1])(X, generator=g(0))
    with pytest.raises(ValueError, match=r"pairing.*targets=None"):
        Mixup(pairing="within-class")(X, generator=g(0))


def test_bad_num_classes() -> None:
    with pytest.raises(ValueError, match=r"(?s)num_classes.*0"):
        Mixup(num_classes=0)
    mt = MixedTargets.from_plan(Y, MixPlan.identity(4))
    with pytest.raises(ValueError, match="num_classes"):
        mt.dense()


def test_errors_are_the_documented_types() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(UnknownMixerError, KeyError)
    # a KeyError subclass whose message is shown as is, not quoted
    error = UnknownMixerError("Unknown mixer 'x'.")
    assert str(error) == "Unknown mixer 'x'."
