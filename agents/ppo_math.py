"""The maths of PPO on token sequences, as small pure functions with the paper's symbols.

Two of them are where data parallelism shows: :func:`global_mean` sums over every
process (one all-reduce), and :func:`minibatch_order`, given every process's episode
lengths and the same generator, draws the same minibatches on each. On one process both
are the plain computation.

Notation: a batch holds B episodes padded to length L. ``mask[b, t]`` is True where token
``t`` was written by the agent; only those tokens are actions. Per-token tensors are
aligned with the token they score (``logp[b, t] = log pi(x_t | x_<t)``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from textgym.agents.distributed import Collective

__all__ = [
    "tempered",
    "token_logprobs",
    "entropy_from_logits",
    "kl_estimate",
    "masked_rescale",
    "normalise_advantages",
    "masked_mean",
    "masked_whiten",
    "gae_over_agent_tokens",
    "group_advantages",
    "token_advantages",
    "ADVANTAGE_ESTIMATORS",
    "policy_loss",
    "value_loss",
    "AdaptiveKLController",
    "FixedKLController",
    "global_mean",
    "minibatch_order",
]


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / T``: the logits of the distribution that sampling at temperature ``T``
    draws from (a plain softmax at ``T = 1``)."""
    return logits if temperature == 1.0 else logits.float() / temperature


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``logp[b, t] = log softmax(logits[b, t-1])[ids[b, t]]``; position 0 gets 0 (nothing
    predicts the first token)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return torch.nn.functional.pad(picked, (1, 0))


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the distribution that chose token t, aligned like :func:`token_logprobs`."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    ent = -(logp.exp() * logp).sum(-1)
    return torch.nn.functional.pad(ent, (1, 0))


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi (Schulman's estimators).

    - ``k1 = log pi - log pi_ref``: unbiased, can be negative per token.
    - ``k3 = (r - 1) - log r`` with ``r = pi_ref / pi``: unbiased and never negative.
    """
    log_ratio = logp - ref_logp
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kl estimator must be 'k1' or 'k3', got {kind!r}")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def masked_whiten(
    x: torch.Tensor,
    mask: torch.Tensor,
    shift_mean: bool = True,
    all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Normalise ``x`` with the mean and (unbiased) std of its masked entries only; padding
    and env tokens neither enter the statistics nor change.

    ``all_reduce`` (a sum over processes) makes the statistics those of every process's
    entries together, for data-parallel PPO."""
    reduce = all_reduce or (lambda t: t)
    mask = mask.to(x.dtype)
    total, count = reduce(torch.stack([(x * mask).sum(), mask.sum()]))
    mean = total / count.clamp(min=1.0)
    centred = x - mean
    n = count.clamp(min=2.0)
    var = reduce((centred.pow(2) * mask).sum()) / (n - 1)
    out = centred * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return torch.where(mask.bool(), out, x)


def gae_over_agent_tokens(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the agent's tokens only.

    Env-produced spans (tool responses) are *skipped*: the agent token after a tool
    response is the next time step of the token before it. Zero-filling those spans
    instead would run the recursion through k fake steps and damp credit by (gamma*lam)^k.
    Each row ends after its last agent token (terminal, no bootstrap).

    Returns ``(advantages, returns)``, zero off the mask.
    """
    bsz, length = rewards.shape
    adv = torch.zeros_like(rewards)
    for b in range(bsz):
        idx = mask[b].nonzero().squeeze(-1)
        if idx.numel() == 0:
            continue
        r, v = rewards[b, idx], values[b, idx]
        next_v = torch.cat([v[1:], v.new_zeros(1)])
        delta = r + gamma * next_v - v
        a = torch.zeros_like(delta)
        running = delta.new_zeros(())
        for j in range(len(idx) - 1, -1, -1):
            running = delta[j] + gamma * lam * running
            a[j] = running
        adv[b, idx] = a
    returns = (adv + values) * mask
    return adv, returns


#: The ``PPOConfig.advantage`` choices: GAE with the value head, or a critic-free
#: baseline from the other episodes of the same item.
ADVANTAGE_ESTIMATORS = ("gae", "grpo", "rloo")


def group_advantages(returns: torch.Tensor, groups: torch.Tensor, kind: str) -> torch.Tensor:
    """Critic-free advantages of whole episodes: each episode's return against the other
    episodes of its group (the episodes of one item).

    - ``grpo`` (Shao et al. 2024, DeepSeekMath): ``A_i = (R_i - mean_g R) / (std_g R + 1e-4)``
      with the unbiased std of the group (TRL's GRPOTrainer). A group whose returns are all
      equal gets 0: it holds no signal about which answer was better.
    - ``rloo`` (Ahmadian et al. 2024): ``A_i = R_i - mean_{j != i} R_j``, the leave-one-out
      baseline, which equals ``G / (G - 1) * (R_i - mean_g R)``.

    ``returns`` [B], ``groups`` [B] (non-negative labels; every group needs at least two
    episodes). Returns [B]; the caller puts ``A_i`` on every agent token of episode i.
    """
    if kind not in ("grpo", "rloo"):
        raise ValueError(f"group advantages are 'grpo' or 'rloo', got {kind!r}")
    if bool((groups < 0).any()):
        raise ValueError(
            f"{kind} needs episodes collected in groups (group -1 means none): "
            "collect_episodes(..., group_size=G) with G >= 2"
        )
    returns = returns.to(torch.float32)
    labels, index, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    if bool((counts < 2).any()):
        raise ValueError(
            f"{kind} needs at least two episodes per group; group sizes {counts.tolist()}"
        )
    n = counts.to(returns.dtype)
    sums = torch.zeros(len(labels), device=returns.device).index_add_(0, index, returns)
    mean = (sums / n)[index]
    if kind == "rloo":
        size = n[index]
        return size / (size - 1) * (returns - mean)
    squares = torch.zeros(len(labels), device=returns.device)
    squares.index_add_(0, index, (returns - mean).pow(2))
    std = (squares / (n - 1)).sqrt()[index]
    return (returns - mean) / (std + 1e-4)


def masked_rescale(
    x: torch.Tensor,
    mask: torch.Tensor,
    all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``x`` divided by the root mean square of its masked entries: unit scale, no shift.

    The critic-free estimators' normaliser. Their advantages sum to zero within each
    group, so the tokens a group's episodes share get no net push. Subtracting a mean
    over *tokens*, as whitening does, breaks that when episodes differ in length: every
    token gets the same shift, so a group's shared tokens get a net push. A single
    positive scale keeps every group's sum zero. (On Python it made no measurable
    difference: benchmarks/results/ppo_learning_python_sweep.md.)"""
    reduce = all_reduce or (lambda t: t)
    mask = mask.to(x.dtype)
    square, count = reduce(torch.stack([(x.pow(2) * mask).sum(), mask.sum()]))
    out = x * torch.rsqrt(square / count.clamp(min=1.0) + 1e-8)
    return torch.where(mask.bool(), out, x)


def normalise_advantages(
    advantages: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "whiten",
    all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``mode="whiten"``: :func:`masked_whiten` (mean and std over agent tokens);
    ``"scale"``: :func:`masked_rescale` (a scale only, for the critic-free estimators,
    whose group baseline already centres them)."""
    if mode == "whiten":
        return masked_whiten(advantages, mask, all_reduce=all_reduce)
    if mode == "scale":
        return masked_rescale(advantages, mask, all_reduce=all_reduce)
    raise ValueError(f"advantage normalisation must be 'whiten' or 'scale', got {mode!r}")


def token_advantages(
    kind: str,
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    groups: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages, returns)`` on every agent token under estimator ``kind``: GAE with
    the values, or, critic-free, each episode's return (its summed per-token rewards: the
    env reward and the KL penalty) against its group (:func:`group_advantages`), put on
    each of its agent tokens."""
    if kind == "gae":
        return gae_over_agent_tokens(rewards, values * mask, mask, gamma, lam)
    episode_return = rewards.sum(1)
    episode_adv = group_advantages(episode_return, groups, kind)
    return episode_adv[:, None] * mask, episode_return[:, None] * mask


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped surrogate: ``max(-A r, -A clip(r, 1-eps, 1+eps))``, masked mean."""
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    log_ratio, ratio, unclipped, clipped = (
        t.detach() for t in (log_ratio, ratio, unclipped, clipped)
    )
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).float(), mask),
        # 0.5 E[(log r)^2] as TRL reports it, and the k3 estimate CleanRL reports.
        "approxkl": 0.5 * masked_mean(log_ratio.pow(2), mask),
        "policykl": masked_mean(torch.expm1(log_ratio) - log_ratio, mask),
        "ratio_mean": masked_mean(ratio, mask),
    }
    return loss, stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range_value: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss: ``0.5 max((V - R)^2, (clip(V, V_old +- eps) - R)^2)``."""
    clipped = old_values + (values - old_values).clamp(-clip_range_value, clip_range_value)
    err1 = (values - returns).pow(2)
    err2 = (clipped - returns).pow(2)
    loss = 0.5 * masked_mean(torch.maximum(err1, err2), mask)
    err1, err2 = err1.detach(), err2.detach()
    return loss, {
        "clipfrac": masked_mean((err2 > err1).float(), mask),
        "error": masked_mean(err1, mask),
    }


class AdaptiveKLController:
    """Ziegler et al. (2019): steer the KL coefficient so the measured KL tracks a target.

    ``beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n_steps / horizon)``
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float):
        if target <= 0 or horizon <= 0:
            raise ValueError("adaptive KL needs a positive target and horizon")
        self.value = float(init_kl_coef)
        self.target = float(target)
        self.horizon = float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value, self.target, self.horizon = state["value"], state["target"], state["horizon"]


class FixedKLController:
    """A constant KL coefficient."""

    def __init__(self, kl_coef: float):
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        pass

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = state["value"]


# ---- the global batch under data parallelism ---------------------------------------


def global_mean(
    par: Collective, values: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum(values * weights) / sum(weights), sum(weights))`` over every process's
    entries: a masked mean when ``weights`` is a mask, a token-weighted one when it is a
    count. ``values`` ``[k, ...]`` gives ``k`` means from one collective call."""
    w = weights.to(values.dtype)
    weighted = (values * w).reshape(len(values), -1).sum(1)
    sums = par.all_reduce_sum(torch.cat([weighted, w.sum().reshape(1)]))
    return sums[:-1] / sums[-1].clamp(min=1.0), sums[-1]


def minibatch_order(
    lengths: torch.Tensor,
    size: int,
    generator: torch.Generator,
    group_by_length: bool,
    groups: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """One epoch's minibatches of indices into the (global) batch of ``len(lengths)``
    episodes, the last possibly partial. Every process calls it with the same arguments
    and gets the same minibatches.

    ``group_by_length`` sorts the episodes by length with +-10% random jitter and cuts
    them into minibatches in that order, then shuffles the order of the minibatches:
    episodes of similar length train together (less padding), and which of them share a
    minibatch changes from epoch to epoch. Otherwise a uniform random permutation.

    ``groups`` (labels, as :func:`group_advantages` reads them): the episodes of a group
    stay in one minibatch, which then holds whole groups, at least ``size`` episodes
    where the batch allows. A group's critic-free advantages sum to zero, so the tokens
    its episodes share get no net push only when they share a gradient step; split over
    minibatches, each step pushes those tokens up or down in turn, and Adam, which takes
    steps of about the learning rate whatever the gradient's size, turns that into drift
    (benchmarks/results/ppo_learning_python_sweep.md). Ungrouped labels (-1) are ignored."""
    on = generator.device  # the generator's own device (the host, in PPO)
    if groups is not None and len(groups) and bool((groups >= 0).all()):
        return _whole_group_minibatches(lengths, size, generator, group_by_length, groups)
    if not group_by_length:
        return list(torch.randperm(len(lengths), generator=generator, device=on).split(size))
    jitter = 1.0 + 0.2 * (torch.rand(len(lengths), generator=generator, device=on) - 0.5)
    chunks = torch.argsort(lengths.float() * jitter).split(size)
    order = torch.randperm(len(chunks), generator=generator, device=on)
    return [chunks[i] for i in order]


def _whole_group_minibatches(lengths, size, generator, group_by_length, groups):
    """:func:`minibatch_order` over groups instead of episodes: groups ordered by their
    longest episode (with jitter) or at random, packed whole into minibatches."""
    on = generator.device
    labels, inverse = torch.unique(groups.cpu(), return_inverse=True)
    members = [torch.nonzero(inverse == k).squeeze(1) for k in range(len(labels))]
    if group_by_length:
        longest = torch.stack([lengths.cpu()[m].max() for m in members]).float()
        jitter = 1.0 + 0.2 * (torch.rand(len(members), generator=generator, device=on) - 0.5)
        order = torch.argsort(longest * jitter.cpu())
    else:
        order = torch.randperm(len(members), generator=generator, device=on).cpu()
    minibatches, current, count = [], [], 0
    for k in order.tolist():
        current.append(members[k])
        count += len(members[k])
        if count >= size:
            minibatches.append(torch.cat(current))
            current, count = [], 0
    if current:
        minibatches.append(torch.cat(current))
    if group_by_length:
        shuffle = torch.randperm(len(minibatches), generator=generator, device=on).tolist()
        minibatches = [minibatches[i] for i in shuffle]
    return minibatches
