"""Any causal LM and tokenizer: a tiny Llama and a tiny Qwen2 (rotary positions,
grouped-query attention, tied embeddings) with a byte-level BPE tokenizer whose pad id is
its EOS id, built locally (tests/local_models.py), through the whole textgym path: the
env on that tokenizer, SFT from the saved folder, PPO with KV reuse, checkpoint and exact
resume, evaluation with PolicyAgent, and a leaderboard cell.

Every size is tiny (2 layers, 64 wide, a few steps, two episodes), so the file runs in
well under a minute or two on 2 cores.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from local_models import ARCHS, save_local_model

import textgym
import textgym.leaderboard as lb
from textgym.agents import PolicyAgent, ValueHeadLM
from textgym.agents.generation import sample_turns
from textgym.agents.sft import SFTConfig
from textgym.agents.train import make_policy, train_ppo, train_sft
from textgym.agents.value_head import max_positions
from textgym.app import leaderboard_runner as runner
from textgym.env_spec import env_spec

ENV = "TextEnv-Calculator-v0"
#: The tool-call formats covered: TRL's single-token markers, and the chat-template
#: format (``<tool_call>{json}</tool_call>`` in the tokenizer's own chat template).
TOOL_FORMATS = ("markers", "chat")
PPO_SETTINGS = {
    "episodes_per_iteration": 2,
    "mini_batch_size": 2,
    "ppo_epochs": 1,
    "max_new_tokens": 8,
    "reuse_kv_cache": True,
    "checkpoint_every": 1,
}


@pytest.fixture(scope="module", params=ARCHS)
def model_dir(request, tmp_path_factory):
    """A saved model folder (weights + BPE tokenizer) of each architecture."""
    return save_local_model(tmp_path_factory.mktemp(request.param), request.param)


def _env_kwargs(model_dir, tool_format: str) -> dict:
    # Short turns and episodes: an untrained model writes until the turn's cap.
    return {
        "tokenizer": str(model_dir),
        "tool_format": tool_format,
        "max_turn_tokens": 16,
        "max_turns": 2,
    }


@pytest.mark.parametrize("tool_format", TOOL_FORMATS)
def test_the_env_and_policy_take_the_local_model_and_tokenizer(model_dir, tool_format):
    env = gym.make(ENV, **_env_kwargs(model_dir, tool_format))
    spec = env_spec(env)
    tokenizer = env.unwrapped.tokenizer
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # pad is EOS, as in Qwen's
    policy = make_policy(env, init=model_dir)
    lm = policy.model
    assert lm.get_input_embeddings().num_embeddings >= spec.vocab_size
    # Resizing for the protocol markers keeps the tied output layer tied.
    assert (
        lm.get_output_embeddings().weight.data_ptr() == lm.get_input_embeddings().weight.data_ptr()
    )
    # The new marker rows are seeded: the same folder gives the same policy every time.
    again = make_policy(env, init=model_dir).model.get_input_embeddings().weight
    assert torch.equal(again, lm.get_input_embeddings().weight)
    config = lm.config
    assert config.num_key_value_heads < config.num_attention_heads  # grouped-query
    assert policy.max_positions == max_positions(config) == config.max_position_embeddings
    obs, info = env.reset(seed=0)
    agent = PolicyAgent(env, policy, max_new_tokens=8)
    agent.reset(seed=0)
    action = agent.act(obs, info)
    assert 0 < len(action) <= 8
    env.step(action)


def _two_turns(policy, contexts, spec, *, reuse: bool):
    """Greedy turns for ``contexts``, then for each grown by its turn and a tool reply;
    the second turn's tokens and log-probs."""
    caches = [None] * len(contexts) if reuse else None
    options = {
        "stop_token_ids": spec.stop_token_ids,
        "max_new_tokens": 6,
        "pad_id": spec.pad_id,
        "temperature": 0.0,
        "row_caches": caches,
    }
    first = sample_turns(policy, contexts, **options)
    reply = np.asarray(spec.tokenizer.encode("408", add_special_tokens=False), dtype=np.int64)
    grown = [
        np.concatenate([c, t, reply[: i + 1]]) for i, (c, t) in enumerate(zip(contexts, first))
    ]
    logps: list = []
    second = sample_turns(policy, grown, logprobs_out=logps, **options)
    if reuse:
        assert all(c is not None for c in caches)
    return second, logps


def test_kv_reuse_with_grouped_query_attention_matches_a_fresh_prefill(model_dir):
    env = gym.make(ENV, tokenizer=str(model_dir))
    spec = env_spec(env)
    policy = make_policy(env, init=model_dir)
    contexts = [env.reset(seed=i)[0] for i in range(3)]
    fresh_turns, fresh_logp = _two_turns(policy, contexts, spec, reuse=False)
    cached_turns, cached_logp = _two_turns(policy, contexts, spec, reuse=True)
    for a, b in zip(fresh_turns, cached_turns):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fresh_logp, cached_logp):
        np.testing.assert_allclose(a, b, atol=1e-4)


def _rows(run) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def _weights(folder) -> dict:
    return ValueHeadLM.from_pretrained(folder).state_dict()


@pytest.mark.parametrize("tool_format", TOOL_FORMATS)
def test_sft_ppo_resume_evaluation_and_a_leaderboard_cell(model_dir, tool_format, tmp_path):
    kwargs = _env_kwargs(model_dir, tool_format)
    sft_cfg = SFTConfig(steps=2, batch_size=2, demonstrations=3)
    warm = train_sft(
        ENV, tmp_path / "sft", sft_cfg, init=model_dir, env_kwargs=kwargs, progress=False
    )
    assert (warm / "config.json").is_file()

    common = {"init": warm, "num_envs": 2, "env_kwargs": kwargs, "eval_every": 0, "progress": False}
    whole, _ = train_ppo(ENV, tmp_path / "whole", dict(PPO_SETTINGS), iterations=2, **common)
    train_ppo(ENV, tmp_path / "cut", dict(PPO_SETTINGS), iterations=1, **common)
    resumed, _ = train_ppo(ENV, tmp_path / "cut", None, iterations=2, resume=True, progress=False)
    assert resumed.iteration == whole.iteration == 2
    assert _rows(tmp_path / "cut") == _rows(tmp_path / "whole")
    a, b = _weights(tmp_path / "whole" / "policy"), _weights(tmp_path / "cut" / "policy")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)

    env = gym.make(ENV, **kwargs)
    agent = PolicyAgent(env, tmp_path / "whole", max_new_tokens=8)
    result = textgym.evaluate(env, agent, episodes=2, progress=False)
    assert result.n == 2 and 0.0 <= result.success_rate <= 1.0

    entry = runner.evaluate_agent(
        f"ppo:{tmp_path / 'whole'}", [ENV], episodes=2, progress=False, env_kwargs=kwargs
    )
    cell = entry["results"][0]
    assert cell["episodes"] == 2 and cell["metrics"]["mean_agent_tokens"] > 0
    lb.validate_entry(entry, episodes=2)
