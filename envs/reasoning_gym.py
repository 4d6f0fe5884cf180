"""``TextEnv-ReasoningGym-v0``: any reasoning-gym dataset, with the Python sandbox tool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from textgym.env import TextEnv
from textgym.envs.reasoning_gym_tasks import DEFAULT_DATASET, ReasoningGymTask
from textgym.sandbox import Sandbox
from textgym.tools.python import PythonTool

__all__ = ["ReasoningGymEnv", "OnDemandPythonTool"]


class OnDemandPythonTool(PythonTool):
    """The Python tool, with each episode's interpreter started at its first call.

    :class:`~textgym.tools.python.PythonTool` starts a fresh worker at every reset (about
    45 ms); most reasoning-gym episodes never call Python, so this one only ends the last
    episode's interpreter at reset and lets the first call start the next.
    """

    def end_session(self) -> None:
        """End the current interpreter, if any; nothing crosses into the next episode."""
        if self._session is not None:
            self._session.close()
            self._session = None


class ReasoningGymEnv(TextEnv):
    """A reasoning-gym dataset as a tool-use task, with a Python interpreter tool.

    ## Description

    Each episode is one item of a `reasoning-gym <https://github.com/open-thought/
    reasoning-gym>`_ dataset (``dataset``, default ``"basic_arithmetic"``), made by
    reasoning-gym's own seeded generator (see :mod:`textgym.envs.reasoning_gym_tasks`).
    The agent may call the ``Python`` tool, the sandbox of ``TextEnv-Python-v0``
    (variables persist across the calls of one episode), then answers::

        Calculate 775 * -986 - 30 / 1 + -315.
        <request><Python>775 * -986 - 30 / 1 + -315<call>-764495.0<response>
        Result=-764495<submit>

    ## Action Space

    ``Sequence(Discrete(V), stack=True)``: one agent turn of token ids (V = 263 with the
    default ByT5 tokenizer).

    ## Observation Space

    ``Sequence(Discrete(V), stack=True)``: the whole context; ``info["agent_mask"]`` marks
    agent tokens.

    ## Rewards

    The dataset's own ``score_answer`` of the final answer (``Result=`` taken off), in
    [0, 1]; many scorers give partial credit. An episode is a success only at 1.0. Optional
    shaping (``tool_bonus``, ``invalid_call_penalty``) is off.

    ## Starting State

    An item: a random train item, or a test item by index. The oracle submits the
    dataset's reference answer without calling the tool, unless ``oracle_tool_rate`` is
    above 0.

    ## Episode End

    Terminated at the first final answer; truncated after ``max_turns`` (4) turns or at
    ``max_context`` (2048) tokens. Some datasets ask long questions (zebra_puzzles, about
    1,300 characters; ByT5 spends a token per byte): raise ``max_context`` for them.

    ## Arguments

    - ``dataset`` ("basic_arithmetic"): a reasoning-gym dataset name; an unknown one is
      refused with the valid names. ``dataset_kwargs`` ({}): fields of its config
      (``{"min_terms": 2, "max_terms": 3}``), except ``seed`` and ``size``.
    - ``seed`` (0), ``test_size`` (200): the test split is fixed by ``dataset``,
      ``dataset_kwargs`` and ``seed``, and so is its hash.
    - ``oracle_tool_rate`` (0.0): the fraction of items on which the oracle (and so the
      SFT demonstrations) calls ``Python`` with a program that solves the item, then
      submits what it printed; on the rest it submits the reference answer at once.
      Above 0, tool-using demonstrations to SFT on before PPO. Only for datasets with a
      program writer (``textgym.envs.reasoning_gym_tasks.ORACLE_PROGRAMS``:
      basic_arithmetic, chain_sum, products, gcd, lcm); others refuse it with a
      ValueError. The items, the test split and its hash do not depend on it.
    - ``timeout`` (2.0): wall-clock seconds per Python call; ``memory_mb`` (512).
    - ``sandbox``: a :class:`textgym.sandbox.Sandbox` to share between envs (the env then
      does not close it); ``strict`` (False): refuse to start without network isolation.
    - ``max_turn_tokens`` (512): programs are longer than answers.
    - ``tool_format`` ("markers"): TRL's markers, or "chat" (see :class:`textgym.TextEnv`).
    - Every :class:`textgym.TextEnv` keyword.

    Needs ``pip install 'textgym[reasoning-gym]'`` (an ImportError says so when the env is
    made). reasoning-gym 0.1.25 generates every dataset offline, some from data files it
    ships; nothing here uses the network.

    ## Version History

    - v0: initial release (reasoning-gym 0.1.25); ``oracle_tool_rate`` added later
      (default 0.0: unchanged).
    """

    def __init__(
        self,
        dataset: str = DEFAULT_DATASET,
        dataset_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        test_size: int = 200,
        oracle_tool_rate: float = 0.0,
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
        # The task first: a bad dataset name or a missing package fails before a sandbox
        # worker starts.
        task = ReasoningGymTask(
            dataset=dataset,
            dataset_kwargs=dataset_kwargs,
            seed=seed,
            test_size=test_size,
            oracle_tool_rate=oracle_tool_rate,
        )
        self._own_sandbox = sandbox is None
        self.sandbox = sandbox or Sandbox(timeout=timeout, memory_mb=memory_mb, strict=strict)
        self.python_tool = OnDemandPythonTool(self.sandbox)
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
        self.python_tool.end_session()  # the next call starts a fresh interpreter
        return obs, info

    def close(self) -> None:
        self.python_tool.close()
        if self._own_sandbox:
            self.sandbox.close()
        super().close()
