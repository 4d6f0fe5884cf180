"""TRL's ``GRPOTrainer`` on any textgym env, through its ``rollout_func``.

The mapping:

- A TRL *prompt* is an env item: the dataset from :func:`make_dataset` has a ``prompt``
  column of JSON keys ``{"split": "train", "index": 7}``, and the rollout resets an env
  with ``options`` of that key. GRPO's sampler repeats each prompt ``num_generations``
  times in a row, so a group is one item played that many times.
- A TRL *completion* is a whole multi-turn episode after its prompt: every agent turn and
  every tool response. ``prompt_ids`` is the reset observation, ``completion_ids`` the
  rest of the final observation, both the env's ids as they are (no re-tokenization).
- ``env_mask`` is ``info["agent_mask"]`` over the completion (1 on agent tokens, 0 on tool
  responses and chat scaffolding). TRL multiplies it into the loss mask, so env tokens are
  scored by the forward pass but never trained on.
- ``logprobs`` are the sampling log-probs of the agent tokens at the trainer's
  temperature (0.0 on env tokens). TRL only reads them for vLLM importance sampling; its
  loss recomputes log-probs with a forward pass.
- The env's episode reward is forwarded as ``env_reward`` (one float per episode), and the
  reward function :func:`env_reward` hands it back to GRPO; ``env_success`` rides along
  for other reward functions.

Turns are sampled with textgym's own :func:`~textgym.agents.generation.sample_turns` (each
row stops at its own stop token, the item's shared prompt is prefilled once per group),
one batched call per turn over every live episode. The env and the model must share one
vocabulary: build the env with ``env_kwargs={"tokenizer": MODEL_DIR}``, pass
:func:`env_tokenizer` as the trainer's ``processing_class`` and grow the model's embeddings
with :func:`resize_for_env` (the markers format adds four tokens).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import textgym  # noqa: F401  (registers the envs)
from textgym.agents.devices import autocast
from textgym.agents.generation import sample_turns
from textgym.agents.value_head import ValueHeadLM
from textgym.env_spec import env_spec
from textgym.rollout import Episode
from textgym.task import SPLITS

__all__ = ["EnvRollout", "env_reward", "env_tokenizer", "item_key", "make_dataset"]
__all__ += ["make_rollout_func", "parse_item_key", "resize_for_env"]


# ---- the dataset: one prompt per env item -------------------------------------------


def item_key(split: str, index: int) -> str:
    """The ``prompt`` of an env item: ``{"split": ..., "index": ...}`` as JSON."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return json.dumps({"split": split, "index": int(index)})


def parse_item_key(prompt: Any) -> tuple[str, int]:
    """``(split, index)`` of a prompt written by :func:`item_key`."""
    try:
        key = json.loads(prompt)
        split, index = key["split"], int(key["index"])
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"a textgym prompt is a JSON item key such as {item_key('train', 0)!r}, "
            f"got {prompt!r}; build the dataset with make_dataset()"
        ) from error
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split, index


def make_dataset(
    env_id: str,
    n: int,
    *,
    split: str = "train",
    first_index: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> Dataset:
    """``n`` items of ``split`` (indices ``first_index .. first_index + n - 1``) as a TRL
    dataset: ``prompt`` is the item key the rollout resets with; ``question`` is the
    item's question, for reading (reward functions receive it too)."""
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        task = env.unwrapped.task
        indices = range(first_index, first_index + n)
        if split == "test" and indices.stop > task.test_size:
            raise ValueError(f"the test split has {task.test_size} items; asked for {indices}")
        return Dataset.from_dict(
            {
                "prompt": [item_key(split, i) for i in indices],
                "question": [task.item(split, i).question for i in indices],
            }
        )
    finally:
        env.close()


# ---- one vocabulary for env and model ------------------------------------------------


def env_tokenizer(env_id: str, env_kwargs: dict[str, Any] | None = None):
    """The env's tokenizer (the model's, plus the markers in the markers format): pass it
    to ``GRPOTrainer(processing_class=...)`` so that TRL pads and decodes with it."""
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        return env_spec(env).tokenizer
    finally:
        env.close()


def resize_for_env(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, seed=0):
    """Grow ``model``'s embeddings to the env tokenizer's vocabulary when it is smaller.
    transformers draws the new rows from torch's global RNG; ``seed`` fixes them and
    leaves the global RNG as it was (as :meth:`ValueHeadLM.resize_token_embeddings`)."""
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.resize_token_embeddings(len(tokenizer))
    return model


def check_vocab(env_tok, trainer_tok, model: torch.nn.Module) -> None:
    """Raise ``ValueError`` unless the trainer's tokenizer is the env's (same ids for the
    same tokens) and the model has an embedding row for every id."""
    hint = (
        "build the env with env_kwargs={'tokenizer': MODEL_DIR}, pass "
        "processing_class=env_tokenizer(env_id, env_kwargs) and call resize_for_env(model, ...)"
    )
    env_vocab, trainer_vocab = env_tok.get_vocab(), trainer_tok.get_vocab()
    tokens = env_vocab.keys() | trainer_vocab.keys()
    differ = sorted(t for t in tokens if env_vocab.get(t) != trainer_vocab.get(t))
    if differ:
        raise ValueError(
            f"the trainer's tokenizer is not the env's: {len(differ)} tokens differ "
            f"(e.g. {differ[:4]}); {hint}"
        )
    rows = model.get_input_embeddings().num_embeddings
    if rows < len(env_tok):
        raise ValueError(f"the model has {rows} embedding rows, the env {len(env_tok)} ids; {hint}")


# ---- rewards -------------------------------------------------------------------------


def env_reward(completions: list, env_reward: list[float], **kwargs: Any) -> list[float]:
    """GRPO reward function: the env's episode reward, forwarded by the rollout."""
    return [float(r) for r in env_reward]


# ---- sampling with the trainer's model -----------------------------------------------


class _SamplingView(ValueHeadLM):
    """The trainer's causal LM in the shape :func:`sample_turns` drives: ``(logits, None,
    cache)`` with no value head. Logits are cut to the env's ``vocab_size`` (a padded
    embedding table must not sample ids the env turns into ``<unk>``) and divided by the
    temperature, so that sample_turns' log-probs are TRL's ``log_softmax(logits / T)``."""

    def __init__(self, model: torch.nn.Module, vocab_size: int, temperature: float):
        torch.nn.Module.__init__(self)  # not ValueHeadLM's: no value head
        self.model, self.vocab_size, self.temperature = model, vocab_size, temperature

    def _with_values(self, hidden_key: str, past_key_values, **inputs):
        cache_name = self._cache_argument()
        with autocast(self.device, self.autocast_dtype):
            out = self.model(**inputs, **{cache_name: past_key_values})
        logits = out.logits[..., : self.vocab_size].float() / self.temperature
        return logits, None, out.get(cache_name)


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _reset_seed(seed: int, split: str, index: int) -> int:
    # One reset seed per item: every copy of a group starts from the same state.
    return _derived_seed(seed, SPLITS.index(split), index)


#: Keeps the sampling streams' seeds apart from the reset seeds.
_SAMPLING_KEY = 0x7A11


class EnvRollout:
    """GRPO's ``rollout_func``: ``rollout(prompts, trainer) -> dict of lists``, one whole
    episode per prompt (see the module docstring). Made by :func:`make_rollout_func`.

    ``episodes`` holds the last call's :class:`~textgym.rollout.Episode` records (tokens,
    agent mask, rewards, turns), one per prompt.
    """

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: dict[str, Any] | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int = 0,
        share_prefix: bool = True,
        reuse_kv_cache: bool = True,
    ):
        if temperature is not None and temperature <= 0:
            raise ValueError(f"temperature must be positive (GRPO samples), got {temperature}")
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed
        self.share_prefix, self.reuse_kv_cache = share_prefix, reuse_kv_cache
        self.envs: list[gym.Env] = []  # a pool, grown to the largest batch seen
        self.episodes: list[Episode] = []
        self._generator: torch.Generator | None = None
        self._checked: tuple[int, int] | None = None

    def _env_pool(self, n: int) -> list[gym.Env]:
        while len(self.envs) < n:
            self.envs.append(gym.make(self.env_id, **self.env_kwargs))
        return self.envs[:n]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, list]:
        model = trainer.model
        accelerator = getattr(trainer, "accelerator", None)
        process = 0 if accelerator is None else accelerator.process_index
        if accelerator is not None:
            model = accelerator.unwrap_model(model)
        args = trainer.args
        if getattr(args, "mask_truncated_completions", False):
            # TRL calls a completion truncated unless its last id is EOS or pad; a textgym
            # episode mostly ends in <submit>, a chat end-of-turn token or a tool response.
            raise ValueError("mask_truncated_completions=True would mask most textgym episodes")
        if getattr(args, "use_vllm", False):
            # Episodes are sampled turn by turn with the env in between, by textgym's
            # batched sampler on the trainer's own model; a vLLM engine would sit idle.
            raise ValueError(
                "textgym's rollout_func samples with the trainer's model, not vLLM: set "
                "use_vllm=False"
            )
        items = [parse_item_key(p) for p in prompts]
        if accelerator is None or accelerator.num_processes == 1:
            # With several processes a group may straddle two of them; its copies still
            # reset alike (same key, same seed), so only a single process is checked.
            _check_groups(items, _group_size(trainer, model))
        envs = self._env_pool(len(items))
        spec = env_spec(envs[0])
        if self._checked != (id(model), id(trainer.processing_class)):
            check_vocab(spec.tokenizer, trainer.processing_class, model)
            self._checked = (id(model), id(trainer.processing_class))
        temperature = self.temperature or float(getattr(args, "temperature", 1.0))
        policy = _SamplingView(model, spec.vocab_size, temperature)
        if self._generator is None or self._generator.device != policy.device:
            # One stream per process: copies of an item on two processes must differ.
            generator = torch.Generator(device=policy.device)
            self._generator = generator.manual_seed(
                _derived_seed(self.seed, _SAMPLING_KEY, process)
            )
        max_new = min(self.max_new_tokens or spec.max_turn_tokens, spec.max_turn_tokens)
        self.episodes, logprobs = _play(
            envs,
            items,
            policy,
            spec,
            seeds=[_reset_seed(self.seed, s, i) for s, i in items],
            generator=self._generator,
            max_new_tokens=max_new,
            reuse_kv_cache=self.reuse_kv_cache,
            share_prefix=self.share_prefix,
        )
        return {
            "prompt_ids": [e.tokens[: e.prompt_length].tolist() for e in self.episodes],
            "completion_ids": [e.tokens[e.prompt_length :].tolist() for e in self.episodes],
            "logprobs": logprobs,
            "env_mask": [
                e.agent_mask[e.prompt_length :].astype(int).tolist() for e in self.episodes
            ],
            "env_reward": [e.reward for e in self.episodes],
            "env_success": [e.success for e in self.episodes],
        }


def make_rollout_func(
    env_id: str,
    *,
    env_kwargs: dict[str, Any] | None = None,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    seed: int = 0,
    share_prefix: bool = True,
    reuse_kv_cache: bool = True,
) -> EnvRollout:
    """GRPO's ``rollout_func`` for ``env_id``: ``GRPOTrainer(rollout_func=...)``.

    ``env_kwargs`` are the env's (``tokenizer``: the model folder); ``max_new_tokens`` per
    turn defaults to (and is capped at) the env's ``max_turn_tokens``; ``temperature``
    defaults to the trainer's ``args.temperature``, the one TRL scores with; ``seed`` seeds
    sampling and env resets; ``share_prefix`` and ``reuse_kv_cache`` are exact speed-ups
    of :func:`sample_turns`.
    """
    return EnvRollout(
        env_id,
        env_kwargs=env_kwargs,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        share_prefix=share_prefix,
        reuse_kv_cache=reuse_kv_cache,
    )


def _group_size(trainer: Any, model: torch.nn.Module) -> int:
    args = trainer.args
    if model.training:
        return int(args.num_generations)
    return int(getattr(args, "num_generations_eval", None) or args.num_generations)


def _check_groups(items: list[tuple[str, int]], group: int) -> None:
    """GRPO's advantages compare the ``group`` consecutive completions of one prompt: they
    must be episodes of one item."""
    if len(items) % group or any(
        len(set(items[start : start + group])) != 1 for start in range(0, len(items), group)
    ):
        raise ValueError(f"expected runs of {group} equal prompts (num_generations), got {items}")


def _play(envs, items, policy, spec, *, seeds, generator, max_new_tokens, **sampling):
    """Play one episode per env, every live episode's turn sampled in one batch. Returns
    the episodes and, per episode, the sampling log-prob of each completion token (0.0 on
    env tokens)."""
    n = len(envs)
    obs = [
        env.reset(seed=seed, options={"split": split, "index": index})[0]
        for env, (split, index), seed in zip(envs, items, seeds)
    ]
    prompt_lens = [len(o) for o in obs]
    logps, rewards, turns = ([[] for _ in range(n)] for _ in range(3))
    caches = [None] * n
    finished: list[Episode | None] = [None] * n
    live = list(range(n))
    while live:
        turn_logps: list[list[float]] = []
        live_caches = [caches[i] for i in live] if sampling["reuse_kv_cache"] else None
        sampled = sample_turns(
            policy,
            [obs[i] for i in live],
            stop_token_ids=spec.stop_token_ids,
            max_new_tokens=max_new_tokens,
            pad_id=spec.pad_id,
            generator=generator,
            temperature=1.0,  # the view has divided the logits by the temperature
            max_positions=policy.max_positions,
            logprobs_out=turn_logps,
            row_caches=live_caches,
            prompt_lengths=[prompt_lens[i] for i in live],
            share_prefix=sampling["share_prefix"],
        )
        still_live = []
        for k, i in enumerate(live):
            if live_caches is not None:
                caches[i] = live_caches[k]
            before = len(obs[i])
            obs[i], reward, terminated, truncated, info = envs[i].step(sampled[k])
            rewards[i].append(float(reward))
            turns[i].append(sampled[k])
            mask = np.asarray(info["agent_mask"][: len(obs[i])], dtype=bool)
            logps[i].extend(
                _tail_logprobs(obs[i][before:], mask[before:], sampled[k], turn_logps[k])
            )
            if terminated or truncated:
                finished[i] = Episode(
                    tokens=np.asarray(obs[i], dtype=np.int64),
                    agent_mask=mask,
                    rewards=rewards[i],
                    success=bool(info.get("success", False)),
                    terminated=bool(terminated),
                    truncated=bool(truncated),
                    split=items[i][0],
                    index=items[i][1],
                    seed=seeds[i],
                    actions=turns[i],
                    answer=info.get("answer"),
                    tool_calls=list(info.get("tool_calls", [])),
                    prompt_len=prompt_lens[i],
                )
            else:
                still_live.append(i)
        live = still_live
    return finished, logps


def _tail_logprobs(tail, tail_mask, turn, turn_logps) -> list[float]:
    """Log-probs over what one step appended: the agent's turn as the env kept it (a prefix
    of the sampled turn: the env may cut it at the context limit), then env tokens at 0.0."""
    kept = int(tail_mask.sum())
    if not tail_mask[:kept].all() or not np.array_equal(tail[:kept], turn[:kept]):
        raise RuntimeError("the env did not append the sampled turn as it was sampled")
    return [float(x) for x in turn_logps[:kept]] + [0.0] * (len(tail) - kept)
