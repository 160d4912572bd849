"""``mixup init PATH``: recognise the user's data and write a study config that ``mixup compare`` runs unchanged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mixup_core import ConfigError, get_plugin_manager
from mixup_core.data import DataGuess

__all__ = ["detect_data", "init_study", "render_study", "study_mapping", "study_name", "study_yaml"]

# a study that answers "does mixup help?" in minutes on a CPU; the user grows it once it runs
_TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.001}
_SEEDS = [0, 1, 2]


def detect_data(path: str | Path) -> DataGuess:
    """The plugins' best guess at what ``path`` holds (the highest-scoring `DataGuess`).

    Raises:
        ConfigError: ``path`` does not exist, or no installed plugin recognises it (the message lists
            the layouts that are understood).
    """
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise ConfigError(f"PATH: no such file or folder (got {str(path)!r})")
    guesses = [g for g in get_plugin_manager().hook.mixup_detect_data(path=p) if g is not None]
    if not guesses:
        raise ConfigError(
            f"PATH: no installed plugin recognises {str(p)!r}; give a folder with one sub-folder per class "
            "(image or audio files), a manifest or table (.csv, .tsv, .jsonl, .parquet), or a graph data set folder; "
            "`mixup datasets` lists the loaders"
        )
    return max(guesses, key=lambda g: g.score)


def study_name(path: Path) -> str:
    """The default study name of a data path: its folder or file stem, made filesystem-safe and lower-case."""
    stem = path.stem if path.is_file() else path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._").lower() or "study"


def study_mapping(guess: DataGuess, *, name: str) -> dict[str, Any]:
    """The study config ``mixup init`` writes for ``guess``, as a mapping (``mixup compare PATH`` runs the same)."""
    return {
        "name": name,
        "dataset": dict(guess.dataset),
        "model": dict(guess.model),
        "train": {**_TRAIN, **guess.train},
        "seeds": list(_SEEDS),
        "arms": [{"name": "baseline"}, *(dict(a) for a in guess.arms)],
    }


def render_study(config: dict[str, Any], guess: DataGuess, *, writer: str = "mixup init") -> str:
    """A study config mapping as commented YAML; without a ``critical`` section, a commented one lists the classes."""
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    classes = ", ".join(guess.class_names[:20]) + (" …" if len(guess.class_names) > 20 else "")
    header = (
        f"# Study written by `{writer}`: {guess.summary}.\n"
        f"# Run it with: mixup compare <this file>. Grow train.epochs to the budget you would really use:\n"
        f"# mixup's gains grow with training length, and a short study can show it as worse.\n"
    )
    if config.get("critical"):
        return header + body
    critical = (
        "# Classes whose recall must not drop (by name), reported on their own; protect: true also keeps\n"
        "# them from being diluted by the mixers. Classes found: " + classes + "\n"
        "# critical:\n"
        "#   classes: []\n"
        "#   protect: false\n"
    )
    return header + body + critical


def study_yaml(guess: DataGuess, *, name: str) -> str:
    """The study config of ``guess`` as YAML, with the critical classes as a commented field."""
    return render_study(study_mapping(guess, name=name), guess)


def init_study(
    path: str | Path, *, out: str | Path | None = None, name: str | None = None, force: bool = False
) -> Path:
    """Write a ready study config for the data at ``path`` and return its path.

    Args:
        path: a data folder or table.
        out: the config file to write (default: ``<name>.yaml`` in the working directory).
        name: the study's name (default: from the folder or file name).
        force: overwrite an existing file.

    Raises:
        ConfigError: the data are not recognised, or ``out`` exists (without ``force``) or cannot be written.
    """
    source = Path(path).expanduser().resolve()
    guess = detect_data(source)
    study = name or study_name(source)
    target = Path(out) if out is not None else Path(f"{study}.yaml")
    if target.exists() and not force:
        raise ConfigError(f"--out: the file exists; pass --force to overwrite it (got {str(target)!r})")
    if target.exists() and not target.is_file():
        raise ConfigError(f"--out: not a file (got {str(target)!r})")
    text = study_yaml(guess, name=study)
    # the written config must load as a study (names resolved), or nothing is written
    from ._config import load_study_config

    load_study_config(yaml.safe_load(text))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write ({exc.strerror}) (got {str(target)!r})") from exc
    return target
