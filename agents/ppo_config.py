"""``PPOConfig``: every PPO setting, its default, and where it departs from TRL's classic
``PPOConfig`` (trl 0.11) and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from textgym.agents.config_checks import require_positive_ints
from textgym.agents.devices import check_device_name, check_dtype_name
from textgym.agents.ppo_math import ADVANTAGE_ESTIMATORS

__all__ = ["PPOConfig"]


@dataclass
class PPOConfig:
    """Settings of :class:`textgym.agents.PPO`.

    Rollouts
        seed (0): seeds the sampler, minibatch order and env resets; same seed, same run.
        episodes_per_iteration (32): episodes collected per PPO iteration (TRL's
            ``batch_size``, 128 there; smaller here so an iteration takes seconds on a CPU).
        max_new_tokens (48): cap on tokens per agent turn (also capped by the env's
            ``max_turn_tokens``).
        temperature (1.0): sampling temperature ``T``. The policy PPO trains is then
            ``softmax(logits / T)``: every log-prob, ratio, entropy and KL (the
            reference's too) is scored at ``T``, as TRL's GRPOTrainer does, so the
            update stays on the distribution that sampled. Below 1 a sharp SFT start
            samples closer to its greedy answers (more groups that hold a success);
            above 1 it explores more. Greedy evaluation does not depend on it. (TRL's
            classic PPO sampled with top-k but scored the plain softmax, which made its
            reported KL negative.)
        reuse_kv_cache (True): keep each episode's keys and values across its turns, so a
            turn feeds only the tool response and what is new (TRL re-encoded the whole
            history every turn). Off only for benchmarks that measure the difference.
        share_prefix (True): the tokens every episode of a batch starts with (the system
            prompt; in a group of episodes of one item, the whole prompt) run once, in
            generation, in scoring and in every update minibatch, and their keys and values
            serve each row. Exact (the same numbers up to float rounding); causal LMs only,
            an encoder-decoder policy ignores it. Off only to measure the difference.

    Optimisation
        learning_rate (1e-4): Adam step size (TRL 1.41e-5, tuned for GPT-2 124M; a tiny
            model from scratch needs larger steps).
        lr_schedule ("constant"): "constant", or "linear" decay to 0 over ``total_iterations``.
        total_iterations (100): length of the run, for the linear schedule and the CLI.
        ppo_epochs (4): passes over each batch (TRL 4).
        mini_batch_size (8): episodes per gradient step; the last, partial minibatch is used,
            never dropped (TRL silently dropped it).
        group_by_length (True): each minibatch holds episodes of similar length (sorted
            by length with +-10% random jitter) and is cut to its own longest, so short
            episodes are not padded to the longest of the batch. This changes which
            episodes share a gradient step, not any number computed: the seed draws the
            jitter, so which episodes of similar length share a minibatch varies from
            epoch to epoch, and the order of the minibatches. False: a uniform shuffle
            (TRL's).
        split_by_length (True): within one forward pass (a minibatch, a scoring chunk),
            rows of very different lengths run in groups, each padded to its own longest,
            when that computes fewer token positions. Exact.
        Under ``accelerate launch`` both are global: each process collects an equal share
        of the episodes (so ``episodes_per_iteration`` must be a multiple of the number of
        processes), and minibatches are drawn from all processes' episodes together.
        max_grad_norm (1.0): gradient clipping (TRL: off). Clipping keeps the rare huge
            gradient from a near-zero-probability token from wrecking a tiny model.
        adam_eps (1e-5): CleanRL's value.

        group_size (1): episodes per item. Each group of ``group_size`` consecutive
            episodes is reset with one seed, so its episodes start from the same item and
            differ only by what the policy samples. ``grpo`` and ``rloo`` need at least 2;
            ``episodes_per_iteration`` (per process) must be a multiple of it.

    Advantages
        advantage ("gae"): "gae": GAE over agent tokens with the value head (TRL's).
            "grpo": each episode's return normalised by the mean and std of its group
            (GRPO). "rloo": its return minus the mean of the other episodes of its group
            (RLOO). Both are critic-free: the value head gets no loss. The return is the
            env reward plus the summed KL penalty, so the three estimators share one
            KL control. Each episode's advantage goes to all of its agent tokens.
            From a sharp SFT start prefer "rloo" or "grpo": GAE's untrained value head
            gives the early tokens every episode shares negative whitened advantages, and
            that pulled a 98% calculator policy to 1% in five iterations
            (benchmarks/results/calculator_levels_sweep.md).

    PPO losses
        gamma (1.0), lam (0.95): GAE discount and trace decay over agent tokens (TRL's).
        clip_range (0.2), clip_range_value (0.2): policy and value clipping (TRL's).
        vf_coef (0.1): value-loss weight (TRL's).
        ent_coef (0.0): entropy bonus weight (TRL has none; entropy is still logged).
        whiten_advantages (True): normalise advantages over agent tokens, as
            ``advantage_norm`` says.
        advantage_norm ("whiten"): "whiten" (mean and std over agent tokens, every
            estimator; TRL's) or, for "grpo" and "rloo" only, "scale": divided by their
            RMS, no shift. Their group baselines sum to zero within a group, so the
            tokens a group shares get no net push; a mean shift over tokens breaks that
            when episodes differ in length (ppo_math.masked_rescale).
        only_positive_advantages (False): the critic-free estimators only: an episode
            worse than its group's baseline gets advantage 0 instead of a negative one,
            so the update raises the likelihood of the group's better episodes and
            pushes nothing down (filtered behaviour cloning on the policy's own samples,
            as in RAFT and ReST-EM, inside PPO's clipped ratio). From a sharp SFT start
            the push-down half of a sequence-level advantage lands on every token of a
            long failed episode, most of them right, and spreads their probability over
            other tokens (benchmarks/results/ppo_learning_python_sweep.md).
        ratio_threshold (10.0): a minibatch whose mean ratio exceeds this is skipped
            (TRL's safeguard against a diverging update).
        early_stopping (True), target_kl (0.1): stop the epochs of an iteration once the
            minibatch approx-KL (0.5 E[(log r)^2]) exceeds 1.5 x target_kl. TRL had it off
            by default; a small model leaves the trust region quickly.

    PPO-ptx: behaviour cloning beside the update (InstructGPT's pretraining mix)
        ptx_coef (0.0): each gradient step adds ptx_coef times the behaviour-cloning loss
            (the mean NLL of the agent tokens, as SFT's) of mini_batch_size
            demonstrations drawn at random from the run's oracle demonstrations.
            InstructGPT mixed pretraining text into PPO so that RL would not wear down
            what pretraining taught; here the demonstrations are the env's oracle
            episodes, the SFT warm start's data, and what they keep is what SFT taught:
            copying the question's numbers into a program exactly, which
            sequence-level updates on a sharp start erode. On Python's word problems
            PPO lost 13 points without it and 1 with it
            (benchmarks/results/ppo_learning_python_sweep.md). A gain made with it is
            RL's only where it beats SFT continued for the same time.
            The demonstrations come from the training env's oracle, so an env whose
            oracle always calls the tool teaches tool use through this term: leave it
            at 0 for tool discovery.
        ptx_demonstrations (2000): how many oracle episodes a training run draws for it,
            on train items seeded seed .. seed + n - 1 (with the default seeds, the very
            episodes the SFT warm start learned from); the same again on resume.

    KL penalty to the frozen reference
        kl_penalty ("reward"): where the KL goes. "reward" (TRL's, Ziegler's): every
            agent token's reward gets ``-beta * KL_t``, so an episode's return carries the
            KL summed over its tokens. "loss" (GRPO's): the return is the env reward
            alone, and the loss gets ``beta`` times the per-token *mean* k3 KL of the
            current policy. A sum grows with length, so once the task reward stops
            rising a summed penalty pays the policy for shorter answers, and within an
            RLOO/GRPO group of equal rewards length is the only difference left
            (benchmarks/results/ppo_learning_sentiment_sweep.md); a mean does not.
        kl_estimator ("k1"): "k1" (log-ratio, TRL's "kl") or "k3" (non-negative), for
            the penalty in the reward and for ``objective/kl``.
        init_kl_coef (0.05): starting beta (TRL 0.2). Our task rewards are 0/1 at the end
            of an episode while the penalty is summed over every agent token, so TRL's 0.2
            would drown the task signal.
        adaptive_kl (True), kl_target (2.0), kl_horizon (10000): Ziegler's controller
            (TRL: target 6 nats for 100-token generations; ours are shorter).

    Hardware
        device ("cpu"): where the policy and every tensor of a step live: "auto" (a GPU
            when there is one), "cpu", "cuda", "cuda:N" or "mps". Under ``accelerate
            launch`` "cuda" and "auto" mean each process's own GPU.
        dtype ("float32"): the forward passes' precision: "float32", "bfloat16" or
            "float16" (autocast; weights, log-probs, values and advantages stay float32).
            float16 is for GPUs only.

    Checkpoints
        checkpoint_every (10): iterations between atomic checkpoints (0: only at the end).
        keep_checkpoints (2): how many checkpoints to keep.
    """

    seed: int = 0
    episodes_per_iteration: int = 32
    max_new_tokens: int = 48
    temperature: float = 1.0
    reuse_kv_cache: bool = True
    share_prefix: bool = True
    group_size: int = 1

    advantage: str = "gae"

    learning_rate: float = 1e-4
    lr_schedule: str = "constant"
    total_iterations: int = 100
    ppo_epochs: int = 4
    mini_batch_size: int = 8
    group_by_length: bool = True
    split_by_length: bool = True
    max_grad_norm: float = 1.0
    adam_eps: float = 1e-5

    gamma: float = 1.0
    lam: float = 0.95
    clip_range: float = 0.2
    clip_range_value: float = 0.2
    vf_coef: float = 0.1
    ent_coef: float = 0.0
    whiten_advantages: bool = True
    advantage_norm: str = "whiten"
    only_positive_advantages: bool = False
    ratio_threshold: float = 10.0
    early_stopping: bool = True
    target_kl: float = 0.1

    ptx_coef: float = 0.0
    ptx_demonstrations: int = 2000

    kl_penalty: str = "reward"
    kl_estimator: str = "k1"
    init_kl_coef: float = 0.05
    adaptive_kl: bool = True
    kl_target: float = 2.0
    kl_horizon: float = 10000.0

    device: str = "cpu"
    dtype: str = "float32"

    checkpoint_every: int = 10
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        positive_ints = (
            "episodes_per_iteration",
            "max_new_tokens",
            "total_iterations",
            "ppo_epochs",
            "mini_batch_size",
            "keep_checkpoints",
            "group_size",
            "ptx_demonstrations",
        )
        require_positive_ints(self, positive_ints)
        if self.advantage not in ADVANTAGE_ESTIMATORS:
            raise ValueError(
                f"PPOConfig.advantage must be one of {ADVANTAGE_ESTIMATORS}, got {self.advantage!r}"
            )
        if self.advantage != "gae" and self.group_size < 2:
            raise ValueError(
                f"advantage={self.advantage!r} compares episodes of one item: set "
                "group_size to 2 or more (e.g. 4)"
            )
        if self.episodes_per_iteration % self.group_size:
            raise ValueError(
                f"episodes_per_iteration ({self.episodes_per_iteration}) must be a multiple "
                f"of group_size ({self.group_size})"
            )
        if self.checkpoint_every < 0:
            raise ValueError("PPOConfig.checkpoint_every must be >= 0")
        for name in (
            "learning_rate",
            "clip_range",
            "clip_range_value",
            "target_kl",
            "kl_target",
            "kl_horizon",
            "max_grad_norm",
            "temperature",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("gamma", "lam"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"PPOConfig.{name} must be in [0, 1]")
        if self.kl_penalty not in ("reward", "loss"):
            raise ValueError(f"kl_penalty must be 'reward' or 'loss', got {self.kl_penalty!r}")
        if self.kl_estimator not in ("k1", "k3"):
            raise ValueError(f"kl_estimator must be 'k1' or 'k3', got {self.kl_estimator!r}")
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}"
            )
        if self.advantage_norm not in ("whiten", "scale"):
            raise ValueError(
                f"advantage_norm must be 'whiten' or 'scale', got {self.advantage_norm!r}"
            )
        if self.advantage_norm == "scale" and self.advantage == "gae":
            raise ValueError(
                "advantage_norm='scale' is for the critic-free estimators (grpo, rloo); "
                "GAE's advantages are not centred and need whitening"
            )
        if self.only_positive_advantages and self.advantage == "gae":
            raise ValueError(
                "only_positive_advantages is for the critic-free estimators (grpo, rloo): "
                "GAE's per-token advantages are not a comparison within a group"
            )
        if self.only_positive_advantages and self.whiten_advantages and (
            self.advantage_norm == "whiten"
        ):
            raise ValueError(
                "only_positive_advantages needs advantage_norm='scale' (or no "
                "normalisation): whitening subtracts a mean and makes some negative again"
            )
        if min(self.init_kl_coef, self.vf_coef, self.ent_coef, self.ptx_coef) < 0:
            raise ValueError("init_kl_coef, vf_coef, ent_coef and ptx_coef must be >= 0")
        # The names only: whether this machine has the device is checked on placing
        # the policy (a config is also read back on other machines).
        check_device_name(self.device, "PPOConfig.device")
        check_dtype_name(self.dtype, "PPOConfig.dtype")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown PPOConfig fields: {sorted(unknown)}")
        return cls(**data)
