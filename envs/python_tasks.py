"""Problems that need computation, for ``TextEnv-Python-v0``.

Two families, each item reproducible from ``seed + split + index``:

- word problems in the style of GSM8K, from 24 templates with varied names, objects,
  numbers and wording;
- algorithmic problems whose answers need a program: primes, Fibonacci mod m, digit sums
  over ranges, counting, sorting and string operations.

Every item carries the program that solves it (``item.data["program"]``); answers are
computed here by the same arithmetic, and the oracle test checks that the two agree by
running every test-split program in the sandbox.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from textgym.answers import read_answer
from textgym.protocol import call_text, submit_text
from textgym.task import Task, TaskItem, ToolCall

__all__ = ["PythonTask", "WORD_TEMPLATES", "ALGORITHMS", "LEVELS"]

#: Number ranges per level: word problems draw from ``word``, algorithms scale by ``size``.
LEVELS = {
    0: {"word": (2, 20), "size": 1},
    1: {"word": (12, 400), "size": 10},
    2: {"word": (120, 9000), "size": 100},
}

_NAMES = (
    "Ada",
    "Bram",
    "Chen",
    "Dalia",
    "Emeka",
    "Farah",
    "Goran",
    "Hana",
    "Ines",
    "Jonas",
    "Kiri",
    "Luca",
    "Mei",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomas",
)
_THINGS = (
    "apples",
    "books",
    "marbles",
    "stickers",
    "coins",
    "pencils",
    "cards",
    "shells",
    "stamps",
    "bolts",
)


@dataclass(frozen=True)
class WordTemplate:
    """A word problem: text with ``{n}`` (a name), ``{t}`` (things) and ``{a}``, ``{b}``,
    ``{c}`` (numbers), the answer, and the program that computes it."""

    text: str
    answer: Callable[[int, int, int], int]
    program: str  # a Python expression over a, b, c

    def valid(self, a: int, b: int, c: int) -> bool:
        try:
            value = self.answer(a, b, c)
        except ZeroDivisionError:
            return False
        return value >= 0


WORD_TEMPLATES: tuple[WordTemplate, ...] = (
    WordTemplate(
        "{n} has {a} {t} and buys {b} more packs of {c}. How many {t} does {n} have now?",
        lambda a, b, c: a + b * c,
        "a + b * c",
    ),
    WordTemplate(
        "A shop sells {t} at {a} cents each. {n} buys {b} of them and pays with "
        "{c} dollars. How many cents of change does {n} get?",
        lambda a, b, c: c * 100 - a * b,
        "c * 100 - a * b",
    ),
    WordTemplate(
        "{n} reads {a} pages a day for {b} days, then {c} pages on the last day. "
        "How many pages did {n} read?",
        lambda a, b, c: a * b + c,
        "a * b + c",
    ),
    WordTemplate(
        "There are {a} rows of {b} chairs and {c} chairs are taken. How many are free?",
        lambda a, b, c: a * b - c,
        "a * b - c",
    ),
    WordTemplate(
        "{n} shares {a} {t} equally among {b} friends and keeps the rest. How many "
        "{t} does {n} keep?",
        lambda a, b, c: a % b,
        "a % b",
    ),
    WordTemplate(
        "{n} packs {a} {t} into boxes of {b}. How many boxes are needed?",
        lambda a, b, c: -(-a // b),
        "-(-a // b)",
    ),
    WordTemplate(
        "A train travels {a} km per hour for {b} hours and then {c} km more. How "
        "far does it go in total?",
        lambda a, b, c: a * b + c,
        "a * b + c",
    ),
    WordTemplate(
        "{n} saves {a} dollars a week. How many weeks until {n} has at least {c} "
        "dollars, starting from {b}?",
        lambda a, b, c: max(0, -(-(c - b) // a)),
        "max(0, -(-(c - b) // a))",
    ),
    WordTemplate(
        "A garden has {a} beds with {b} plants each. {c} plants die. How many are left?",
        lambda a, b, c: a * b - c,
        "a * b - c",
    ),
    WordTemplate(
        "{n} has {a} {t}. {n} gives away a third of them, rounded down, and then "
        "finds {b}. How many now?",
        lambda a, b, c: a - a // 3 + b,
        "a - a // 3 + b",
    ),
    WordTemplate(
        "Tickets cost {a} dollars for adults and {b} for children. What do {c} "
        "adults and {c} children pay together?",
        lambda a, b, c: c * (a + b),
        "c * (a + b)",
    ),
    WordTemplate(
        "A tank holds {a} litres and leaks {b} litres an hour. How many full hours "
        "until it holds less than {c} litres?",
        lambda a, b, c: (a - c) // b + 1 if a >= c else 0,
        "(a - c) // b + 1 if a >= c else 0",
    ),
    WordTemplate(
        "{n} runs {a} laps of {b} metres. How many metres is that, minus the {c} metres walked?",
        lambda a, b, c: a * b - c,
        "a * b - c",
    ),
    WordTemplate(
        "The sum of {a}, {b} and {c}, times {b}: what is it?",
        lambda a, b, c: (a + b + c) * b,
        "(a + b + c) * b",
    ),
    WordTemplate(
        "{n} buys {a} {t} at {b} dollars each and sells each for {c} dollars more "
        "than that. What is the profit in dollars?",
        lambda a, b, c: a * c,
        "a * c",
    ),
    WordTemplate(
        "A printer prints {a} pages a minute. How many pages in {b} hours and {c} minutes?",
        lambda a, b, c: a * (60 * b + c),
        "a * (60 * b + c)",
    ),
    WordTemplate(
        "{n} plants {a} trees in each of {b} rows, and {c} extra trees. Each tree "
        "gives {b} baskets. How many baskets?",
        lambda a, b, c: (a * b + c) * b,
        "(a * b + c) * b",
    ),
    WordTemplate(
        "A class of {a} pupils splits into teams of {b}. How many pupils are not in a full team?",
        lambda a, b, c: a % b,
        "a % b",
    ),
    WordTemplate(
        "{n} had {a} {t}, lost {b}, then doubled what was left. How many now?",
        lambda a, b, c: 2 * (a - b),
        "2 * (a - b)",
    ),
    WordTemplate(
        "A recipe needs {a} grams of flour per cake. {n} has {c} grams. How many "
        "whole cakes can {n} bake?",
        lambda a, b, c: c // a,
        "c // a",
    ),
    WordTemplate(
        "What is {a} squared plus {b} squared minus {c}?",
        lambda a, b, c: a * a + b * b - c,
        "a * a + b * b - c",
    ),
    WordTemplate(
        "{n} walks {a} steps on Monday and each day walks {b} more than the day "
        "before. How many steps over {c} days?",
        lambda a, b, c: c * a + b * c * (c - 1) // 2,
        "c * a + b * c * (c - 1) // 2",
    ),
    WordTemplate(
        "A box holds {b} {t}. {n} fills {a} boxes and has {c} {t} left over. How "
        "many {t} were there?",
        lambda a, b, c: a * b + c,
        "a * b + c",
    ),
    WordTemplate(
        "{n} pays {a} dollars a month for {b} years. How much in total?",
        lambda a, b, c: a * 12 * b,
        "a * 12 * b",
    ),
)


def _word(rng: random.Random, level: int) -> tuple[str, str, str]:
    low, high = LEVELS[level]["word"]
    while True:
        template = rng.choice(WORD_TEMPLATES)
        a, b, c = (rng.randint(low, high) for _ in range(3))
        if not template.valid(a, b, c):
            continue
        text = template.text.format(n=rng.choice(_NAMES), t=rng.choice(_THINGS), a=a, b=b, c=c)
        # Only the numbers the program uses: a value the question never states could not
        # be imitated, only guessed.
        names = [v for v in "abc" if re.search(rf"\b{v}\b", template.program)]
        values = {"a": a, "b": b, "c": c}
        assign = f"{', '.join(names)} = {', '.join(str(values[v]) for v in names)}"
        program = f"{assign}\nprint({template.program})"
        return text, str(template.answer(a, b, c)), program


# ---- algorithmic problems ---------------------------------------------------------------


def _primes_below(n: int) -> list[int]:
    sieve = bytearray([1]) * max(n, 2)
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return [i for i in range(n) if sieve[i]]


_SIEVE = (
    "def primes_below(n):\n"
    "    s = bytearray([1]) * max(n, 2); s[0:2] = b'\\x00\\x00'\n"
    "    for i in range(2, int(n ** 0.5) + 1):\n"
    "        if s[i]: s[i*i::i] = bytearray(len(range(i*i, n, i)))\n"
    "    return [i for i in range(n) if s[i]]\n"
)


def _algo_primes(rng: random.Random, size: int) -> tuple[str, str, str]:
    n = rng.randint(100, 1000) * size
    if rng.random() < 0.5:
        return (
            f"How many primes are there below {n}?",
            str(len(_primes_below(n))),
            _SIEVE + f"print(len(primes_below({n})))",
        )
    return (
        f"What is the sum of all primes below {n}?",
        str(sum(_primes_below(n))),
        _SIEVE + f"print(sum(primes_below({n})))",
    )


def _algo_fibonacci(rng: random.Random, size: int) -> tuple[str, str, str]:
    n, m = rng.randint(50, 500) * size, rng.randint(7, 10**4)
    a, b = 0, 1
    for _ in range(n):
        a, b = b, (a + b) % m
    program = f"a, b = 0, 1\nfor _ in range({n}):\n    a, b = b, (a + b) % {m}\nprint(a)"
    return f"What is the {n}th Fibonacci number modulo {m} (F(0)=0, F(1)=1)?", str(a), program


def _algo_digit_sum(rng: random.Random, size: int) -> tuple[str, str, str]:
    lo = rng.randint(1, 1000)
    hi = lo + rng.randint(100, 1000) * size
    value = sum(sum(map(int, str(i))) for i in range(lo, hi + 1))
    program = f"print(sum(sum(map(int, str(i))) for i in range({lo}, {hi} + 1)))"
    return f"What is the sum of the digits of every integer from {lo} to {hi}?", str(value), program


def _algo_counting(rng: random.Random, size: int) -> tuple[str, str, str]:
    n = rng.randint(100, 1000) * size
    p, q = rng.sample((3, 4, 6, 7, 9, 11, 13), 2)
    value = sum(1 for i in range(1, n + 1) if i % p == 0 and i % q != 0)
    program = f"print(sum(1 for i in range(1, {n} + 1) if i % {p} == 0 and i % {q} != 0))"
    return (
        f"How many integers from 1 to {n} are divisible by {p} but not by {q}?",
        str(value),
        program,
    )


def _algo_sorting(rng: random.Random, size: int) -> tuple[str, str, str]:
    count, k = rng.randint(8, 14), rng.randint(2, 6)
    numbers = [rng.randint(1, 100 * size * 10) for _ in range(count)]
    value = sorted(numbers)[-k]
    program = f"xs = {numbers}\nprint(sorted(xs)[-{k}])"
    return f"What is the {k}th largest of these numbers: {numbers}?", str(value), program


def _algo_string(rng: random.Random, size: int) -> tuple[str, str, str]:
    letters = "abcdefgh"
    word = "".join(rng.choice(letters) for _ in range(rng.randint(12, 24)))
    char = rng.choice(word)
    times = rng.randint(2, 5) * size
    text = word * times
    if rng.random() < 0.5:
        value = text.count(char)
        return (
            f"How many times does the letter '{char}' occur in '{word}' repeated {times} times?",
            str(value),
            f"print(({word!r} * {times}).count({char!r}))",
        )
    value = len({word[i : i + 3] for i in range(len(word) - 2)})
    return (
        f"How many distinct three-letter substrings does '{word}' have?",
        str(value),
        f"w = {word!r}\nprint(len({{w[i:i+3] for i in range(len(w) - 2)}}))",
    )


#: The algorithmic families, by name.
ALGORITHMS: dict[str, Callable[[random.Random, int], tuple[str, str, str]]] = {
    "primes": _algo_primes,
    "fibonacci_mod": _algo_fibonacci,
    "digit_sum": _algo_digit_sum,
    "counting": _algo_counting,
    "sorting": _algo_sorting,
    "string": _algo_string,
}


class PythonTask(Task):
    """Word problems and algorithmic problems with exact integer answers.

    Args:
        level: 0 (small numbers), 1 (default) or 2 (large: a program is the only way).
        word_share: probability that an item is a word problem (0.5).
        seed, test_size, oracle_tool_rate: see :class:`textgym.Task`.

    Scoring: 1.0 when the submitted text (after an optional ``Result=``) is the exact
    integer, thousands separators allowed; else 0.0.
    """

    name = "python"

    def __init__(
        self,
        level: int = 1,
        word_share: float = 0.5,
        seed: int = 0,
        test_size: int = 200,
        oracle_tool_rate: float = 1.0,
    ):
        if level not in LEVELS:
            raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
        if not 0.0 <= float(word_share) <= 1.0:
            raise ValueError(f"word_share must be in [0, 1], got {word_share!r}")
        super().__init__(seed=seed, test_size=test_size, oracle_tool_rate=oracle_tool_rate)
        self.level = level
        self.word_share = float(word_share)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "level": self.level, "word_share": self.word_share}

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        if rng.random() < self.word_share:
            question, answer, program = _word(rng, self.level)
            family = "word"
        else:
            family = rng.choice(sorted(ALGORITHMS))
            question, answer, program = ALGORITHMS[family](rng, LEVELS[self.level]["size"])
        return question, answer, {"family": family, "program": program, "level": self.level}

    def score(self, item: TaskItem, answer: str | None) -> float:
        if answer is None:
            return 0.0
        text = read_answer(answer).rstrip(".").replace(",", "")
        return 1.0 if text == item.answer else 0.0

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        if not calls:
            if not self.oracle_uses_tool(item):
                return submit_text(item.answer)  # answered from memory: right, no program
            return call_text("Python", item.data["program"])
        return submit_text(calls[-1].response.strip())
