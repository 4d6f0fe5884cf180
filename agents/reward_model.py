"""Reward modelling: preference pairs from env episodes, a scalar-head sequence classifier
trained with the pairwise loss, and the two ways a trained model becomes a reward.

- :func:`preference_pairs`: agents play the same items; the task's score ranks their
  answers (or whole transcripts), and every pair with different scores is a (chosen,
  rejected) pair. A trained policy's failures make the *hard* negatives: the near misses a
  policy trained against the model will produce, not random text.
- :class:`RewardModel`: ``AutoModelForSequenceClassification`` with one output (the
  scalar head), on the env's tokenizer; trained by :func:`train_reward_model` with
  ``-log sigmoid(r_chosen - r_rejected)`` (Ouyang et al., 2022).
- :class:`RewardModelScorer`: a sentiment :class:`~textgym.tools.sentiment.Scorer`
  (``tanh`` of the reward, in ``[-1, 1]``), so ``TextEnv-Sentiment-v0`` can score with it.
- :class:`LearnedReward`: a wrapper that makes it the final reward of any textgym env.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from textgym.agents.config_checks import require_positive_ints
from textgym.agents.devices import (
    autocast,
    check_device_name,
    check_dtype_name,
    grad_scaler,
    module_device,
    place,
)
from textgym.agents.padding import right_pad
from textgym.agents.value_head import quiet_transformers
from textgym.env_spec import env_spec
from textgym.rollout import Agent, Episode, run_episode
from textgym.tokenizer import decode, encode_text, make_tokenizer
from textgym.tools.sentiment import Scorer

__all__ = [
    "PreferencePair",
    "preference_pairs",
    "RewardConfig",
    "RewardModel",
    "pairwise_loss",
    "train_reward_model",
    "pairwise_accuracy",
    "hard_negative_accuracy",
    "transcript_text",
    "RewardModelScorer",
    "LearnedReward",
]

META_FILE = "reward_model.json"


@dataclass(frozen=True)
class PreferencePair:
    """Two answers to one prompt, ``chosen`` scored higher by the task than ``rejected``."""

    prompt: str
    chosen: str
    rejected: str
    margin: float  # task score of chosen minus that of rejected
    # The rejected text is a failure of one of the agents named in ``hard_from`` and the
    # chosen one a success: the negatives a reward model must get right to train a policy.
    hard: bool = False


def transcript_text(tokenizer, tokens: Sequence[int] | np.ndarray, prompt_length: int) -> str:
    """An episode's text after its prompt: the agent's turns and the tools' responses."""
    return decode(tokenizer, np.asarray(tokens)[prompt_length:])


def _played_text(env: gym.Env, episode: Episode, transcript: bool) -> str:
    if transcript:
        return transcript_text(env_spec(env).tokenizer, episode.tokens, episode.prompt_length)
    return episode.answer or ""


def preference_pairs(
    env: gym.Env,
    agents: Sequence[Agent],
    items: Sequence[int],
    *,
    split: str = "train",
    seed: int = 0,
    transcript: bool = False,
    min_margin: float = 0.0,
    hard_from: Sequence[int] = (),
    progress: bool = False,
) -> list[PreferencePair]:
    """Every agent plays every item of ``split``; on each item, every two texts whose
    rewards differ by more than ``min_margin`` make a pair. The texts are the final
    answers, or with ``transcript`` everything after the prompt (tool calls and responses
    included, so a model can check an answer against what the tool said). A pair is
    ``hard`` when its rejected text is a failure of an agent whose index is in
    ``hard_from`` and its chosen text a success. Deterministic for a seed."""
    if len(agents) < 2:
        raise ValueError("preference pairs need at least two agents")
    if min_margin < 0:
        raise ValueError(f"min_margin must be >= 0, got {min_margin}")
    pairs = []
    for index in tqdm(items, desc="preference pairs", disable=not progress, unit="item"):
        played = []
        for k, agent in enumerate(agents):
            episode = run_episode(
                env,
                agent,
                seed=seed * 1_000_003 + index * 31 + k,
                options={"split": split, "index": int(index)},
            )
            text = _played_text(env, episode, transcript)
            played.append((text, episode.reward, episode.success, k in hard_from))
        prompt = env.get_wrapper_attr("item").question
        for i in range(len(played)):
            for j in range(i + 1, len(played)):
                better, worse = sorted((played[i], played[j]), key=lambda p: -p[1])
                if better[1] - worse[1] > min_margin and better[0] != worse[0]:
                    hard = worse[3] and not worse[2] and better[2]
                    pairs.append(
                        PreferencePair(
                            prompt, better[0], worse[0], better[1] - worse[1], bool(hard)
                        )
                    )
    return pairs


@dataclass
class RewardConfig:
    """Settings of :func:`train_reward_model`.

    steps (300): gradient steps.
    batch_size (16): pairs per step.
    learning_rate (5e-4): Adam step size.
    seed (0): initial weights and batch order.
    max_length (256): tokens per text (the newest are kept).
    with_prompt (False): score ``prompt + answer`` instead of the answer alone
        (answer-only is what a sentiment scorer sees).
    with_transcript (False): score the prompt and the whole episode after it (the agent's
        turns and the tools' responses) instead of the final answer, so the model can
        check the answer against the tool's result; implies ``with_prompt``.
    n_layer (2): transformer blocks of the model :meth:`RewardModel.from_config` builds.
    n_embd (128): its width (a multiple of its 4 heads).
    device ("cpu"): where it trains: "auto", "cpu", "cuda", "cuda:N" or "mps".
    dtype ("float32"): "float32", "bfloat16" or "float16" (autocast; float16 on GPUs only).
    """

    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 5e-4
    seed: int = 0
    max_length: int = 256
    with_prompt: bool = False
    with_transcript: bool = False
    n_layer: int = 2
    n_embd: int = 128
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        require_positive_ints(self, ("steps", "batch_size", "max_length", "n_layer", "n_embd"))
        if self.n_embd % 4:
            raise ValueError(
                "RewardConfig.n_embd must be a multiple of the 4 attention heads, "
                f"got {self.n_embd}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"RewardConfig.learning_rate must be > 0, got {self.learning_rate}")
        check_device_name(self.device, "RewardConfig.device")
        check_dtype_name(self.dtype, "RewardConfig.dtype")


class RewardModel(torch.nn.Module):
    """A sequence classifier with one output: the reward of a text.

    Args:
        model: an ``AutoModelForSequenceClassification`` with ``num_labels=1`` whose config
            has a ``pad_token_id`` (the score is read at the last non-pad token).
        tokenizer: the env's tokenizer (default: textgym's ByT5 with markers).
        config: the :class:`RewardConfig` it was trained with (``with_prompt``,
            ``max_length``).
    """

    def __init__(
        self,
        model,
        tokenizer=None,
        config: RewardConfig | None = None,
        *,
        offset: float = 0.0,
        scale: float = 1.0,
    ):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer or make_tokenizer()
        self.config = config or RewardConfig()
        # Raw rewards have an arbitrary offset and scale (the pairwise loss only sees
        # differences); training sets these to the mean and spread of its own texts'
        # rewards, so normalized() is about N(0, 1) there.
        self.offset = float(offset)
        self.scale = float(scale)

    @classmethod
    def from_config(
        cls,
        config: RewardConfig | None = None,
        *,
        n_layer: int | None = None,
        n_embd: int | None = None,
        n_head: int = 4,
    ) -> RewardModel:
        """A tiny GPT-2 classifier sized to the ByT5 tokenizer, seeded by ``config.seed``
        without touching the global RNG; ``n_layer`` and ``n_embd`` default to the
        config's."""
        from transformers import AutoModelForSequenceClassification, GPT2Config

        config = config or RewardConfig()
        n_layer = config.n_layer if n_layer is None else n_layer
        n_embd = config.n_embd if n_embd is None else n_embd
        tokenizer = make_tokenizer()
        gpt2 = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=max(256, config.max_length),
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            num_labels=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            # No dropout: it would draw from torch's global RNG, and the same seed must give
            # the same reward model.
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            summary_first_dropout=0.0,
        )
        with torch.random.fork_rng():
            torch.manual_seed(config.seed)
            model = AutoModelForSequenceClassification.from_config(gpt2)
        return cls(model, tokenizer, config)

    #: Forward passes run under autocast at this dtype (None: float32); see place().
    autocast_dtype: torch.dtype | None = None

    @property
    def device(self) -> torch.device:
        return module_device(self)

    def text_of(self, prompt: str, answer: str) -> str:
        """What the model scores: ``answer`` (a final answer, or a transcript when trained
        ``with_transcript``), after the prompt when the model was trained with it."""
        with_prompt = self.config.with_prompt or self.config.with_transcript
        return f"{prompt}\n{answer}" if with_prompt else answer

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Rewards of a batch of texts, shape ``[len(texts)]``."""
        pad = self.tokenizer.pad_token_id
        rows = [encode_text(self.tokenizer, t)[-self.config.max_length :] for t in texts]
        # An empty text still needs one token to be scored: the pad token stands in.
        rows = [r if len(r) else np.array([pad], dtype=np.int64) for r in rows]
        ids, mask = right_pad(rows, pad, device=self.device)
        with autocast(self.device, self.autocast_dtype):
            logits = self.model(input_ids=ids, attention_mask=mask).logits
        return logits[:, 0].float()

    @torch.no_grad()
    def score(self, texts: Sequence[str], batch_size: int = 64) -> list[float]:
        self.eval()
        out: list[float] = []
        for start in range(0, len(texts), batch_size):
            out.extend(self(list(texts[start : start + batch_size])).tolist())
        return out

    def normalized(self, texts: Sequence[str]) -> list[float]:
        """Rewards shifted and scaled by the training texts' mean and spread."""
        return [(r - self.offset) / self.scale for r in self.score(texts)]

    def save_pretrained(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        meta = {
            "format": 1,
            "config": asdict(self.config),
            "offset": self.offset,
            "scale": self.scale,
        }
        (path / META_FILE).write_text(json.dumps(meta))

    @classmethod
    def load(cls, model: RewardModel | str | os.PathLike) -> RewardModel:
        """``model`` itself, or the model saved in that folder."""
        return model if isinstance(model, RewardModel) else cls.from_pretrained(model)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> RewardModel:
        from transformers import AutoModelForSequenceClassification

        path = Path(path)
        if not (path / META_FILE).is_file():
            raise FileNotFoundError(
                f"no textgym reward model at {str(path)!r} (missing {META_FILE}); train one "
                "with `textgym train reward`"
            )
        meta = json.loads((path / META_FILE).read_text())
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
        return cls(
            model,
            make_tokenizer(path),
            RewardConfig(**meta["config"]),
            offset=meta.get("offset", 0.0),
            scale=meta.get("scale", 1.0),
        )


def pairwise_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """``-log sigmoid(r_chosen - r_rejected)``, averaged: the Bradley-Terry likelihood."""
    return -torch.nn.functional.logsigmoid(r_chosen - r_rejected).mean()


def train_reward_model(
    rm: RewardModel, pairs: Sequence[PreferencePair], *, progress: bool = True
) -> list[float]:
    """Train ``rm`` on ``pairs`` with the pairwise loss; return the loss of each step."""
    if not pairs:
        raise ValueError("no preference pairs to train on")
    cfg = rm.config
    device = place(rm, cfg.device, cfg.dtype)
    scaler = grad_scaler(device, rm.autocast_dtype)
    # Which pairs make a batch is drawn on the host (it picks list items).
    generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(rm.parameters(), lr=cfg.learning_rate)
    rm.train()
    losses = []
    bar = tqdm(range(cfg.steps), desc="reward model", disable=not progress)
    for _ in bar:
        size = (min(cfg.batch_size, len(pairs)),)
        idx = torch.randint(len(pairs), size, generator=generator, device="cpu")
        batch = [pairs[i] for i in idx.tolist()]
        rewards = rm(
            [rm.text_of(p.prompt, p.chosen) for p in batch]
            + [rm.text_of(p.prompt, p.rejected) for p in batch]
        )
        loss = pairwise_loss(rewards[: len(batch)], rewards[len(batch) :])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    rm.eval()
    texts = list({rm.text_of(p.prompt, t) for p in pairs for t in (p.chosen, p.rejected)})
    rewards = np.asarray(rm.score(sorted(texts)))
    rm.offset, rm.scale = float(rewards.mean()), float(max(rewards.std(), 1e-6))
    return losses


def pairwise_accuracy(rm: RewardModel, pairs: Sequence[PreferencePair]) -> float:
    """Share of pairs whose chosen answer the model scores strictly higher."""
    if not pairs:
        raise ValueError("no pairs to measure accuracy on")
    chosen = rm.score([rm.text_of(p.prompt, p.chosen) for p in pairs])
    rejected = rm.score([rm.text_of(p.prompt, p.rejected) for p in pairs])
    return float(np.mean([c > r for c, r in zip(chosen, rejected)]))


def hard_negative_accuracy(rm: RewardModel, pairs: Sequence[PreferencePair]) -> float | None:
    """:func:`pairwise_accuracy` on the ``hard`` pairs only; None where there are none."""
    hard = [p for p in pairs if p.hard]
    return pairwise_accuracy(rm, hard) if hard else None


class RewardModelScorer(Scorer):
    """A trained reward model as a sentiment scorer: ``tanh`` of the normalized reward
    (:meth:`RewardModel.normalized`), in ``[-1, 1]``.

    ``gym.make("TextEnv-Sentiment-v0", scorer=RewardModelScorer("runs/rm"))``
    """

    name = "reward-model"

    def __init__(self, model: RewardModel | str | os.PathLike):
        self.model = RewardModel.load(model)

    def score(self, texts: Sequence[str]) -> list[float]:
        return [math.tanh(r) for r in self.model.normalized([str(t) for t in texts])]


class LearnedReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The final reward of any textgym env replaced by a reward model's score of the final
    answer (with the item's question when the model was trained ``with_prompt``).

    ## Rewards

    0 on every step but the last, as before; the last gets ``tanh`` of the normalized
    reward times ``scale``. A model trained ``with_transcript`` scores the question and
    the whole episode after the prompt (tool calls and responses). The task's
    own reward stays in ``info["task_reward"]`` and ``info["success"]`` is unchanged, so
    evaluation still reports the task's verdict.

    ## Arguments

    - ``env``: a textgym env (its ``item`` gives the question).
    - ``model``: a :class:`RewardModel` or its folder.
    - ``scale`` (1.0): multiplies the squashed score.
    """

    def __init__(self, env: gym.Env, model: RewardModel | str | os.PathLike, scale: float = 1.0):
        gym.utils.RecordConstructorArgs.__init__(self, scale=scale)
        gym.Wrapper.__init__(self, env)
        self.model = RewardModel.load(model)
        self.scale = float(scale)
        self._prompt_length = 0

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._prompt_length = len(obs)  # the reset observation is the prompt
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            item = self.env.get_wrapper_attr("item")
            if self.model.config.with_transcript:
                tokenizer = env_spec(self.env).tokenizer
                answer = transcript_text(tokenizer, obs, self._prompt_length)
            else:
                answer = info.get("answer") or ""
            text = self.model.text_of(item.question, answer)
            learned = math.tanh(self.model.normalized([text])[0])
            info = dict(info, task_reward=reward)
            reward = learned * self.scale
        return obs, reward, terminated, truncated, info
