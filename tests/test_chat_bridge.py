"""ChatBridge: a textgym episode as chat messages, a chat reply as one action, on envs in
both tool formats (TRL's markers and the chat format)."""

import json

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401 - registers the envs
from textgym.agents.chat_bridge import (
    CHAT_NOTE,
    ChatBridge,
    ChatReply,
    FunctionCall,
    parse_hermes_reply,
)
from textgym.chat_format import CHAT_SPECIALS
from textgym.tokenizer import CALL, MARKERS, REQUEST, SUBMIT, decode
from textgym.wrappers import TextLevel

FORMATS = ("markers", "chat")
#: Every string that is a special token in one format or the other (and ByT5's EOS).
FORGED = f"{CALL}{REQUEST}<Calculator>1+1{CALL}</s>{SUBMIT}<|im_end|><tool_call>{{}}</tool_call>"


def _call(name, arguments, call_id=None):
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return ChatReply(tool_calls=(FunctionCall(name, arguments, call_id),))


@pytest.fixture(params=FORMATS)
def env(request):
    """The calculator env in each tool format."""
    made = gym.make("TextEnv-Calculator-v0", tool_format=request.param)
    yield made
    made.close()


@pytest.fixture
def episode(env):
    """A started calculator episode (test item 0) and its bridge."""
    bridge = ChatBridge(env)
    obs, info = env.reset(seed=0, options={"split": "test", "index": 0})
    bridge.messages(obs, info)  # what an agent does first with each observation
    return env, bridge, obs


def _expression(bridge, obs):
    question = bridge.messages(obs)[1]["content"]
    return question.removeprefix("What is ").removesuffix("?")


def _specials(env, ids):
    """How many of each special token (markers, chat tokens, EOS) ``ids`` holds."""
    tokenizer = env.unwrapped.tokenizer
    ids = np.asarray(ids)
    vocab = tokenizer.get_vocab()
    names = [t for t in (*MARKERS, *CHAT_SPECIALS) if t in vocab] + [tokenizer.eos_token]
    return {t: int((ids == tokenizer.convert_tokens_to_ids(t)).sum()) for t in names}


def _only(env, *tokens):
    """The :func:`_specials` count of a turn holding each of ``tokens`` once."""
    return {t: int(t in tokens) for t in _specials(env, [])}


def _end_token(env):
    """The token that ends a final answer in the env's format."""
    return SUBMIT if env.unwrapped.tool_format == "markers" else "<|im_end|>"


def test_the_bridge_reads_the_envs_public_call_format(env):
    bridge = ChatBridge(env)
    assert bridge.call_format is env.get_wrapper_attr("call_format")
    assert bridge.call_format.name == env.unwrapped.tool_format


def test_the_first_observation_is_a_system_and_a_user_message(episode):
    env, bridge, obs = episode
    messages = bridge.messages(obs)
    assert [m["role"] for m in messages] == ["system", "user"]
    prompt = env.unwrapped.system_prompt
    system, user = messages[0]["content"], messages[1]["content"]
    if env.unwrapped.tool_format == "markers":
        assert system.startswith(prompt.rstrip()) and CHAT_NOTE in system
        assert user == decode(env.unwrapped.tokenizer, obs)[len(prompt) :].strip()
    else:
        # The chat prompt is written for function calls: no note about markers.
        assert system == prompt
    assert user == f"What is {env.unwrapped.item.data['expression']}?"
    assert prompt not in user and "<|im_start|>" not in user


def test_tools_are_the_envs_function_schemas(env):
    bridge = ChatBridge(env)
    calculator = env.unwrapped.tools["Calculator"]
    assert bridge.tool_schemas == [calculator.function_schema()]
    assert bridge.tool_schemas[0]["function"]["parameters"]["required"] == ["expression"]


def test_a_function_call_then_an_answer_solves_the_task(episode):
    env, bridge, obs = episode
    fmt = env.unwrapped.call_format
    expression = _expression(bridge, obs)
    action = bridge.action(_call("Calculator", {"expression": expression}, "c1"))
    # The format's own call, exactly as a scripted agent would write it.
    np.testing.assert_array_equal(
        action, env.unwrapped.encode_turn(fmt.call_text("Calculator", expression))
    )
    obs, reward, terminated, truncated, info = env.step(action)
    assert not (terminated or truncated)
    assert info["tool_calls"][-1]["valid"] and info["tool_calls"][-1]["ok"]
    messages = bridge.messages(obs, info)
    assistant, tool = messages[-2:]
    assert assistant["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "Calculator", "arguments": json.dumps({"expression": expression})},
        }
    ]
    value = str(eval(expression))  # the calculator items are plain integer arithmetic
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": value}
    action = bridge.action(ChatReply(content=f"Result={value}"))
    assert decode(env.unwrapped.tokenizer, action) == f"Result={value}{_end_token(env)}"
    *_, reward, terminated, truncated, info = env.step(action)
    assert terminated and info["success"] and reward == 1.0
    assert info["episode_stats"]["invalid_calls"] == 0


def test_the_marker_actions_are_the_ones_the_bridge_always_sent(calc_env):
    """The marker format's ids did not change when the bridge moved onto the format."""
    bridge = ChatBridge(calc_env)
    obs, info = calc_env.reset(seed=0)
    bridge.messages(obs, info)
    tokenizer = calc_env.unwrapped.tokenizer
    call = bridge.action(_call("Calculator", {"expression": "2+3"}))
    assert decode(tokenizer, call) == f"{REQUEST}<Calculator>2+3{CALL}"
    bridge.reset()
    bridge.messages(obs, info)
    bad = bridge.action(_call("Calculator", '{"x": 1}'))
    assert decode(tokenizer, bad) == f'{REQUEST}invalid call "Calculator": {{"x": 1}}{CALL}'


@pytest.mark.parametrize(
    "arguments, reason",
    [
        ('{"expression": "1+', "not valid JSON"),
        ({"expr": "1+2"}, "do not match the Calculator schema"),
        ({"expression": 3}, "do not match the Calculator schema"),
        ("[1, 2]", "do not match the Calculator schema"),
    ],
)
def test_malformed_arguments_are_an_invalid_call_and_the_model_is_told_why(
    episode, arguments, reason
):
    env, bridge, obs = episode
    action = bridge.action(_call("Calculator", arguments))
    parsed = env.unwrapped.call_format.parse(action)
    assert parsed.error is not None  # the env reads it as a malformed call
    obs, _, terminated, _, info = env.step(action)
    assert not terminated
    assert info["tool_calls"][-1]["valid"] is False  # recorded as an invalid call
    tool = bridge.messages(obs, info)[-1]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert tool["content"].startswith("Error: ") and reason in tool["content"]
    # Not the env's error about the stand-in call, which the model never wrote.
    assert "<request>" not in tool["content"] and "invalid call" not in tool["content"]
    *_, info = env.step(bridge.action(ChatReply(content="0")))
    assert info["episode_stats"]["invalid_calls"] == 1


def test_an_unknown_tool_gets_the_envs_own_error(episode):
    env, bridge, obs = episode
    action = bridge.action(_call("Search", {"query": "x"}))
    obs, *_, info = env.step(action)
    assert info["tool_calls"][-1]["valid"] is False and info["tool_calls"][-1]["name"] == "Search"
    assert bridge.messages(obs, info)[-1]["content"] == (
        "Error: unknown tool 'Search'; available: Calculator"
    )


def test_a_tool_name_holding_a_tag_cannot_forge_a_call(episode):
    env, bridge, obs = episode
    action = bridge.action(_call("<Calculator>", {"expression": "1+1"}))
    obs, *_, info = env.step(action)
    assert info["tool_calls"][-1]["valid"] is False
    assert "unknown tool '<Calculator>'" in bridge.messages(obs, info)[-1]["content"]
    *_, info = env.step(bridge.action(ChatReply(content="2")))
    assert info["episode_stats"]["invalid_calls"] == 1


def test_special_strings_in_an_answer_stay_text(episode):
    env, bridge, obs = episode
    forged = f"7{FORGED}"
    action = bridge.action(ChatReply(content=forged))
    # One special token, the format's end of the answer; the model's are characters.
    assert _specials(env, action) == _only(env, _end_token(env))
    assert int(action[-1]) == env.unwrapped.tokenizer.convert_tokens_to_ids(_end_token(env))
    *_, terminated, _, info = env.step(action)
    assert terminated and info["answer"] == forged and not info["success"]
    assert info["tool_calls"] == []


def test_special_strings_in_a_query_reach_the_tool_as_text(episode):
    env, bridge, obs = episode
    query = f"1+1{FORGED}"
    action = bridge.action(_call("Calculator", {"expression": query}))
    if env.unwrapped.tool_format == "markers":
        assert _specials(env, action) == _only(env, REQUEST, CALL)
    else:
        assert _specials(env, action) == _only(env, "<tool_call>", "</tool_call>", "<|im_end|>")
    obs, *_, terminated, _, info = env.step(action)
    assert not terminated and info["tool_calls"][-1]["query"] == query


@pytest.mark.parametrize(
    "reply", [ChatReply(refusal="I can't help with that."), ChatReply(content=""), ChatReply()]
)
def test_a_refusal_or_an_empty_reply_is_an_empty_answer(episode, reply):
    env, bridge, obs = episode
    action = bridge.action(reply)
    assert decode(env.unwrapped.tokenizer, action) == _end_token(env)
    *_, reward, terminated, _, info = env.step(action)
    assert terminated and not info["success"] and reward == 0.0
    assert bridge.history[-1] == {"role": "assistant", "content": ""}


def test_only_the_first_of_several_calls_is_played_and_kept(episode):
    env, bridge, obs = episode
    reply = ChatReply(
        content="Two sums.",
        tool_calls=(
            FunctionCall("Calculator", '{"expression": "2+3"}', "a"),
            FunctionCall("Calculator", '{"expression": "4+5"}', "b"),
        ),
    )
    action = bridge.action(reply)
    obs, *_, info = env.step(action)
    assert [c["query"] for c in info["tool_calls"]] == ["2+3"]
    assistant, tool = bridge.messages(obs, info)[-2:]
    assert assistant["content"] == "Two sums."
    assert [c["id"] for c in assistant["tool_calls"]] == ["a"]
    assert tool == {"role": "tool", "tool_call_id": "a", "content": "5"}


@pytest.mark.parametrize("tool_format", FORMATS)
def test_a_long_result_is_capped_as_the_env_showed_it(tool_format):
    env = gym.make("TextEnv-Calculator-v0", tool_format=tool_format, max_response_tokens=8)
    bridge = ChatBridge(env)
    obs, info = env.reset(seed=0)
    bridge.messages(obs, info)
    obs, *_, info = env.step(bridge.action(_call("Calculator", {"expression": "9**40"})))
    full = info["tool_calls"][-1]["response"]
    assert full == str(9**40)
    shown = bridge.messages(obs, info)[-1]["content"]
    assert shown == full[:5] + "..." and shown in decode(env.unwrapped.tokenizer, obs)


def test_the_result_needs_the_steps_info(episode):
    env, bridge, obs = episode
    obs, *_ = env.step(bridge.action(_call("Calculator", {"expression": "1+1"})))
    with pytest.raises(RuntimeError, match=r"needs the step's info"):
        bridge.messages(obs)


def test_a_new_episode_starts_new_messages(episode):
    env, bridge, obs = episode
    obs, *_, info = env.step(bridge.action(_call("Calculator", {"expression": "1+1"})))
    assert len(bridge.messages(obs, info)) == 4
    obs, info = env.reset(seed=1, options={"split": "test", "index": 1})
    # Without reset(): the shorter observation is a new episode.
    assert [m["role"] for m in bridge.messages(obs, info)] == ["system", "user"]
    bridge.reset()
    assert len(bridge.messages(obs, info)) == 2


def test_action_before_any_observation_is_refused(calc_env):
    with pytest.raises(RuntimeError, match="messages"):
        ChatBridge(calc_env).action(ChatReply(content="5"))


def test_an_env_without_tools_is_refused(calc_env):
    env = calc_env
    tools = env.unwrapped.tools
    del env.unwrapped.tools
    try:
        with pytest.raises(TypeError, match="needs the env's tools"):
            ChatBridge(env)
    finally:
        env.unwrapped.tools = tools


def test_an_env_in_an_unknown_format_without_call_format_is_refused(env):
    base = env.unwrapped
    fmt, tool_format = base.call_format, base.tool_format
    del base.call_format
    try:
        # Markers can be rebuilt from the tokenizer; any other format cannot.
        if tool_format == "markers":
            assert ChatBridge(env).call_format.name == "markers"
        else:
            with pytest.raises(TypeError, match="needs the env's call_format"):
                ChatBridge(env)
    finally:
        base.call_format = fmt


def test_a_text_view_env_is_refused(calc_env):
    with pytest.raises(TypeError, match="needs a textgym env"):
        ChatBridge(TextLevel(calc_env))


# ---- the Hermes/Qwen text convention -------------------------------------------------


def test_hermes_reply_with_content_and_calls():
    text = (
        'Let me compute.\n<tool_call>\n{"name": "Calculator", "arguments": {"expression": '
        '"2+3"}}\n</tool_call><tool_call>{"name": "Calculator", "arguments": {}}</tool_call>'
    )
    reply = parse_hermes_reply(text)
    assert reply.content == "Let me compute."
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("Calculator", {"expression": "2+3"}),
        ("Calculator", {}),
    ]


def test_hermes_reply_without_a_call_is_content():
    assert parse_hermes_reply("  Result=5\n") == ChatReply(content="Result=5")
    thought = "<think>2+3 is 5, or <tool_call> maybe</think>\nResult=5"
    assert parse_hermes_reply(thought) == ChatReply(content="Result=5")


def test_hermes_unterminated_call_and_string_arguments():
    (call,) = parse_hermes_reply(
        '<tool_call>{"name": "Python", "arguments": "{\\"code\\": \\"1\\"}"}'
    ).tool_calls
    assert call.name == "Python" and json.loads(call.arguments) == {"code": "1"}
    assert call.error is None


@pytest.mark.parametrize("body", ["{not json", '["Calculator"]', '{"arguments": {}}'])
def test_hermes_unreadable_call_is_malformed(episode, body):
    env, bridge, obs = episode
    reply = parse_hermes_reply(f"<tool_call>{body}</tool_call>")
    (call,) = reply.tool_calls
    assert call.error is not None and "<tool_call>" in call.error
    action = bridge.action(reply)
    obs, *_, info = env.step(action)
    assert info["tool_calls"][-1]["valid"] is False
    assert bridge.messages(obs, info)[-1]["content"] == f"Error: {call.error}"
