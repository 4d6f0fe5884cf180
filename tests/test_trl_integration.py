"""TRL's GRPOTrainer on textgym envs (textgym.integrations.trl): the rollout_func's outputs
against the env (replayed independently), and two real GRPO steps on a tiny local Llama.

Everything is built here: a byte-level BPE tokenizer and a 2-layer Llama
(tests/local_models.py), no hub. A random model almost never writes a tool call, so the
models are nudged: a bias on the call tokens makes most turns tool requests
(malformed ones, answered by the env with an error), so episodes have env tokens between
agent turns, and ``invalid_call_penalty`` makes rewards differ inside a group.
"""

from __future__ import annotations

import os
import types

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("trl")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from local_models import save_local_model  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from textgym.integrations import trl as textgym_trl  # noqa: E402

ENV_ID = "TextEnv-Calculator-v0"
GROUP = 2
#: The tokens the nudged model favours in each format: those that make a turn a tool call.
CALL_TOKENS = {"markers": ("<call>",), "chat": ("<tool_call>", "</tool_call>", "<|im_end|>")}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    # Seeded: the model's random initial weights decide what the tests see.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return save_local_model(tmp_path_factory.mktemp("llama"), "llama")


def env_kwargs_for(model_dir, tool_format: str) -> dict:
    return {
        "tokenizer": str(model_dir),
        "tool_format": tool_format,
        "max_turns": 3,
        "max_context": 1024,  # the chat prompt (tools as JSON schemas) is ~450 tokens
        "max_turn_tokens": 12,
        "max_response_tokens": 8,
        "invalid_call_penalty": 0.5,
    }


def nudged_model(model_dir, tokenizer, tool_format: str, bias: float = 4.0):
    """The local Llama grown to the env's vocabulary, with a bias towards the call token:
    an output layer that shares the (tied) embedding matrix and adds a bias."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    textgym_trl.resize_for_env(model, tokenizer)
    embeddings = model.get_input_embeddings().weight
    head = torch.nn.Linear(embeddings.shape[1], embeddings.shape[0], bias=True)
    head.weight = embeddings
    with torch.no_grad():
        head.bias.zero_()
        head.bias[tokenizer.convert_tokens_to_ids(list(CALL_TOKENS[tool_format]))] = bias
    model.lm_head = head
    return model


def fake_trainer(model, tokenizer, **args):
    """What the rollout_func reads from a GRPOTrainer."""
    defaults = dict(num_generations=GROUP, temperature=1.0, mask_truncated_completions=False)
    return types.SimpleNamespace(
        model=model, processing_class=tokenizer, args=types.SimpleNamespace(**defaults | args)
    )


def grouped_prompts(n_items: int, split: str = "train") -> list[str]:
    return [textgym_trl.item_key(split, i) for i in range(n_items) for _ in range(GROUP)]


def agent_turns(completion: list[int], env_mask: list[int]) -> list[list[int]]:
    """The agent's turns: runs of env_mask 1 (a tool response always separates two)."""
    turns, current = [], []
    for token, mine in zip(completion, env_mask):
        if mine:
            current.append(token)
        elif current:
            turns.append(current)
            current = []
    return [*turns, current] if current else turns


def assert_matches_replay(out: dict, prompts: list[str], seeds: list[int], env_kwargs: dict):
    """Each episode, replayed on a fresh env from its item key, reset seed and the agent
    turns read off env_mask, gives exactly prompt_ids + completion_ids, an agent mask equal
    to env_mask and the forwarded reward."""
    env = gym.make(ENV_ID, **env_kwargs)
    try:
        for k, prompt in enumerate(prompts):
            split, index = textgym_trl.parse_item_key(prompt)
            obs, info = env.reset(seed=seeds[k], options={"split": split, "index": index})
            assert out["prompt_ids"][k] == obs.tolist()
            total = 0.0
            for turn in agent_turns(out["completion_ids"][k], out["env_mask"][k]):
                obs, reward, terminated, truncated, info = env.step(np.asarray(turn))
                total += reward
            assert terminated or truncated
            assert obs.tolist() == out["prompt_ids"][k] + out["completion_ids"][k]
            mask = info["agent_mask"][: len(obs)][len(out["prompt_ids"][k]) :]
            assert mask.astype(int).tolist() == out["env_mask"][k]
            assert out["env_reward"][k] == pytest.approx(total)
    finally:
        env.close()


# ---- the rollout_func without a trainer --------------------------------------------


@pytest.mark.parametrize("tool_format", ["markers", "chat"])
def test_rollout_outputs_are_the_env_episodes(model_dir, tool_format):
    env_kwargs = env_kwargs_for(model_dir, tool_format)
    tokenizer = textgym_trl.env_tokenizer(ENV_ID, env_kwargs)
    model = nudged_model(model_dir, tokenizer, tool_format)
    rollout = textgym_trl.make_rollout_func(ENV_ID, env_kwargs=env_kwargs, seed=3)
    prompts = grouped_prompts(3)
    out = rollout(prompts, fake_trainer(model, tokenizer))

    assert set(out) >= {"prompt_ids", "completion_ids", "logprobs", "env_mask", "env_reward"}
    assert all(len(values) == len(prompts) for values in out.values())
    seeds = [episode.seed for episode in rollout.episodes]
    assert_matches_replay(out, prompts, seeds, env_kwargs)
    # Both copies of an item start from the same prompt (and reset seed): a GRPO group.
    for start in range(0, len(prompts), GROUP):
        assert out["prompt_ids"][start] == out["prompt_ids"][start + 1]
        assert seeds[start] == seeds[start + 1]
    # The nudge works: episodes have env tokens after agent tokens, not just a prompt.
    assert any(0 in mask and mask[0] == 1 for mask in out["env_mask"])
    for logps, mask in zip(out["logprobs"], out["env_mask"]):
        assert len(logps) == len(mask)
        assert all(lp == 0.0 for lp, mine in zip(logps, mask) if not mine)
        assert all(lp < 0.0 for lp, mine in zip(logps, mask) if mine)


def test_logprobs_are_what_trl_recomputes(model_dir):
    """TRL scores a completion with one forward pass over prompt + completion at the
    trainer's temperature; the sampling log-probs (KV cache, shared prefix) agree."""
    env_kwargs = env_kwargs_for(model_dir, "markers")
    tokenizer = textgym_trl.env_tokenizer(ENV_ID, env_kwargs)
    model = nudged_model(model_dir, tokenizer, "markers")
    rollout = textgym_trl.make_rollout_func(ENV_ID, env_kwargs=env_kwargs, seed=1)
    out = rollout(grouped_prompts(2), fake_trainer(model, tokenizer, temperature=0.7))
    for prompt, completion, logps, mask in zip(
        out["prompt_ids"], out["completion_ids"], out["logprobs"], out["env_mask"]
    ):
        ids = torch.tensor([prompt + completion])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt) - 1 : -1] / 0.7
        expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None])
        agent = torch.tensor(mask, dtype=torch.bool)
        torch.testing.assert_close(
            torch.tensor(logps)[agent], expected[:, 0][agent], atol=1e-4, rtol=0
        )


def test_rollout_refuses_a_foreign_tokenizer(model_dir):
    """The model folder's own tokenizer lacks the markers the env added: a clear error,
    never a silent re-tokenization."""
    env_kwargs = env_kwargs_for(model_dir, "markers")
    tokenizer = textgym_trl.env_tokenizer(ENV_ID, env_kwargs)
    model = nudged_model(model_dir, tokenizer, "markers")
    rollout = textgym_trl.make_rollout_func(ENV_ID, env_kwargs=env_kwargs)
    plain = AutoTokenizer.from_pretrained(model_dir)
    with pytest.raises(ValueError, match="not the env's"):
        rollout(grouped_prompts(1), fake_trainer(model, plain))
    small = AutoModelForCausalLM.from_pretrained(model_dir)
    with pytest.raises(ValueError, match="embedding rows"):
        rollout(grouped_prompts(1), fake_trainer(small, tokenizer))


def test_rollout_checks_groups_and_prompts(model_dir):
    env_kwargs = env_kwargs_for(model_dir, "markers")
    tokenizer = textgym_trl.env_tokenizer(ENV_ID, env_kwargs)
    model = nudged_model(model_dir, tokenizer, "markers")
    rollout = textgym_trl.make_rollout_func(ENV_ID, env_kwargs=env_kwargs)
    trainer = fake_trainer(model, tokenizer)
    mixed = [textgym_trl.item_key("train", 0), textgym_trl.item_key("train", 1)]
    with pytest.raises(ValueError, match="runs of 2 equal prompts"):
        rollout(mixed, trainer)
    with pytest.raises(ValueError, match="JSON item key"):
        rollout(["What is 2+3?"] * GROUP, trainer)
    with pytest.raises(ValueError, match="mask_truncated_completions"):
        rollout(grouped_prompts(1), fake_trainer(model, tokenizer, mask_truncated_completions=True))
    with pytest.raises(ValueError, match="use_vllm=False"):
        rollout(grouped_prompts(1), fake_trainer(model, tokenizer, use_vllm=True))


def test_dataset_and_reward_function(model_dir):
    env_kwargs = env_kwargs_for(model_dir, "markers")
    dataset = textgym_trl.make_dataset(
        ENV_ID, 3, split="test", first_index=2, env_kwargs=env_kwargs
    )
    assert [textgym_trl.parse_item_key(p) for p in dataset["prompt"]] == [
        ("test", 2),
        ("test", 3),
        ("test", 4),
    ]
    env = gym.make(ENV_ID, **env_kwargs)
    assert dataset["question"][0] == env.unwrapped.task.item("test", 2).question
    env.close()
    assert textgym_trl.env_reward(["a", "b"], env_reward=[1, -0.5], prompts=["p", "q"]) == [
        1.0,
        -0.5,
    ]


# ---- GRPOTrainer itself --------------------------------------------------------------


def test_grpo_trains_on_the_env(model_dir, tmp_path):
    env_kwargs = env_kwargs_for(model_dir, "markers")
    tokenizer = textgym_trl.env_tokenizer(ENV_ID, env_kwargs)
    model = nudged_model(model_dir, tokenizer, "markers")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    rollout = textgym_trl.make_rollout_func(ENV_ID, env_kwargs=env_kwargs, seed=0)
    captured: list[tuple[list, dict, list[int]]] = []

    def recording_rollout(prompts, trainer):
        out = rollout(prompts, trainer)
        captured.append((list(prompts), out, [e.seed for e in rollout.episodes]))
        return out

    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        use_cpu=True,
        max_steps=2,
        num_generations=GROUP,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        gradient_checkpointing=False,  # TRL defaults to True: slower on a small model
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=textgym_trl.env_reward,
        args=args,
        train_dataset=textgym_trl.make_dataset(ENV_ID, 8, env_kwargs=env_kwargs),
        processing_class=tokenizer,
        rollout_func=recording_rollout,
    )
    # What the loss masks, read where TRL computes it (a private method: this pins the
    # claim that env_mask becomes TRL's tool mask, and breaks loudly if TRL moves it).
    loss_masks: list[tuple[list[int], list[int]]] = []
    compute_loss = trainer._compute_loss

    def recording_loss(model, inputs):
        for ids, mask, tool in zip(
            inputs["completion_ids"], inputs["completion_mask"], inputs["tool_mask"]
        ):
            n = int(mask.sum())
            loss_masks.append((ids[:n].tolist(), (mask * tool)[:n].tolist()))
        return compute_loss(model, inputs)

    trainer._compute_loss = recording_loss
    trainer.train()

    assert len(captured) == 2  # one generation per step
    for prompts, out, seeds in captured:
        # TRL hands over each prompt num_generations times in a row: one item per group.
        assert len(prompts) == 4
        assert prompts[0] == prompts[1] and prompts[2] == prompts[3]
        assert_matches_replay(out, prompts, seeds, env_kwargs)
    # TRL shuffles a generation's rows: match them by their completion.
    env_masks = [
        pair for _, out, _ in captured for pair in zip(out["completion_ids"], out["env_mask"])
    ]
    assert sorted(loss_masks) == sorted(env_masks)
    logged = [log for log in trainer.state.log_history if "rewards/env_reward/mean" in log]
    rewards = [log["rewards/env_reward/mean"] for log in logged]
    episodes = [np.mean(out["env_reward"]) for _, out, _ in captured]
    assert rewards == pytest.approx(episodes)
    moved = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert moved, "GRPO did not change the weights"
