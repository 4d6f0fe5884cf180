"""A typed client for a textgym env served by :mod:`textgym.integrations.openenv`
(``textgym serve``), and a Gymnasium-shaped episode loop over it.

:class:`TextgymClient` is an OpenEnv ``EnvClient``: one WebSocket session, so one env on
the server, per client. It is async like every OpenEnv client; ``.sync()`` gives the
blocking wrapper::

    with TextgymClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(seed=0, options={"split": "test", "index": 3})
        result = env.step("<request><Calculator>12+3<call>")   # text, markers allowed
        result = env.step([53, 48, 4])                          # or token ids
        result.observation.tokens, result.reward, result.done

A server error (a bad action, step before reset) raises ``RuntimeError("Server error: ...")``
from OpenEnv's client; the session stays open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from textgym.integrations.openenv import TextgymAction, TextgymObservation, TextgymState
from textgym.rollout import Agent

__all__ = ["TextgymClient", "TurnLike", "play_remote_episode", "RemoteEpisode"]

#: What ``step`` accepts: a typed action, an action dict, text, or token ids.
TurnLike = TextgymAction | Mapping[str, Any] | str | Sequence[int] | np.ndarray


class TextgymClient(EnvClient[TurnLike, TextgymObservation, TextgymState]):
    """OpenEnv client whose results hold :class:`TextgymObservation` objects."""

    def _step_payload(self, action: TurnLike) -> dict[str, Any]:
        if isinstance(action, TextgymAction):
            return action.model_dump(exclude_none=True, exclude={"metadata"})
        if isinstance(action, Mapping):
            return dict(action)
        if isinstance(action, str):
            return {"text": action}
        # Token ids from numpy or torch as plain ints (JSON has no int64).
        return {"tokens": np.asarray(action).reshape(-1).tolist()}

    async def _send_and_receive(self, message: dict[str, Any]) -> dict[str, Any]:
        # OpenEnv's client keeps only an error's message ("Invalid message"); a bad action's
        # field errors are in the reply too, and say what was wrong.
        await self._send(message)
        response = await self._receive()
        if response.get("type") == "error":
            data = response.get("data", {})
            details = "; ".join(
                f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
                for error in data.get("errors", ())[:5]
            )
            raise RuntimeError(
                f"Server error: {data.get('message', 'unknown error')}"
                + (f" ({details})" if details else "")
                + f" (code: {data.get('code', 'UNKNOWN')})"
            )
        return response

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[TextgymObservation]:
        reward, done = payload.get("reward"), bool(payload.get("done", False))
        observation = TextgymObservation.model_validate(
            {**payload.get("observation", {}), "reward": reward, "done": done}
        )
        return StepResult(observation=observation, reward=reward, done=done)

    def _parse_state(self, payload: dict[str, Any]) -> TextgymState:
        return TextgymState.model_validate(payload)


class RemoteEpisode:
    """One episode played through a client: the observations after reset and after each
    turn, the actions sent, and the rewards."""

    def __init__(self) -> None:
        self.observations: list[TextgymObservation] = []
        self.actions: list[list[int]] = []
        self.rewards: list[float] = []

    @property
    def last(self) -> TextgymObservation:
        return self.observations[-1]

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))


def play_remote_episode(
    client: Any,
    agent: Agent,
    *,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> RemoteEpisode:
    """Play one episode of ``agent`` (``reset(seed)``, ``act(obs, info)``, as for local
    envs) through ``client``, a :class:`TextgymClient` ``.sync()`` wrapper. The agent sees
    ``(obs, info)`` rebuilt from each observation (:meth:`TextgymObservation.as_gym`)."""
    episode = RemoteEpisode()
    agent.reset(seed)
    result = client.reset(seed=seed, options=dict(options) if options is not None else None)
    episode.observations.append(result.observation)
    while not result.done:
        action = np.asarray(agent.act(*result.observation.as_gym())).reshape(-1).tolist()
        result = client.step({"tokens": action})
        episode.actions.append(action)
        episode.observations.append(result.observation)
        episode.rewards.append(float(result.reward or 0.0))
    return episode
