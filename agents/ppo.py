"""PPO for language-model agents on token-sequence envs, readable top to bottom.

One iteration (:meth:`PPO.step`):

1. Rollout: collect whole episodes from the vector env with the current policy.
2. Score: forward passes of the policy give old log-probs ``logp_old`` and values ``V``
   of every agent token; those of the frozen reference give ``logp_ref``.
3. Rewards: every agent token gets ``-beta * KL_t``; its episode's last agent token also
   gets the env reward. (``kl_penalty="loss"``: the env reward alone; the KL goes into
   the loss as a per-token mean.)
4. Advantages: GAE over agent tokens only (tool-response spans skipped), or, critic-free,
   each episode's return against the other episodes of its item (GRPO, RLOO), optionally
   only the positive ones; whitened.
5. Update: ``ppo_epochs`` passes of minibatches of the clipped policy loss, clipped value
   loss and entropy bonus (and, with ``ptx_coef``, behaviour cloning on demonstrations),
   with gradient clipping and early stopping on KL.
6. Adapt beta toward the KL target; log the stats.

Steps 2-6 are :meth:`PPO.learn`, usable on any batch of finished episodes. The iteration
reads in three files: this one, :mod:`~textgym.agents.ppo_math` (the maths) and
:mod:`~textgym.agents.rollouts` (episodes and their padded batch). The model is called
through two functions with documented contracts: ``policy.score_tokens`` (per-token
log-probs, values, entropies) and :func:`~textgym.agents.generation.sample_turns`.

Under ``accelerate launch`` each process collects its share of the episodes and the
processes learn as one (:mod:`textgym.agents.distributed`). Statistics over the global
batch go through :func:`~textgym.agents.ppo_math.global_mean` and
:meth:`EpisodeStats.gather`; minibatches come from
:func:`~textgym.agents.ppo_math.minibatch_order` over every process's episode lengths;
gradients are averaged after each backward pass. On one process each of these collective
calls returns its input, so a single-process reader goes straight through.

Speed: the prompt every episode opens with is computed once per forward pass and shared
by every row (``share_prefix``), and rows of very different lengths run in separately
padded groups (``split_by_length``); both are exact. Minibatches group episodes of
similar length (``group_by_length``), which changes which episodes share a gradient step.

Stats use TRL's names; each is explained in :data:`STAT_DOCS`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch

from textgym.agents.devices import grad_scaler, place
from textgym.agents.distributed import Collective, SingleProcess
from textgym.agents.ppo_config import PPOConfig
from textgym.agents.ppo_math import (
    AdaptiveKLController,
    FixedKLController,
    global_mean,
    kl_estimate,
    masked_mean,
    minibatch_order,
    normalise_advantages,
    policy_loss,
    token_advantages,
    value_loss,
)
from textgym.agents.ppo_stats import STAT_DOCS, UPDATE_STATS
from textgym.agents.rollouts import Batch, collect_episodes, score_batch
from textgym.agents.sft import demonstration_loss
from textgym.agents.value_head import ValueHeadLM
from textgym.env_spec import env_spec
from textgym.rollout import Episode

__all__ = ["PPO", "STAT_DOCS", "Batch"]

# Keys that keep minibatch-order and demonstration-draw seeds apart from rollout seeds.
_MINIBATCH_ORDER = 0x5EED
_DEMONSTRATION_DRAW = 0x97C


@dataclass
class EpisodeStats:
    """Per-episode figures of one iteration, one entry per episode."""

    reward: torch.Tensor  # the env's reward (the task score)
    success: torch.Tensor  # 1.0 where the env marked the episode a success
    kl: torch.Tensor  # summed per-token KL(pi_old || pi_ref) over agent tokens
    entropy: torch.Tensor  # summed per-token entropy over agent tokens
    non_score_reward: torch.Tensor  # summed KL penalty, -beta * KL
    agent_tokens: torch.Tensor
    length: torch.Tensor  # tokens in the episode, prompt and tool responses included

    def gather(self, par: Collective) -> EpisodeStats:
        """Every process's episodes, in rank order."""
        return EpisodeStats(**{f.name: par.all_gather(getattr(self, f.name)) for f in fields(self)})


class PPO:
    """PPO with a KL penalty to a frozen reference, training through the Gymnasium API.

    Args:
        envs: a Gymnasium vector env of token-sequence envs (``gym.make_vec(id, n)``).
        policy: the :class:`ValueHeadLM` to train (causal or encoder-decoder, with or
            without LoRA adapters).
        config: :class:`PPOConfig`; its batch sizes are global, split evenly over processes.
        ref: the frozen reference; default a frozen copy of ``policy`` as given, or, for a
            policy with adapters, the policy itself with its adapters switched off (no
            second copy of the weights).
        parallel: the process group for data-parallel training
            (:class:`~textgym.agents.distributed.DataParallel` under ``accelerate launch``);
            default one process.
        demonstrations: finished episodes (e.g.
            :func:`~textgym.agents.sft.oracle_demonstrations`) for the behaviour-cloning
            term of ``config.ptx_coef``; also settable later as ``ppo.demonstrations``
            (they are data, not state: a checkpoint does not hold them).
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        policy: ValueHeadLM,
        config: PPOConfig | None = None,
        ref: ValueHeadLM | None = None,
        parallel: Collective | None = None,
        demonstrations: list[Episode] | None = None,
    ):
        if not isinstance(envs, gym.vector.VectorEnv):
            raise TypeError("PPO needs a Gymnasium vector env: gym.make_vec(env_id, num_envs=n)")
        self.envs = envs
        self.config = config or PPOConfig()
        self.spec = env_spec(envs)
        embeddings = policy.model.get_input_embeddings().num_embeddings
        if embeddings < self.spec.vocab_size:
            raise ValueError(
                f"the policy has {embeddings} token embeddings but the env's vocabulary has "
                f"{self.spec.vocab_size}; call policy.resize_token_embeddings(len(tokenizer))"
            )
        self.parallel = parallel or SingleProcess()
        world = self.parallel.world_size
        if self.config.episodes_per_iteration % (world * self.config.group_size):
            raise ValueError(
                f"PPOConfig.episodes_per_iteration ({self.config.episodes_per_iteration}) must "
                f"be a multiple of the number of processes ({world}) times group_size "
                f"({self.config.group_size}): each process collects whole groups"
            )
        # The policy (and the reference) go to the config's device; from here on every
        # tensor of a step is made on ``self.device``. Placing draws no random numbers.
        self.device = place(policy, self.config.device, self.config.dtype)
        # Every process starts from the main process's weights.
        self.parallel.broadcast_parameters(policy)
        self.policy = policy
        if ref is not None and policy.has_adapters:
            raise ValueError(
                "a policy with LoRA adapters uses itself with the adapters off as the "
                "reference; do not pass ref="
            )
        if ref is None and not policy.has_adapters:
            ref = policy.frozen_copy()
        if ref is not None:
            place(ref, self.device, self.config.dtype)
        self.ref = ref
        cfg = self.config
        # Frozen base weights (LoRA) get no optimizer state.
        self.trainable = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.trainable, lr=cfg.learning_rate, eps=cfg.adam_eps)
        # The schedule reads the config when it steps, so a resumed run that is extended
        # (``total_iterations`` raised) decays to 0 at its new end.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            (lambda it: max(0.0, 1.0 - it / self.config.total_iterations))
            if cfg.lr_schedule == "linear"
            else (lambda it: 1.0),
        )
        self.kl_ctl = (
            AdaptiveKLController(cfg.init_kl_coef, cfg.kl_target, cfg.kl_horizon)
            if cfg.adaptive_kl
            else FixedKLController(cfg.init_kl_coef)
        )
        # float16 only: loss scaling, so small gradients survive (a no-op otherwise).
        self.scaler = grad_scaler(self.device, policy.autocast_dtype)
        # The one source of randomness: sampling (one stream per process, so processes
        # sample different episodes). It lives on the policy's device, where sampling
        # happens; on the CPU it is the same stream as ever.
        self.generator = torch.Generator(device=self.device).manual_seed(self._seed_for())
        self.iteration = 0
        self.demonstrations = demonstrations

    def _seed_for(self, *keys: int, per_process: bool = True) -> int:
        """A seed derived from the config's seed, ``keys`` and, with several processes
        and ``per_process``, this process's rank. ``_seed_for()`` is the config's seed
        itself on one process."""
        parts = [self.config.seed, *keys]
        if per_process and self.parallel.world_size > 1:
            parts.append(self.parallel.rank)
        elif not keys:
            return self.config.seed
        return int(np.random.SeedSequence(parts).generate_state(1)[0])

    @contextmanager
    def reference(self) -> Iterator[ValueHeadLM]:
        """The frozen KL reference: ``ref``, or the policy with its adapters off."""
        if self.ref is not None:
            yield self.ref
        else:
            with self.policy.adapters_disabled() as base:
                yield base

    # ---- one iteration ------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        """Run one PPO iteration; return its stats."""
        cfg = self.config
        t0 = time.perf_counter()
        # 1. Rollout: this process's share of the iteration's episodes.
        rollout_times: dict[str, float] = {}
        records = collect_episodes(
            self.envs,
            self.policy,
            cfg.episodes_per_iteration // self.parallel.world_size,
            seed=self._seed_for(self.iteration),
            generator=self.generator,
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            timings=rollout_times,
            reuse_kv_cache=cfg.reuse_kv_cache,
            share_prefix=cfg.share_prefix,
            group_size=cfg.group_size,
        )
        t1 = time.perf_counter()
        stats = self.learn(records)
        stats.update(
            {
                "time/ppo/rollout": t1 - t0,
                "time/ppo/generate": rollout_times["generate"],
                "time/ppo/env": rollout_times["env"],
                "tokens/generated": rollout_times["generated_tokens"],
                "time/ppo/total": time.perf_counter() - t0,
            }
        )
        return stats

    def learn(self, records: list[Episode]) -> dict[str, float]:
        """Steps 2-6 on finished episodes (under data parallelism, this process's share of
        the global batch; every process calls it with the same number of episodes)."""
        cfg = self.config
        par = self.parallel
        t1 = time.perf_counter()
        sizes = par.all_gather_object(len(records))
        if len(set(sizes)) != 1 or not records:
            # Unequal shares would make the processes' collective calls diverge (a hang).
            raise ValueError(f"every process needs the same, non-zero number of episodes: {sizes}")
        if cfg.ptx_coef > 0 and not self.demonstrations:
            raise ValueError(
                "PPOConfig.ptx_coef > 0 needs demonstrations to clone: PPO(..., "
                "demonstrations=oracle_demonstrations(env, n)) or set ppo.demonstrations"
            )
        batch = Batch.from_episodes(records, self.spec.pad_id, device=self.device)

        # 2. Score the batch: logp_old, V_old and logp_ref on every token.
        self.policy.eval()
        with torch.no_grad():
            # Chunks of a minibatch (at least 8): memory stays that of one update step.
            chunk = max(cfg.mini_batch_size, 8)
            exact = {
                "share_prefix": cfg.share_prefix,
                "split_by_length": cfg.split_by_length,
                "temperature": cfg.temperature,
            }
            old_logp, old_values, entropy = score_batch(
                self.policy, batch, chunk, with_entropy=True, **exact
            )
            with self.reference() as ref:
                ref_logp, _, _ = score_batch(ref, batch, chunk, **exact)
        mask = batch.mask.float()

        # 3. Per-token rewards: -beta * KL_t, plus the env reward on the last agent token.
        # With kl_penalty="loss" the KL goes into the loss instead (step 5) and the
        # return is the env reward alone.
        beta = self.kl_ctl.value
        kl = kl_estimate(old_logp, ref_logp, cfg.kl_estimator) * mask
        non_score = -beta * kl if cfg.kl_penalty == "reward" else torch.zeros_like(kl)
        rewards = non_score.clone()
        last = (mask * torch.arange(mask.shape[1], device=self.device)).argmax(dim=1)
        has_action = mask.sum(1) > 0
        rows = torch.arange(len(batch), device=self.device)[has_action]
        rewards[rows, last[has_action]] += batch.scores[has_action]

        # 4. Advantages over agent tokens only, then normalised over the (global) batch:
        # whitened, or for the critic-free ones optionally only scaled (advantage_norm).
        # (A group never spans processes: the critic-free ones need no collective call.)
        advantages, returns = token_advantages(
            cfg.advantage, rewards, old_values, mask, batch.groups, cfg.gamma, cfg.lam
        )
        if cfg.only_positive_advantages:
            advantages = advantages.clamp(min=0.0)
        (raw_adv_mean, returns_mean), _ = global_mean(par, torch.stack([advantages, returns]), mask)
        if cfg.whiten_advantages:
            advantages = normalise_advantages(
                advantages, mask, cfg.advantage_norm, all_reduce=par.all_reduce_sum
            )
        t2 = time.perf_counter()

        # 5. The PPO update.
        update_stats = self._update(batch, old_logp, ref_logp, old_values, advantages, returns)
        t3 = time.perf_counter()

        # 6. Adapt beta from the mean KL of every episode, advance the schedule, report.
        episodes = EpisodeStats(
            reward=batch.scores,
            success=batch.success,
            kl=kl.sum(1),
            entropy=(entropy * mask).sum(1),
            non_score_reward=non_score.sum(1),
            agent_tokens=mask.sum(1),
            length=batch.lengths.float(),
        ).gather(par)
        mean_kl = float(episodes.kl.mean())
        self.kl_ctl.update(mean_kl, len(episodes.kl))
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.iteration += 1
        scores = episodes.reward
        return {
            "iteration": self.iteration,
            "env/reward_mean": float(scores.mean()),
            "env/reward_std": float(scores.std()) if len(scores) > 1 else 0.0,
            "env/success_rate": float(episodes.success.mean()),
            "objective/kl": mean_kl,
            "objective/kl_coef": beta,
            "objective/entropy": float(episodes.entropy.mean()),
            "ppo/mean_non_score_reward": float(episodes.non_score_reward.mean()),
            "ppo/mean_scores": float(scores.mean()),
            "ppo/policy/advantages_mean": float(raw_adv_mean),
            "ppo/returns/mean": float(returns_mean),
            "ppo/learning_rate": lr,
            "tokens/agent_tokens_mean": float(episodes.agent_tokens.mean()),
            "tokens/episode_len_mean": float(episodes.length.mean()),
            "time/ppo/forward": t2 - t1,
            "time/ppo/optimize": t3 - t2,
            **update_stats,
        }

    def _update(self, batch: Batch, old_logp, ref_logp, old_values, advantages, returns) -> dict:
        """Step 5: ``ppo_epochs`` passes of minibatch gradient steps, with the ratio
        safeguard and KL early stopping; returns the token-weighted update stats."""
        cfg = self.config
        par = self.parallel
        # Minibatches are drawn from the global batch (process r holds its indices
        # r*n .. r*n+n-1); each process computes its own members of each.
        n = len(batch)
        offset = par.rank * n
        lengths = par.all_gather(batch.lengths).cpu()  # the same on every process
        # Group labels made unique across processes (a group never spans processes), so
        # each minibatch holds whole groups; -1 (ungrouped) stays -1.
        labels = batch.groups * par.world_size + par.rank
        groups = par.all_gather(torch.where(batch.groups >= 0, labels, -1)).cpu()
        sums: dict[str, float] = defaultdict(float)
        skipped = epochs_done = 0
        self.policy.eval()  # no dropout: the update scores tokens as the rollout sampled them
        stop = False
        for epoch in range(cfg.ppo_epochs):
            # Minibatch order is drawn on the host: it indexes episodes, not model data.
            shuffle = torch.Generator(device="cpu").manual_seed(
                self._seed_for(self.iteration, epoch, _MINIBATCH_ORDER, per_process=False)
            )
            for step, members in enumerate(
                minibatch_order(lengths, cfg.mini_batch_size, shuffle, cfg.group_by_length, groups)
            ):
                idx = members[(members >= offset) & (members < offset + n)] - offset
                idx = idx.to(self.device)
                loss, tokens, mb_stats = self._minibatch_loss(
                    batch, idx, old_logp, ref_logp, old_values, advantages, returns
                )
                # The safeguards read the minibatch's mean ratio and KL over every
                # process's tokens, so all processes skip or stop together.
                safeguard = torch.stack([mb_stats["ratio_mean"], mb_stats["ppo/policy/approxkl"]])
                (ratio_mean, approxkl), total_tokens = global_mean(par, safeguard, tokens)
                if ratio_mean > cfg.ratio_threshold:
                    skipped += 1
                    continue
                self.optimizer.zero_grad(set_to_none=True)
                if loss is not None and par.world_size > 1:
                    # Local token mean -> this process's part of the global token mean;
                    # averaging gradients over processes then gives the global gradient.
                    loss = loss * tokens * par.world_size / total_tokens.clamp(min=1.0)
                if cfg.ptx_coef > 0:
                    # Every process clones its own draw; averaging the gradients makes
                    # the term the mean over processes.
                    ptx = self._demonstration_loss(epoch, step)
                    mb_stats["ppo/loss/ptx"] = ptx.detach()
                    mb_stats["ppo/loss/total"] = mb_stats["ppo/loss/total"] + cfg.ptx_coef * (
                        ptx.detach()
                    )
                    ptx = cfg.ptx_coef * ptx
                    loss = ptx if loss is None else loss + ptx
                if loss is not None:
                    self.scaler.scale(loss).backward()
                par.average_gradients(self.trainable)
                # Gradients are the same on every process after averaging, so a float16
                # overflow skips the step on all of them alike.
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.trainable, cfg.max_grad_norm)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                for key in UPDATE_STATS:
                    sums[key] += float(mb_stats[key]) * float(tokens)
                sums["tokens"] += float(tokens)
                if cfg.early_stopping and approxkl > 1.5 * cfg.target_kl:
                    stop = True
                    break
            epochs_done += 1
            if stop:
                break
        # Token-weighted means over every process's minibatches.
        summed = par.all_reduce_sum(
            torch.tensor(
                [sums[k] for k in (*UPDATE_STATS, "tokens")],
                dtype=torch.float64,
                device=self.device,
            )
        )
        weight = max(float(summed[-1]), 1.0)
        stats = {k: float(v) / weight for k, v in zip(UPDATE_STATS, summed)}
        stats["ppo/epochs_done"] = float(epochs_done)
        stats["ppo/skipped_minibatches"] = float(skipped)
        return stats

    def _demonstration_loss(self, epoch: int, step: int) -> torch.Tensor:
        """Behaviour cloning on ``mini_batch_size`` demonstrations, drawn with a seed of
        (iteration, epoch, step): a resumed run draws what an uninterrupted one would."""
        cfg = self.config
        draw = torch.Generator(device="cpu").manual_seed(
            self._seed_for(self.iteration, epoch, step, _DEMONSTRATION_DRAW)
        )
        picks = torch.randint(len(self.demonstrations), (cfg.mini_batch_size,), generator=draw)
        chosen = [self.demonstrations[i] for i in picks.tolist()]
        batch = Batch.from_episodes(chosen, self.spec.pad_id, device=self.device)
        return demonstration_loss(
            self.policy,
            batch,
            share_prefix=cfg.share_prefix,
            split_by_length=cfg.split_by_length,
        )

    def _minibatch_loss(
        self, batch: Batch, idx, old_logp, ref_logp, old_values, advantages, returns
    ):
        """The PPO loss on episodes ``idx`` of this process's batch, cut to their longest:
        ``(loss, agent tokens, stats)``. A process with no episodes in the minibatch gets
        ``(None, 0, zeros)`` and still takes part in the collective steps."""
        cfg = self.config
        if len(idx) == 0:
            zero = torch.zeros((), device=self.device)
            return None, zero, dict.fromkeys((*UPDATE_STATS, "ratio_mean"), zero)
        width = int(batch.lengths[idx].max())
        mb_mask = batch.mask[idx, :width].float()
        logp, values, entropy = self.policy.score_tokens(
            batch.ids[idx, :width],
            batch.attention[idx, :width],
            batch.prompt_lengths[idx],
            with_entropy=True,
            entropy_grad=cfg.ent_coef > 0,
            share_prefix=cfg.share_prefix,
            split_by_length=cfg.split_by_length,
            temperature=cfg.temperature,
        )
        pg_loss, pg_stats = policy_loss(
            logp, old_logp[idx, :width], advantages[idx, :width], mb_mask, cfg.clip_range
        )
        vf_loss, vf_stats = value_loss(
            values, old_values[idx, :width], returns[idx, :width], mb_mask, cfg.clip_range_value
        )
        ent = masked_mean(entropy, mb_mask)
        loss = pg_loss - cfg.ent_coef * ent
        # kl_penalty="loss": beta times the per-token mean KL(pi || pi_ref) of the current
        # policy (k3, GRPO's form). A mean, unlike the summed penalty in the return, does
        # not pay a policy for writing fewer tokens.
        # Under "reward" it is only logged: no autograd graph for it.
        kl_logp = logp if cfg.kl_penalty == "loss" else logp.detach()
        kl_loss = masked_mean(kl_estimate(kl_logp, ref_logp[idx, :width], "k3"), mb_mask)
        if cfg.kl_penalty == "loss":
            loss = loss + self.kl_ctl.value * kl_loss
        if cfg.advantage == "gae":  # the critic-free estimators do not read the value head
            loss = loss + cfg.vf_coef * vf_loss
        stats = {
            "ppo/loss/policy": pg_loss.detach(),
            "ppo/loss/value": vf_loss.detach(),
            "ppo/loss/total": loss.detach(),
            "ppo/loss/kl": kl_loss.detach(),
            "ppo/loss/ptx": torch.zeros((), device=self.device),  # set in _update
            "ppo/policy/entropy": ent.detach(),
            "ppo/policy/approxkl": pg_stats["approxkl"],
            "ppo/policy/policykl": pg_stats["policykl"],
            "ppo/policy/clipfrac": pg_stats["clipfrac"],
            "ppo/val/vpred": masked_mean(values.detach(), mb_mask),
            "ppo/val/error": vf_stats["error"],
            "ppo/val/clipfrac": vf_stats["clipfrac"],
            "ratio_mean": pg_stats["ratio_mean"],
        }
        return loss, mb_mask.sum(), stats
