"""``TextEnv-Python-v0``: problems solved by writing Python, run in a hardened sandbox."""

from __future__ import annotations

from typing import Any

import numpy as np

from textgym.env import TextEnv
from textgym.envs.python_tasks import PythonTask
from textgym.sandbox import Sandbox
from textgym.tools.python import PythonTool

__all__ = ["PythonEnv"]


class PythonEnv(TextEnv):
    """Computation problems with a Python interpreter tool.

    ## Description

    The agent gets a word problem (GSM8K style) or an algorithmic problem (primes,
    Fibonacci mod m, digit sums, counting, sorting, strings) whose answer is an integer,
    and may call the ``Python`` tool. The code runs in a sandbox worker (see
    :class:`textgym.sandbox.Sandbox`): stdout comes back, plus the value of a trailing
    expression as a REPL shows it, or a short error. Variables persist across the calls
    of one episode, like notebook cells, and never reach another episode::

        How many primes are there below 5000?
        <request><Python>print(sum(all(n % d for d in range(2, int(n**.5) + 1))
        for n in range(2, 5000)))<call>669<response>Result=669<submit>

    ## Action Space

    ``Sequence(Discrete(V), stack=True)``: one agent turn of token ids (V = 263 with the
    default ByT5 tokenizer).

    ## Observation Space

    ``Sequence(Discrete(V), stack=True)``: the whole context; ``info["agent_mask"]`` marks
    agent tokens.

    ## Rewards

    1.0 when the final answer is the exact integer (``Result=669``; thousands separators
    allowed), else 0.0. Optional shaping (``tool_bonus``, ``invalid_call_penalty``) is off.

    ## Starting State

    A problem: a random train item, or a test item by index. About half are word problems.

    ## Episode End

    Terminated at the first final answer; truncated after ``max_turns`` (4) turns or at
    ``max_context`` (2048) tokens.

    ## Arguments

    - ``level`` (1): 0, 1 or 2, the size of the numbers; ``word_share`` (0.5).
    - ``seed`` (0), ``test_size`` (200).
    - ``oracle_tool_rate`` (1.0): the fraction of items on which the oracle (and so the
      SFT demonstrations) runs a program; on the rest it submits the answer directly.
      Below 1.0 it sets up tool discovery: SFT on such demonstrations, then PPO.
    - ``timeout`` (2.0): wall-clock seconds per call; ``memory_mb`` (512).
    - ``sandbox``: a :class:`textgym.sandbox.Sandbox` to share between envs (the env then
      does not close it); ``strict`` (False): refuse to start without network isolation.
    - ``max_turn_tokens`` (512): programs are longer than answers.
    - ``tool_format`` ("markers"): TRL's markers, or "chat" (the tokenizer's chat template
      with JSON tool calls; see :class:`textgym.TextEnv`).
    - Every :class:`textgym.TextEnv` keyword.

    ## Version History

    - v0: initial release. The oracle's word-problem programs assign only the numbers
      the question states (earlier ones also set an unused third number). Questions and
      answers are unchanged, but the programs are part of the items, so the test-split
      hash changed (a leaderboard made before it must be remade).
    - ``tool_format`` added later (default "markers": unchanged); ``oracle_tool_rate``
      added later (default 1.0: unchanged).
    """

    def __init__(
        self,
        level: int = 1,
        word_share: float = 0.5,
        seed: int = 0,
        test_size: int = 200,
        oracle_tool_rate: float = 1.0,
        timeout: float = 2.0,
        memory_mb: int = 512,
        sandbox: Sandbox | None = None,
        strict: bool = False,
        max_turns: int = 4,
        max_context: int = 2048,
        max_turn_tokens: int = 512,
        max_response_tokens: int = 256,
        **kwargs: Any,
    ):
        task = PythonTask(
            level=level,
            word_share=word_share,
            seed=seed,
            test_size=test_size,
            oracle_tool_rate=oracle_tool_rate,
        )
        self._own_sandbox = sandbox is None
        self.sandbox = sandbox or Sandbox(timeout=timeout, memory_mb=memory_mb, strict=strict)
        self.python_tool = PythonTool(self.sandbox)
        try:
            super().__init__(
                task,
                [self.python_tool],
                max_turns=max_turns,
                max_context=max_context,
                max_turn_tokens=max_turn_tokens,
                max_response_tokens=max_response_tokens,
                **kwargs,
            )
        except BaseException:
            self.python_tool.close()
            if self._own_sandbox:
                self.sandbox.close()
            raise

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        self.python_tool.new_session()  # a fresh interpreter: nothing crosses episodes
        return obs, info

    def close(self) -> None:
        self.python_tool.close()
        if self._own_sandbox:
            self.sandbox.close()
        super().close()
