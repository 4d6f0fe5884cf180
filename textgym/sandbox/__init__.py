"""A sandbox for untrusted, model-written Python: pre-started isolated worker processes.

See :class:`Sandbox` for the protections and :class:`Session` for per-episode state.
"""

from textgym.sandbox.pool import RunResult, Sandbox, SandboxError, Session
from textgym.sandbox.protections import Protections

__all__ = ["Protections", "RunResult", "Sandbox", "SandboxError", "Session"]
