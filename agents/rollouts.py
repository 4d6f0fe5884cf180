"""Collecting whole episodes from a Gymnasium vector env with a language-model policy,
and the padded :class:`Batch` of them that PPO scores (:func:`score_batch`).

Only the Gymnasium API and the token-sequence contract are used: the env's final
observation is the whole episode and ``info["agent_mask"]`` marks the agent's tokens, so a
finished episode is fully described by ``(tokens, agent_mask, reward)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from textgym.agents.generation import sample_turns
from textgym.agents.kv_reuse import RowCache
from textgym.agents.padding import right_pad
from textgym.agents.value_head import ValueHeadLM
from textgym.env_spec import env_spec
from textgym.rollout import Episode

__all__ = ["Batch", "score_batch", "collect_episodes"]


@dataclass
class Batch:
    """Finished episodes right-padded into tensors, one row each. Right padding keeps
    positions ``0..L-1`` for every row, the positions generation derived from its mask."""

    ids: torch.Tensor  # long [B, L]: the tokens, pad after each episode
    attention: torch.Tensor  # long [B, L]: 1 on real tokens
    mask: torch.Tensor  # bool [B, L]: True on agent tokens, the actions
    scores: torch.Tensor  # float [B]: the episode's env reward
    success: torch.Tensor  # float [B]: 1.0 where the env marked the episode a success
    lengths: torch.Tensor  # long [B]: real tokens per row
    prompt_lengths: torch.Tensor  # long [B]: tokens of the reset observation
    groups: torch.Tensor  # long [B]: the episode's group (its item), -1 when ungrouped

    @classmethod
    def from_episodes(
        cls, records: Sequence[Episode], pad_id: int, device: torch.device | str | None = None
    ) -> Batch:
        """The one padder of finished episodes (SFT's demonstrations, PPO's rollouts), on
        ``device`` (the policy's; None: torch's default)."""
        ids, attention = right_pad([r.tokens for r in records], pad_id, device=device)
        mask, _ = right_pad([r.agent_mask for r in records], False, dtype=torch.bool, device=device)
        mask[:, 0] = False  # token 0 has no predictor; it is never an action
        return cls(
            ids=ids,
            attention=attention,
            mask=mask,
            scores=torch.tensor([r.reward for r in records], dtype=torch.float32, device=device),
            success=torch.tensor([float(r.success) for r in records], device=device),
            lengths=attention.sum(1),
            prompt_lengths=torch.tensor([r.prompt_length for r in records], device=device),
            groups=torch.tensor([r.group for r in records], device=device),
        )

    def __len__(self) -> int:
        return self.ids.shape[0]


def score_batch(
    model: ValueHeadLM,
    batch: Batch,
    chunk: int,
    *,
    with_entropy: bool = False,
    share_prefix: bool = True,
    split_by_length: bool = True,
    temperature: float = 1.0,
):
    """``model.score_tokens`` (log-probs, values, entropies) over the batch in chunks of
    similar length, each cut to its own longest episode: one long episode no longer pads
    every row to its length. ``share_prefix`` and ``split_by_length`` go to
    :meth:`~textgym.agents.value_head.ValueHeadLM.score_tokens`, and ``temperature``:
    the sampling temperature whose distribution is scored.
    Padding positions hold arbitrary values (0 past the chunk's longest row); every use of
    them is masked."""
    n, width = batch.ids.shape
    device = batch.ids.device
    logp = torch.zeros((n, width), device=device)
    values = torch.zeros((n, width), device=device)
    entropy = torch.zeros((n, width), device=device) if with_entropy else None
    order = torch.argsort(batch.lengths, stable=True)
    for start in range(0, n, chunk):
        idx = order[start : start + chunk]
        w = int(batch.lengths[idx].max())
        lp, v, ent = model.score_tokens(
            batch.ids[idx, :w],
            batch.attention[idx, :w],
            batch.prompt_lengths[idx],
            with_entropy=with_entropy,
            share_prefix=share_prefix,
            split_by_length=split_by_length,
            temperature=temperature,
        )
        logp[idx, :w], values[idx, :w] = lp.float(), v
        if entropy is not None:
            entropy[idx, :w] = ent.float()
    return logp, values, entropy


# A key that keeps group seeds apart from round seeds.
_GROUP_KEY = 0x6209


def _seed_of(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _row(info: dict, key: str, i: int):
    return info[key][i] if key in info and info.get(f"_{key}", np.ones(i + 1, bool))[i] else None


def collect_episodes(
    envs: gym.vector.VectorEnv,
    policy: ValueHeadLM,
    n_episodes: int,
    *,
    seed: int,
    generator: torch.Generator,
    max_new_tokens: int,
    temperature: float = 1.0,
    timings: dict[str, float] | None = None,
    reuse_kv_cache: bool = True,
    share_prefix: bool = True,
    group_size: int = 1,
) -> list[Episode]:
    """Run rounds of ``envs.num_envs`` fresh episodes until ``n_episodes`` have finished.

    ``timings``, when given, accumulates ``generate`` and ``env`` seconds and the number of
    ``generated_tokens`` (for the PPO stats and benchmarks/perf.py).

    ``reuse_kv_cache`` keeps each episode's keys and values from one turn to the next, so a
    turn feeds only the tokens added since the last (see :mod:`textgym.agents.kv_reuse`).
    ``share_prefix`` computes the prefix every episode of a round opens with (the system
    prompt) once for the round's first turn and broadcasts it to every row.

    Every round starts with ``envs.reset(seed=...)`` derived from ``seed``, so a run is
    reproducible from the seed alone (no env state to checkpoint), and each env
    contributes exactly one episode per round: no episode straddles a policy update.

    ``group_size`` > 1 collects groups of episodes of one item (for GRPO and RLOO):
    episode ``j`` (in the order returned) is reset with the seed of group
    ``j // group_size``, so the episodes of a group start from the same state, and its
    record's ``group`` is that number. ``n_episodes`` must be a multiple of it.
    """
    if n_episodes % group_size:
        raise ValueError(f"n_episodes ({n_episodes}) must be a multiple of group_size")
    spec = env_spec(envs)
    n = envs.num_envs
    max_new = min(max_new_tokens, spec.max_turn_tokens)
    max_positions = policy.max_positions
    records: list[Episode] = []
    round_index = 0
    empty = np.zeros(0, dtype=np.int64)
    while len(records) < n_episodes:
        first = round_index * n  # the number of this round's first episode
        groups = [(first + i) // group_size if group_size > 1 else -1 for i in range(n)]
        if group_size > 1:
            # One seed per group, the same for each of its episodes: the same item.
            reset_seed = [_seed_of(seed, _GROUP_KEY, g) for g in groups]
        else:
            reset_seed = _seed_of(seed, round_index)
        obs, info = envs.reset(seed=reset_seed)
        prompt_lens = [len(o) for o in obs]
        done = np.zeros(n, dtype=bool)
        rewards: list[list[float]] = [[] for _ in range(n)]
        turns_of: list[list[np.ndarray]] = [[] for _ in range(n)]
        finished: list[Episode | None] = [None] * n
        caches: list[RowCache | None] = [None] * n
        while not done.all():
            live = np.flatnonzero(~done)
            t0 = time.perf_counter()
            live_caches = [caches[i] for i in live] if reuse_kv_cache else None
            turns = sample_turns(
                policy,
                [obs[i] for i in live],
                stop_token_ids=spec.stop_token_ids,
                max_new_tokens=max_new,
                pad_id=spec.pad_id,
                generator=generator,
                temperature=temperature,
                max_positions=max_positions,
                row_caches=live_caches,
                prompt_lengths=[prompt_lens[i] for i in live],
                share_prefix=share_prefix,
            )
            if live_caches is not None:
                for i, cache in zip(live, live_caches):
                    caches[i] = cache
            t1 = time.perf_counter()
            actions = [empty] * n
            for i, turn in zip(live, turns):
                actions[i] = turn
            obs, reward, terminated, truncated, info = envs.step(tuple(actions))
            if timings is not None:
                timings["generate"] = timings.get("generate", 0.0) + t1 - t0
                timings["env"] = timings.get("env", 0.0) + time.perf_counter() - t1
                timings["generated_tokens"] = timings.get("generated_tokens", 0) + sum(
                    len(t) for t in turns
                )
            for i, turn in zip(live, turns):
                rewards[i].append(float(reward[i]))
                turns_of[i].append(turn)
            for i in live:
                if terminated[i] or truncated[i]:
                    final_obs, final_info = obs[i], info
                    if "final_obs" in info and info.get("_final_obs", np.zeros(n, bool))[i]:
                        # SAME_STEP autoreset: the returned obs already starts a new episode.
                        final_obs, final_info = info["final_obs"][i], info["final_info"]
                    tokens = np.asarray(final_obs, dtype=np.int64)
                    mask = np.asarray(final_info["agent_mask"][i], dtype=bool)[: len(tokens)]
                    success = _row(final_info, "success", i)
                    finished[i] = Episode(
                        tokens=tokens,
                        agent_mask=mask,
                        rewards=rewards[i],
                        success=bool(success),
                        terminated=bool(terminated[i]),
                        truncated=bool(truncated[i]),
                        seed=reset_seed[i] if group_size > 1 else None,
                        actions=turns_of[i],
                        prompt_len=prompt_lens[i],
                        group=groups[i],
                    )
                    done[i] = True
                    caches[i] = None
        records.extend(r for r in finished if r is not None)
        round_index += 1
    return records[:n_episodes]
