"""Every textgym env as an OpenEnv environment: the server side (``pip install
'textgym[openenv]'``; ``textgym serve`` runs it).

:class:`TextgymEnvironment` wraps one env made by ``gym.make(env_id, **env_kwargs)`` and
speaks OpenEnv's typed models:

- :class:`TextgymAction`: one agent turn, ``{"tokens": [int, ...]}`` or ``{"text": "..."}``
  (text is encoded with the env's tokenizer as the ``TextLevel`` wrapper does: marker
  strings become marker tokens).
- :class:`TextgymObservation`: ``tokens`` (the whole context), ``text`` (decoded),
  ``agent_mask`` (one bool per context token), ``truncated``, and ``info``: the env's info,
  JSON-safe, without the mask. ``reward`` and ``done`` (terminated or truncated) are
  OpenEnv's own fields.

:func:`make_app` builds openenv-core's FastAPI app with one env per WebSocket session (the
``/ws`` endpoint, which OpenEnv's clients use), so sessions never share an episode. OpenEnv's
HTTP ``/reset`` and ``/step`` make a fresh env per request, so an episode lives only in a
WebSocket session; an HTTP ``/step`` answers 400 saying so. Misuse (bad actions, bad reset
options, step before reset or after the end) raises :class:`RequestError`: a WebSocket
error message, or a 400 over HTTP, and the server goes on serving.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import gymnasium as gym
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, EnvironmentMetadata, Observation, State
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError
from starlette.websockets import WebSocketDisconnect

from textgym.tokenizer import decode

__all__ = [
    "MAX_ACTION_TOKENS",
    "MAX_ACTION_CHARS",
    "RequestError",
    "TextgymAction",
    "TextgymObservation",
    "TextgymState",
    "TextgymEnvironment",
    "jsonable",
    "make_app",
]

# Bounds on one request. The env cuts a turn at max_turn_tokens anyway; these only stop a
# client from making the server hold (and encode) megabytes for one turn.
MAX_ACTION_TOKENS = 65_536
MAX_ACTION_CHARS = 262_144

# Token ids as JSON integers in int64 range (np.asarray would overflow on larger ones).
# Ids outside the vocabulary are valid actions: the env reads them as <unk>, as locally.
TokenId = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]


class RequestError(ValueError):
    """A request the env cannot serve (bad reset options, step before reset or after the
    episode ended). OpenEnv's WebSocket loop sends it back as an error message; over HTTP
    :func:`make_app` answers 400."""


class TextgymAction(Action):
    """One agent turn: exactly one of ``tokens`` (ids) and ``text`` (markers allowed)."""

    tokens: list[TokenId] | None = Field(default=None, max_length=MAX_ACTION_TOKENS)
    text: str | None = Field(default=None, max_length=MAX_ACTION_CHARS)

    @model_validator(mode="after")
    def _exactly_one(self) -> TextgymAction:
        if (self.tokens is None) == (self.text is None):
            # A PydanticCustomError, not a ValueError: the error's context must be JSON
            # (OpenEnv puts e.errors() in the WebSocket reply; an exception object in it
            # would fail to serialise and end the session).
            raise PydanticCustomError(
                "textgym_action",
                'an action is {"tokens": [int, ...]} or {"text": "..."}: exactly one of them',
            )
        return self


class TextgymObservation(Observation):
    """The context after a reset or a turn; ``reward``/``done`` are OpenEnv's fields."""

    tokens: list[int] = Field(default_factory=list, description="the whole context")
    text: str = Field(default="", description="the context decoded, markers included")
    agent_mask: list[bool] = Field(
        default_factory=list, description="True on agent-written tokens, one per token"
    )
    truncated: bool = Field(default=False, description="the episode hit max_turns/context")
    info: dict[str, Any] = Field(default_factory=dict, description="the env's info, JSON")

    @property
    def terminated(self) -> bool:
        return self.done and not self.truncated

    def as_gym(self) -> tuple[np.ndarray, dict[str, Any]]:
        """``(obs, info)`` as the local env gives them, for agents that take
        ``act(obs, info)``; ``info["agent_mask"]`` covers the context only (local envs pad
        it to ``max_context``: agents read ``agent_mask[:len(obs)]``)."""
        info = dict(self.info, agent_mask=np.asarray(self.agent_mask, dtype=bool))
        return np.asarray(self.tokens, dtype=np.int64), info


class TextgymState(State):
    """Where the session's episode is: ``episode_id`` and ``step_count`` (turns) from
    OpenEnv, plus the env id, the item and whether the episode is over."""

    env_id: str = ""
    split: str | None = None
    index: int | None = None
    done: bool = True


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars as lists and Python numbers, tuples as lists
    and mapping keys as strings, so that it survives JSON unchanged."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


class TextgymEnvironment(Environment[TextgymAction, TextgymObservation, TextgymState]):
    """One textgym env behind OpenEnv's ``reset``/``step``/``state``.

    ``reset(seed=None, episode_id=None, options=None)``: ``options`` as the env's own,
    ``{"split": "test", "index": i}``. ``step(action)``: one turn.
    """

    # Each session gets its own instance (its own env, tokenizer, sandbox): nothing shared.
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__()
        self.env_id = env_id
        # Without Gymnasium's passive env checker: after a first reset that raises (a client
        # asking for an index past the split) it fails every later first step. It only
        # warns, and textgym's own tests run it on every env.
        self.env = gym.make(env_id, **{"disable_env_checker": True, **(env_kwargs or {})})
        self.base = self.env.unwrapped
        if not (hasattr(self.base, "encode_turn") and hasattr(self.base, "tokenizer")):
            self.env.close()
            raise TypeError(f"{env_id} is not a textgym token-sequence env (no encode_turn)")
        self._state = TextgymState(env_id=env_id)

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        options: dict[str, Any] | None = None,
        **unknown: Any,
    ) -> TextgymObservation:
        if unknown:
            raise RequestError(
                f"unknown reset arguments {sorted(unknown)}; use seed, episode_id and "
                'options={"split": ..., "index": ...}'
            )
        if seed is not None and (type(seed) is not int or seed < 0):
            raise RequestError(f"seed must be a non-negative integer, got {seed!r}")
        if options is not None and not isinstance(options, dict):
            raise RequestError(f"options must be an object, got {type(options).__name__}")
        index = (options or {}).get("index")
        if index is not None and (type(index) is not int or index < 0):
            raise RequestError(f"options.index must be a non-negative integer, got {index!r}")
        try:
            obs, info = self.env.reset(seed=seed, options=options)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise RequestError(f"reset: {exc}") from exc
        self._state = TextgymState(
            env_id=self.env_id,
            episode_id=episode_id or str(uuid.uuid4()),
            split=info.get("split"),
            index=info.get("index"),
            done=False,
        )
        return self._observation(obs, info, reward=None, done=False, truncated=False)

    def step(
        self, action: TextgymAction, timeout_s: float | None = None, **kwargs: Any
    ) -> TextgymObservation:
        if self._state.episode_id is None:
            raise RequestError(
                "step before reset: reset the session first (an episode lives in one "
                "WebSocket session, /ws; OpenEnv's HTTP /step makes a fresh env per request)"
            )
        if self._state.done:
            raise RequestError("the episode has ended; reset to start another")
        if not isinstance(action, TextgymAction):
            action = TextgymAction.model_validate(action)
        if action.text is not None:
            ids = self.base.encode_turn(action.text)
        else:
            ids = np.asarray(action.tokens, dtype=np.int64)
        obs, reward, terminated, truncated, info = self.env.step(ids)
        done = bool(terminated or truncated)
        self._state.step_count += 1
        self._state.done = done
        return self._observation(obs, info, reward=float(reward), done=done, truncated=truncated)

    @property
    def state(self) -> TextgymState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        doc = (type(self.base).__doc__ or "").strip().splitlines()
        return EnvironmentMetadata(
            name=self.env_id,
            description=doc[0] if doc else f"textgym {self.env_id}",
            version="0.1.0",
        )

    def close(self) -> None:
        self.env.close()

    def _observation(
        self, obs: np.ndarray, info: dict[str, Any], *, reward, done: bool, truncated: bool
    ) -> TextgymObservation:
        length = len(obs)
        rest = {key: value for key, value in info.items() if key != "agent_mask"}
        return TextgymObservation(
            tokens=obs.tolist(),
            text=decode(self.base.tokenizer, obs),
            agent_mask=info["agent_mask"][:length].tolist(),
            truncated=bool(truncated),
            info=jsonable(rest),
            reward=reward,
            done=done,
            metadata={"env_id": self.env_id, "truncated": bool(truncated)},
        )


def make_app(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None, *, max_sessions: int = 8
) -> FastAPI:
    """openenv-core's FastAPI app serving ``env_id``: ``/ws`` sessions (at most
    ``max_sessions`` at once, each with its own env), ``/health``, ``/schema``,
    ``/metadata`` and the stateless HTTP ``/reset``/``/step``."""
    if max_sessions < 1:
        raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
    kwargs = dict(env_kwargs or {})
    # Made once here so that a bad id or bad kwargs fail now, not in the first session.
    TextgymEnvironment(env_id, kwargs).close()
    # A partial of the class: OpenEnv reads SUPPORTS_CONCURRENT_SESSIONS from it without
    # building a throwaway env.
    factory = functools.partial(TextgymEnvironment, env_id, kwargs)
    app = create_fastapi_app(
        factory, TextgymAction, TextgymObservation, max_concurrent_envs=max_sessions
    )
    app.title = f"textgym {env_id} (OpenEnv)"

    app.add_middleware(_QuietClientClose)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    return app


class _QuietClientClose:
    """Drops the ``WebSocketDisconnect`` that OpenEnv's ``/ws`` handler raises when it
    closes a socket the client has already closed (OpenEnv's client sends "close" and
    hangs up): the session is cleaned up by then, and uvicorn would log a traceback at
    ERROR for every client that disconnects."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except WebSocketDisconnect:
            if scope["type"] != "websocket":
                raise
