"""A warm pool of isolated Python workers, one per episode.

A :class:`Session` is one episode's interpreter: its variables persist from call to call,
like notebook cells. Closing it kills the worker, so nothing reaches the next episode;
the pool keeps ``spares`` workers started in the background, so a new session costs a pipe
hand-over, not an interpreter start.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgym.checks import positive_int
from textgym.sandbox.protections import Protections, detect_isolation, seccomp_path
from textgym.sandbox.worker_main import _HEADER, TAMPERED

__all__ = ["Sandbox", "Session", "RunResult", "SandboxError"]

WORKER = Path(__file__).with_name("worker_main.py")
NOBODY = 65534


class SandboxError(RuntimeError):
    """The sandbox cannot start (``strict=True`` without isolation, a broken worker)."""


@dataclass(frozen=True)
class RunResult:
    """One cell's outcome.

    ``error`` is ``None`` on success, else a short text: ``"ZeroDivisionError: division by
    zero (line 2)"``, a timeout, the memory limit, or a dead interpreter. ``restarted``
    means the worker was replaced, so earlier variables are gone.
    """

    stdout: str
    error: str | None = None
    truncated: bool = False
    timed_out: bool = False
    restarted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class _Worker:
    def __init__(self, proc: subprocess.Popen, protections: dict[str, bool]):
        self.proc = proc
        self.protections = protections

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _send(worker: _Worker, obj: Any) -> None:
    body = json.dumps(obj).encode("utf-8")
    worker.proc.stdin.write(_HEADER.pack(len(body)) + body)
    worker.proc.stdin.flush()


def _receive(worker: _Worker, deadline: float) -> Any:
    """Read one frame before ``deadline``; raise TimeoutError or EOFError."""
    fd = worker.proc.stdout.fileno()
    data = b""
    need = _HEADER.size
    header_done = False
    while True:
        while len(data) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, need - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        if header_done:
            return json.loads(data.decode("utf-8"))
        need = _HEADER.unpack(data)[0]
        if need > 64 * 1024 * 1024:
            raise EOFError  # a corrupted channel
        data, header_done = b"", True


class Sandbox:
    """Pre-started isolated Python workers.

    Args:
        timeout: wall-clock seconds per call; on expiry the worker's whole process group
            is killed and replaced.
        memory_mb: address-space limit per worker (RLIMIT_AS).
        cpu_seconds: CPU-time limit per worker (RLIMIT_CPU), a backstop to ``timeout``.
        file_mb: largest file a worker may write (RLIMIT_FSIZE).
        open_files: RLIMIT_NOFILE.
        output_chars: stdout+stderr kept per call; the rest is cut and flagged.
        spares: workers kept warm for the next sessions.
        strict: refuse to start without network isolation (a network namespace).
        python: the worker interpreter; default ``/usr/bin/python3`` when present (it
            stays readable after the uid drop), else this interpreter.

    ``protections`` says which protections are active; missing ones are warned about
    once, loudly.
    """

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        memory_mb: int = 512,
        cpu_seconds: int = 10,
        file_mb: int = 16,
        open_files: int = 64,
        output_chars: int = 4000,
        spares: int = 1,
        strict: bool = False,
        python: str | None = None,
    ):
        for name, value in (
            ("memory_mb", memory_mb),
            ("cpu_seconds", cpu_seconds),
            ("file_mb", file_mb),
            ("open_files", open_files),
            ("output_chars", output_chars),
        ):
            positive_int(name, value)
        if not isinstance(spares, int) or spares < 0:
            raise ValueError(f"spares must be a non-negative int, got {spares!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.spares = spares
        self.python = python or (
            "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        )
        root = os.geteuid() == 0
        self._prefix, isolation = detect_isolation()
        self._config = {
            "limits": {
                "memory_bytes": memory_mb * 1024 * 1024,
                "cpu_seconds": cpu_seconds,
                "file_bytes": file_mb * 1024 * 1024,
                "open_files": open_files,
                "output_chars": output_chars,
            },
            "uid": NOBODY if root else None,
            "private_tmp": bool(self._prefix),
            "seccomp_path": seccomp_path(),
        }
        if strict and not isolation.get("network_namespace"):
            raise SandboxError(
                "strict=True: no network namespace is available (needs `unshare` from "
                "util-linux and permission to create namespaces); refusing to run untrusted "
                "code with network access"
            )
        self._lock = threading.Lock()
        self._warm: list[_Worker] = []
        self._live: weakref.WeakSet[Session] = weakref.WeakSet()
        self._closed = False
        first = self._spawn()  # also measures what the worker could apply
        self.protections = Protections.from_parts(isolation, first.protections)
        self.protections.warn_missing()
        self._warm.append(first)
        self._refill()
        _ALL.add(self)

    def _spawn(self) -> _Worker:
        cmd = [*self._prefix, self.python, "-I", "-S", str(WORKER), json.dumps(self._config)]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a timeout kills all of it
            close_fds=True,
            cwd="/",
            # Nothing from the host's environment (tokens, keys) reaches untrusted code.
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        worker = _Worker(proc, {})
        try:
            ready = _receive(worker, time.monotonic() + 30)
        except (TimeoutError, EOFError) as exc:
            worker.kill()
            raise SandboxError(
                f"the sandbox worker did not start ({type(exc).__name__}); command: {cmd[:4]}"
            ) from exc
        if not ready.get("ready"):
            worker.kill()
            raise SandboxError(f"the sandbox worker failed to lock down: {ready.get('error')}")
        worker.protections = ready["protections"]
        return worker

    def _refill(self) -> None:
        def fill() -> None:
            while True:
                with self._lock:
                    if self._closed or len(self._warm) >= self.spares:
                        return
                try:
                    worker = self._spawn()
                except SandboxError:
                    return
                with self._lock:
                    if self._closed:
                        worker.kill()
                        return
                    self._warm.append(worker)

        threading.Thread(target=fill, daemon=True, name="textgym-sandbox-refill").start()

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise SandboxError("the sandbox is closed")
            worker = self._warm.pop() if self._warm else None
        if worker is None or worker.proc.poll() is not None:
            if worker is not None:
                worker.kill()
            worker = self._spawn()
        self._refill()
        return worker

    def session(self) -> Session:
        """A fresh interpreter for one episode (close it when the episode ends)."""
        session = Session(self)
        self._live.add(session)
        return session

    def run(self, code: str) -> RunResult:
        """Run ``code`` in a throwaway session."""
        with self.session() as session:
            return session.run(code)

    def close(self) -> None:
        """Kill every worker, warm or in use."""
        with self._lock:
            self._closed = True
            warm, self._warm = self._warm, []
        for worker in warm:
            worker.kill()
        for session in list(self._live):
            session.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """One episode's interpreter; state persists across :meth:`run` calls."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self._worker: _Worker | None = sandbox._take()

    @property
    def pid(self) -> int | None:
        return self._worker.proc.pid if self._worker else None

    def run(self, code: str, timeout: float | None = None) -> RunResult:
        if not isinstance(code, str):
            raise TypeError(f"code must be str, got {type(code).__name__}")
        restarted = False
        note = None
        if self._worker is None or self._worker.proc.poll() is not None:
            if self._worker is not None:
                # Killed from outside between calls: say so, or the agent only sees a
                # NameError for the variables it lost.
                note = (
                    f"the interpreter {_death(self._worker.proc.returncode)} since the last "
                    "call (the interpreter was restarted; earlier variables are lost)"
                )
            self._replace()
            restarted = True
        worker = self._worker
        assert worker is not None
        limit = self.sandbox.timeout if timeout is None else timeout
        try:
            _send(worker, {"code": code})
            reply = _receive(worker, time.monotonic() + limit)
        except TimeoutError:
            self._replace()
            return RunResult(
                "",
                f"timeout: the code ran longer than {limit:g} s and was stopped "
                "(the interpreter was restarted; earlier variables are lost)",
                timed_out=True,
                restarted=True,
            )
        except (EOFError, BrokenPipeError, OSError, ValueError):
            try:
                status = worker.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                status = None
            self._replace()
            how = _death(status)
            return RunResult(
                "",
                f"the interpreter {how} (the interpreter was restarted; earlier variables "
                "are lost)",
                restarted=True,
            )
        if not isinstance(reply, dict) or "stdout" not in reply:
            self._replace()
            return RunResult(
                "", "the interpreter sent a malformed reply and was restarted", restarted=True
            )
        error = reply.get("error")
        if note is not None:
            error = note if not error else f"{note}\n{error}"
        return RunResult(
            str(reply["stdout"]),
            error,
            truncated=bool(reply.get("truncated")),
            restarted=restarted,
        )

    def _replace(self) -> None:
        if self._worker is not None:
            self._worker.kill()
        self._worker = self.sandbox._take()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _death(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if -returncode == signal.SIGXCPU or -returncode == signal.SIGKILL:
            return f"was killed ({name}: CPU limit or memory exhaustion)"
        return f"crashed ({name})"
    if returncode == TAMPERED:
        return "stopped: the code broke the sandbox's own machinery"
    return f"exited with status {returncode}"


_ALL: weakref.WeakSet[Sandbox] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for sandbox in list(_ALL):
        sandbox.close()
