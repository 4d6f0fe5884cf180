"""Held-out accuracy of reward models trained with `textgym train reward`.

    .venv/bin/python benchmarks/reward_model.py

Two runs, default RewardConfig (a 2-layer, 128-wide GPT-2 classifier from config on the
ByT5 tokenizer, 300 steps of 32 pairs): pairs from the oracle and the random agent on 300
train items, accuracy on pairs from 100 other items.

- Sentiment with a mixed-polarity oracle, answer only: positive review > noise > negative
  review, the ordering a sentiment reward needs.
- Calculator with the question in the input (``with_prompt``): right answer > noise; and,
  as a harder check it was not trained for, the right answer against the right answer + 1.

Writes benchmarks/results/reward_model.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gymnasium as gym

from textgym.agents.reward_model import (
    PreferencePair,
    RewardConfig,
    RewardModel,
    pairwise_accuracy,
)
from textgym.agents.train_reward import train_reward
from textgym.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "reward_model.json"
RUNS = {
    "sentiment": ("TextEnv-Sentiment-v0", {"oracle_polarity": "mixed"}, False),
    "calculator": ("TextEnv-Calculator-v0", {}, True),
}

def off_by_one(path: Path, items: range = range(300, 400)) -> float:
    """Accuracy on pairs (right answer, right answer + 1): does the model check the sum,
    or only the form of the answer?"""
    rm = RewardModel.from_pretrained(path)
    env = gym.make("TextEnv-Calculator-v0")
    pairs = []
    for i in items:
        env.reset(options={"split": "train", "index": i})
        item = env.unwrapped.item
        right, wrong = f"Result={item.answer}", f"Result={int(item.answer) + 1}"
        pairs.append(PreferencePair(item.question, right, wrong, 1.0))
    env.close()
    return pairwise_accuracy(rm, pairs)


if __name__ == "__main__":
    results = {}
    for name, (env_id, env_kwargs, with_prompt) in RUNS.items():
        start = time.perf_counter()
        out, accuracy = train_reward(
            env_id,
            Path("runs/reward") / name,
            RewardConfig(with_prompt=with_prompt),
            env_kwargs=env_kwargs,
            overwrite=True,  # a rerun moves the previous model aside
        )
        log = json.loads((out / "reward_log.json").read_text())
        results[name] = {
            "env": env_id,
            "env_kwargs": env_kwargs,
            "with_prompt": with_prompt,
            "train_pairs": log["train_pairs"],
            "held_out_pairs": log["held_out_pairs"],
            "held_out_accuracy": accuracy,
            "final_loss": sum(log["losses"][-10:]) / 10,
            "minutes": (time.perf_counter() - start) / 60,
        }
        if name == "calculator":
            results[name]["held_out_accuracy_off_by_one"] = off_by_one(out)
        print(name, json.dumps(results[name]))
    results["date"] = time.strftime("%Y-%m-%d", time.gmtime())
    atomic_write_text(RESULTS, json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")
