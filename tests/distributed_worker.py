"""One process of a data-parallel PPO run, for tests/test_distributed.py.

    accelerate launch --multi_gpu --num_processes 2 tests/distributed_worker.py MODE OUT

MODE ``learn``: every process takes its half of a fixed global batch and runs two PPO
updates on it. MODE ``train``: two whole PPO iterations, each process collecting its own
episodes. MODE ``resume``: one iteration, a checkpoint, and the next iteration both from
the running trainer and from one rebuilt from the checkpoint. Afterwards the processes
compare their weights; the main process writes ``OUT/result.json`` (stats, the largest
weight difference between processes) and the policy to ``OUT/policy``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import torch

import textgym  # noqa: F401  (registers the envs)
from textgym import make_vec
from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config
from textgym.agents.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from textgym.agents.distributed import Collective, DataParallel
from textgym.agents.oracle import OracleAgent
from textgym.agents.random_agent import RandomAgent
from textgym.rollout import Episode, run_episode

ENV = "TextEnv-Calculator-v0"
GLOBAL_BATCH = 8


def fixed_batch() -> list[Episode]:
    """Eight episodes with a learning signal: the oracle (reward 1) and the random agent
    (reward 0) alternate over train items."""
    env = gym.make(ENV)
    agents = [OracleAgent(env), RandomAgent(env, seed=0)]
    records = []
    for i in range(GLOBAL_BATCH):
        ep = run_episode(env, agents[i % 2], seed=i, options={"split": "train", "index": i})
        records.append(Episode(ep.tokens, ep.agent_mask, [ep.reward], ep.success))
    env.close()
    return records


def make_ppo(parallel: Collective | None, num_envs: int = 2) -> PPO:
    tokens = len(textgym.make_tokenizer())
    config = tiny_gpt2_config(tokens, n_layer=1, n_embd=32, n_head=2, n_positions=512)
    policy = ValueHeadLM.from_config(config, seed=0)
    cfg = PPOConfig(
        episodes_per_iteration=GLOBAL_BATCH,
        # Four minibatches of two per epoch, drawn from both processes' episodes: some
        # minibatches hold none of a process's episodes, which must still work.
        mini_batch_size=2,
        ppo_epochs=2,
        learning_rate=1e-3,
        max_new_tokens=16,
        # In "train" mode the untrained policy earns nothing; the entropy bonus still gives
        # every process a different, non-zero gradient to agree on.
        ent_coef=0.01,
        seed=0,
    )
    return PPO(make_vec(ENV, num_envs), policy, cfg, parallel=parallel)


def flat_weights(ppo: PPO) -> torch.Tensor:
    return torch.cat([t.reshape(-1).float() for t in ppo.policy.state_dict().values()])


def main(mode: str, out: Path) -> None:
    parallel = DataParallel()
    ppo = make_ppo(parallel)
    resumed_difference = None
    if mode == "learn":
        share = GLOBAL_BATCH // parallel.world_size
        mine = fixed_batch()[parallel.rank * share : (parallel.rank + 1) * share]
        stats = [ppo.learn(mine) for _ in range(2)]
    elif mode == "resume":
        # Checkpoint after one iteration, rebuild a second trainer from it, and compare its
        # next iteration with the uninterrupted trainer's, on every process.
        stats = [ppo.step()]
        save_checkpoint(ppo, out / "checkpoints")
        parallel.all_gather_object(None)  # wait until the main process has written it
        resumed = load_checkpoint(
            latest_checkpoint(out / "checkpoints"), make_vec(ENV, 2), parallel
        )
        stats.append(ppo.step())
        resumed.step()
        gap = (flat_weights(ppo) - flat_weights(resumed)).abs().max()
        resumed_difference = max(parallel.all_gather_object(float(gap)))
        resumed.envs.close()
    else:
        stats = [ppo.step() for _ in range(2)]
    weights = parallel.all_gather(flat_weights(ppo)[None])
    spread = float((weights - weights[0]).abs().max())
    first_weights = parallel.all_gather_object(float(weights[parallel.rank, 0]))
    if parallel.is_main:
        out.mkdir(parents=True, exist_ok=True)
        ppo.policy.save_pretrained(out / "policy")
        (out / "result.json").write_text(
            json.dumps(
                {
                    "world_size": parallel.world_size,
                    "max_weight_difference": spread,
                    "first_weight_per_process": first_weights,
                    "resumed_difference": resumed_difference,
                    "stats": stats,
                }
            )
        )
    ppo.envs.close()
    parallel.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
