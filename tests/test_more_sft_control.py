"""benchmarks/ppo_learning.py --more-sft-minutes: the control that tells a PPO gain from
more imitation trains the SFT start on by SFT alone (the benchmark itself is run by
hand)."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

import gymnasium as gym
import pytest
import torch

pytest.importorskip("matplotlib")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import ppo_learning as bench  # noqa: E402

from textgym.agents.train import make_policy  # noqa: E402


def test_more_sft_trains_the_start_on_and_saves_the_model(tmp_path):
    env = gym.make("TextEnv-Calculator-v0")
    start = make_policy(env, seed=0)
    start.save_pretrained(tmp_path / "sft")
    args = Namespace(more_sft_minutes=0.002, more_sft_lr=1e-3)
    minutes, steps = bench.more_sft(env, tmp_path / "sft", tmp_path / "more_sft", args, 16)
    assert minutes >= 0.002 and steps >= 1  # trained until the budget was spent
    trained = make_policy(env, tmp_path / "more_sft" / "policy")
    changed = [
        not torch.equal(a, b) for a, b in zip(start.parameters(), trained.parameters())
    ]
    assert any(changed)
    env.close()



def test_a_borrowed_warm_start_is_recorded_as_it_was_trained(tmp_path):
    # --sft-from: the result must name the earlier SFT's steps, schedule and model, not
    # the preset's (a 3,000-step start was once recorded as the preset's 1,000).
    config = {"steps": 3000, "lr_schedule": "linear", "model_size": "deep"}
    run = {"kind": "sft", "arch": "llama", "config": config}
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert bench.sft_run_settings(tmp_path) == (3000, "linear", "llama", "deep")


def test_a_warm_start_without_its_run_record_is_refused(tmp_path):
    (tmp_path / "policy").mkdir()
    with pytest.raises(SystemExit, match="no run.json"):
        bench.sft_run_settings(tmp_path)


def test_the_model_size_flag_builds_and_records_that_model(tmp_path, monkeypatch):
    # --model-size must reach the SFT (a 4-layer model is built) and the result file.
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    argv = ["--env", "calculator", "--model-size", "deep", "--sft-steps", "2"]
    argv += ["--iterations", "1", "--episodes", "2", "--batch", "4", "--threads", "1"]
    argv += ["--set", "mini_batch_size", "4", "--validation", "--out", str(tmp_path / "run")]
    assert bench.main(argv) == 0
    written = tmp_path / "results" / "ppo_learning_calculator_validation.json"
    result = json.loads(written.read_text())
    assert result["model_size"] == "deep"
    config = json.loads((tmp_path / "run" / "sft" / "policy" / "config.json").read_text())
    assert config["n_layer"] == 4
