"""reasoning-gym datasets as textgym tasks, for ``TextEnv-ReasoningGym-v0``.

`reasoning-gym <https://github.com/open-thought/reasoning-gym>`_ has about a hundred
procedural generators (arithmetic, algorithms, logic, puzzles), each with its own scorer.
Here every item is one draw of the chosen generator:

    item = reasoning_gym.create_dataset(dataset, seed=s, size=1, **dataset_kwargs)[0]

where ``s`` (``item.data["source_seed"]``) is a 31-bit seed derived from the task config,
the split, the index and the redraw attempt (:meth:`textgym.Task.item_rng`). So any item
can be rebuilt with reasoning-gym alone, and the splits stay disjoint by the base class's
rule: a test item that repeats an earlier test question, or a train item whose question is
in the test split, is redrawn with the next attempt's seed. One dataset per item, rather
than item ``i`` of one seeded dataset per split, because many generators draw item ``i``
from ``Random(seed + i)``: two split seeds less than the split's length apart would give
shifted copies of the same stream, and generators that build their items in ``__init__``
(gsm_symbolic, word_ladder, ...) only have ``size`` of them.

reasoning-gym is an optional dependency (``pip install 'textgym[reasoning-gym]'``),
imported when a task is made, never by ``import textgym``.
"""

from __future__ import annotations

import difflib
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from textgym.answers import read_answer
from textgym.protocol import call_text, submit_text
from textgym.task import Task, TaskItem, ToolCall

__all__ = [
    "ReasoningGymTask",
    "DEFAULT_DATASET",
    "ORACLE_PROGRAMS",
    "dataset_names",
    "import_reasoning_gym",
]

#: Integer arithmetic with + - * / and parentheses: generated in microseconds, offline,
#: exact answers, and a problem that a program solves at once.
DEFAULT_DATASET = "basic_arithmetic"

#: Config fields this task sets itself: the seed comes from the item, the size is 1.
_OWNED_FIELDS = ("seed", "size")

#: Mixtures of other datasets, configured with objects rather than plain values.
_UNSUPPORTED = {"composite": "it mixes other datasets; make one env per dataset instead"}

_INSTALL_HINT = "pip install 'textgym[reasoning-gym]'"


def _expression_program(metadata: Mapping[str, Any]) -> str | None:
    """``print(expression)``, with ``/`` as ``//``: reasoning-gym computes these answers
    with ``eval(expression.replace("/", "//"))``, so the program prints exactly the
    reference (``197``, not ``197.0``; ``6 / 15`` floors to ``0``, as the reference does)."""
    expression = metadata.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        return None
    return f"print({expression.replace('/', '//')})"


def _numbers_program(function: str) -> Callable[[Mapping[str, Any]], str | None]:
    """``print(math.<function>(*numbers))`` over the item's ``numbers``."""

    def program(metadata: Mapping[str, Any]) -> str | None:
        numbers = metadata.get("numbers")
        if not isinstance(numbers, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in numbers
        ):
            return None
        return f"from math import {function}\nprint({function}({', '.join(map(str, numbers))}))"

    return program


#: Per dataset, the program that solves an item from its metadata (``None`` where it
#: cannot): the tool-using oracle's call (``oracle_tool_rate`` > 0). Each prints text that
#: the dataset's scorer gives 1.0 on every test item of the default config (the tests
#: check it). Add a dataset here to give its oracle a tool-using mode.
ORACLE_PROGRAMS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "basic_arithmetic": _expression_program,
    "chain_sum": _expression_program,
    "products": _expression_program,
    "gcd": _numbers_program("gcd"),
    "lcm": _numbers_program("lcm"),
}

#: ``dataset_kwargs`` under which a dataset's program writer is wrong, and why.
_NO_PROGRAM_KWARGS: dict[str, dict[str, tuple[Any, str]]] = {
    "basic_arithmetic": {
        "allow_parentheses": (
            False,
            "without parentheses reasoning-gym computes the reference left to right, "
            "not in the expression's precedence, so no program of the expression gives it",
        )
    },
}


def import_reasoning_gym() -> ModuleType:
    """The ``reasoning_gym`` package, or an ImportError that says how to install it."""
    try:
        import reasoning_gym  # optional, and slow to import (~1 s): only when a task is made
    except ImportError as error:
        raise ImportError(
            f"TextEnv-ReasoningGym-v0 needs the reasoning-gym package: {_INSTALL_HINT}"
        ) from error
    return reasoning_gym


def dataset_names() -> list[str]:
    """The reasoning-gym datasets this task accepts, sorted."""
    registry = import_reasoning_gym().factory.DATASETS
    return sorted(name for name in registry if name not in _UNSUPPORTED)


def _check_dataset(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"dataset must be a reasoning-gym dataset name, got {name!r}")
    if name in _UNSUPPORTED:
        raise ValueError(f"reasoning-gym dataset {name!r} is not supported: {_UNSUPPORTED[name]}")
    names = dataset_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown reasoning-gym dataset {name!r}.{hint} Valid names: {', '.join(names)}"
        )
    return name


def _check_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    kwargs = dict(kwargs or {})
    owned = sorted(set(kwargs) & set(_OWNED_FIELDS))
    if owned:
        raise ValueError(
            f"dataset_kwargs may not set {owned}: items are drawn one at a time with seeds "
            "derived from the env's `seed` argument"
        )
    try:
        # The kwargs are part of the config, which seeds every item and the split hash.
        json.dumps(kwargs, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"dataset_kwargs must be JSON-serialisable: {error}") from error
    return kwargs


def _check_oracle_program(dataset: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse a tool-using oracle where no program solves the dataset's items."""
    if dataset not in ORACLE_PROGRAMS:
        raise ValueError(
            f"oracle_tool_rate > 0 needs a program for the oracle to run, and reasoning-gym "
            f"dataset {dataset!r} has no program writer; datasets with one: "
            f"{', '.join(sorted(ORACLE_PROGRAMS))}"
        )
    for field_name, (value, why) in _NO_PROGRAM_KWARGS.get(dataset, {}).items():
        if field_name in kwargs and kwargs[field_name] == value:
            raise ValueError(
                f"oracle_tool_rate > 0 is not supported for {dataset!r} with "
                f"{field_name}={value!r}: {why}"
            )


class ReasoningGymTask(Task):
    """A reasoning-gym dataset: its generator's items and its own ``score_answer``.

    Args:
        dataset: a reasoning-gym dataset name (default :data:`DEFAULT_DATASET`); see
            :func:`dataset_names`. Datasets without reference answers (boxnet,
            graph_color, propositional_logic, rubiks_cube, rush_hour: scored by a
            verifier) are refused, since the oracle submits the reference answer.
        dataset_kwargs: fields of the dataset's config class (``min_terms``, ...), except
            ``seed`` and ``size``.
        seed, test_size: see :class:`textgym.Task`.
        oracle_tool_rate: the fraction of items on which the oracle calls the ``Python``
            tool with a program that solves the item (:data:`ORACLE_PROGRAMS`) and submits
            what it prints; on the rest it submits the reference answer at once. Default
            0.0: the oracle never calls the tool. Above 0 only for datasets with a program
            writer (a ValueError names them). The items, the test split and its hash do not
            depend on it.

    Scoring: the dataset's ``score_answer(answer, entry)`` of the submitted text (read by
    :func:`~textgym.answers.read_answer`, so ``Result=`` comes off), clamped to [0, 1];
    a scorer that raises on odd text scores 0. Many scorers give partial credit (a wrong
    number may get 0.01 or more; the answer inside extra text gets
    ``len(answer) / len(text)``), so success is the exact score 1.0, never a threshold
    below it.
    """

    name = "reasoning_gym"
    success_threshold = 1.0

    def __init__(
        self,
        dataset: str = DEFAULT_DATASET,
        dataset_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        test_size: int = 200,
        oracle_tool_rate: float = 0.0,
    ):
        super().__init__(seed=seed, test_size=test_size, oracle_tool_rate=oracle_tool_rate)
        self._rg = import_reasoning_gym()
        self.dataset = _check_dataset(dataset)
        self.dataset_kwargs = _check_kwargs(dataset_kwargs)
        if self.oracle_tool_rate > 0:
            _check_oracle_program(self.dataset, self.dataset_kwargs)
        # One draw now: bad kwargs fail here rather than at the first reset, and the
        # dataset's scorer is kept (score_answer reads only its arguments and the config).
        self._scorer = self._make(0)
        self._check_entry(self._scorer[0], 0)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "dataset": self.dataset, "dataset_kwargs": self.dataset_kwargs}

    def _make(self, source_seed: int) -> Any:
        try:
            return self._rg.create_dataset(
                self.dataset, seed=source_seed, size=1, **self.dataset_kwargs
            )
        except (TypeError, ValueError, AssertionError) as error:
            # Config classes reject unknown fields with TypeError and bad values with
            # AssertionError (their validate()); either way it is the kwargs.
            raise ValueError(
                f"reasoning-gym dataset {self.dataset!r} rejected dataset_kwargs "
                f"{self.dataset_kwargs}: {error}"
            ) from error

    def _check_entry(self, entry: Mapping[str, Any], source_seed: int) -> None:
        if not isinstance(entry.get("answer"), str):
            raise ValueError(
                f"reasoning-gym dataset {self.dataset!r} gives no reference answer "
                f"(seed {source_seed}: {entry.get('answer')!r}); its items are scored by a "
                "verifier, and this env's oracle submits the reference answer"
            )

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        source_seed = rng.getrandbits(31)  # generators add their index: stay below 2**32
        entry = self._make(source_seed)[0]
        self._check_entry(entry, source_seed)
        data = {"dataset": self.dataset, "source_seed": source_seed, "metadata": entry["metadata"]}
        return entry["question"], entry["answer"], data

    def score(self, item: TaskItem, answer: str | None) -> float:
        text = read_answer(answer)
        if not text:
            return 0.0
        entry = {
            "question": item.question,
            "answer": item.answer,
            "metadata": item.data["metadata"],
        }
        try:
            value = float(self._scorer.score_answer(text, entry))
        except Exception:  # noqa: BLE001 - third-party scorers may raise on garbage text
            return 0.0
        return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0

    def oracle_program(self, item: TaskItem) -> str | None:
        """The Python program that solves ``item`` (:data:`ORACLE_PROGRAMS`), or ``None``
        where its dataset has no program writer or the writer cannot write one."""
        writer = ORACLE_PROGRAMS.get(self.dataset)
        return writer(item.data["metadata"]) if writer is not None else None

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        use_tool = self.oracle_tool_rate > 0 and self.oracle_uses_tool(item)
        program = self.oracle_program(item) if use_tool else None
        if program is None:
            # The reference answer, directly: the generator already computed it.
            return submit_text(item.answer)
        if not calls:
            return call_text("Python", program)
        # A perfect tool user reads the answer off the tool; the known answer only if the
        # call failed.
        last = calls[-1]
        response = last.response.strip() if last.ok else ""
        return submit_text(response or item.answer)
