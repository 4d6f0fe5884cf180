"""Agent specs: the strings ``textgym eval --agent`` and the leaderboard accept.

- ``random``: :class:`textgym.agents.RandomAgent`
- ``oracle``: :class:`textgym.agents.OracleAgent`
- ``ppo:PATH``: :class:`textgym.agents.PolicyAgent` on a trained model (a ``textgym train``
  output folder, or any folder saved with ``save_pretrained``), greedy decoding
- ``hf:PATH``: :class:`textgym.agents.HFAgent`, any local causal LM folder with its own
  tokenizer, zero-shot through text, greedy decoding
- ``module:callable``: ``callable(env)`` returns an :class:`textgym.Agent` (third parties)
"""

from __future__ import annotations

import importlib

import gymnasium as gym

from textgym.rollout import Agent

__all__ = ["make_agent", "SPEC_HELP"]

SPEC_HELP = "random | oracle | ppo:PATH | hf:PATH | module:callable"


def make_agent(spec: str, env: gym.Env, *, seed: int = 0) -> Agent:
    """Build the agent that ``spec`` names, for ``env``."""
    from pathlib import Path

    from textgym.agents import HFAgent, OracleAgent, PolicyAgent, RandomAgent

    if spec.startswith("ppo:"):
        path = Path(spec[4:])
        if (path / "policy").is_dir():  # a training run's folder
            path = path / "policy"
        if not path.is_dir():
            raise FileNotFoundError(f"agent spec {spec!r}: no model folder at {str(path)!r}")
        return PolicyAgent(env, path, seed=seed)
    if spec.startswith("hf:"):
        path = Path(spec[3:])
        if not path.is_dir():
            raise FileNotFoundError(f"agent spec {spec!r}: no model folder at {str(path)!r}")
        return HFAgent(env, path)
    if spec == "random":
        return RandomAgent(env, seed=seed)
    if spec == "oracle":
        return OracleAgent(env)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"agent spec {spec!r}: cannot import {module_name!r}: {exc}") from exc
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise ValueError(f"agent spec {spec!r}: {module_name} has no callable {attr!r}")
        agent = factory(env)
        if not isinstance(agent, Agent):
            raise TypeError(
                f"agent spec {spec!r}: {attr}(env) returned {type(agent).__name__}, which lacks "
                "reset(seed) and act(obs, info)"
            )
        return agent
    raise ValueError(f"unknown agent spec {spec!r}; expected {SPEC_HELP}")
