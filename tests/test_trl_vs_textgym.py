"""benchmarks/trl_vs_textgym.py's --env settings, result names, saved run.json files and
mean-reward curves (no training: the benchmark itself is run by hand)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("trl")
pytest.importorskip("matplotlib")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import trl_vs_textgym as bench  # noqa: E402
from learning_runs import Curve, curve_metric, plot_curves  # noqa: E402
from ppo_learning import PRESETS  # noqa: E402

from textgym.agents import PPOConfig, SFTConfig  # noqa: E402


def test_tool_discovery_is_the_old_default():
    chosen = bench.setting("tool-discovery")
    assert chosen["env_id"] == bench.ENV_ID == "TextEnv-Calculator-v0"
    assert chosen["sft_env_kwargs"] == bench.SOURCE
    assert (chosen["sft_steps"], chosen["sft_lr_schedule"]) == (2000, "constant")
    assert chosen["max_new_tokens"] is None  # PPOConfig's default, as before
    assert bench.results_name("tool-discovery", "") == "trl_vs_textgym"
    assert bench.results_name("tool-discovery", "_x") == "trl_vs_textgym_x"


@pytest.mark.parametrize(
    "name, env_id, kwargs, turn_cap",
    [
        ("sentiment", "TextEnv-Sentiment-v0", {"oracle_polarity": "mixed"}, 96),
        ("detox", "TextEnv-Detox-v0", {"oracle_toxic_rate": 0.5}, 128),
    ],
)
def test_free_text_envs_take_their_preset(name, env_id, kwargs, turn_cap):
    chosen = bench.setting(name)
    assert chosen["env_id"] == env_id
    assert chosen["sft_env_kwargs"] == kwargs
    assert chosen["max_new_tokens"] == turn_cap
    assert chosen["sft_steps"] == PRESETS[name]["sft_steps"]
    assert chosen["sft_lr_schedule"] == "linear"
    assert bench.results_name(name, "_t") == f"trl_vs_textgym_{name}_t"
    env = gym.make(env_id)
    try:
        assert curve_metric(env) == "mean_reward"
    finally:
        env.close()


def test_calculator_curves_stay_success():
    env = gym.make("TextEnv-Calculator-v0")
    try:
        assert curve_metric(env) == "success"
    finally:
        env.close()
    curve = Curve("c")
    curve.add(0.0, {"success": 0.5, "mean_reward": 0.1})
    assert curve.values == [0.5]
    assert set(curve.as_dict()) == {"label", "minutes", "success", "scores"}


def test_mean_reward_curve_is_plotted_and_kept(tmp_path):
    curve = Curve("c", metric="mean_reward")
    curve.add(0.0, {"success": 0.0, "mean_reward": -0.25})
    curve.add(1.0, {"success": 1.0, "mean_reward": 0.75})
    assert curve.values == [-0.25, 0.75]
    saved = curve.as_dict()
    assert saved["metric"] == "mean_reward" and saved["mean_reward"] == [-0.25, 0.75]
    assert saved["success"] == [0.0, 1.0]
    assert plot_curves([curve], tmp_path / "c.png", "title").stat().st_size > 0


class _Policy:
    def save_pretrained(self, path):
        Path(path).mkdir(parents=True)


@pytest.mark.parametrize("name", ["tool-discovery", "sentiment", "detox"])
def test_saved_runs_name_the_env(tmp_path, name):
    chosen = bench.setting(name)
    args = type("Args", (), {"arch": "llama", "sft_steps": 7, "minutes": 0.5})()
    sft_config = SFTConfig(steps=7, lr_schedule=chosen["sft_lr_schedule"])
    config = PPOConfig(advantage="grpo", group_size=4, max_new_tokens=64)
    policies = {"sft": _Policy(), "textgym": _Policy(), "trl": _Policy()}
    bench.save_policies(tmp_path, policies, config, args, chosen, sft_config)
    runs = {n: json.loads((tmp_path / n / "run.json").read_text()) for n in policies}
    assert {r["env"] for r in runs.values()} == {chosen["env_id"]}
    assert runs["sft"]["env_kwargs"] == chosen["sft_env_kwargs"]
    assert runs["textgym"]["env_kwargs"] == runs["trl"]["env_kwargs"] == {}
    assert runs["sft"]["config"]["lr_schedule"] == chosen["sft_lr_schedule"]
    assert runs["sft"]["config"]["steps"] == 7
    assert (runs["textgym"]["kind"], runs["trl"]["kind"]) == ("ppo", "trl-grpo")
    assert runs["trl"]["config"]["advantage"] == "grpo"
    assert runs["trl"]["init"] == str(tmp_path / "sft" / "policy")
