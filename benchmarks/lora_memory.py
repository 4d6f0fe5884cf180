"""Memory saved by LoRA adapters in PPO (issue 11).

    .venv/bin/python benchmarks/lora_memory.py

Full fine-tuning keeps the policy, a frozen copy as the KL reference, and Adam's two
moments for every weight: four copies of the model. With LoRA (textgym.agents.lora) the
base is frozen, the reference is the same model with its adapters off, and Adam keeps
moments for the adapters and the value head only.

Each mode runs in a fresh process: build a GPT-2 policy from config (8 layers, 512 wide,
about 25 M parameters), the PPO trainer on 4 calculator envs, and two PPO iterations. It
reports the trainer's tensor bytes (policy + reference + optimizer state, shared storage
counted once) and the process's peak RSS; a third process that only builds the policy is
the floor both are measured against. Writes benchmarks/results/lora_memory.json.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "lora_memory.json"
LAYERS, WIDTH, HEADS, RANK = 8, 512, 8, 8


def measure(mode: str) -> dict:
    """Runs inside the child process."""
    import gymnasium as gym
    import torch

    import textgym  # noqa: F401
    from textgym import make_vec
    from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config
    from textgym.agents.lora import LoraSettings, add_lora, training_state_bytes

    env = gym.make("TextEnv-Calculator-v0")
    vocab = int(env.action_space.feature_space.n)
    env.close()
    config = tiny_gpt2_config(vocab, n_layer=LAYERS, n_embd=WIDTH, n_head=HEADS, n_positions=512)
    policy = ValueHeadLM.from_config(config, seed=0)
    out = {"parameters": sum(p.numel() for p in policy.parameters())}
    if mode != "floor":
        if mode == "lora":
            add_lora(policy, LoraSettings(rank=RANK, target_modules=("c_attn", "c_fc")))
        envs = make_vec("TextEnv-Calculator-v0", 4)
        cfg = PPOConfig(
            episodes_per_iteration=8, mini_batch_size=4, ppo_epochs=1, max_new_tokens=24
        )
        ppo = PPO(envs, policy, cfg)
        for _ in range(2):
            ppo.step()
        out["trainable_parameters"] = sum(p.numel() for p in ppo.trainable)
        out["trainer_tensor_bytes"] = training_state_bytes(ppo)
        out["reference_is_policy"] = ppo.ref is None
        envs.close()
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["torch"] = torch.__version__
    return out


def run_child(mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode], capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"the {mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from textgym.fileio import atomic_write_text

    runs = {mode: run_child(mode) for mode in ("floor", "full", "lora")}
    floor = runs["floor"]["peak_rss_bytes"]
    mib = 2**20
    full, lora = runs["full"], runs["lora"]
    summary = {
        "model": f"GPT-2 from config, {LAYERS} layers x {WIDTH}, "
        f"{full['parameters'] / 1e6:.1f} M parameters; LoRA rank {RANK} on c_attn, c_fc",
        "trainer_tensor_mib": {
            "full": full["trainer_tensor_bytes"] / mib,
            "lora": lora["trainer_tensor_bytes"] / mib,
        },
        "trainer_tensor_ratio_lora_over_full": lora["trainer_tensor_bytes"]
        / full["trainer_tensor_bytes"],
        "peak_rss_mib": {mode: r["peak_rss_bytes"] / mib for mode, r in runs.items()},
        "peak_rss_above_floor_mib": {
            "full": (full["peak_rss_bytes"] - floor) / mib,
            "lora": (lora["peak_rss_bytes"] - floor) / mib,
        },
        "rss_saved_mib": (full["peak_rss_bytes"] - lora["peak_rss_bytes"]) / mib,
        "trainable_parameters": {
            "full": full["trainable_parameters"],
            "lora": lora["trainable_parameters"],
        },
    }
    result = {
        "summary": summary,
        "runs": runs,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2])))
    else:
        main()
