"""The CLI's parser class and the options it builds from config dataclasses.

Every field of a config dataclass (``PPOConfig``, ``SFTConfig``, ``RewardConfig``) becomes
a flag whose help is the field's line in the class docstring and whose default is shown.
Flags default to "not given" (``argparse.SUPPRESS``), so a command can tell what the
user set from what it fills in: ``--resume`` compares only what was set with the run's
record, and a ``--config`` file is overridden only by flags actually given.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomllib

__all__ = [
    "Parser",
    "add_config_options",
    "given",
    "load_config_file",
    "parse_json_object",
    "add_env_kwargs_option",
    "add_base_url_option",
    "field_help",
]


class Parser(argparse.ArgumentParser):
    """``argparse`` with no abbreviations (``--episode`` is not ``--episodes``), defaults
    shown in ``--help``, and errors that print the usage of the command that failed and
    suggest the nearest option or command."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        hint = self._suggestion(message)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")

    def _options(self) -> list[str]:
        return [s for a in self._actions for s in a.option_strings if s.startswith("--")]

    def _suggestion(self, message: str) -> str:
        bad = re.search(r"invalid choice: '([^']*)'", message)
        if bad:
            choices = re.findall(r"'([^']*)'", message.split("choose from", 1)[-1])
            close = difflib.get_close_matches(bad.group(1), choices, n=1)
            return f" (did you mean {close[0]!r}?)" if close else ""
        if message.startswith("unrecognized arguments:"):
            words = message.split(":", 1)[1].split()
            hints = []
            for word in words:
                flag = word.split("=", 1)[0]
                close = difflib.get_close_matches(flag, self._options(), n=1, cutoff=0.6)
                if flag.startswith("-") and close:
                    hints.append(f"{flag} -> {close[0]}")
            return f" (did you mean {', '.join(hints)}?)" if hints else ""
        return ""

    def parse_args(self, args=None, namespace=None):
        # A subcommand's unknown flag would otherwise be reported by the top-level
        # parser with the top-level usage; report it with the subcommand's own.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            leaf = getattr(parsed, "parser", self)
            leaf.error("unrecognized arguments: " + " ".join(extras))
        return parsed


_ENTRY = re.compile(r"(?:^|; )(\w+) \([^)]*\)(?:, (\w+) \([^)]*\))*: ")


def field_help(cls: type) -> dict[str, str]:
    """Each field's text from a docstring written as ``name (default): what it does``,
    one entry per line (continued on more-indented lines) or several per line after
    ``; ``. Two fields may share an entry: ``gamma (1.0), lam (0.95): ...``."""
    names = {f.name for f in dataclasses.fields(cls)}
    entries: list[tuple[list[str], str]] = []
    indent = None
    for raw in (cls.__doc__ or "").splitlines():
        line = raw.strip()
        depth = len(raw) - len(raw.lstrip())
        starts = [m for m in _ENTRY.finditer(line) if m.group(1) in names]
        if starts:
            for i, m in enumerate(starts):
                end = starts[i + 1].start() if i + 1 < len(starts) else len(line)
                entries.append(([m.group(1), m.group(2)], line[m.end() : end]))
            indent = depth
        elif entries and indent is not None and line and depth > indent:
            fields, text = entries[-1]
            entries[-1] = (fields, f"{text} {line}")
        else:
            indent = None
    helps = dict.fromkeys(names, "")
    for fields, text in entries:
        for name in fields:
            if name in names and not helps[name]:
                helps[name] = text.strip().rstrip(";.")
    return helps


class _Formatter(argparse.HelpFormatter):
    """Shows a default where there is one to show (not for flags, nor required options)."""

    def _get_help_string(self, action):
        text = action.help or ""
        hidden = (None, False, argparse.SUPPRESS)
        if "%(default)" not in text and action.default not in hidden and not action.required:
            text += " (default: %(default)s)"
        return text


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    aliases: Mapping[str, Iterable[str]] = (),
    skip: Iterable[str] = (),
    title: str | None = None,
) -> None:
    """A flag per field of the dataclass ``cls``, with ``aliases`` (extra flag names) and
    without the fields in ``skip``."""
    aliases = dict(aliases or {})
    group = parser.add_argument_group(title or f"{cls.__name__} fields")
    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        if f.name in set(skip):
            continue
        names = [*aliases.get(f.name, ()), _flag(f.name)]
        kind = type(f.default)
        # A switch's default reads as the switch does (--x / --no-x): on or off.
        shown = ("on" if f.default else "off") if kind is bool else repr(f.default)
        text = f"{helps[f.name]} (default: {shown})".replace("%", "%%")
        if kind is bool:
            group.add_argument(
                *names,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        else:
            group.add_argument(
                *names,
                dest=f.name,
                type=kind,
                default=argparse.SUPPRESS,
                help=text,
                metavar=kind.__name__.upper(),
            )


def given(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The subset of ``names`` the user set on the command line."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def add_env_kwargs_option(parser: argparse.ArgumentParser, note: str) -> None:
    """``--env-kwargs JSON`` (read with :func:`parse_json_object`); ``note`` says what the
    command does with them."""
    parser.add_argument(
        "--env-kwargs",
        default=None,
        help=f"env arguments as a JSON object, e.g. '{{\"level\": 2}}' ({note})",
    )


def add_base_url_option(parser: argparse.ArgumentParser) -> None:
    """``--base-url URL``: the endpoint of ``openai:MODEL`` agents, default
    ``OPENAI_BASE_URL`` (read when the parser is built, so ``--help`` shows it)."""
    parser.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        metavar="URL",
        help="openai: agents: the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
        "(default: OPENAI_BASE_URL, else OpenAI's API; key: OPENAI_API_KEY)",
    )


def parse_json_object(text: str | None, flag: str = "--env-kwargs") -> dict[str, Any] | None:
    """A JSON object given on the command line, or ``None`` when not given."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, e.g. '{{\"level\": 1}}'")
    return value


def load_config_file(path: str | Path, allowed: Iterable[str]) -> dict[str, Any]:
    """Settings from a TOML file (or a run's ``run.json``): flat ``key = value`` lines,
    and an optional ``[config]`` table, which is flattened (run.json's shape). Unknown
    keys are refused, naming the known ones."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FileNotFoundError(f"--config {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--config {path}: not valid {path.suffix[1:] or 'TOML'}: {exc}") from None
    flat = {k: v for k, v in data.items() if k != "config"}
    flat.update(data.get("config") or {})
    # Records a run writes about itself, not settings.
    for key in ("kind", "processes", "lora"):
        flat.pop(key, None)
    allowed = set(allowed)
    unknown = sorted(set(flat) - allowed)
    if unknown:
        raise ValueError(
            f"--config {path}: unknown setting(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(allowed))
        )
    return flat
