"""The Calculator tool: exact results, a closed grammar, and bounded work on hostile input.

No test measures time: every limit is a size or step count, so simply finishing these
inputs in the suite shows that they are refused before any expensive work.
"""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgym.tool import ToolError
from textgym.tools import Calculator
from textgym.tools.calculator import (
    DEFAULT_LIMITS,
    CalculatorLimits,
    evaluate,
    format_number,
)

CALC = Calculator()


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # TRL-style calls
        ("2+3", "5"),
        ("13-3", "10"),
        ("12*(3+4)", "84"),
        ("7/2", "3.5"),
        ("-4**2", "-16"),
        ("7//2", "3"),
        ("-7%3", "2"),
        ("2**10", "1024"),
        ("1.5*2", "3"),
        # precedence and associativity
        ("2+3*4", "14"),
        ("(2+3)*4", "20"),
        ("2**3**2", "512"),
        ("10-4-3", "3"),
        ("100/10/5", "2"),
        # unary operators
        ("-3", "-3"),
        ("+3", "3"),
        ("--3", "3"),
        ("3*-2", "-6"),
        ("(-4)**2", "16"),
        ("-7//2", "-4"),
        ("7%-3", "-2"),
        # exact decimals and fractions
        ("0.1+0.2", "0.3"),
        ("1/3*3", "1"),
        ("1/3", "0.333333"),
        ("2/3", "0.666667"),
        ("-1/3", "-0.333333"),
        ("1/10**7", "0"),
        ("-1/10**7", "0"),
        ("2**-10", "0.000977"),
        ("(1/2)**-3", "8"),
        ("1e3", "1000"),
        ("2.5e-1", "0.25"),
        ("1_000", "1000"),
        (".5", "0.5"),
        ("  42  ", "42"),
        # non-integral exponents fall back to floats
        ("2**0.5", "1.414214"),
        ("4**0.5", "2"),
        # full integers at the magnitude bound, no scientific notation
        ("10**59", "1" + "0" * 59),
        ("-(10**59)+1", "-" + "9" * 59),
        # x**0, 1**n and (-1)**n never grow, whatever n is
        ("(-1)**(10**59+1)", "-1"),
        ("1**(10**59)", "1"),
        ("0**0", "1"),
    ],
)
def test_results(expr, expected):
    result = CALC.run(expr)
    assert result.ok, result.response
    assert result.response == expected


def test_evaluate_is_exact():
    assert evaluate("0.1+0.2") == Fraction(3, 10)
    assert evaluate("1/3") == Fraction(1, 3)
    assert isinstance(evaluate("2**0.5"), float)


def test_format_number():
    assert format_number(Fraction(42)) == "42"
    assert format_number(Fraction(-7)) == "-7"
    assert format_number(Fraction(5, 2)) == "2.5"
    assert format_number(Fraction(1, 3)) == "0.333333"
    assert format_number(10**70) == "1" + "0" * 70
    assert format_number(1e59) == "1" + "0" * 59
    assert format_number(-0.0) == "0"
    assert format_number(0.1 + 0.2) == "0.3"
    with pytest.raises(ToolError):
        format_number(float("inf"))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os')", "unsupported syntax: Call"),
        ("os.system", "unsupported syntax: Attribute"),
        ("abs(-1)", "unsupported syntax: Call"),
        ("x+1", "unsupported syntax: Name"),
        ("'1'+'2'", "unsupported syntax: string"),
        ("lambda: 1", "unsupported syntax: Lambda"),
        ("1j", "unsupported syntax: complex number"),
        ("True", "unsupported syntax: boolean"),
        ("1<2", "unsupported syntax: Compare"),
        ("[1][0]", "unsupported syntax: Subscript"),
        ("(1, 2)", "unsupported syntax: Tuple"),
        ("1^2", "unsupported operator ^ (use ** for powers)"),
        ("1<<2", "unsupported operator: <<"),
        ("~1", "unsupported operator: ~"),
        ("2+", "invalid syntax"),
        ("(2", "invalid syntax"),
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("1/0", "division by zero"),
        ("1%0", "division by zero"),
        ("1//(2-2)", "division by zero"),
        ("0**-1", "division by zero"),
        ("(-8)**(1/3)", "negative base with fractional exponent"),
    ],
)
def test_errors(expr, message):
    result = CALC.run(expr)
    assert not result.ok
    assert result.response.startswith("Error:")
    assert message in result.response


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("9**9**9**9", "result too large"),
        ("10**10**10", "result too large"),
        ("(10**59)**2", "result too large"),
        ("10**60", "result too large"),
        ("2**-99999", "result too precise"),
        ("0.5**200", "result too precise"),
        ("1/7" + "/7" * 80, "result too precise"),
        ("99999999999*" * 20 + "1", "result too large"),
        ("1e308*10", "number too large"),
        ("1e999999999", "number too large"),
        ("1e-999999999", "number too precise"),
        ("1" * 61, "number too large"),
        ("1+" * 5_000_000 + "1", "expression too long"),
        ("(" * 100_000 + "1" + ")" * 100_000, "expression too long"),
        ("(" * 40 + "1" + ")" * 40, "expression too deeply nested"),
        ("1+" * 200 + "1", "expression too complex"),
        ("-" * 400 + "1", "expression too complex"),
    ],
)
def test_hostile_inputs_are_refused(expr, message):
    result = CALC.run(expr)
    assert not result.ok
    assert result.response == f"Error: {message}" or result.response.startswith(
        f"Error: {message} ("
    )
    # Deterministic: the same input gets the same answer.
    assert CALC.run(expr) == result


def test_limits_are_configurable():
    assert DEFAULT_LIMITS == CalculatorLimits(
        max_length=512, max_depth=32, max_nodes=256, max_digits=60
    )
    small = Calculator(CalculatorLimits(max_digits=3))
    assert small("999") == "999"
    assert small.run("1000").response == "Error: number too large"
    assert small.run("10*100").response == "Error: result too large"
    assert small.run("1/500/2").response == "Error: result too precise"
    assert (
        Calculator(CalculatorLimits(max_length=3))
        .run("1+1+1")
        .response.startswith("Error: expression too long")
    )
    with pytest.raises(ValueError):
        CalculatorLimits(max_digits=0)


def test_evaluate_raises_tool_error():
    with pytest.raises(ToolError, match="unsupported syntax: Name"):
        evaluate("x")
    with pytest.raises(ToolError, match="expression must be a string"):
        evaluate(None)  # type: ignore[arg-type]


def test_tool_metadata():
    assert CALC.name == "Calculator"
    assert CALC.description and "\n" not in CALC.description


def _check_never_raises(text: str) -> None:
    result = CALC.run(text)
    assert isinstance(result.response, str)
    assert len(result.response) <= CALC.max_output_chars + 20
    if not result.ok:
        assert result.response.startswith("Error:")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    _check_never_raises(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/%().^ e_j", max_size=200))
def test_never_raises_on_arithmetic_alphabet(text):
    _check_never_raises(text)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(10**6), 10**6),
    st.sampled_from(["+", "-", "*"]),
    st.integers(-(10**6), 10**6),
)
def test_integer_arithmetic_matches_python(a, op, b):
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    result = CALC.run(f"{a}{op}{b}")
    assert result.ok, result.response
    assert result.response == str(expected)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(10**6), 10**6),
    st.sampled_from(["//", "%", "/"]),
    st.integers(-(10**6), 10**6).filter(bool),
)
def test_division_matches_exact_python(a, op, b):
    expected = {"//": Fraction(a // b), "%": Fraction(a % b), "/": Fraction(a, b)}[op]
    result = CALC.run(f"{a}{op}({b})")
    assert result.ok, result.response
    assert result.response == format_number(expected)
    assert evaluate(f"{a}{op}({b})") == expected


def test_compiler_warnings_stay_off_stderr():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Calculator().run("1or 2")  # "1or" makes the compiler warn
    assert not result.ok
    assert not [w for w in caught if issubclass(w.category, SyntaxWarning)]
