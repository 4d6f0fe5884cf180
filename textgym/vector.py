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

from textgym.checks import positive_int

__all__ = [
    "CheckedAsyncVectorEnv",
    "ThreadedVectorEnv",
    "VectorEnvWorkerDied",
    "make_vec",
    "VECTOR_MODES",
]

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


class VectorEnvWorkerDied(RuntimeError):
    """A subprocess of an async vector env died (killed, out of memory); the message names
    it and its exit code. Its env's state is gone: make a new vector env (training resumes
    from its last checkpoint with ``--resume``)."""


_DEAD_PIPE = (BrokenPipeError, EOFError, ConnectionResetError)


class CheckedAsyncVectorEnv(gym.vector.AsyncVectorEnv):
    """``AsyncVectorEnv`` that reports a dead worker process clearly and can still close.

    Gymnasium raises a bare ``BrokenPipeError`` when a worker was killed, and raises it
    again from ``close()``, which then leaves the other workers running. Here every call
    that talks to the workers raises :class:`VectorEnvWorkerDied` naming the dead ones,
    and ``close()`` terminates what is left.
    """

    def _dead(self) -> str:
        dead = [
            f"worker {i} (pid {p.pid}, exit code {p.exitcode})"
            for i, p in enumerate(self.processes)
            if not p.is_alive()
        ]
        return ", ".join(dead) or "a worker's pipe closed"

    def _checked(self, method: str, *args: Any, **kwargs: Any):
        try:
            return getattr(super(), method)(*args, **kwargs)
        except _DEAD_PIPE as exc:
            raise VectorEnvWorkerDied(
                f"async vector env: {self._dead()} died ({type(exc).__name__}); its "
                "episode is lost, make a new vector env"
            ) from exc

    def step(self, actions):
        return self._checked("step", actions)

    def reset(self, *, seed=None, options=None):
        return self._checked("reset", seed=seed, options=options)

    def call(self, name: str, *args: Any, **kwargs: Any):
        return self._checked("call", name, *args, **kwargs)

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        if any(not p.is_alive() for p in self.processes):
            terminate = True  # the pipes of dead workers cannot carry "close"
        try:
            super().close_extras(timeout=timeout, terminate=terminate)
        except _DEAD_PIPE:
            for process in self.processes:
                if process.is_alive():
                    process.terminate()
                process.join()


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

    ``"async"`` gives a :class:`CheckedAsyncVectorEnv` (a dead worker is a clear error),
    with ``shared_memory=False`` by default: token sequences have no fixed shape."""
    if vectorization_mode not in VECTOR_MODES:
        raise ValueError(
            f"vectorization_mode must be one of {VECTOR_MODES}, got {vectorization_mode!r}"
        )
    positive_int("num_envs", num_envs)
    vector_kwargs = dict(vector_kwargs or {})
    if vectorization_mode == "sync":
        return gym.make_vec(
            env_id,
            num_envs,
            "sync",
            vector_kwargs=vector_kwargs,
            wrappers=wrappers,
            **env_kwargs,
        )

    def make() -> gym.Env:
        env = gym.make(env_id, **env_kwargs)
        for wrapper in wrappers or ():
            env = wrapper(env)
        return env

    if vectorization_mode == "async":
        vector_kwargs.setdefault("shared_memory", False)
        return CheckedAsyncVectorEnv([make] * num_envs, **vector_kwargs)
    return ThreadedVectorEnv([make] * num_envs, **vector_kwargs)
