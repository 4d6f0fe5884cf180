"""``TextEnv``: the base class of every single-agent textgym environment.

It implements the token-sequence contract (see the README): observations are the whole
context so far as a 1-D ``int64`` array, an action is one agent turn of token ids, tool
requests are dispatched and answered inside the context, and the episode ends with the
task's score of the final answer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from transformers import PreTrainedTokenizerBase

from textgym.chat_format import check_tool_format, make_call_format, make_format_tokenizer
from textgym.checks import positive_int
from textgym.task import SPLITS, Task, TaskItem, ToolCall
from textgym.tokenizer import encode_agent_text
from textgym.tool import Tool
from textgym.turn_engine import ToolStats, TurnEngine

__all__ = ["TextEnv", "ToolStats"]


class TextEnv(gym.Env[np.ndarray, np.ndarray]):
    """A tool-use task as a Gymnasium environment over token sequences.

    ## Description

    The context starts with a system prompt (the tools and the call format) and the
    task's question. Each step the agent writes one turn. A turn that ends with
    ``<call>`` is a tool request, ``<request><ToolName>query<call>``: the env runs the tool
    and appends ``response<response>``. Any other turn (ending with ``<submit>``, with EOS,
    or with no stop token at all) is the final answer, scored by the task, as in TRL's
    TextEnvironment.

    With ``tool_format="chat"`` the episode is the tokenizer's chat template instead
    (:mod:`textgym.chat_format`): system message with the tools, user question, assistant
    turns ending at the end-of-turn token (``<|im_end|>``) or EOS, tool calls as
    ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, tool results in the
    ``tool`` role; a turn without a call is the final answer. Either way the env only
    appends: every observation extends the previous one exactly.

    ## Action Space

    ``Sequence(Discrete(V), stack=True)``: one turn as a 1-D array of token ids, where V is
    ``len(tokenizer)``. The turn is cut at its first stop token (``stop_token_ids``); ids
    after it are dropped (``info["dropped_tokens"]``). Ids outside ``[0, V)`` become the
    unknown token (``info["invalid_ids"]``). A turn longer than ``max_turn_tokens`` is cut
    to that length before it is read (``info["turn_truncated"]``), as a generator with that
    many new tokens would have stopped.

    ## Observation Space

    ``Sequence(Discrete(V), stack=True)``: the whole context so far (prompt, every agent
    turn, every tool response), never longer than ``max_context``. ``info["agent_mask"]``
    is a bool array of fixed length ``max_context``, aligned with the observation from its
    start and True on agent-written tokens (``info["agent_mask"][:len(obs)]``); its fixed
    shape lets vector envs stack it. ``info["length"]`` is ``len(obs)``.

    ## Rewards

    Zero on every step but the last. The last step's reward is the task's score of the
    final answer (see the task's ``reward_range``), plus ``tool_bonus`` if the episode made
    at least one successful tool call, minus ``invalid_call_penalty`` for each malformed
    call or call to an unknown tool. A truncated episode scores 0 plus the shaping terms.
    Both shaping terms are 0 by default.

    ## Starting State

    ``reset(seed=..., options={"split": "train"|"test", "index": i})``. Without an index
    a train item is drawn with the env's own RNG (``self.np_random``); the test split is
    a fixed list of items, addressed by index.

    ## Episode End

    Terminated when the agent gives a final answer. Truncated when ``max_turns`` agent
    turns have passed without one, or when the context reaches ``max_context`` tokens.

    ## Arguments

    - ``task``: the :class:`~textgym.task.Task` generating items.
    - ``tools``: the tools, as an iterable of :class:`~textgym.tool.Tool` or a mapping from
      name to tool.
    - ``tokenizer``: ``None`` (ByT5 with the markers), a local tokenizer path, or a
      tokenizer object; the markers are added when missing (``tool_format="markers"``).
    - ``tool_format`` ("markers"): TRL's markers, or "chat" for the tokenizer's own chat
      template with JSON tool calls. Chat with ``tokenizer=None`` is ByT5 with
      ``<|im_start|>``, ``<|im_end|>``, ``<tool_call>``, ``</tool_call>`` and a compact
      ChatML template; a given tokenizer must have a ``chat_template`` and gets nothing
      added.
    - ``system_prompt``: text before the question; ``None`` builds one from the tools.
    - ``max_turns`` (4), ``max_context`` (1024), ``max_turn_tokens`` (256),
      ``max_response_tokens`` (64): limits, in agent turns and in tokens.
    - ``split`` ("train"): the split used when ``reset`` is given no split.
    - ``invalid_call_penalty`` (0.0), ``tool_bonus`` (0.0): optional reward shaping.
    - ``render_mode``: ``"ansi"`` (returns the coloured transcript) or ``"human"`` (prints it).

    ## Version History

    - v0: initial release; ``tool_format`` added later (default "markers": unchanged).
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        task: Task,
        tools: Iterable[Tool] | Mapping[str, Tool],
        *,
        tokenizer: PreTrainedTokenizerBase | str | None = None,
        system_prompt: str | None = None,
        max_turns: int = 4,
        max_context: int = 1024,
        max_turn_tokens: int = 256,
        max_response_tokens: int = 64,
        split: str = "train",
        invalid_call_penalty: float = 0.0,
        tool_bonus: float = 0.0,
        render_mode: str | None = None,
        tool_format: str = "markers",
    ):
        if not isinstance(task, Task):
            raise TypeError(f"task must be a textgym.Task, got {type(task).__name__}")
        tool_list = list(tools.values()) if isinstance(tools, Mapping) else list(tools)
        for tool in tool_list:
            if not isinstance(tool, Tool):
                raise TypeError(f"tools must be textgym.Tool objects, got {type(tool).__name__}")
        names = [tool.name for tool in tool_list]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"tool names must be non-empty and unique, got {names}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.task = task
        self.tools: dict[str, Tool] = {tool.name: tool for tool in tool_list}
        self.tool_format = check_tool_format(tool_format)
        self.tokenizer = make_format_tokenizer(tokenizer, self.tool_format)
        self.max_turns = positive_int("max_turns", max_turns)
        self.max_context = positive_int("max_context", max_context)
        self.max_turn_tokens = positive_int("max_turn_tokens", max_turn_tokens)
        self.max_response_tokens = positive_int("max_response_tokens", max_response_tokens)
        self.split = split
        self.invalid_call_penalty = float(invalid_call_penalty)
        self.tool_bonus = float(tool_bonus)
        self.render_mode = render_mode
        self.system_prompt = (
            self.default_system_prompt() if system_prompt is None else str(system_prompt)
        )
        self.call_format = make_call_format(self.tokenizer, self.tools, self.tool_format)
        self._prompt = self.call_format.prompt(self.system_prompt)
        self._engine = TurnEngine(
            self.tokenizer,
            self.tools,
            max_turn_tokens=self.max_turn_tokens,
            max_response_tokens=self.max_response_tokens,
            call_format=self.call_format,
        )
        self.stop_token_ids: tuple[int, ...] = self._engine.stop_token_ids
        #: Wall-clock statistics per tool (outside ``info``, which stays deterministic).
        self.timings: dict[str, ToolStats] = self._engine.timings

        vocab = len(self.tokenizer)
        self.vocab_size = vocab
        self.observation_space = spaces.Sequence(spaces.Discrete(vocab), stack=True)
        self.action_space = spaces.Sequence(spaces.Discrete(vocab), stack=True)

        self._context = self._engine.new_transcript(self.max_context)
        self._item: TaskItem | None = None
        self._calls: list[ToolCall] = []
        self._turn = 0
        self._done = True
        self._final_reward: float | None = None

    # ---- prompt ----------------------------------------------------------------------

    def default_system_prompt(self) -> str:
        """The tools with their descriptions and the call format, TRL-style markers. Kept
        short: every token of it is context that a small model reads in every episode.
        In chat format the template lists the tools, so this is one line of instruction."""
        if self.tool_format == "chat":
            return "Call a tool if it helps, then reply with just the answer."
        tools = "; ".join(f"{tool.name} ({tool.description})" for tool in self.tools.values())
        example = next(iter(self.tools), "Tool")
        return (
            f"Tools: {tools}.\n"
            f"Call: <request><{example}>input<call> Answer: Result=answer<submit>\n"
        )

    def format_question(self, item: TaskItem) -> str:
        """The text after the system prompt; the agent's first turn follows it (in chat
        format, the user message, stripped of surrounding whitespace)."""
        return f"{item.question}\n"

    # ---- the Gymnasium API -------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"split", "index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'split' and 'index'")
        split = options.get("split", self.split)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        index = options.get("index")
        if index is None:
            high = self.task.test_size if split == "test" else 2**31 - 1
            index = int(self.np_random.integers(0, high))
        self._item = self.task.item(split, int(index))

        self._context.clear()
        self._calls = []
        self._turn = 0
        self._done = False
        self._final_reward = None
        prompt = self._prompt.ids(self.format_question(self._item))
        if len(prompt) >= self.max_context:
            raise ValueError(
                f"the prompt is {len(prompt)} tokens but max_context is {self.max_context}; "
                "raise max_context or shorten system_prompt"
            )
        self._context.append(prompt, "prompt", agent=False)
        info = {
            "agent_mask": self._context.agent_mask.copy(),
            "length": self._context.length,
            "turn": 0,
            "tool_calls": [],
            "split": split,
            "index": self._item.index,
        }
        if self.render_mode == "human":
            self.render()
        return self._obs(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._item is None:
            raise RuntimeError("step() called before reset(); call env.reset() first")
        if self._done:
            raise RuntimeError("step() called after the episode ended; call env.reset()")
        turn = self._engine.take_turn(self._context, action)
        self._turn += 1

        info: dict[str, Any] = {
            "turn_kind": turn.parsed.kind.value,
            "invalid_ids": turn.invalid_ids,
            "dropped_tokens": turn.parsed.dropped,
            "turn_truncated": turn.turn_truncated,
        }
        if turn.call is not None:
            self._calls.append(turn.call)
        terminated = not turn.overflow and turn.is_final
        truncated = turn.overflow or (not terminated and self._turn >= self.max_turns)
        answer = (turn.parsed.answer or "") if terminated else None

        reward = 0.0
        if terminated or truncated:
            self._done = True
            task_score = self.task.score(self._item, answer) if terminated else 0.0
            reward = self._shaped(task_score)
            self._final_reward = reward
            info.update(self._final_info(task_score, answer, terminated))
        info.update(
            agent_mask=self._context.agent_mask.copy(),
            length=self._context.length,
            turn=self._turn,
            tool_calls=[call.as_dict() for call in self._calls],
        )
        if self.render_mode == "human":
            self.render()
        return self._obs(), reward, terminated, truncated, info

    def render(self) -> str | None:
        text = self.transcript(colour=True)
        if self.render_mode == "human":
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            return None
        return text

    def close(self) -> None:
        for tool in self.tools.values():
            tool.close()
        super().close()

    # ---- public helpers ---------------------------------------------------------------

    @property
    def item(self) -> TaskItem | None:
        """The current episode's task item."""
        return self._item

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls made so far in this episode."""
        return list(self._calls)

    def transcript(self, colour: bool = False) -> str:
        """The episode so far, segment by segment, with the reward once known; with
        ``colour``, ANSI colours per segment (prompt, agent, tool, reward)."""
        return self._context.render(colour, self._final_reward)

    def text(self) -> str:
        """The current context as plain text (markers included)."""
        return self._context.text()

    def encode_turn(self, text: str) -> np.ndarray:
        """Agent text to an action (for scripted agents and people): marker strings, or
        in chat format ``<tool_call>``, ``<|im_end|>`` and the other special tokens,
        become single ids."""
        return encode_agent_text(self.tokenizer, text)

    def oracle_action(self) -> np.ndarray:
        """The next turn of the task's perfect tool user, as an action. Tasks write their
        oracle turns with the markers; the call format translates them (unchanged for
        markers, a JSON call or a plain answer in chat format)."""
        if self._item is None or self._done:
            raise RuntimeError("oracle_action() needs a running episode; call reset() first")
        turn = self.task.oracle_turn(self._item, tuple(self._calls))
        return self.encode_turn(self.call_format.from_marker_text(turn))

    # ---- internals --------------------------------------------------------------------

    def _obs(self) -> np.ndarray:
        return self._context.ids()

    def _shaped(self, task_score: float) -> float:
        reward = float(task_score)
        if self.tool_bonus and any(call.ok for call in self._calls):
            reward += self.tool_bonus
        if self.invalid_call_penalty:
            reward -= self.invalid_call_penalty * sum(not call.valid for call in self._calls)
        return reward

    def episode_info(self, answer: str | None) -> dict[str, Any]:
        """Extra fields for the last step's ``info`` (``answer`` is the final answer as
        written, ``None`` for a truncated episode). Default: none; the sentiment env adds
        its degeneration metrics here."""
        return {}

    def _final_info(self, task_score: float, answer: str | None, terminated: bool) -> dict:
        assert self._item is not None
        success = bool(terminated and task_score >= self.task.success_threshold)
        return {
            **self.episode_info(answer),
            "success": success,
            "answer": answer,
            "score": float(task_score),
            "episode_stats": {
                "return": float(self._final_reward or 0.0),
                "turns": self._turn,
                "length": self._context.length,
                "agent_tokens": int(self._context.agent_mask[: self._context.length].sum()),
                "tool_calls": len(self._calls),
                "invalid_calls": sum(not call.valid for call in self._calls),
                "split": self._item.split,
                "index": self._item.index,
            },
        }
