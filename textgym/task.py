"""The task interface: reproducible items, fixed splits, and scoring beside the generator.

Every item is a pure function of ``(task config, split, index)``: the generator gets a
``random.Random`` seeded from a string of those, so an item can be rebuilt in any process
without replaying a stream (reasoning-gym's ``seed + index`` rule). The test split is a
fixed list of ``test_size`` items; a train item whose key (its canonical problem) is in the
test split is redrawn, so the two splits never share a problem, not just an index.
"""

from __future__ import annotations

import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from textgym.checks import positive_int

__all__ = ["TaskItem", "ToolCall", "Task", "SPLITS"]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class TaskItem:
    """One problem.

    Attributes:
        split: ``"train"`` or ``"test"``.
        index: the item's index within its split.
        question: the text shown to the agent after the system prompt.
        answer: the canonical answer text.
        data: task-specific fields (an expression, an entity id, ...), JSON-serialisable.
    """

    split: str
    index: int
    question: str
    answer: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCall:
    """One tool call as the env recorded it (deterministic: no wall-clock fields).

    ``name`` is ``None`` when the call was too malformed to name a tool. ``data`` is what
    the tool returned beside its text (for the search tool, the hits as
    ``[{"title": ..., "text": ...}]``), JSON-serialisable; oracles and tasks read it
    instead of parsing ``response``, the text the agent sees.
    """

    name: str | None
    query: str | None
    response: str
    ok: bool
    valid: bool  # False for malformed calls and unknown tools (the format was wrong)
    data: Any = None

    def as_dict(self) -> dict[str, Any]:
        record = {
            "name": self.name,
            "query": self.query,
            "response": self.response,
            "ok": self.ok,
            "valid": self.valid,
        }
        if self.data is not None:
            record["data"] = self.data
        return record


class Task(ABC):
    """Base class of task generators.

    Subclasses set ``name`` and implement :meth:`generate`, :meth:`score` and
    :meth:`oracle_turn`. ``seed`` selects the dataset (the test split depends on it; keep
    the default for leaderboard numbers); the env's own ``reset(seed=...)`` only picks
    which train items an episode sees.

    Args:
        seed: dataset seed.
        test_size: number of items in the fixed test split.
        oracle_tool_rate: the fraction of items on which the oracle calls a tool; on the
            others it submits the answer directly, as a person who knows it would. A
            demonstration source for tool discovery: a small model that imitates the
            direct answers gets most of them wrong, and reward must teach it the tool.
            Which items use the tool is fixed per item (:meth:`oracle_uses_tool`); the
            items, the test split and its hash do not depend on it.
    """

    name: str = "task"
    #: Reward at or above which an episode counts as a success.
    success_threshold: float = 1.0
    #: Documented reward range of :meth:`score`.
    reward_range: tuple[float, float] = (0.0, 1.0)
    #: The leaderboard's headline metric for this task: ``"success_rate"`` for pass/fail
    #: tasks, ``"mean_reward"`` where the reward itself is the score (sentiment).
    leaderboard_metric: str = "success_rate"
    #: How often a train item may be redrawn to avoid the test split before giving up.
    max_redraws: int = 1000

    def __init__(self, seed: int = 0, test_size: int = 200, oracle_tool_rate: float = 1.0):
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        positive_int("test_size", test_size)
        if (
            isinstance(oracle_tool_rate, bool)
            or not isinstance(oracle_tool_rate, (int, float))
            or not 0.0 <= oracle_tool_rate <= 1.0
        ):
            raise ValueError(
                f"oracle_tool_rate must be a number in [0, 1], got {oracle_tool_rate!r}"
            )
        self.seed = seed
        self.test_size = test_size
        self.oracle_tool_rate = float(oracle_tool_rate)
        self._test: list[TaskItem] | None = None
        self._test_keys: frozenset[str] | None = None

    # ---- what a task defines -------------------------------------------------------

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        """Draw one problem: ``(question, answer, data)``, using only ``rng``. Every task
        implements it, except one that overrides :meth:`draw_test_items` and
        :meth:`draw_train_item` (a fixed list of problems)."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither generate() nor draw_test_items() "
            "and draw_train_item()"
        )

    @abstractmethod
    def score(self, item: TaskItem, answer: str) -> float:
        """Reward for submitting ``answer`` (the final turn's text) on ``item``."""

    @abstractmethod
    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        """The next turn of a perfect tool user, given the calls made so far (as agent text
        with markers). Used by the oracle agent and for SFT demonstrations."""

    def config(self) -> dict[str, Any]:
        """The settings that determine the items; part of every item's seed and of the
        split hash. Subclasses add theirs (level, corpus, ...)."""
        return {"name": self.name, "seed": self.seed}

    def oracle_uses_tool(self, item: TaskItem) -> bool:
        """Whether the oracle calls a tool on ``item`` (see ``oracle_tool_rate``): a fixed
        draw per item, the same in every process and run. A task's :meth:`oracle_turn`
        submits ``item.answer`` at once where this is False."""
        if self.oracle_tool_rate >= 1.0:
            return True
        config = json.dumps(self.config(), sort_keys=True)
        draw = random.Random(f"{config}|{item.split}|{item.index}|oracle-tool").random()
        return draw < self.oracle_tool_rate

    def key(self, question: str, answer: str, data: Mapping[str, Any]) -> str:
        """Canonical identity of a problem, for split disjointness. Default: the question."""
        return question

    # ---- items and splits ----------------------------------------------------------

    def item_rng(self, split: str, index: int, attempt: int = 0) -> random.Random:
        """The generator of one draw of item ``index`` of ``split``: a pure function of
        the task's config and those arguments."""
        # A string seed hashes with SHA-512 inside random.seed: stable across processes and
        # independent of PYTHONHASHSEED.
        config = json.dumps(self.config(), sort_keys=True)
        return random.Random(f"{config}|{split}|{index}|{attempt}")

    def test_items(self) -> list[TaskItem]:
        """The fixed test split (built once by :meth:`draw_test_items`, cached)."""
        if self._test is None:
            items = self.draw_test_items()
            self._test = items
            self._test_keys = frozenset(
                self.key(item.question, item.answer, item.data) for item in items
            )
        return self._test

    # ---- hooks for tasks over a fixed list of items --------------------------------

    def draw_test_items(self) -> list[TaskItem]:
        """Build the test split. Default: item ``i`` from :meth:`generate`, redrawn until
        its key is new. A task over a fixed list of problems (a QA file) overrides this
        and :meth:`draw_train_item` instead of implementing :meth:`generate`."""
        items: list[TaskItem] = []
        keys: set[str] = set()
        for index in range(self.test_size):
            for attempt in range(self.max_redraws):
                question, answer, data = self.generate(self.item_rng("test", index, attempt))
                key = self.key(question, answer, data)
                if key not in keys:
                    break
            else:
                raise RuntimeError(
                    f"{self.name}: could not draw {self.test_size} distinct test items; "
                    "the problem space is too small for this test_size"
                )
            keys.add(key)
            items.append(TaskItem("test", index, question, answer, data))
        return items

    def draw_train_item(self, index: int) -> TaskItem:
        """Build train item ``index`` (already validated). Default: from :meth:`generate`,
        redrawn while its key is in the test split."""
        test_keys = self.test_keys()
        for attempt in range(self.max_redraws):
            question, answer, data = self.generate(self.item_rng("train", index, attempt))
            if self.key(question, answer, data) not in test_keys:
                return TaskItem("train", index, question, answer, data)
        raise RuntimeError(
            f"{self.name}: train item {index} collided with the test split "
            f"{self.max_redraws} times; the problem space is too small for this test_size"
        )

    def test_keys(self) -> frozenset[str]:
        """The keys (:meth:`key`) of the test split's problems."""
        self.test_items()
        assert self._test_keys is not None
        return self._test_keys

    def item(self, split: str, index: int) -> TaskItem:
        """Item ``index`` of ``split``; the same arguments always give the same item."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"index must be a non-negative int, got {index!r}")
        if split == "test":
            if index >= self.test_size:
                raise IndexError(f"test split has {self.test_size} items; index {index} is out")
            return self.test_items()[index]
        return self.draw_train_item(index)

    def split_hash(self, split: str = "test") -> str:
        """SHA-256 of the test split's items and the task config, to pin leaderboards."""
        if split != "test":
            raise ValueError("only the fixed test split has a hash")
        digest = hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode())
        for item in self.test_items():
            record = [item.index, item.question, item.answer, dict(item.data)]
            digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"
