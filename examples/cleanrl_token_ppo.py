"""A CleanRL-style PPO loop, one file, on vectorised TokenLevel textgym envs.

    python examples/cleanrl_token_ppo.py --iterations 50

This is CleanRL's ``ppo.py`` shape (rollout storage tensors, GAE, clipped surrogate, value
loss, entropy bonus) with a tiny bag-of-tokens actor-critic, to show that textgym envs are
ordinary Gymnasium vector envs. It is no language model; textgym's own PPO agent
(``textgym train ppo``) is the one that learns tool use.

Vector env: ``gym.make_vec(id, wrappers=[TokenLevel])`` with ``AutoresetMode.SAME_STEP``,
so the observation after a terminal step is already the next episode's first, as CleanRL
expects.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

import textgym  # noqa: F401  (registers the env ids)
from textgym.wrappers import TokenLevel


@dataclass
class Args:
    env_id: str = "TextEnv-Calculator-v0"
    seed: int = 0
    num_envs: int = 4
    num_steps: int = 64  # steps per env per rollout
    iterations: int = 4
    window: int = 64
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    update_epochs: int = 2
    num_minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    vectorization_mode: str = "sync"


class Agent(nn.Module):
    """Mean of token embeddings (attention-masked) -> actor logits over the vocabulary and
    a critic value."""

    def __init__(self, vocab_size: int, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.torso = nn.Sequential(nn.Linear(dim, 64), nn.Tanh())
        self.actor = nn.Linear(64, vocab_size)
        self.critic = nn.Linear(64, 1)

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.float().unsqueeze(-1)
        pooled = (self.embed(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.torso(pooled)

    def get_value(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.critic(self.features(obs["tokens"], obs["attention_mask"])).squeeze(-1)

    def get_action_and_value(self, obs, action=None, generator=None):
        h = self.features(obs["tokens"], obs["attention_mask"])
        dist = Categorical(logits=self.actor(h))
        if action is None:
            probs = dist.probs
            action = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        return action, dist.log_prob(action), dist.entropy(), self.critic(h).squeeze(-1)


def _obs(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(obs[k]) for k in ("tokens", "attention_mask")}


def train(args: Args) -> list[dict[str, float]]:
    """Run ``args.iterations`` PPO iterations; return each iteration's logged stats."""
    envs = gym.make_vec(
        args.env_id,
        num_envs=args.num_envs,
        vectorization_mode=args.vectorization_mode,
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        wrappers=[lambda env: TokenLevel(env, window=args.window)],
    )
    torch.manual_seed(args.seed)  # parameter init only; sampling uses `generator`
    generator = torch.Generator().manual_seed(args.seed)
    agent = Agent(int(envs.single_action_space.n))
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    T, N = args.num_steps, args.num_envs
    batch_size = T * N
    minibatch_size = batch_size // args.num_minibatches

    tokens = torch.zeros((T, N, args.window), dtype=torch.long)
    masks = torch.zeros((T, N, args.window), dtype=torch.long)
    actions = torch.zeros((T, N), dtype=torch.long)
    logprobs, rewards, dones, values = (torch.zeros((T, N)) for _ in range(4))

    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = _obs(next_obs)
    next_done = torch.zeros(N)
    stats: list[dict[str, float]] = []
    episode_returns: list[float] = []
    for _iteration in range(args.iterations):
        # ---- rollout: T steps of every env ----------------------------------------------
        for t in range(T):
            tokens[t], masks[t], dones[t] = (
                next_obs["tokens"],
                next_obs["attention_mask"],
                next_done,
            )
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(
                    next_obs, generator=generator
                )
            values[t], actions[t], logprobs[t] = value, action, logprob
            obs, reward, terminated, truncated, info = envs.step(action.numpy())
            rewards[t] = torch.as_tensor(reward, dtype=torch.float32)
            next_done = torch.as_tensor(np.logical_or(terminated, truncated), dtype=torch.float32)
            next_obs = _obs(obs)
            # SAME_STEP autoreset: a finished episode's last info is under "final_info".
            final = info.get("final_info", {})
            for i in np.flatnonzero(final.get("_episode_stats", [])):
                episode_returns.append(float(final["episode_stats"]["return"][i]))

        # ---- advantages: GAE(gamma, lambda) ---------------------------------------------
        with torch.no_grad():
            next_value = agent.get_value(next_obs)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(N)
            for t in reversed(range(T)):
                nextnonterminal = 1.0 - (next_done if t == T - 1 else dones[t + 1])
                nextvalues = next_value if t == T - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                advantages[t] = lastgaelam
            returns = advantages + values

        # ---- optimise the clipped surrogate -----------------------------------------------
        b_obs = {
            "tokens": tokens.reshape(batch_size, -1),
            "attention_mask": masks.reshape(batch_size, -1),
        }
        b_actions, b_logprobs = actions.reshape(-1), logprobs.reshape(-1)
        b_advantages, b_returns = advantages.reshape(-1), returns.reshape(-1)
        clipfracs = []
        for _epoch in range(args.update_epochs):
            order = torch.randperm(batch_size, generator=generator)
            for start in range(0, batch_size, minibatch_size):
                mb = order[start : start + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    {k: v[mb] for k, v in b_obs.items()}, b_actions[mb]
                )
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()  # k3 estimator
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(
                    -mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
                ).mean()
                v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
        stats.append(
            {
                # The stats CleanRL logs, with the same meaning.
                "losses/policy_loss": pg_loss.item(),  # clipped surrogate (last minibatch)
                "losses/value_loss": v_loss.item(),  # squared error to the GAE returns
                "losses/entropy": entropy_loss.item(),  # policy entropy, nats per token
                "losses/approx_kl": approx_kl.item(),  # k3 estimate of KL(old || new)
                "losses/clipfrac": float(np.mean(clipfracs)),  # share of ratios outside the clip
                "charts/episodes": float(len(episode_returns)),  # finished so far
                "charts/mean_return": float(np.mean(episode_returns)) if episode_returns else 0.0,
            }
        )
    envs.close()
    return stats


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = Args(**vars(parser.parse_args()))
    for i, row in enumerate(train(args)):
        print(i, {k: round(v, 4) for k, v in row.items()})
