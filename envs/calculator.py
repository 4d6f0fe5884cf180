"""``TextEnv-Calculator-v0``: arithmetic questions answered with a calculator tool.

TRL's calculator example, made a benchmark: level 0 is exactly its task (``a op b`` with
``a, b < 50``); higher levels need the tool because a small model cannot do them in its
head.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from textgym.answers import read_answer
from textgym.env import TextEnv
from textgym.protocol import call_text, submit_text
from textgym.task import Task, TaskItem, ToolCall
from textgym.tools.calculator import Calculator, evaluate, format_number

__all__ = ["CalculatorTask", "CalculatorEnv", "parse_number", "LEVELS"]

#: What each difficulty level draws.
LEVELS = {
    0: "a op b; a, b in [0, 50); op in + - * (TRL's calculator task)",
    1: "three operands in [0, 100) with + - *, no parentheses (precedence matters)",
    2: "three or four operands in [1, 1000) with + - * // %, one parenthesised group",
    3: "two to four operands of 4 to 7 digits with + - *, parentheses",
}

#: Relative tolerance of the numeric match: |x - y| <= TOLERANCE * max(1, |y|).
TOLERANCE = Fraction(1, 10**6)

_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\Z")


def parse_number(text: str) -> Fraction | None:
    """Read a submitted answer strictly: an optional ``Result=``/``Answer:`` prefix (taken
    off by :func:`~textgym.answers.read_answer`), then one number (thousands separators and
    a trailing period allowed). Anything else is not an answer, so a turn full of guesses
    cannot match by accident."""
    text = read_answer(text).rstrip(".")
    if not _NUMBER.match(text):
        return None
    return Fraction(text.replace(",", ""))


def _join(operands: Sequence[int], ops: Sequence[str]) -> str:
    parts = [str(operands[0])]
    for op, operand in zip(ops, operands[1:]):
        parts += [op, str(operand)]
    return "".join(parts)


class CalculatorTask(Task):
    """Arithmetic questions ``What is <expr>?`` with exact answers.

    Args:
        level: difficulty, 0 to 3 (see :data:`LEVELS`).
        seed: dataset seed.
        test_size: items in the fixed test split.
        oracle_tool_rate: the fraction of items on which the oracle calls the calculator;
            on the others it answers directly, as a person doing the sum in their head.
            A demonstration source for tool discovery: a small model that imitates the
            direct answers gets most products wrong, and reward must teach it the tool.
            Which items use the tool is fixed per item (from the task config, split and
            index). The items themselves, the test split and its hash do not depend on it.

    Scoring: 1.0 when the submitted number equals the exact answer within a relative
    tolerance of 1e-6 (:data:`TOLERANCE`), else 0.0. Answers are read by
    :func:`parse_number`.
    """

    name = "calculator"

    def __init__(
        self, level: int = 0, seed: int = 0, test_size: int = 200, oracle_tool_rate: float = 1.0
    ):
        if level not in LEVELS:
            raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
        super().__init__(seed=seed, test_size=test_size, oracle_tool_rate=oracle_tool_rate)
        self.level = level

    def config(self) -> dict[str, Any]:
        return {**super().config(), "level": self.level}

    def expression(self, rng: random.Random) -> str:
        """Draw one expression of this task's level."""
        if self.level == 0:
            return _join([rng.randrange(50), rng.randrange(50)], [rng.choice("+-*")])
        if self.level == 1:
            return _join([rng.randrange(100) for _ in range(3)], rng.choices("+-*", k=2))
        if self.level == 2:
            n = rng.choice((3, 4))
            operands = [rng.randrange(1, 1000) for _ in range(n)]
            ops = rng.choices(["+", "-", "*", "//", "%"], weights=[3, 3, 3, 1, 1], k=n - 1)
            return self._group(rng, operands, ops)
        n = rng.choice((2, 3, 4))
        operands = [rng.randrange(10 ** (d - 1), 10**d) for d in rng.choices(range(4, 8), k=n)]
        return self._group(rng, operands, rng.choices("+-*", k=n - 1))

    @staticmethod
    def _group(rng: random.Random, operands: list[int], ops: list[str]) -> str:
        """Join with one parenthesised run of at least two operands (when n > 2)."""
        if len(operands) <= 2:
            return _join(operands, ops)
        start = rng.randrange(len(operands) - 1)
        stop = rng.randrange(start + 2, len(operands) + 1)
        inner = "(" + _join(operands[start:stop], ops[start : stop - 1]) + ")"
        terms = [str(x) for x in operands[:start]] + [inner] + [str(x) for x in operands[stop:]]
        ops_out = ops[:start] + ops[stop - 1 :]
        text = terms[0]
        for op, term in zip(ops_out, terms[1:]):
            text += op + term
        return text

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        while True:
            expr = self.expression(rng)
            try:
                answer = format_number(evaluate(expr))
            except Exception:  # noqa: BLE001 - e.g. x // 0: draw again
                continue
            return f"What is {expr}?", answer, {"expression": expr, "level": self.level}

    def score(self, item: TaskItem, answer: str | None) -> float:
        if answer is None:
            return 0.0
        submitted = parse_number(answer)
        if submitted is None:
            return 0.0
        target = Fraction(item.answer)
        return 1.0 if abs(submitted - target) <= TOLERANCE * max(1, abs(target)) else 0.0

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        if not calls:
            if not self.oracle_uses_tool(item):
                return submit_text(item.answer)  # answered in the head: right, no tool
            return call_text("Calculator", item.data["expression"])
        last = calls[-1]
        # A perfect tool user reads the answer off the tool; fall back to the known answer
        # only if the tool failed (it never does on generated expressions).
        return submit_text(last.response if last.ok else item.answer)


class CalculatorEnv(TextEnv):
    """Arithmetic with a calculator tool.

    ## Description

    The agent is asked ``What is <expr>?`` and may call the ``Calculator`` tool, which
    evaluates arithmetic exactly with a safe AST walker (no ``eval``). The transcript
    follows TRL's TextEnvironment::

        What is 12+3?
        <request><Calculator>12+3<call>15<response>Result=15<submit>

    ## Action Space

    ``Sequence(Discrete(V), stack=True)``: one agent turn of token ids (V = 263 with the
    default ByT5 tokenizer). See :class:`textgym.TextEnv` for how turns are cut and read.

    ## Observation Space

    ``Sequence(Discrete(V), stack=True)``: the whole context so far; ``info["agent_mask"]``
    marks agent tokens.

    ## Rewards

    1.0 when the final answer (``Result=<number>``) equals the exact value within a
    relative tolerance of 1e-6, else 0.0. Optional shaping (``tool_bonus``,
    ``invalid_call_penalty``) is off by default.

    ## Starting State

    A question from the task generator: a random train item, or a test item by index.

    ## Episode End

    Terminated at the first final answer; truncated after ``max_turns`` (4) turns or at
    ``max_context`` (512) tokens.

    ## Arguments

    - ``level`` (0): difficulty, 0 to 3 (``textgym.envs.calculator.LEVELS``).
    - ``seed`` (0): dataset seed; ``test_size`` (200): test split size.
    - ``oracle_tool_rate`` (1.0): the fraction of items on which the oracle (and so the
      SFT demonstrations) calls the calculator; on the rest it answers directly. Below
      1.0 it sets up tool discovery: SFT on such demonstrations, then PPO.
    - ``tool_format`` ("markers"): TRL's markers, or "chat" (the tokenizer's chat template
      with JSON tool calls; see :class:`textgym.TextEnv`).
    - Every :class:`textgym.TextEnv` keyword (``tokenizer``, ``max_turns``, ...).

    ## Version History

    - v0: initial release; ``oracle_tool_rate`` added later (default 1.0: unchanged);
      ``tool_format`` added later (default "markers": unchanged).
    """

    def __init__(
        self,
        level: int = 0,
        seed: int = 0,
        test_size: int = 200,
        oracle_tool_rate: float = 1.0,
        max_turns: int = 4,
        max_context: int = 512,
        **kwargs: Any,
    ):
        super().__init__(
            CalculatorTask(
                level=level, seed=seed, test_size=test_size, oracle_tool_rate=oracle_tool_rate
            ),
            [Calculator()],
            max_turns=max_turns,
            max_context=max_context,
            **kwargs,
        )
