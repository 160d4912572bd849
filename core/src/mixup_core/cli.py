"""The ``mixup`` command line: list mixers and plugins, describe a mixer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ._config import create_mixer, describe_mixer, list_mixers
from ._errors import ConfigError, MixupError, one_line
from ._plugins import get_plugin_manager, get_registry
from ._version import __version__
from .hookspecs import PreviewOptions

__all__ = ["main"]


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _cmd_mixers(args: argparse.Namespace) -> int:
    infos = list_mixers(args.pattern, args.modality)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    rows = [[i.name, i.modality, i.distribution or "-", i.summary] for i in infos]
    print(_table(rows, ["name", "modality", "distribution", "summary"]))
    broken = get_registry().broken_plugins()
    if broken:
        names = ", ".join(p.name for p in broken)
        print(f"\n{len(broken)} plugin(s) failed to load: {names}. Run `mixup plugins` for details.", file=sys.stderr)
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    plugins = get_registry().plugins()
    if args.json:
        print(json.dumps([p.to_dict() for p in plugins], indent=2))
        return 0
    rows = []
    for p in plugins:
        error = "" if p.error is None else f"{type(p.error).__name__}: {p.error}"
        rows.append([p.name, p.distribution or "-", p.version or "-", p.status, str(len(p.mixers)), error])
    print(_table(rows, ["plugin", "distribution", "version", "status", "mixers", "error"]))
    return 0


def _format_param(name: str, spec: dict[str, Any]) -> str:
    kind = spec.get("type") or "/".join(str(s.get("type", "?")) for s in spec.get("anyOf", [])) or "any"
    if "enum" in spec:
        kind = " | ".join(repr(v) for v in spec["enum"])
    bounds = []
    for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        for source in [spec, *spec.get("anyOf", [])]:
            if key in source:
                bounds.append(f"{sym} {source[key]}")
    default = spec.get("default", "required")
    rng = f"  [{', '.join(bounds)}]" if bounds else ""
    return f"  {name:<18} {kind:<24} default {default!r}{rng}"


def _cmd_describe(args: argparse.Namespace) -> int:
    info = describe_mixer(args.name)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(
        f"{info['name']}  ({info['distribution']} {info['version']}, modality {info['modality']}, cost {info['cost']})"
    )
    print(f"  {info['summary']}")
    if info["paper"]:
        print(f"  paper: {info['paper']}")
    print("parameters:")
    for name, spec in info["params"].items():
        print(_format_param(name, spec))
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    registry = get_registry()
    infos = registry.datasets.list() + registry.models.list()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    rows = [[i.name, i.kind, i.modality, i.summary] for i in infos]
    print(_table(rows, ["name", "kind", "modality", "summary"]))
    return 0


def _parse_value(text: str, flag: str = "--param") -> Any:
    """A command-line value read as YAML (``1``, ``0.5``, ``[1, 2]``, ``true``), with the flag named on error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{flag}: not a YAML value: {one_line(exc)} (got {text!r})") from None


def _cmd_preview(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--param takes KEY=VALUE, got {item!r}")
        params[key.strip()] = _parse_value(value)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size: must be at least 1 (got {args.batch_size})")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise ConfigError(f"--out: a folder, not a PNG file name (got {args.out!r})")
    if not out.parent.is_dir():
        raise ConfigError(f"--out: the folder {str(out.parent)!r} does not exist (got {args.out!r})")
    info = get_registry().get(args.name)
    mixer = create_mixer({"name": info.name, **params})
    options = PreviewOptions(
        out=Path(args.out),
        inputs=Path(args.inputs) if args.inputs else None,
        dataset=args.dataset,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    result = get_plugin_manager().hook.mixup_preview(mixer=mixer, info=info, options=options)
    if result is None:
        raise ConfigError(f"no installed plugin can preview mixers of modality {info.modality!r} ({info.name})")
    if not Path(result).is_file():
        raise ConfigError(f"--out: the preview of {info.name} wrote nothing (got {args.out!r})")
    print(result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mixup`` command."""
    parser = argparse.ArgumentParser(
        prog="mixup", description="Mixup for PyTorch: mixers selected by name from any installed plugin."
    )
    parser.add_argument("--version", action="version", version=f"mixup-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("mixers", help="list installed mixers")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern on the name, e.g. 'image:*'")
    p.add_argument("--modality", default=None, help="only mixers of this modality (and modality-agnostic ones)")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=_cmd_mixers)

    p = sub.add_parser("plugins", help="list plugins, their distributions, versions and load errors")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("describe", help="parameters (defaults, ranges), modality, paper and cost of a mixer")
    p.add_argument("name", help="mixer name, bare or qualified")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_describe)

    p = sub.add_parser("preview", help="draw originals, masks, mixes and label weights of a mixer to a PNG")
    p.add_argument("name", help="mixer name, bare or qualified")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="mixer parameter (YAML value), repeatable")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", "--inputs", dest="inputs", default=None, help="folder of examples to mix")
    src.add_argument("--dataset", default=None, help="a named example set of the mixer's plugin")
    p.add_argument("--out", default="preview.png", help="output PNG (default preview.png)")
    p.add_argument("--batch-size", type=int, default=4, help="examples to mix (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the plan (default 0)")
    p.set_defaults(func=_cmd_preview)

    p = sub.add_parser("datasets", help="list data sets and models registered for experiments")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=_cmd_datasets)

    get_plugin_manager().hook.mixup_cli_commands(subparsers=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a usage or config error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (MixupError, KeyError) as exc:
        print(f"mixup: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C: one line (what was kept, how to resume), the shell's status 130
        print(f"mixup: interrupted{': ' + one_line(exc) if str(exc) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
