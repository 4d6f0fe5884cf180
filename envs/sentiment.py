"""``TextEnv-Sentiment-v0``: continue a movie review so that it reads positive (or negative).

TRL's classic PPO example taught GPT-2 to write positive IMDB reviews, with a sentiment
classifier as the reward. This is the same task, offline and reproducible: generated review
openings (or your own prompts), VADER as the default scorer (or a local classifier), and a
``Sentiment`` tool the agent may call to score a draft before it submits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from textgym.answers import read_answer
from textgym.env import TextEnv
from textgym.envs.sentiment_data import continuation, opening, title_of
from textgym.task import Task, TaskItem, ToolCall
from textgym.text_metrics import degeneration_metrics
from textgym.tokenizer import SUBMIT
from textgym.tools.sentiment import Scorer, SentimentTool, make_scorer

__all__ = ["SentimentTask", "SentimentEnv", "degeneration_metrics", "TARGETS"]

TARGETS = ("positive", "negative")


class SentimentTask(Task):
    """Review openings; the answer is the agent's continuation, scored for sentiment.

    Args:
        target: ``"positive"`` (default) or ``"negative"``; the reward is the scorer's
            value for the continuation, sign-flipped for ``"negative"``.
        scorer: ``"vader"`` (default), a local text-classification model folder, or a
            :class:`~textgym.tools.sentiment.Scorer`.
        prompts: your own openings (a list of strings, for example from
            :func:`textgym.envs.sentiment_data.load_openings`); default: generated ones.
        oracle_polarity: ``"target"`` (the scripted oracle writes toward the target) or
            ``"mixed"`` (half positive, half negative per item: a mixed-polarity corpus of
            demonstrations for an SFT warm start that writes reviews but has no preference).
        seed, test_size: dataset seed and test split size.

    Scoring: the target-signed sentiment of the final continuation alone (the opening does
    not count), in ``[-1, 1]``; empty text scores 0. Success: a score of at least 0.5.
    """

    name = "sentiment"
    success_threshold = 0.5
    reward_range = (-1.0, 1.0)
    leaderboard_metric = "mean_reward"

    def __init__(
        self,
        target: str = "positive",
        scorer: str | Scorer | None = None,
        prompts: Sequence[str] | None = None,
        oracle_polarity: str = "target",
        seed: int = 0,
        test_size: int = 200,
    ):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if oracle_polarity not in ("target", "mixed"):
            raise ValueError(
                f"oracle_polarity must be 'target' or 'mixed', got {oracle_polarity!r}"
            )
        if prompts is not None:
            prompts = list(dict.fromkeys(str(p) for p in prompts if str(p).strip()))
            if len(prompts) < 2 * test_size:
                raise ValueError(
                    f"{len(prompts)} distinct prompts cannot fill a test split of {test_size} "
                    "and leave train prompts; pass more prompts or a smaller test_size"
                )
        super().__init__(seed=seed, test_size=test_size)
        self.target = target
        self.sign = 1.0 if target == "positive" else -1.0
        self.scorer = make_scorer(scorer)
        self.prompts = prompts
        self.oracle_polarity = oracle_polarity

    def config(self) -> dict[str, Any]:
        prompts = "generated" if self.prompts is None else f"{len(self.prompts)} custom"
        return {**super().config(), "target": self.target, "prompts": prompts}

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        text = opening(rng) if self.prompts is None else rng.choice(self.prompts)
        # The oracle's polarity is drawn here so that it is part of the item (reproducible).
        positive = rng.random() < 0.5
        return text, self.target, {"mixed_positive": positive}

    def score(self, item: TaskItem, answer: str | None) -> float:
        review = read_answer(answer)
        if not review:
            return 0.0
        return self.sign * self.scorer(review)

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        if self.oracle_polarity == "mixed":
            positive = bool(item.data["mixed_positive"])
        else:
            positive = self.target == "positive"
        rng = random.Random(f"sentiment-oracle|{item.split}|{item.index}|{item.question}")
        return continuation(rng, positive, title_of(item.question)) + SUBMIT


class SentimentEnv(TextEnv):
    """Continue a movie review so that it has the target sentiment.

    ## Description

    The context is a short system prompt and a neutral review opening, such as ``I watched
    The Quiet Harbor last night, and``. The agent continues the review and ends it with
    ``<submit>`` (or EOS). Before that it may score a draft with
    ``<request><Sentiment>draft<call>``; the env answers ``+0.84<response>``. This is TRL's
    positive-review PPO task, offline: VADER replaces the IMDB classifier by default.

    ## Action Space

    ``Sequence(Discrete(V), stack=True)``: one turn of token ids, at most
    ``max_new_tokens`` long (longer turns are cut, as a generator would stop).

    ## Observation Space

    ``Sequence(Discrete(V), stack=True)``: the whole context so far; ``info["agent_mask"]``
    marks agent tokens.

    ## Rewards

    On the final step: the scorer's sentiment of the continuation, in ``[-1, 1]``, signed
    toward ``target`` (+1 is perfectly on target). 0 elsewhere and for an empty
    continuation. ``info["degeneration"]`` on the final step holds distinct-1, distinct-2,
    the repetition rate and the length of the continuation, so that a policy that learns to
    write "great great great" is visible even though VADER rewards it.

    ## Starting State

    A review opening: a random train item, or a test item by index.

    ## Episode End

    Terminated at the first final answer; truncated after ``max_turns`` (3) turns or at
    ``max_context`` (512) tokens.

    ## Arguments

    - ``target`` ("positive"): or "negative".
    - ``scorer`` ("vader"): or a local Hugging Face text-classification model folder, or a
      :class:`~textgym.tools.sentiment.Scorer`.
    - ``max_new_tokens`` (96): the longest turn, in tokens (bytes with ByT5).
    - ``prompts`` (None): your own openings; default generated ones.
    - ``oracle_polarity`` ("target"): "mixed" makes the oracle a mixed-polarity
      demonstration source for SFT warm starts.
    - ``tool_format`` ("markers"): TRL's markers, or "chat" (the tokenizer's chat template;
      the continuation is then the assistant's reply, and the Sentiment tool a JSON call).
    - ``seed`` (0), ``test_size`` (200), and every :class:`textgym.TextEnv` keyword.

    ## Version History

    - v0: initial release. The oracle's continuations were later composed (adjective,
      aspect, the opening's film title) so that one polarity has thousands of forms, not
      40; prompts, scoring and the test-split hash are unchanged.
    - ``tool_format`` added later (default "markers": unchanged).
    """

    def __init__(
        self,
        target: str = "positive",
        scorer: str | Scorer | None = None,
        max_new_tokens: int = 96,
        prompts: Sequence[str] | None = None,
        oracle_polarity: str = "target",
        seed: int = 0,
        test_size: int = 200,
        max_turns: int = 3,
        max_context: int = 512,
        **kwargs: Any,
    ):
        if "max_turn_tokens" in kwargs:
            raise TypeError(
                "TextEnv-Sentiment-v0 sets the turn length with max_new_tokens= (the "
                "continuation's length), not max_turn_tokens="
            )
        task = SentimentTask(
            target=target,
            scorer=scorer,
            prompts=prompts,
            oracle_polarity=oracle_polarity,
            seed=seed,
            test_size=test_size,
        )
        super().__init__(
            task,
            [SentimentTool(task.scorer)],
            max_turns=max_turns,
            max_context=max_context,
            max_turn_tokens=max_new_tokens,
            **kwargs,
        )

    def default_system_prompt(self) -> str:
        if self.tool_format == "chat":  # the template lists the tool and its call syntax
            return (
                f"Continue the movie review; make it {self.task.target}. You may score a "
                "draft with the Sentiment tool. Reply with just the continuation."
            )
        return (
            f"Continue the movie review; make it {self.task.target}. "
            "Score a draft: <request><Sentiment>draft<call> End: text<submit>\n"
        )

    def format_question(self, item: TaskItem) -> str:
        # No newline: the agent continues the opening's sentence.
        return item.question

    def episode_info(self, answer: str | None) -> dict:
        return {"degeneration": degeneration_metrics(answer or "")}
