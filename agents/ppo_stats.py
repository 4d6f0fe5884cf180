"""The stats one PPO iteration logs, with TRL's names, and what each means."""

from __future__ import annotations

__all__ = ["STAT_DOCS", "UPDATE_STATS"]

# Update stats, each a token-weighted mean over the iteration's minibatches.
UPDATE_STATS = (
    "ppo/loss/policy",
    "ppo/loss/value",
    "ppo/loss/total",
    "ppo/loss/kl",
    "ppo/loss/ptx",
    "ppo/policy/entropy",
    "ppo/policy/approxkl",
    "ppo/policy/policykl",
    "ppo/policy/clipfrac",
    "ppo/val/vpred",
    "ppo/val/error",
    "ppo/val/clipfrac",
)

STAT_DOCS = {
    "env/reward_mean": "mean episode reward from the env (the task score)",
    "env/reward_std": "std of episode rewards",
    "env/success_rate": "fraction of episodes the env marked successful",
    "objective/kl": "mean over episodes of the summed per-token KL(pi_old || pi_ref)",
    "objective/kl_coef": "beta, the KL penalty coefficient used this iteration",
    "objective/entropy": "mean over episodes of the summed per-token entropy (sampled)",
    "ppo/mean_non_score_reward": "mean over episodes of the summed KL penalty -beta*KL "
    "(0 with kl_penalty='loss')",
    "ppo/mean_scores": "mean env reward (same as env/reward_mean, TRL's name)",
    # The ppo/loss, ppo/policy and ppo/val stats are token-weighted means over minibatches.
    "ppo/loss/policy": "clipped surrogate loss",
    "ppo/loss/value": "clipped value loss",
    "ppo/loss/total": "policy + vf_coef * value - ent_coef * entropy (+ beta * kl, 'loss')"
    " (+ ptx_coef * ptx)",
    "ppo/loss/kl": "per-token mean k3 KL(pi || pi_ref) of the current policy in the update",
    "ppo/loss/ptx": "behaviour-cloning loss on demonstrations (PPO-ptx; 0 when ptx_coef=0)",
    "ppo/policy/entropy": "per-token entropy of the current policy during the update",
    "ppo/policy/approxkl": "0.5 E[(log r)^2]: drift from the rollout policy in the update",
    "ppo/policy/policykl": "E[(r - 1) - log r]: the same drift, k3 estimator",
    "ppo/policy/clipfrac": "fraction of agent tokens whose ratio was clipped",
    "ppo/policy/advantages_mean": "mean advantage before whitening",
    "ppo/returns/mean": "mean GAE return over agent tokens",
    "ppo/val/vpred": "mean value prediction during the update",
    "ppo/val/error": "mean squared value error during the update",
    "ppo/val/clipfrac": "fraction of value predictions that were clipped",
    "ppo/learning_rate": "learning rate used this iteration",
    "ppo/epochs_done": "PPO epochs completed before early stopping",
    "ppo/skipped_minibatches": "minibatches skipped by the ratio threshold",
    "tokens/agent_tokens_mean": "mean agent tokens per episode",
    "tokens/episode_len_mean": "mean episode length in tokens (prompt and tools included)",
    "time/ppo/rollout": "seconds spent generating and stepping envs",
    "time/ppo/generate": "of which sampling turns from the policy (KV-cached decoding)",
    "time/ppo/env": "of which the vector env's step(): parsing, tools, bookkeeping",
    "tokens/generated": "tokens the policy sampled in the rollout",
    "time/ppo/forward": "seconds spent scoring the batch (policy and reference)",
    "time/ppo/optimize": "seconds spent in the PPO update",
    "time/ppo/total": "seconds for the whole iteration",
}
