"""``ThreadedVectorEnv``: a sync vector env whose envs step at the same time, so the tool
calls of different envs in one vector step run together instead of one after another.

Tool calls mostly wait: on a sandbox worker's pipe (Python), on SQLite (wiki search), on a
model (a classifier scorer). Those waits release the GIL, so threads overlap them without
the pickling and process round trips of ``AsyncVectorEnv``. Envs are independent, so the
results are exactly those of ``SyncVectorEnv`` (tested for every env id).

    envs = textgym.make_vec("TextEnv-Python-v0", num_envs=8, vectorization_mode="threaded")

:func:`make_vec` is ``gym.make_vec`` plus this ``"threaded"`` mode (it is not registered
as the ids' vector entry point, which would make it ``gym.make_vec``'s silent default);
``textgym train ppo --vector-mode threaded`` uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import iterate

__all__ = ["ThreadedVectorEnv", "make_vec", "VECTOR_MODES"]

VECTOR_MODES = ("sync", "async", "threaded")


class _Prefetched(gym.Wrapper):
    """Returns a step result computed ahead of time (by the vector env's thread pool)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.prefetched: tuple | None = None

    def step(self, action: Any):
        if self.prefetched is not None:
            result, self.prefetched = self.prefetched, None
            return result
        return self.env.step(action)


class ThreadedVectorEnv(gym.vector.SyncVectorEnv):
    """``SyncVectorEnv`` that runs its envs' ``step()`` calls in a thread pool.

    Args:
        env_fns: functions that make the envs.
        max_workers: threads (default: one per env).
        **kwargs: as ``SyncVectorEnv`` (``copy``, ``observation_mode``, ``autoreset_mode``).

    Resets stay sequential and in order, and infos are merged in env order, so everything
    returned is identical to ``SyncVectorEnv``'s.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        *,
        max_workers: int | None = None,
        **kwargs: Any,
    ):
        super().__init__([lambda fn=fn: _Prefetched(fn()) for fn in env_fns], **kwargs)
        workers = max_workers or len(self.envs)
        if workers < 1:
            raise ValueError(f"max_workers must be positive, got {max_workers!r}")
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="textgym-vector")

    def step(self, actions):
        acts = list(iterate(self.action_space, actions))
        futures = {}
        for i, env in enumerate(self.envs):
            if self.autoreset_mode == AutoresetMode.NEXT_STEP and self._autoreset_envs[i]:
                continue  # this env resets in this step; its action is ignored
            futures[i] = self._pool.submit(env.env.step, acts[i])
        for i, future in futures.items():
            self.envs[i].prefetched = future.result()  # re-raises an env's exception here
        return super().step(actions)

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.shutdown(wait=True)
        super().close_extras(**kwargs)


def make_vec(
    env_id: str,
    num_envs: int = 1,
    vectorization_mode: str = "sync",
    *,
    vector_kwargs: dict[str, Any] | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] | None = None,
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``gym.make_vec`` with one more mode, ``"threaded"`` (:class:`ThreadedVectorEnv`).

    For ``"async"`` the default is ``shared_memory=False``: token sequences have no fixed
    shape."""
    if vectorization_mode not in VECTOR_MODES:
        raise ValueError(
            f"vectorization_mode must be one of {VECTOR_MODES}, got {vectorization_mode!r}"
        )
    if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    vector_kwargs = dict(vector_kwargs or {})
    if vectorization_mode != "threaded":
        if vectorization_mode == "async":
            vector_kwargs.setdefault("shared_memory", False)
        return gym.make_vec(
            env_id,
            num_envs,
            vectorization_mode,
            vector_kwargs=vector_kwargs,
            wrappers=wrappers,
            **env_kwargs,
        )

    def make() -> gym.Env:
        env = gym.make(env_id, **env_kwargs)
        for wrapper in wrappers or ():
            env = wrapper(env)
        return env

    return ThreadedVectorEnv([make] * num_envs, **vector_kwargs)
