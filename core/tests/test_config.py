"""Configuration: validation errors, to_config/repr round trips, config files, OmegaConf, requires."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from mixup_core import (
    BetaLambda,
    Choice,
    ConfigError,
    MissingPluginError,
    Mixer,
    Mixup,
    UniformLambda,
    check_requires,
    create_mixer,
    load_config,
    mixer_from_config,
    to_config,
)

pytestmark = pytest.mark.usefixtures("core_only")


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same_mix(a: Mixer, b: Mixer) -> None:
    x, y = torch.randn(6, 3, generator=g(0)), torch.tensor([0, 1, 2, 0, 1, 2])
    out_a, out_b = a(x, y, generator=g(1), num_classes=3), b(x, y, generator=g(1), num_classes=3)
    torch.testing.assert_close(out_a.inputs, out_b.inputs, rtol=0, atol=0)
    torch.testing.assert_close(out_a.targets.dense(), out_b.targets.dense(), rtol=0, atol=0)


# ----------------------------------------------------------------------------- validation errors


def test_unknown_key_is_quoted_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown parameter 'alpah' \(did you mean 'alpha'\?\).*'core:mixup'"
    ) as info:
        create_mixer({"name": "mixup", "alpah": 0.2})
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigError, match="'no_such_option'"):
        create_mixer("mixup", no_such_option=1)
    with pytest.raises(ConfigError, match="'wieghts'"):
        create_mixer({"name": "choice", "mixers": ["mixup"], "wieghts": [1]})
    # nested specs are validated too
    with pytest.raises(ConfigError, match="'alpah'"):
        create_mixer({"name": "choice", "mixers": [{"name": "mixup", "alpah": 1}]})


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"alpha": -1}, r"alpha=-1"),
        ({"alpha": 0}, r"alpha=0"),
        ({"alpha": float("inf")}, r"alpha=inf"),
        ({"beta": -2.0}, r"beta=-2\.0"),
        ({"p": 1.5}, r"p=1\.5"),
        ({"p": -0.1}, r"p=-0\.1"),
        ({"protect_floor": 0.3}, r"protect_floor=0\.3"),
        ({"num_classes": 0}, r"num_classes=0"),
        ({"mode": "epoch"}, r"mode='epoch'"),
        ({"protect": "shield"}, r"protect='shield'"),
        ({"label_mix": "max"}, r"label_mix='max'"),
        ({"lam": 1.5}, r"lam.*1\.5"),
        ({"lam": -0.25}, r"lam.*-0\.25"),
        ({"lam": {"dist": "uniform", "low": 0.2, "high": 1.2}}, r"high=1\.2"),
        ({"lam": {"dist": "uniform", "low": 0.8, "high": 0.2}}, r"low=0\.8, high=0\.2"),
        ({"lam": {"dist": "gauss", "mu": 0.5}}, r"'gauss'"),
        ({"lam": {"dist": "beta", "alpha": 1, "shape": 2}}, r"shape=2"),
        ({"pairing": "diagonal"}, r"pairing.*'diagonal'"),
    ],
)
def test_out_of_range_values_raise_config_error(params: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        create_mixer({"name": "mixup", **params})
    assert isinstance(info.value, ValueError)
    # the class itself rejects the same values with a ValueError
    with pytest.raises(ValueError, match=next(iter(params))):
        Mixup(**params)


def test_composite_errors() -> None:
    with pytest.raises(ConfigError, match=r"weights=\[1\.0\]"):
        create_mixer({"name": "choice", "mixers": ["mixup", "mixup"], "weights": [1]})
    with pytest.raises(ConfigError, match=r"weights=\[-1\.0, 2\.0\]"):
        create_mixer({"name": "choice", "mixers": ["mixup", "mixup"], "weights": [-1, 2]})
    with pytest.raises(ConfigError, match=r"mixers=.*got \[\]"):
        create_mixer({"name": "choice", "mixers": []})


def test_assignment_is_validated() -> None:
    mixer = Mixup()
    with pytest.raises(ValueError, match="alpha"):
        mixer.alpha = -1.0
    mixer.alpha = 0.5
    assert mixer.lam_policy == BetaLambda(0.5)


# ---------------------------------------------------------------------------------- round trips


ROUND_TRIP: dict[str, Callable[[], Mixer]] = {
    "default": lambda: Mixup(),
    "sample": lambda: Mixup(alpha=0.2, mode="sample", num_classes=10),
    "beta-off": lambda: Mixup(alpha=2.0, beta=5.0, lam_max=True, p=0.5, enabled=False),
    "fixed-flip-union": lambda: Mixup(lam=0.3, pairing="flip", label_mix="union"),
    "uniform-exclude": lambda: Mixup(
        lam={"dist": "uniform", "low": 0.2, "high": 0.8}, protect="exclude", protected_classes=[1, 2]
    ),
    "within-class-inplace": lambda: Mixup(pairing="within-class", protect_floor=0.8, inplace=True),
    "choice": lambda: Choice(mixers=[Mixup(), Mixup(alpha=0.2)], weights=[1.0, 3.0], num_classes=3),
    "nested-choice": lambda: Choice(mixers=[Choice(mixers=[Mixup(lam=0.9), Mixup()]), Mixup(mode="sample")]),
}


@pytest.mark.parametrize("make", ROUND_TRIP.values(), ids=ROUND_TRIP.keys())
def test_to_config_round_trip(make: Callable[[], Mixer]) -> None:
    mixer = make()
    config = to_config(mixer)
    json.dumps(config)  # plain data, ready for a file
    rebuilt = create_mixer(config)
    assert type(rebuilt) is type(mixer)
    assert rebuilt == mixer
    assert rebuilt.to_config() == mixer.to_config() == config  # the registry has named the classes now
    if mixer.enabled and not getattr(mixer, "inplace", False):
        same_mix(mixer, rebuilt)


@pytest.mark.parametrize("make", ROUND_TRIP.values(), ids=ROUND_TRIP.keys())
def test_repr_round_trip(make: Callable[[], Mixer]) -> None:
    mixer = make()
    text = repr(mixer)
    assert text.startswith(type(mixer).__name__ + "(")
    rebuilt = eval(text, {"Mixup": Mixup, "Choice": Choice})
    assert rebuilt == mixer


def test_to_config_lists_only_non_defaults() -> None:
    assert to_config(Mixup()) == {"name": "core:mixup"}
    assert to_config(Mixup(alpha=0.4, num_classes=10)) == {"name": "core:mixup", "alpha": 0.4, "num_classes": 10}
    assert Mixup(alpha=0.4).parameters() == {"alpha": 0.4}
    assert repr(Mixup(alpha=0.2, mode="sample")) == "Mixup(alpha=0.2, mode='sample')"


def test_policy_objects_become_plain_config() -> None:
    mixer = Mixup(lam=UniformLambda(0.1, 0.6))
    config = to_config(mixer)
    assert config == {"name": "core:mixup", "lam": {"dist": "uniform", "low": 0.1, "high": 0.6}}
    rebuilt = create_mixer(config)
    assert rebuilt.lam_policy == mixer.lam_policy
    same_mix(mixer, rebuilt)


# --------------------------------------------------------------------------------- config files


YAML = """\
requires: ["mixup-core>=0.1"]
mixer:
  name: choice
  weights: [1, 3]
  num_classes: 10
  mixers:
    - name: mixup
      alpha: 0.2
    - {name: "core:mixup", mode: sample, lam: {dist: uniform, low: 0.2, high: 0.8}}
"""

TOML = """\
requires = ["mixup-core>=0.1"]

[mixer]
name = "choice"
weights = [1, 3]
num_classes = 10

[[mixer.mixers]]
name = "mixup"
alpha = 0.2

[[mixer.mixers]]
name = "core:mixup"
mode = "sample"
lam = { dist = "uniform", low = 0.2, high = 0.8 }
"""


def expected() -> Choice:
    """The mixer that YAML and TOML describe."""
    return Choice(
        mixers=[
            Mixup(alpha=0.2),
            Mixup(mode="sample", lam={"dist": "uniform", "low": 0.2, "high": 0.8}),
        ],
        weights=[1, 3],
        num_classes=10,
    )


def _json_text() -> str:
    return json.dumps({"requires": ["mixup-core>=0.1"], "mixer": to_config(expected())})


@pytest.mark.parametrize(("suffix", "text"), [(".yaml", YAML), (".yml", YAML), (".toml", TOML), (".json", None)])
def test_mixer_from_config_files(tmp_path: Path, suffix: str, text: str | None) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_text(text if text is not None else _json_text(), encoding="utf-8")
    doc = load_config(path)
    assert doc["requires"] == ["mixup-core>=0.1"]
    assert doc["mixer"]["name"] in ("choice", "core:choice")
    mixer = mixer_from_config(path)
    assert mixer == expected()
    assert mixer_from_config(str(path)) == expected()
    same_mix(mixer, expected())


def test_mixer_from_a_bare_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "mixer.yaml"
    path.write_text("name: mixup\nalpha: 0.4\nrequires: ['mixup-core>=0.1']\n", encoding="utf-8")
    assert mixer_from_config(path) == Mixup(alpha=0.4)
    assert mixer_from_config({"name": "mixup", "alpha": 0.4}) == Mixup(alpha=0.4)


def test_omegaconf_configs() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create(YAML)
    assert isinstance(cfg, omegaconf.DictConfig)
    assert mixer_from_config(cfg) == expected()
    assert create_mixer(cfg.mixer) == expected()
    assert load_config(cfg)["mixer"]["weights"] == [1, 3]
    # interpolations are resolved
    cfg = omegaconf.OmegaConf.create({"base_alpha": 0.3, "mixer": {"name": "mixup", "alpha": "${base_alpha}"}})
    assert mixer_from_config(cfg) == Mixup(alpha=0.3)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found.*missing\.yaml"):
        load_config(tmp_path / "missing.yaml")
    ini = tmp_path / "train.ini"
    ini.write_text("[mixer]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.yaml.*train\.ini"):
        load_config(ini)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot be parsed.*broken\.json"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- mixup\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping at top level"):
        load_config(listing)
    with pytest.raises(ConfigError, match="int"):
        load_config(3)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("mixer:\n  name: mixup\n  alhpa: 0.3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'alhpa'"):
        mixer_from_config(unknown)


# ------------------------------------------------------------------------------------- requires


def test_requires_satisfied() -> None:
    check_requires(["mixup-core>=0.1"])
    check_requires("mixup-core")
    assert mixer_from_config({"requires": ["mixup-core>=0.1"], "mixer": {"name": "mixup"}}) == Mixup()


@pytest.mark.parametrize(
    ("requirement", "pattern"),
    [
        ("mixup-core>=9", r"mixup-core>=9.*mixup-core 0\.1\.0 is installed.*pip install 'mixup-core>=9'"),
        ("not-a-real-dist", r"'not-a-real-dist'.*not installed.*pip install 'not-a-real-dist'"),
        ("not-a-real-dist>=1.0", r"pip install 'not-a-real-dist>=1\.0'"),
    ],
)
def test_requires_missing(requirement: str, pattern: str) -> None:
    with pytest.raises(MissingPluginError, match=pattern):
        check_requires([requirement])
    with pytest.raises(MissingPluginError, match=pattern):
        mixer_from_config({"requires": [requirement], "mixer": {"name": "mixup"}})
    with pytest.raises(MissingPluginError, match=pattern):
        create_mixer({"name": "mixup", "requires": [requirement]})
    # requirements are checked before the mixer is looked up
    with pytest.raises(MissingPluginError):
        mixer_from_config({"requires": [requirement], "mixer": {"name": "not-installed:mixer"}})
    assert issubclass(MissingPluginError, ImportError)


def test_invalid_requirement() -> None:
    with pytest.raises(ConfigError, match="'mixup core >>= 1'"):
        check_requires(["mixup core >>= 1"])
