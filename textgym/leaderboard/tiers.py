"""Difficulty tiers on the board: which test splits an env is scored on.

Every env is scored on its default config's test split, exactly as before tiers existed:
the *continuity* column, which keeps old entries and the old headline comparable. An env
that declares tiers (:class:`textgym.registration.Tier`, on its registry entry) is also
scored on each tier's own test split, with its own hash, so a saturated easy level cannot
hide a hard one. A cell names its tier in ``"tier"``; a cell without one is continuity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym

from textgym.leaderboard.records import env_info
from textgym.registration import env_tiers

__all__ = ["CONTINUITY", "EnvInfos", "columns", "column_label", "split_info"]

#: How reports name the default-config column.
CONTINUITY = "default"


def split_info(env_id: str, env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`~textgym.leaderboard.records.env_info` of the env as ``gym.make(env_id,
    **env_kwargs)`` builds it: kwargs that configure the task (a level, a task seed) give
    another test split and hash."""
    info = env_info(env_id)  # the registration check and the registered version
    if not env_kwargs:
        return info
    env = gym.make(env_id, **dict(env_kwargs))
    try:
        task = env.unwrapped.task
        return dict(
            info,
            split_hash=task.split_hash(),
            test_size=task.test_size,
            metric=getattr(task, "leaderboard_metric", info["metric"]),
        )
    finally:
        env.close()


class EnvInfos:
    """env id -> what pins it on a board under one set of env kwargs: the continuity
    split's info (as :func:`split_info`) plus ``"tiers"``, the info of each declared tier
    (``tier``, ``kwargs``, ``description``, ``split_hash``, ``test_size``, ``metric``).
    Computed once per env (a split hash builds the whole split). Pass one as
    ``env_infos`` to :func:`~textgym.leaderboard.validate_entry`.

    A tier is made with the board's env kwargs and the tier's on top; a tier that sets a
    kwarg the board pins (a calculator board made at ``{"level": 2}`` has no level tiers)
    is left out, since the board chose that setting for every column. ``tiers=False``
    leaves every tier out (a board of continuity columns only).
    """

    def __init__(self, env_kwargs: Mapping[str, Any] | None = None, *, tiers: bool = True):
        self.env_kwargs = dict(env_kwargs or {})
        self.tiers = tiers
        self._cache: dict[str, dict[str, Any]] = {}

    def __call__(self, env_id: str) -> dict[str, Any]:
        if env_id not in self._cache:
            info = split_info(env_id, self.env_kwargs)
            info["tiers"] = [self._tier(env_id, t) for t in self._declared(env_id)]
            self._cache[env_id] = info
        return self._cache[env_id]

    def _declared(self, env_id: str):
        if not self.tiers:
            return []
        return [t for t in env_tiers(env_id) if not set(t.make_kwargs()) & set(self.env_kwargs)]

    def _tier(self, env_id: str, tier) -> dict[str, Any]:
        kwargs = tier.make_kwargs()
        info = split_info(env_id, {**self.env_kwargs, **kwargs})
        return {
            "tier": tier.name,
            "kwargs": kwargs,
            "description": tier.description,
            **{k: info[k] for k in ("split_hash", "test_size", "metric")},
        }

    def tier(self, env_id: str, name: str | None) -> dict[str, Any]:
        """The info of one column: ``name`` ``None`` is continuity. Raises ``KeyError``
        for a tier this env does not have here."""
        info = self(env_id)
        if name is None:
            return info
        for tier in info["tiers"]:
            if tier["tier"] == name:
                return tier
        raise KeyError(name)


def columns(env: Mapping[str, Any]) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """(tier name or ``None`` for continuity, its info) of every column of a board env or
    an :class:`EnvInfos` info, continuity first."""
    yield None, env
    for tier in env.get("tiers") or ():
        yield tier["tier"], tier


def column_label(tier: str | None) -> str:
    return CONTINUITY if tier is None else tier
