import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import textgym
from textgym.agents import oracle_demonstrations
from textgym.envs.calculator import CalculatorEnv


def test_trl_transcript_form(calc_env):
    """TRL's TextEnvironment flow: request, tool output + <response>, Result=...<submit>."""
    base = calc_env.unwrapped
    calc_env.reset(seed=0, options={"split": "test", "index": 0})
    expr = base.item.data["expression"]
    answer = base.item.answer
    obs, reward, terminated, truncated, info = calc_env.step(
        base.encode_turn(f"<request><Calculator>{expr}<call>")
    )
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert base.text().endswith(f"<request><Calculator>{expr}<call>{answer}<response>")
    assert info["tool_calls"] == [
        {"name": "Calculator", "query": expr, "response": answer, "ok": True, "valid": True}
    ]
    obs, reward, terminated, truncated, info = calc_env.step(
        base.encode_turn(f"Result={answer}<submit>")
    )
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["success"] and info["answer"] == f"Result={answer}"
    assert info["episode_stats"]["tool_calls"] == 1
    # No EOS anywhere inside the episode (TRL's ByT5 pitfall).
    assert base.tokenizer.eos_token_id not in obs


def test_twelve_plus_three():
    env = CalculatorEnv()
    env.reset(seed=0)
    env.step(env.encode_turn("<request><Calculator>12+3<call>"))
    assert env.text().endswith("12+3<call>15<response>")


def test_wrong_answer_scores_zero(calc_env):
    calc_env.reset(seed=0, options={"split": "test", "index": 0})
    wrong = int(calc_env.unwrapped.item.answer) + 1
    *_, reward, terminated, _, info = calc_env.step(
        calc_env.unwrapped.encode_turn(f"Result={wrong}<submit>")
    )
    assert reward == 0.0 and terminated and not info["success"]


def test_eos_turn_is_a_final_answer_as_in_trl(calc_env):
    base = calc_env.unwrapped
    calc_env.reset(seed=0, options={"split": "test", "index": 1})
    action = np.append(base.encode_turn(f"Result={base.item.answer}"), base.tokenizer.eos_token_id)
    _, reward, terminated, _, info = calc_env.step(action)
    assert terminated and reward == 1.0 and info["turn_kind"] == "eos"


def test_unknown_tool_and_malformed_call_get_error_responses(calc_env):
    base = calc_env.unwrapped
    calc_env.reset(seed=0)
    _, reward, terminated, truncated, info = calc_env.step(
        base.encode_turn("<request><Python>1+1<call>")
    )
    assert not (terminated or truncated) and reward == 0.0
    call = info["tool_calls"][-1]
    assert not call["valid"] and "unknown tool 'Python'" in call["response"]
    _, _, _, _, info = calc_env.step(base.encode_turn("no request here<call>"))
    assert "malformed call" in info["tool_calls"][-1]["response"]
    assert base.text().endswith("<response>")


def test_tool_error_is_a_response_not_a_crash(calc_env):
    calc_env.reset(seed=0)
    _, _, _, _, info = calc_env.step(
        calc_env.unwrapped.encode_turn("<request><Calculator>9**9**9**9<call>")
    )
    call = info["tool_calls"][0]
    assert call["valid"] and not call["ok"] and call["response"].startswith("Error")


def test_max_turns_truncates():
    env = CalculatorEnv(max_turns=2)
    env.reset(seed=0)
    call = env.encode_turn("<request><Calculator>1+1<call>")
    assert env.step(call)[3] is False
    _, reward, terminated, truncated, info = env.step(call)
    assert truncated and not terminated and reward == 0.0 and not info["success"]


def test_max_context_truncates_and_bounds_obs():
    env = CalculatorEnv(max_context=200)
    obs, _ = env.reset(seed=0)
    turn = env.encode_turn("<request><Calculator>" + "1+" * 100 + "1<call>")
    obs, reward, terminated, truncated, info = env.step(turn)
    assert truncated and len(obs) == 200 and info["agent_mask"][:200].sum() > 0


def test_out_of_vocabulary_ids_become_unk(calc_env):
    calc_env.reset(seed=0)
    obs, _, terminated, _, info = calc_env.step(np.array([-5, 10**9, 70], dtype=np.int64))
    assert info["invalid_ids"] == 2 and terminated
    unk = calc_env.unwrapped.tokenizer.unk_token_id
    assert obs[-3:].tolist() == [unk, unk, 70]


def test_overlong_turn_is_cut_to_max_turn_tokens():
    env = CalculatorEnv(max_turn_tokens=8)
    obs0, _ = env.reset(seed=0)
    obs, _, terminated, _, info = env.step(np.full(10_000, 60, dtype=np.int64))
    assert info["turn_truncated"] and len(obs) == len(obs0) + 8 and terminated


def test_empty_turn_is_an_empty_answer(calc_env):
    calc_env.reset(seed=0)
    _, reward, terminated, _, info = calc_env.step(np.zeros(0, dtype=np.int64))
    assert terminated and reward == 0.0 and info["answer"] == ""


def test_api_misuse_raises_clear_errors(calc_env):
    calc_env.reset(seed=0)
    with pytest.raises(TypeError, match="encode_turn"):
        calc_env.unwrapped.step("Result=5<submit>")
    with pytest.raises(ValueError, match="1-D"):
        calc_env.unwrapped.step(np.zeros((2, 2), dtype=np.int64))


def test_reward_shaping_is_off_by_default_and_documented():
    plain = CalculatorEnv()
    shaped = CalculatorEnv(invalid_call_penalty=0.5, tool_bonus=0.25)
    results = []
    for env in (plain, shaped):
        env.reset(seed=0, options={"split": "test", "index": 0})
        env.step(env.encode_turn("<request><Nope>1<call>"))
        env.step(env.encode_turn(f"<request><Calculator>{env.item.data['expression']}<call>"))
        results.append(env.step(env.encode_turn(f"Result={env.item.answer}<submit>"))[1])
    assert results == [1.0, 1.0 + 0.25 - 0.5]


def test_constructor_validates_arguments():
    with pytest.raises(ValueError, match="max_turns"):
        CalculatorEnv(max_turns=0)
    with pytest.raises(ValueError, match="max_context"):
        CalculatorEnv(max_context=-1)
    with pytest.raises(ValueError, match="render_mode"):
        CalculatorEnv(render_mode="rgb_array")
    with pytest.raises(ValueError, match="split"):
        CalculatorEnv(split="dev")
    with pytest.raises(ValueError, match="max_context"):
        CalculatorEnv(max_context=20).reset(seed=0)
    with pytest.raises(ValueError, match="unknown reset options"):
        CalculatorEnv().reset(options={"idx": 1})


def test_render_modes(capsys):
    env = CalculatorEnv(render_mode="ansi")
    env.reset(seed=0, options={"split": "test", "index": 0})
    env.step(env.oracle_action())
    env.step(env.oracle_action())
    text = env.render()
    for colour in ("48;5;253m", "48;5;39m", "48;5;219m", "48;5;43m"):
        assert colour in text  # prompt, agent, tool, reward each coloured
    assert "reward: 1" in text
    human = gym.make("TextEnv-Calculator-v0", render_mode="human")
    human.reset(seed=0)
    assert "\x1b[" in capsys.readouterr().out
    human.close()


def test_tool_timings_are_kept_outside_info(calc_env):
    calc_env.reset(seed=0)
    calc_env.step(calc_env.unwrapped.encode_turn("<request><Calculator>2*3<call>"))
    stats = calc_env.unwrapped.timings["Calculator"]
    assert stats.calls == 1 and stats.total_s > 0


ENV = CalculatorEnv(max_turns=3, max_context=512)
V = len(ENV.tokenizer)
STOPS = list(ENV.stop_token_ids) + [ENV.call_format.request_id]
token = st.one_of(st.integers(-10, V + 10), st.sampled_from(STOPS), st.integers(-(2**40), 2**40))
turn = st.one_of(
    st.lists(token, max_size=40),
    st.lists(st.sampled_from(STOPS + [60, 61, 52]), max_size=20),
    st.builds(lambda s: "<request><Calculator>" + s + "<call>", st.text(max_size=60)),
    st.just("x" * 10_000),
)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**16), turns=st.lists(turn, min_size=1, max_size=6))
def test_random_actions_never_crash_step(seed, turns):
    obs, info = ENV.reset(seed=seed)
    for t in turns:
        action = ENV.encode_turn(t) if isinstance(t, str) else np.asarray(t, dtype=np.int64)
        obs, reward, terminated, truncated, info = ENV.step(action)
        assert obs.dtype == np.int64 and len(obs) <= ENV.max_context
        assert ((0 <= obs) & (obs < V)).all()
        assert info["length"] == len(obs) and not info["agent_mask"][len(obs) :].any()
        if terminated or truncated:
            assert "success" in info
            break


def test_make_with_module_prefix_needs_no_import():
    import subprocess
    import sys

    code = (
        "import gymnasium as gym, sys; assert 'textgym' not in sys.modules;"
        "env = gym.make('textgym:TextEnv-Calculator-v0'); obs, _ = env.reset(seed=0);"
        "print(type(env.unwrapped).__name__, len(obs) > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "CalculatorEnv True"
    assert textgym.__version__


# -- tool discovery: an oracle that uses the tool on only some items ----------------------


def _oracle_episode(env, index):
    env.reset(options={"split": "test", "index": index})
    actions, reward, done = [], 0.0, False
    while not done:
        action = env.unwrapped.oracle_action()
        actions.append(env.unwrapped.tokenizer.decode(action))
        _, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return actions, reward, info


def test_oracle_tool_rate_sets_how_often_the_oracle_calls_the_tool():
    mixed = CalculatorEnv(oracle_tool_rate=0.3)
    used = [mixed.task.oracle_uses_tool(item) for item in mixed.task.test_items()]
    assert 0.2 <= sum(used) / len(used) <= 0.4
    # The same items either way: the rate changes the demonstrations, not the benchmark.
    assert mixed.task.split_hash() == CalculatorEnv().task.split_hash()
    # A fixed draw per item, the same in a new env (another process, another run).
    again = CalculatorEnv(oracle_tool_rate=0.3)
    assert used == [again.task.oracle_uses_tool(item) for item in again.task.test_items()]
    assert all(CalculatorEnv().task.oracle_uses_tool(i) for i in mixed.task.test_items())
    assert not any(
        CalculatorEnv(oracle_tool_rate=0.0).task.oracle_uses_tool(i)
        for i in mixed.task.test_items()
    )


def test_an_oracle_without_the_tool_answers_directly_and_is_right():
    env = CalculatorEnv(oracle_tool_rate=0.3)
    with_tool = next(
        i for i, item in enumerate(env.task.test_items()) if env.task.oracle_uses_tool(item)
    )
    direct = next(
        i for i, item in enumerate(env.task.test_items()) if not env.task.oracle_uses_tool(item)
    )
    actions, reward, info = _oracle_episode(env, direct)
    assert len(actions) == 1 and "<request>" not in actions[0]
    assert actions[0].startswith("Result=") and reward == 1.0
    assert not info["tool_calls"]
    actions, reward, _ = _oracle_episode(env, with_tool)
    assert len(actions) == 2 and actions[0].startswith("<request><Calculator>")
    assert reward == 1.0


@pytest.mark.parametrize("rate", [-0.1, 1.5, "half", True, None])
def test_oracle_tool_rate_is_validated(rate):
    with pytest.raises(ValueError, match="oracle_tool_rate must be a number in"):
        CalculatorEnv(oracle_tool_rate=rate)


def test_oracle_tool_rate_passes_through_gym_make():
    env = gym.make("TextEnv-Calculator-v0", oracle_tool_rate=0.0)
    actions, reward, _ = _oracle_episode(env, 0)
    assert len(actions) == 1 and reward == 1.0


def test_sft_demonstrations_follow_the_oracle_tool_rate():
    """The mixed-demonstration source: about 30% of the oracle's train episodes call the
    tool, the rest answer directly, and every one is a success."""
    env = gym.make("TextEnv-Calculator-v0", oracle_tool_rate=0.3)
    demos = oracle_demonstrations(env, 100, progress=False)
    call = env.unwrapped.tokenizer.convert_tokens_to_ids("<call>")
    with_tool = sum(bool((d.tokens[d.agent_mask] == call).any()) for d in demos)
    assert 15 <= with_tool <= 45
    assert all(d.success for d in demos)


def test_evaluation_reports_the_tool_call_rate_of_the_mixed_oracle():
    from textgym import evaluate
    from textgym.agents import OracleAgent

    env = gym.make("TextEnv-Calculator-v0", oracle_tool_rate=0.3)
    result = evaluate(env, OracleAgent, episodes=40, progress=False)
    task = env.unwrapped.task
    expected = sum(task.oracle_uses_tool(task.item("test", i)) for i in range(40)) / 40
    assert result.tool_call_rate == expected and 0 < expected < 1
    assert result.success_rate == 1.0
    assert result.summary()["tool_call_rate"] == expected
