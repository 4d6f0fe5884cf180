"""HFAgent in a model's own chat format: a local folder whose tokenizer has a chat template
(ChatML with tools, Hermes/Qwen ``<tool_call>``) plays textgym envs through the chat
bridge, on envs in both tool formats (TRL's markers and the chat format); without a
template it keeps the marker-format text path."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from local_models import bpe_tokenizer, save_local_model

import textgym
from textgym.agents import HFAgent
from textgym.agents.hf_agent import cut_turn, end_of_turn_ids
from textgym.tokenizer import make_tokenizer


@pytest.fixture(params=("markers", "chat"))
def env(request):
    """The calculator env in each tool format."""
    made = gym.make("TextEnv-Calculator-v0", tool_format=request.param)
    yield made
    made.close()


@pytest.fixture(scope="module")
def chat_folder(tmp_path_factory):
    return save_local_model(tmp_path_factory.mktemp("chat") / "llama", "llama")


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory):
    return save_local_model(
        tmp_path_factory.mktemp("plain") / "llama", "llama", chat_template=False
    )


class ScriptedGenerate:
    """Stands in for ``model.generate``: appends the next scripted text (in the model's
    tokens) to the prompt and records each call's prompt and settings."""

    def __init__(self, tokenizer, texts):
        self.tokenizer = tokenizer
        self.texts = list(texts)
        self.calls = []

    def __call__(self, ids, **kwargs):
        self.calls.append((self.tokenizer.decode(ids[0].tolist()), kwargs))
        text = self.texts.pop(0)
        new = self.tokenizer.encode(
            text if isinstance(text, str) else text(self), add_special_tokens=False
        )
        return torch.cat([ids, torch.tensor([new], dtype=ids.dtype)], dim=1)


def test_a_chat_template_model_plays_through_the_bridge(chat_folder, env):
    agent = HFAgent(env, chat_folder, max_new_tokens=8)
    assert agent.bridge is not None
    result = textgym.evaluate(env, agent, episodes=2, progress=False)
    assert result.n == 2
    assert all(e.actions and (e.terminated or e.truncated) for e in result.episodes)


def test_end_of_turn_is_the_templates_and_eos():
    tokenizer = bpe_tokenizer()
    vocab = tokenizer.get_vocab()
    assert end_of_turn_ids(tokenizer) == [tokenizer.eos_token_id, vocab["<|im_end|>"]]
    assert end_of_turn_ids(bpe_tokenizer(chat_template=False)) == [tokenizer.eos_token_id]


def test_a_generated_tool_call_becomes_the_envs_call_and_its_result_comes_back(
    chat_folder, env, monkeypatch
):
    agent = HFAgent(env, chat_folder)
    question = {}

    def call(script):
        prompt = script.calls[-1][0]
        question["expr"] = prompt.rsplit("What is ", 1)[1].split("?", 1)[0]
        args = json.dumps({"expression": question["expr"]})
        return f'<tool_call>\n{{"name": "Calculator", "arguments": {args}}}\n</tool_call><|im_end|>'

    def final(script):
        return f"Result={eval(question['expr'])}<|im_end|>"

    script = ScriptedGenerate(agent.tokenizer, [call, final])
    monkeypatch.setattr(agent.model, "generate", script)
    (episode,) = textgym.evaluate(env, agent, episodes=1, progress=False).episodes
    assert episode.success
    assert [c["query"] for c in episode.tool_calls] == [question["expr"]]
    assert [c["valid"] for c in episode.tool_calls] == [True]
    first_prompt, settings = script.calls[0]
    # The template got the tools, and generation stops at its end of turn.
    assert '"name": "Calculator"' in first_prompt and "<tools>" in first_prompt
    assert first_prompt.endswith("<|im_start|>assistant\n")
    assert agent.tokenizer.get_vocab()["<|im_end|>"] in settings["eos_token_id"]
    assert settings["do_sample"] is False
    # The second turn sees the call (arguments as JSON, not a quoted string) and the result.
    second_prompt = script.calls[1][0]
    assert f'"arguments": {{"expression": "{question["expr"]}"}}' in second_prompt
    assert f"<tool_response>\n{eval(question['expr'])}\n</tool_response>" in second_prompt


def test_a_malformed_generated_call_is_an_invalid_call(chat_folder, env, monkeypatch):
    agent = HFAgent(env, chat_folder)
    script = ScriptedGenerate(
        agent.tokenizer,
        ['<tool_call>{"name": "Calculator", "arguments": {"x": 1}}</tool_call>', "0"],
    )
    monkeypatch.setattr(agent.model, "generate", script)
    (episode,) = textgym.evaluate(env, agent, episodes=1, progress=False).episodes
    assert [c["valid"] for c in episode.tool_calls] == [False]
    assert "do not match the Calculator schema" in script.calls[1][0]


def test_without_a_template_the_marker_text_path_is_kept(plain_folder, calc_env, monkeypatch):
    agent = HFAgent(calc_env, plain_folder)
    assert agent.bridge is None and agent.max_new_tokens == 64
    turn = "<request><Calculator>1+2<call>5<response>"
    script = ScriptedGenerate(agent.tokenizer, [turn])
    monkeypatch.setattr(agent.model, "generate", script)
    obs, info = calc_env.reset(seed=0)
    agent.reset(0)
    action = agent.act(obs, info)
    np.testing.assert_array_equal(action, calc_env.unwrapped.encode_turn(cut_turn(turn)))
    prompt, settings = script.calls[0]
    assert prompt == calc_env.unwrapped.tokenizer.decode(obs)  # the raw context, no template
    assert settings["stop_strings"] == ["<call>", "<submit>"]


def test_a_model_that_knows_the_markers_keeps_the_marker_format(tmp_path, calc_env):
    """A textgym-trained model (markers in its tokenizer) was trained on markers, not on
    its template's tool calls."""
    folder = save_local_model(tmp_path / "trained", "llama")
    make_tokenizer(folder).save_pretrained(folder)
    assert HFAgent(calc_env, folder).bridge is None
    assert HFAgent(calc_env, folder, chat=True).bridge is not None


def test_chat_without_a_template_is_refused(plain_folder, calc_env):
    with pytest.raises(ValueError, match="no chat template"):
        HFAgent(calc_env, plain_folder, chat=True)
