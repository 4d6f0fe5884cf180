"""The ``<Python>`` tool: runs model-written code in the sandbox, like a notebook cell."""

from __future__ import annotations

from textgym.sandbox import RunResult, Sandbox, Session
from textgym.tool import Tool, ToolError

__all__ = ["PythonTool", "format_result"]


def format_result(result: RunResult) -> str:
    """The tool response: stdout (with the value of a trailing expression, as a REPL
    prints it), then a short error line, then a note when output was cut."""
    parts = [result.stdout.rstrip("\n")] if result.stdout.strip() else []
    if result.error:
        parts.append(f"Error: {result.error}")
    if result.truncated:
        parts.append("[output truncated]")
    return "\n".join(parts) if parts else "(no output)"


class PythonTool(Tool):
    """Python in an isolated worker; variables persist across calls of one episode.

    Args:
        sandbox: the :class:`textgym.sandbox.Sandbox` to run in; default one per tool.
        timeout: wall-clock seconds per call (default the sandbox's).

    The env calls :meth:`new_session` at each reset, so no state crosses episodes.
    """

    name = "Python"
    description = "runs Python code; prints stdout and the value of the last expression"
    argument = "code"
    argument_description = "Python source to run"
    max_output_chars = 4000

    def __init__(self, sandbox: Sandbox | None = None, timeout: float | None = None):
        self._own = sandbox is None
        self.sandbox = sandbox or Sandbox()
        self.timeout = timeout
        self._session: Session | None = None

    def new_session(self) -> None:
        """Start a fresh interpreter (the previous one is killed)."""
        if self._session is not None:
            self._session.close()
        self._session = self.sandbox.session()

    def __call__(self, query: str) -> str:
        if self._session is None:
            self.new_session()
        assert self._session is not None
        code = query.strip("\n")
        if not code.strip():
            raise ToolError("empty program; write Python code between <Python> and <call>")
        return format_result(self._session.run(code, timeout=self.timeout))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._own:
            self.sandbox.close()
