"""Every tool declares the JSON schema of its arguments, and reads a JSON call's
arguments back into its query with a clear error for anything malformed."""

import jsonschema
import pytest

from textgym.tool import ToolError
from textgym.tools.calculator import Calculator
from textgym.tools.python import PythonTool
from textgym.tools.search.tool import WikiSearch
from textgym.tools.sentiment import SentimentTool

ARGUMENTS = {
    Calculator: "expression",
    PythonTool: "code",
    WikiSearch: "query",
    SentimentTool: "text",
}


@pytest.mark.parametrize("cls", list(ARGUMENTS))
def test_each_tool_declares_a_valid_schema(cls):
    tool = cls.__new__(cls)  # the schema is class-level: no workers or index needed
    schema = tool.function_schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == cls.name
    parameters = schema["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(parameters)
    assert parameters["required"] == [ARGUMENTS[cls]]
    assert tool.query_from_arguments({ARGUMENTS[cls]: "x"}) == "x"


def test_arguments_as_json_text_or_dict():
    calc = Calculator()
    assert calc.query_from_arguments('{"expression": "2+3"}') == "2+3"
    assert calc.query_from_arguments({"expression": "2+3"}) == "2+3"


@pytest.mark.parametrize(
    "arguments, said",
    [
        ('{"expression": "2+3"', "not valid JSON"),
        ("[1, 2]", "schema"),
        ({"expr": "2+3"}, "schema"),
        ({"expression": 5}, "schema"),
        ({"expression": "1", "extra": 2}, "schema"),
        ("[" * 100000, "JSON"),
    ],
)
def test_malformed_arguments_raise_a_tool_error_that_says_what_to_write(arguments, said):
    with pytest.raises(ToolError, match=said) as caught:
        Calculator().query_from_arguments(arguments)
    if said == "schema":
        assert '{"expression": "..."}' in str(caught.value)
