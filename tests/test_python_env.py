"""TextEnv-Python-v0: tasks, the Python tool, the env, and the sandbox's reporting."""

from __future__ import annotations

import os
import random
import re

import gymnasium as gym
import pytest

import textgym
from textgym.agents import OracleAgent, PolicyAgent, RandomAgent, ValueHeadLM, tiny_gpt2_config
from textgym.envs.python_tasks import ALGORITHMS, WORD_TEMPLATES, PythonTask
from textgym.sandbox import RunResult, Sandbox, SandboxError
from textgym.sandbox import pool as pool_module
from textgym.tools.python import PythonTool, format_result


@pytest.fixture(scope="module")
def env():
    env = gym.make("TextEnv-Python-v0")
    yield env
    env.close()


def test_oracle_solves_the_whole_test_split_and_random_does_not(env):
    oracle = textgym.evaluate(env, OracleAgent(env), progress=False)
    assert oracle.n == 200 and oracle.success_rate == 1.0
    families = {env.unwrapped.task.item("test", i).data["family"] for i in range(200)}
    assert families == {"word", *ALGORITHMS}
    random_agent = textgym.evaluate(env, RandomAgent(env, seed=0), episodes=30, progress=False)
    assert random_agent.success_rate == 0.0


def test_tasks_have_20_plus_templates_levels_and_reproducible_items():
    assert len(WORD_TEMPLATES) >= 20
    for level in (0, 1, 2):
        task = PythonTask(level=level, seed=3)
        again = PythonTask(level=level, seed=3)
        for i in range(20):
            assert task.item("train", i) == again.item("train", i)
    big = PythonTask(level=2).item("test", 5)
    assert big.answer.lstrip("-").isdigit()
    with pytest.raises(ValueError, match="level"):
        PythonTask(level=7)


def test_scoring_reads_exact_integers():
    task = PythonTask()
    item = task.item("test", 0)
    assert task.score(item, f"Result={item.answer}") == 1.0
    assert task.score(item, f"{int(item.answer):,}") == 1.0
    assert task.score(item, str(int(item.answer) + 1)) == 0.0
    assert task.score(item, None) == 0.0


def test_state_persists_within_an_episode_and_never_across(env):
    base = env.unwrapped
    base.reset(seed=0)
    base.step(base.encode_turn("<request><Python>x = 20<call>"))
    _, _, _, _, info = base.step(base.encode_turn("<request><Python>x + 22<call>"))
    assert info["tool_calls"][-1]["response"] == "42"
    base.reset(seed=1)
    _, _, _, _, info = base.step(base.encode_turn("<request><Python>x<call>"))
    assert "NameError" in info["tool_calls"][-1]["response"]


def test_tool_response_format():
    assert format_result(RunResult("3\n")) == "3"
    assert format_result(RunResult("", "ZeroDivisionError: division by zero (line 1)")) == (
        "Error: ZeroDivisionError: division by zero (line 1)"
    )
    assert format_result(RunResult("x" * 5, truncated=True)).endswith("[output truncated]")
    assert format_result(RunResult("")) == "(no output)"
    tool = PythonTool(Sandbox(timeout=1.0))
    try:
        assert tool.run("print('hi')\n1 + 1").response == "hi\n2"
        assert tool.run("   ").response.startswith("Error: empty program")
        assert "timeout" in tool.run("while True: pass").response
    finally:
        tool.close()
        tool.sandbox.close()


def test_eight_vector_episodes_call_the_tool_at_once_without_crossing():
    n = 8
    envs = gym.make_vec(
        "TextEnv-Python-v0",
        num_envs=n,
        vectorization_mode="async",
        vector_kwargs={"shared_memory": False},
    )
    try:
        envs.reset(seed=0)
        encode = lambda text: textgym.encode_agent_text(textgym.make_tokenizer(), text)  # noqa: E731
        secrets = [random.Random(i).randrange(10**9) for i in range(n)]
        envs.step(tuple(encode(f"<request><Python>v = {s}<call>") for s in secrets))
        _, _, _, _, info = envs.step(
            tuple(
                encode("<request><Python>import time\ntime.sleep(0.05)\nv * 2<call>")
                for _ in range(n)
            )
        )
        responses = [calls[-1]["response"] for calls in info["tool_calls"]]
        assert responses == [str(2 * s) for s in secrets]
    finally:
        envs.close()


def test_protections_are_reported_and_missing_ones_warned(monkeypatch):
    box = Sandbox()
    report = box.protections.as_dict()
    box.close()
    assert {"network_namespace", "seccomp", "rlimits", "wall_timeout"} <= set(report)
    monkeypatch.setattr(pool_module, "seccomp_path", lambda: None)
    with pytest.warns(RuntimeWarning, match="WITHOUT these protections: seccomp"):
        box = Sandbox()
    assert box.protections.seccomp is False
    box.close()


def test_strict_refuses_to_start_without_network_isolation(monkeypatch):
    monkeypatch.setattr(pool_module, "detect_isolation", lambda: ((), {}))
    with pytest.raises(SandboxError, match="strict=True"):
        Sandbox(strict=True)
    with pytest.warns(RuntimeWarning, match="network_namespace"):
        Sandbox(strict=False).close()


def test_bad_sandbox_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="memory_mb"):
        Sandbox(memory_mb=-1)
    with pytest.raises(ValueError, match="timeout"):
        Sandbox(timeout=0)
    with pytest.raises(TypeError, match="code must be str"):
        with Sandbox() as box, box.session() as session:
            session.run(b"1")  # type: ignore[arg-type]


def test_closing_the_env_releases_its_workers():
    env = gym.make("TextEnv-Python-v0")
    env.reset(seed=0)
    pid = env.unwrapped.python_tool._session.pid
    env.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_word_problem_programs_use_only_the_numbers_the_question_states():
    """A program that set a number the question never gives could only be guessed by an
    imitating model, never copied."""
    task = PythonTask(level=1, word_share=1.0, seed=0)
    for i in range(100):
        item = task.item("train", i)
        assigned = item.data["program"].split("\n", 1)[0].split("=", 1)[1]
        numbers = re.findall(r"\d+", assigned)
        assert numbers and all(re.search(rf"\b{n}\b", item.question) for n in numbers)


def test_policy_agent_turns_run_to_the_envs_cap_by_default(env):
    """The oracle's longest programs run past 64 tokens; the agent's default cap is the
    env's ``max_turn_tokens``, a smaller one is kept, a larger one is capped."""
    policy = ValueHeadLM.from_config(
        tiny_gpt2_config(len(textgym.make_tokenizer()), n_layer=1, n_embd=16, n_head=2)
    )
    cap = env.unwrapped.max_turn_tokens
    assert cap > 64
    assert PolicyAgent(env, policy).max_new_tokens == cap
    assert PolicyAgent(env, policy, max_new_tokens=10).max_new_tokens == 10
    assert PolicyAgent(env, policy, max_new_tokens=10 * cap).max_new_tokens == cap
    with pytest.raises(ValueError, match="max_new_tokens must be positive"):
        PolicyAgent(env, policy, max_new_tokens=0)


def test_oracle_tool_rate_mixes_programs_and_direct_answers():
    """The tool-discovery source on Python: about 30% of the oracle's episodes run a
    program, the rest submit the answer at once; every one is right, and the benchmark's
    items do not change."""
    mixed = PythonTask(oracle_tool_rate=0.3)
    items = mixed.test_items()
    used = [mixed.oracle_uses_tool(item) for item in items]
    assert 0.2 <= sum(used) / len(used) <= 0.4
    assert mixed.split_hash() == PythonTask().split_hash()
    assert used == [PythonTask(oracle_tool_rate=0.3).oracle_uses_tool(i) for i in items]
    direct = items[used.index(False)]
    assert mixed.oracle_turn(direct, []) == f"Result={direct.answer}<submit>"
    program = items[used.index(True)]
    assert mixed.oracle_turn(program, []).startswith("<request><Python>")

    env = gym.make("TextEnv-Python-v0", oracle_tool_rate=0.3)
    try:
        result = textgym.evaluate(env, OracleAgent(env), episodes=20, progress=False)
    finally:
        env.close()
    assert result.success_rate == 1.0
    assert result.tool_call_rate == sum(used[:20]) / 20


@pytest.mark.parametrize("rate", [-0.1, 1.5, "half", True])
def test_python_oracle_tool_rate_is_validated(rate):
    with pytest.raises(ValueError, match="oracle_tool_rate must be a number in"):
        PythonTask(oracle_tool_rate=rate)
