"""A calculator tool that evaluates arithmetic exactly and safely.

The agent's query is parsed with :func:`ast.parse` and the tree is walked by hand; nothing is
ever passed to ``eval``/``exec`` or compiled to code. Only numbers, ``+ - * / // % **``,
unary ``+``/``-`` and parentheses are accepted; every other construct is a :class:`ToolError`
such as ``unsupported syntax: Name``.

Arithmetic is exact: number literals become :class:`fractions.Fraction` (``0.1`` is exactly
1/10, so ``0.1+0.2`` is ``0.3``), and ``**`` with an integral exponent stays exact. Only a
non-integral exponent (``2**0.5``) falls back to float math, and the result stays a float from
then on, as in Python.

Hostile input fails fast and deterministically: every bound in :class:`CalculatorLimits` is
a size or a count, never a clock, so the same query always gives the same answer on any
machine. In order:

1. the raw input length (before any parsing, so a 10 MB string costs nothing);
2. bracket nesting, by a linear scan (the parser recurses once per bracket level);
3. the number of syntax nodes (bounds the work of the evaluator, which is iterative, so no
   expression shape can exhaust the Python stack);
4. the magnitude and the denominator size of every literal, intermediate and final value,
   and for ``**`` an estimate of the result size *before* computing it, so ``9**9**9**9``
   or ``2**-99999`` is refused without doing the arithmetic.

Accepted literal forms are exactly Python's: ``42``, ``3.25``, ``.5``, ``1e3``, ``1_000``
(underscores are accepted because the Python tokenizer has already validated them), and
``0x1f``/``0o17``/``0b101`` integers.
"""

from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from textgym.checks import positive_int
from textgym.tool import Tool, ToolError

__all__ = [
    "Calculator",
    "CalculatorLimits",
    "DEFAULT_LIMITS",
    "DECIMAL_PLACES",
    "Number",
    "evaluate",
    "format_number",
]

#: What :func:`evaluate` returns: exact unless a non-integral power forced float math.
Number = Fraction | float

#: Decimal places :func:`format_number` keeps for a non-integral value.
DECIMAL_PLACES = 6

_LOG10_2 = math.log10(2)

_N = TypeVar("_N", Fraction, float)

# Beyond this many digits an in-bounds value may not fit a float (max ~1.8e308), and mixed
# Fraction/float arithmetic would overflow instead of failing with a clear message.
_MAX_DIGITS_CAP = 300


@dataclass(frozen=True)
class CalculatorLimits:
    """Size bounds that make every evaluation finish after a bounded amount of work.

    Attributes:
        max_length: most characters of input (512). Checked before anything else.
        max_depth: deepest nesting of brackets ``( [ {`` (32). Checked by a linear scan
            before :func:`ast.parse`, which itself recurses per level. Flat operator chains
            (``1+1+...+1``, ``----1``) are bounded by ``max_nodes`` instead, so a long sum
            is not mistaken for deep nesting.
        max_nodes: most expression nodes in the syntax tree, i.e. numbers plus operators
            (256).
        max_digits: any literal, intermediate or final value with ``|value| >=
            10**max_digits`` is an error (``result too large``), and so is a fraction whose
            denominator reaches ``10**max_digits`` (``result too precise``), which stops
            repeated division or ``2**-99999`` from building huge denominators (60; at most
            300 so that every in-bounds value also fits a float).
    """

    max_length: int = 512
    max_depth: int = 32
    max_nodes: int = 256
    max_digits: int = 60

    def __post_init__(self) -> None:
        for field in ("max_length", "max_depth", "max_nodes", "max_digits"):
            positive_int(field, getattr(self, field))
        if self.max_digits > _MAX_DIGITS_CAP:
            raise ValueError(f"max_digits must be at most {_MAX_DIGITS_CAP}")


DEFAULT_LIMITS = CalculatorLimits()

_BINARY_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_UNSUPPORTED_BINARY: dict[type[ast.operator], str] = {
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}
_UNSUPPORTED_UNARY: dict[type[ast.unaryop], str] = {ast.Invert: "~", ast.Not: "not"}
# Names an agent understands better than Python's type names.
_CONSTANT_KINDS: dict[type, str] = {
    bool: "boolean",
    complex: "complex number",
    str: "string",
    bytes: "bytes",
    type(None): "None",
    type(...): "Ellipsis",
}


def evaluate(expr: str, limits: CalculatorLimits = DEFAULT_LIMITS) -> Number:
    """Evaluate an arithmetic expression exactly.

    Args:
        expr: the expression, e.g. ``"12*(3+4)"``; surrounding whitespace is ignored.
        limits: the size bounds (:data:`DEFAULT_LIMITS`).

    Returns:
        A :class:`~fractions.Fraction`, or a ``float`` when a non-integral exponent was
        involved. Never inf or nan.

    Raises:
        ToolError: with a short message for every failure (syntax, unsupported construct,
            division by zero, a bound exceeded).
    """
    if not isinstance(expr, str):
        raise ToolError("expression must be a string")
    if len(expr) > limits.max_length:
        raise ToolError(f"expression too long (over {limits.max_length} characters)")
    # ast.parse rejects leading whitespace (IndentationError) in eval mode.
    text = expr.strip()
    if not text:
        raise ToolError("empty expression")
    _check_bracket_depth(text, limits.max_depth)
    tree = _parse(text)
    _validate(tree, limits.max_nodes)
    return _Evaluator(text, limits).run(tree.body)


def format_number(value: Fraction | float | int, places: int = DECIMAL_PLACES) -> str:
    """Format a calculator result for the agent.

    An integral value prints as a plain integer in full (``"42"``, ``"-7"``); any other value
    prints as a decimal rounded half-to-even to ``places`` decimal places with trailing zeros
    stripped (``"0.333333"``, ``"2.5"``). Never scientific notation, never ``"-0"``.

    Raises:
        ToolError: for inf or nan, which :func:`evaluate` never returns.
    """
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolError("result is not a finite number")
        # The shortest round-tripping repr, not the exact binary value, so 1e59 prints as 1
        # followed by 59 zeros rather than 99999999999999991433...
        value = Fraction(repr(value))
    if value.denominator == 1:
        return str(value.numerator)
    scaled = round(value * 10**places)
    whole, frac = divmod(abs(scaled), 10**places)
    digits = f"{whole}.{frac:0{places}d}".rstrip("0").rstrip(".")
    return "-" + digits if scaled < 0 else digits


class Calculator(Tool):
    """The ``<Calculator>`` tool: exact, sandboxed arithmetic.

    ``Calculator()("12*(3+4)")`` returns ``"84"``; see :func:`evaluate` for what is accepted
    and :func:`format_number` for how results print.

    Args:
        limits: size bounds for each query (:data:`DEFAULT_LIMITS`).
    """

    name = "Calculator"
    description = "evaluates arithmetic exactly: + - * / // % ** and parentheses"
    argument = "expression"
    argument_description = "an arithmetic expression, e.g. 12*(3+4)"

    def __init__(self, limits: CalculatorLimits = DEFAULT_LIMITS):
        self.limits = limits

    def __call__(self, query: str) -> str:
        return format_number(evaluate(query, self.limits))


def _check_bracket_depth(text: str, max_depth: int) -> None:
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
            if depth > max_depth:
                raise ToolError(f"expression too deeply nested (over {max_depth} bracket levels)")
        elif char in ")]}":
            # An unbalanced closer is the parser's to report; don't let it hide later depth.
            depth = max(0, depth - 1)


def _parse(text: str) -> ast.Expression:
    try:
        # Model-written text like "3abc" makes the compiler print a SyntaxWarning to stderr;
        # the agent's input is not the user's code, so keep it off their terminal.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # Python's own wording is short and useful ("'(' was never closed"), except for
        # its generic message, which may carry Python-specific advice ("forgot a comma?").
        msg = exc.msg or ""
        if not msg or msg.startswith("invalid syntax"):
            raise ToolError("invalid syntax") from None
        raise ToolError(f"invalid syntax: {msg}") from None
    except ValueError:  # null bytes on some Python versions
        raise ToolError("invalid syntax") from None
    except (RecursionError, MemoryError):
        raise ToolError("expression too complex") from None


def _validate(tree: ast.Expression, max_nodes: int) -> None:
    """Reject unsupported constructs and oversized trees before any arithmetic happens.

    ``ast.walk`` is iterative and lazy, so this stops after at most ``max_nodes + 1``
    expression nodes however large the tree is.
    """
    count = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr):
            continue  # the root, operator tokens; anything else sits under a rejected expr
        count += 1
        if count > max_nodes:
            raise ToolError(f"expression too complex (over {max_nodes} nodes)")
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op in _BINARY_OPS:
                continue
            if op is ast.BitXor:
                raise ToolError("unsupported operator ^ (use ** for powers)")
            raise ToolError(f"unsupported operator: {_UNSUPPORTED_BINARY.get(op, op.__name__)}")
        if isinstance(node, ast.UnaryOp):
            op = type(node.op)
            if op in (ast.UAdd, ast.USub):
                continue
            raise ToolError(f"unsupported operator: {_UNSUPPORTED_UNARY.get(op, op.__name__)}")
        if isinstance(node, ast.Constant):
            kind = type(node.value)
            if kind in (int, float):
                continue
            raise ToolError(f"unsupported syntax: {_CONSTANT_KINDS.get(kind, kind.__name__)}")
        raise ToolError(f"unsupported syntax: {type(node).__name__}")


class _Evaluator:
    """Evaluates a validated tree; every value it produces has passed :meth:`check`."""

    def __init__(self, source: str, limits: CalculatorLimits):
        self.source = source
        self.limits = limits
        self.bound = 10**limits.max_digits

    def run(self, root: ast.expr) -> Number:
        # Post-order walk with an explicit stack rather than recursion, so the Python stack
        # depth is constant whatever the tree shape or the configured limits.
        stack: list[tuple[ast.expr, bool]] = [(root, False)]
        values: list[Number] = []
        while stack:
            node, children_done = stack.pop()
            if isinstance(node, ast.Constant):
                values.append(self.literal(node))
            elif isinstance(node, ast.UnaryOp):
                if not children_done:
                    stack += [(node, True), (node.operand, False)]
                else:
                    operand = values.pop()
                    values.append(-operand if isinstance(node.op, ast.USub) else +operand)
            elif isinstance(node, ast.BinOp):
                if not children_done:
                    # Popped in reverse: left is evaluated (and can fail) first.
                    stack += [(node, True), (node.right, False), (node.left, False)]
                else:
                    right = values.pop()
                    left = values.pop()
                    values.append(self.binary(node.op, left, right))
            else:  # pragma: no cover - _validate admits nothing else
                raise ToolError(f"unsupported syntax: {type(node).__name__}")
        return values.pop()

    def check(self, value: _N, what: str = "result") -> _N:
        """Enforce the magnitude and precision bounds on one value."""
        if isinstance(value, float):
            if math.isnan(value):
                raise ToolError(f"{what} is not a number")
            if math.isinf(value) or abs(value) >= self.bound:
                raise ToolError(f"{what} too large")
            return value
        if abs(value) >= self.bound:
            raise ToolError(f"{what} too large")
        if value.denominator >= self.bound:
            raise ToolError(f"{what} too precise")
        return value

    def literal(self, node: ast.Constant) -> Fraction:
        if isinstance(node.value, int):
            # The parser has already built the int; max_length bounds its size.
            return self.check(Fraction(node.value), "number")
        text = ast.get_source_segment(self.source, node)
        if text is None:  # pragma: no cover - positions are always present from ast.parse
            raise ToolError("invalid number")
        return self.decimal(text)

    def decimal(self, text: str) -> Fraction:
        """The exact value of a decimal literal, refusing huge exponents before using them.

        ``Fraction("1e999999999")`` would build a billion-digit integer, so the value is
        taken apart as ``mantissa * 10**shift`` and sized first.
        """
        text = text.replace("_", "").lower()
        mantissa, _, exponent = text.partition("e")
        whole, _, frac = mantissa.partition(".")
        digits = (whole + frac).lstrip("0")
        stripped = digits.rstrip("0")
        if not stripped:
            return Fraction(0)
        exp_digits = exponent.lstrip("+-").lstrip("0")
        # Far beyond any bound either way; also keeps int() away from a huge digit string.
        if len(exp_digits) > 9:
            raise ToolError("number too precise" if "-" in exponent else "number too large")
        # Trailing zeros only scale by 10: folding them into the shift makes the tests exact.
        shift = int(exponent or "0") - len(frac) + (len(digits) - len(stripped))
        # value = m * 10**shift with m of len(stripped) digits: it is >= 10**max_digits
        # exactly when it has more than max_digits integer digits.
        if len(stripped) + shift > self.limits.max_digits:
            raise ToolError("number too large")
        # m has no trailing zero, so it lacks a factor 2 or a factor 5, and the reduced
        # denominator keeps at least 2**-shift.
        if -shift * _LOG10_2 >= self.limits.max_digits:
            raise ToolError("number too precise")
        value = (
            Fraction(int(stripped) * 10**shift)
            if shift >= 0
            else Fraction(int(stripped), 10**-shift)
        )
        return self.check(value, "number")

    def binary(self, op: ast.operator, left: Number, right: Number) -> Number:
        if isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ToolError("division by zero")
        try:
            if isinstance(op, ast.Add):
                result = left + right
            elif isinstance(op, ast.Sub):
                result = left - right
            elif isinstance(op, ast.Mult):
                result = left * right
            elif isinstance(op, ast.Div):
                result = left / right
            elif isinstance(op, ast.FloorDiv):
                result = left // right
            elif isinstance(op, ast.Mod):
                result = left % right
            else:
                result = self.power(left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("result too large") from None
        if isinstance(result, int):  # Fraction // Fraction is an int
            result = Fraction(result)
        return self.check(result)

    def power(self, base: Number, exponent: Number) -> Number:
        if isinstance(base, Fraction) and isinstance(exponent, Fraction):
            if exponent.denominator == 1:
                return self.exact_power(base, exponent.numerator)
        return self.float_power(float(base), float(exponent))

    def exact_power(self, base: Fraction, n: int) -> Fraction:
        """``base ** n``, sized from logarithms before it is computed."""
        if base == 0:
            if n < 0:
                raise ToolError("division by zero")
            return Fraction(1 if n == 0 else 0)
        # These never grow, however large n is (1**10**50 is fine).
        if n == 0 or base == 1:
            return Fraction(1)
        if base == -1:
            return Fraction(-1 if n % 2 else 1)
        # base**n == top**a / bottom**a, already in lowest terms.
        a = abs(n)
        num, den = abs(base.numerator), base.denominator
        top, bottom = (num, den) if n > 0 else (den, num)
        # |base| != 1, so top or bottom is >= 2 and each unit of `a` adds at least log10(2)
        # digits to it. Past the clamp one estimate is surely over the limit, so clamping
        # keeps the verdict while keeping the float math small and exact enough.
        limit = self.limits.max_digits + 1  # one digit of slack for float rounding
        a_est = min(a, int((limit + 1) / _LOG10_2) + 1)
        if a_est * (math.log10(top) - math.log10(bottom)) > limit:
            raise ToolError("result too large")
        if a_est * math.log10(bottom) > limit:
            raise ToolError("result too precise")
        # Now the result has at most about 2 * max_digits digits; check() decides exactly.
        return base**n

    def float_power(self, base: float, exponent: float) -> float:
        if base < 0 and not exponent.is_integer():
            # Python would return a complex number here.
            raise ToolError("negative base with fractional exponent")
        if base == 0 and exponent < 0:
            raise ToolError("division by zero")
        # math.pow is O(1) for any exponent and raises OverflowError rather than
        # returning inf.
        return math.pow(base, exponent)
