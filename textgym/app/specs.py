"""Agent specs: the strings ``textgym eval --agent`` and the leaderboard accept.

- ``random``: :class:`textgym.agents.RandomAgent`
- ``oracle``: :class:`textgym.agents.OracleAgent`
- ``ppo:PATH``: :class:`textgym.agents.PolicyAgent` on a trained model, greedy decoding
- ``hf:PATH``: :class:`textgym.agents.HFAgent`, any local causal LM folder with its own
  tokenizer (or its run's), zero-shot through text, greedy decoding
- ``openai:MODEL``: :class:`textgym.agents.openai_agent.OpenAIAgent`, any OpenAI-compatible
  chat endpoint (``base_url``, default ``OPENAI_BASE_URL``; key ``OPENAI_API_KEY``) with
  native function calling, temperature 0; needs ``pip install 'textgym[serving]'``
- ``module:callable``: ``callable(env)`` returns an :class:`textgym.Agent` (third parties);
  the module is looked up in the current directory too, as ``python -m`` does

``PATH`` is a model folder (saved with ``save_pretrained``), a ``textgym train`` run, a
checkpoint, or a folder of runs such as ``make demo``'s; one rule says which model it means
for both specs: :func:`textgym.agents.model_paths.resolve_model_dir`.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import gymnasium as gym

from textgym.agents import HFAgent, OracleAgent, PolicyAgent, RandomAgent
from textgym.agents.model_paths import resolve_model_dir, resolve_tokenizer_dir
from textgym.rollout import Agent

try:
    from textgym.agents.openai_agent import OpenAIAgent
except ImportError as exc:  # the optional `serving` extra is not installed
    OpenAIAgent = None
    _OPENAI_IMPORT_ERROR: ImportError | None = exc
else:
    _OPENAI_IMPORT_ERROR = None

__all__ = ["make_agent", "SPEC_HELP", "MissingExtraError"]

SPEC_HELP = "random | oracle | ppo:PATH | hf:PATH | openai:MODEL | module:callable"


class MissingExtraError(ImportError, ValueError):
    """A spec needs an optional extra that is not installed. An ``ImportError``, and a
    ``ValueError`` like every other bad spec, so the CLI prints it as one line."""


def make_agent(spec: str, env: gym.Env, *, seed: int = 0, base_url: str | None = None) -> Agent:
    """Build the agent that ``spec`` names, for ``env``. ``base_url`` is the endpoint of
    an ``openai:`` spec (default ``OPENAI_BASE_URL``); other specs ignore it."""
    if spec.startswith("openai:"):
        return _openai_agent(spec, env, base_url)
    if spec.startswith(("ppo:", "hf:")):
        kind, _, path = spec.partition(":")
        try:
            # Resolved here so that a bad path fails with the spec in the message.
            model = resolve_model_dir(path)
            if kind == "hf":
                resolve_tokenizer_dir(path)
        except (FileNotFoundError, ValueError) as exc:
            raise type(exc)(f"agent spec {spec!r}: {exc}") from exc
        if kind == "ppo":
            return PolicyAgent(env, model, seed=seed)
        return HFAgent(env, Path(path))
    if spec == "random":
        return RandomAgent(env, seed=seed)
    if spec == "oracle":
        return OracleAgent(env)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        module = _import_module(spec, module_name)
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


def _openai_agent(spec: str, env: gym.Env, base_url: str | None) -> Agent:
    # Only the name's first colon is the spec's: model names may hold colons (Ollama's
    # ``qwen2.5:7b``).
    model = spec.partition(":")[2]
    if not model:
        raise ValueError(f"agent spec {spec!r}: name the model, e.g. openai:gpt-4o-mini")
    if OpenAIAgent is None:
        raise MissingExtraError(
            f"agent spec {spec!r} needs the openai package: pip install 'textgym[serving]' "
            f"({_OPENAI_IMPORT_ERROR})"
        )
    return OpenAIAgent(env, model, base_url=base_url)


def _import_module(spec: str, name: str) -> ModuleType:
    """Import ``name`` with the current directory on ``sys.path`` (only while importing),
    as ``python -m`` has it: the ``textgym`` script's own ``sys.path`` lacks it, so a
    module beside the user would not be found."""
    cwd = os.getcwd()
    added = not any(os.path.abspath(p or os.curdir) == cwd for p in sys.path)
    if added:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # the module file may be newer than the finders' caches
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        hint = ""
        missing = getattr(exc, "name", None) or ""
        # The hint only when the module itself is missing, not one of its own imports.
        if isinstance(exc, ModuleNotFoundError) and f"{name}.".startswith(f"{missing}."):
            hint = f"; is {name!r} on PYTHONPATH? run from its folder or set PYTHONPATH"
        raise ValueError(f"agent spec {spec!r}: cannot import {name!r}: {exc}{hint}") from exc
    finally:
        if added:
            sys.path.remove(cwd)
