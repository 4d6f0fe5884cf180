"""The base classes work for a task and tool defined outside textgym."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textgym
from textgym import Task, TextEnv, Tool, ToolError, call_text, submit_text
from textgym.agents import OracleAgent


class Reverse(Tool):
    name = "Reverse"
    description = "reverses its input"

    def __call__(self, query: str) -> str:
        if not query:
            raise ToolError("empty input")
        return query[::-1]


class Boom(Tool):
    name = "Boom"
    description = "always fails"

    def __call__(self, query: str) -> str:
        raise ZeroDivisionError("kaboom " * 1000)


class ReverseTask(Task):
    name = "reverse"

    def generate(self, rng):
        word = "".join(rng.choice("abcdef") for _ in range(6))
        return f"Reverse {word}", word[::-1], {"word": word}

    def score(self, item, answer):
        return float((answer or "").removeprefix("Result=") == item.answer)

    def oracle_turn(self, item, calls):
        return (
            call_text("Reverse", item.data["word"])
            if not calls
            else submit_text(calls[-1].response)
        )


@pytest.fixture
def env():
    return TextEnv(ReverseTask(test_size=30), [Reverse(), Boom()])


def test_check_env_on_a_custom_env(env):
    check_env(env)


def test_oracle_solves_custom_task(env):
    assert textgym.evaluate(env, OracleAgent(env), progress=False).success_rate == 1.0


def test_tool_failures_become_short_error_text(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.encode_turn("<request><Reverse><call>"))
    assert info["tool_calls"][-1]["response"] == "Error: empty input"
    _, _, _, _, info = env.step(env.encode_turn("<request><Boom>x<call>"))
    response = info["tool_calls"][-1]["response"]
    assert response.startswith("Error: ZeroDivisionError: kaboom")
    assert len(response) <= Boom.max_output_chars + len("...[truncated]")


def test_system_prompt_lists_tools(env):
    assert "Reverse (reverses its input)" in env.system_prompt
    custom = TextEnv(ReverseTask(), [Reverse()], system_prompt="")
    obs, _ = custom.reset(seed=0)
    assert custom.text().startswith("Reverse ")
    assert len(obs) < len(env.reset(seed=0)[0])


def test_constructor_rejects_bad_tools():
    with pytest.raises(TypeError, match="Tool"):
        TextEnv(ReverseTask(), [lambda q: q])
    with pytest.raises(ValueError, match="unique"):
        TextEnv(ReverseTask(), [Reverse(), Reverse()])
    with pytest.raises(TypeError, match="Task"):
        TextEnv(object(), [Reverse()])


def test_close_closes_tools():
    closed = []

    class Holder(Reverse):
        def close(self):
            closed.append(True)

    env = TextEnv(ReverseTask(), [Holder()])
    env.close()
    assert closed == [True]


def test_response_tokens_are_capped():
    env = TextEnv(ReverseTask(), [Reverse()], max_response_tokens=10)
    obs0, _ = env.reset(seed=0)
    turn = env.encode_turn("<request><Reverse>" + "z" * 100 + "<call>")
    obs, *_ = env.step(turn)
    assert len(obs) == len(obs0) + len(turn) + 10 + 1  # 10 capped tokens + <response>
    assert np.count_nonzero(obs[len(obs0) :] == env.call_format.response_id) == 1
