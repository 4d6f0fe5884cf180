"""Bad arguments to public constructors and CLI commands: each is refused up front with a
message that names the argument and what is wrong."""

from __future__ import annotations

import gymnasium as gym
import pytest

import textgym
from textgym.agents import PPOConfig, RandomAgent, SFTConfig, ValueHeadLM, tiny_gpt2_config
from textgym.app.cli import main
from textgym.registration import env_ids
from textgym.sandbox import Sandbox
from textgym.wrappers import FixedLength, TokenLevel


@pytest.mark.parametrize("env_id", env_ids())
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_turns": -1}, ValueError, "max_turns must be a positive int, got -1"),
        ({"max_context": 0}, ValueError, "max_context must be a positive int, got 0"),
        ({"test_size": -5}, ValueError, "test_size must be a positive int, got -5"),
        ({"seed": "x"}, TypeError, "seed must be an int, got str"),
        ({"tokenizer": "/nonexistent"}, FileNotFoundError, "tokenizer path '/nonexistent'"),
    ],
)
def test_env_constructors_refuse_bad_arguments(env_id, kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: gym.make("TextEnv-Calculator-v0", level=9), ValueError, "level must be one of"),
        (lambda: gym.make("TextEnv-Python-v0", level=7), ValueError, "level must be one of"),
        (lambda: gym.make("TextEnv-Sentiment-v0", target="meh"), ValueError, "target must be"),
        (lambda: gym.make("TextEnv-Sentiment-v0", max_turn_tokens=3), TypeError, "max_new_tok"),
        (lambda: gym.make("TextEnv-WikiSearch-v0", corpus="/no.jsonl"), ValueError, "needs qa="),
        (
            lambda: gym.make("TextEnv-WikiSearch-v0", corpus="/no.jsonl", qa="/no-qa.jsonl"),
            FileNotFoundError,
            "does not exist",
        ),
        (lambda: gym.make("TextEnv-Nope-v0"), gym.error.Error, "Nope"),
        (lambda: textgym.make_multiagent("TextMA-Nope-v0"), ValueError, "unknown multi-agent"),
        (
            lambda: textgym.make_multiagent("TextMA-Race-v0", env_id="TextEnv-Nope-v0"),
            ValueError,
            "unknown env id 'TextEnv-Nope-v0'",
        ),
        (
            lambda: textgym.make_multiagent("TextMA-Race-v0", num_agents=1),
            ValueError,
            "num_agents must be an int >= 2",
        ),
        (lambda: textgym.make_vec("TextEnv-Calculator-v0", -1), ValueError, "num_envs"),
        (lambda: Sandbox(memory_mb=-1), ValueError, "memory_mb"),
        (lambda: Sandbox(timeout=0), ValueError, "timeout"),
        (lambda: PPOConfig(mini_batch_size=0), ValueError, "mini_batch_size"),
        (lambda: SFTConfig(steps=-1), ValueError, "steps must be a positive int"),
        (
            lambda: RandomAgent(gym.make("TextEnv-Calculator-v0"), max_tokens=0),
            ValueError,
            "max_tokens must be positive",
        ),
        (
            lambda: TokenLevel(gym.make("TextEnv-Calculator-v0"), window=0),
            ValueError,
            "window must be positive",
        ),
        (
            lambda: FixedLength(gym.make("TextEnv-Calculator-v0"), padding_side="middle"),
            ValueError,
            "padding_side",
        ),
        (lambda: ValueHeadLM.from_pretrained("/nonexistent"), FileNotFoundError, "no model"),
    ],
)
def test_other_constructors_refuse_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_model_without_room_for_the_markers_is_refused():
    """The four markers sit past ByT5's byte ids; a model sized to the plain vocabulary
    (without them) cannot act in the env."""
    from textgym.agents import PolicyAgent

    env = gym.make("TextEnv-Calculator-v0")
    vocab = len(textgym.make_tokenizer()) - len(textgym.MARKERS)
    small = ValueHeadLM.from_config(tiny_gpt2_config(vocab, n_layer=1, n_embd=16, n_head=2))
    with pytest.raises(ValueError, match="vocabulary is smaller"):
        PolicyAgent(env, small)
    env.close()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["eval", "--agent", "random", "--env", "TextEnv-Nope-v0"], "unknown env id"),
        (["eval", "--agent", "bogus", "--env", "TextEnv-Calculator-v0"], "unknown agent spec"),
        (
            ["eval", "--agent", "random", "--env", "TextEnv-Calculator-v0", "--episodes", "0"],
            "episodes must be a positive int",
        ),
        (
            ["eval", "--agent", "ppo:/nonexistent", "--env", "TextEnv-Calculator-v0"],
            "no model folder",
        ),
        (
            ["eval", "--agent", "oracle", "--env", "TextEnv-Calculator-v0", "--episodes", "999"],
            "test split has 200",
        ),
        (["play", "TextEnv-Nope-v0"], "unknown env id"),
        (
            [
                "train",
                "ppo",
                "--env",
                "TextEnv-Calculator-v0",
                "--out",
                "{tmp}/a",
                "--num-envs",
                "-1",
                "--quiet",
            ],
            "num_envs must be a positive int",
        ),
        (
            [
                "train",
                "sft",
                "--env",
                "TextEnv-Calculator-v0",
                "--out",
                "{tmp}/b",
                "--steps",
                "-3",
                "--quiet",
            ],
            "steps must be a positive int",
        ),
        (
            [
                "train",
                "ppo",
                "--env",
                "TextEnv-Calculator-v0",
                "--out",
                "{tmp}/c",
                "--init",
                "/nonexistent",
                "--quiet",
            ],
            "no model folder",
        ),
        (
            [
                "train",
                "ppo",
                "--env",
                "TextEnv-Calculator-v0",
                "--out",
                "{tmp}/d",
                "--resume",
                "--quiet",
            ],
            "no checkpoint",
        ),
        (
            ["train", "ppo", "--env", "TextEnv-Calculator-v0", "--out", "{tmp}/lr",
             "--lora-rank", "-2", "--quiet"],
            "LoRA rank must be a positive int",
        ),
        (
            ["train", "sft", "--env", "TextEnv-Calculator-v0", "--out", "{tmp}/ls",
             "--lora-rank", "4", "--quiet"],
            "unrecognized arguments: --lora-rank 4",
        ),
        (
            ["train", "sft", "--env", "TextEnv-Calculator-v0", "--out", "{tmp}/ai",
             "--arch", "seq2seq", "--init", "{tmp}", "--quiet"],
            "--arch builds a new sft/ppo policy",
        ),
        (["demo", "--episodes", "-1"], "episodes must be a positive int"),
        (
            ["leaderboard", "run", "--episodes", "0", "--out", "{tmp}/e"],
            "episodes must be a positive int",
        ),
        (["leaderboard", "merge", "{tmp}/missing.json", "--out", "{tmp}/f"], "no entry file"),
        (["leaderboard", "validate", "{tmp}/missing.json"], "no entry file"),
        (["leaderboard", "submit", "--agent", "random", "--name", "r", "-o", "{tmp}/g.json",
          "--episodes", "-1", "--quiet"], "episodes must be a positive int"),
        (["leaderboard", "submit", "--agent", "random", "--name", "r", "-o", "{tmp}/h.json",
          "--envs", "TextEnv-Nope-v0", "--quiet"], "unknown env id"),
        (["leaderboard", "submit", "--agent", "genius", "--name", "r", "-o", "{tmp}/i.json",
          "--envs", "TextEnv-Calculator-v0", "--episodes", "1", "--quiet"],
         "unknown agent spec"),
    ],
)
def test_cli_commands_refuse_bad_arguments(argv, match, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # refused by the parser itself, with the command's usage
        code = exc.code
    assert code == 2
    assert match in capsys.readouterr().err
