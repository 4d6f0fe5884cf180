"""``OpenAIAgent``: any OpenAI-compatible chat endpoint, with native function calling.

The episode goes to ``/v1/chat/completions`` as messages with the env's tools in
``tools=`` (:class:`~textgym.agents.chat_bridge.ChatBridge`); the reply's first function
call becomes the env's call, in the env's own tool format (TRL's markers or the chat
format), and a reply without one is the final answer. So the OpenAI API, vLLM, llama.cpp,
Ollama or ``transformers serve`` ranks on every textgym env without a prompt written for
its format.

Needs the optional ``openai`` package (``pip install 'textgym[serving]'``); the package
``textgym.agents`` does not import this module, so it loads without it.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import openai

from textgym.agents.chat_bridge import ChatBridge, ChatReply, FunctionCall

__all__ = ["OpenAIAgent", "EndpointError", "DEFAULT_BASE_URL"]

#: Where the ``openai`` client sends requests when neither ``base_url`` nor
#: ``OPENAI_BASE_URL`` says otherwise.
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class EndpointError(ConnectionError):
    """The endpoint could not be used: down, unreachable, refusing the key, or without
    the model. The message names the URL and what to check. A ``ConnectionError`` (an
    ``OSError``), so the CLI reports it as one line, not a traceback."""


class OpenAIAgent:
    """Plays a textgym env through an OpenAI-compatible chat endpoint.

    Args:
        env: a textgym env (with ``tools``), in either tool format.
        model: the model name the endpoint serves (``gpt-4o-mini``; for ``transformers
            serve``, the model folder's path as given to the server).
        base_url: the endpoint, e.g. ``http://127.0.0.1:8000/v1``; default
            ``OPENAI_BASE_URL``, else OpenAI's API.
        api_key: default ``OPENAI_API_KEY``, else ``"EMPTY"`` (local servers take any).
        temperature: 0 (default) for reproducible leaderboard cells.
        max_tokens: cap per reply; ``None`` leaves it to the endpoint.
        timeout: seconds per request before it is retried.
        max_retries: retries of timeouts, connection errors, 429 (rate limits, with
            exponential backoff honouring ``Retry-After``) and 5xx; the ``openai`` client
            does the retrying.
        probe: check the endpoint with ``GET /models`` now, so a wrong URL fails here and
            not after an env was set up; the probe is skipped when ``client`` is given.
        client: an ``openai.OpenAI`` client to use instead of building one.
    """

    def __init__(
        self,
        env: gym.Env,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        probe: bool = True,
        client: openai.OpenAI | None = None,
    ):
        if not model:
            raise ValueError("OpenAIAgent needs a model name, e.g. openai:gpt-4o-mini")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.bridge = ChatBridge(env, "OpenAIAgent")
        self.env = env
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        if client is None:
            base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
            client = openai.OpenAI(
                base_url=base_url,
                # Local servers ignore the key, but the client refuses to start without one.
                api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                timeout=timeout,
                max_retries=max_retries,
            )
        else:
            probe = False
        self.client = client
        self.base_url = str(client.base_url)
        if probe:
            self.check_endpoint()

    def check_endpoint(self, timeout: float = 10.0) -> list[str]:
        """``GET /models`` with a short timeout and one retry; returns the model names.

        Raises:
            EndpointError: the endpoint is down or refuses the key.
        """
        quick = self.client.with_options(timeout=timeout, max_retries=1)
        try:
            names = [m.id for m in quick.models.list()]
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise self._error(exc) from None
            # Up but without a /models route (some proxies): the first request will say
            # whether the model is there.
            return []
        except openai.APIError as exc:
            raise self._error(exc) from None
        if names and self.model not in names:
            shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise EndpointError(
                f"{self.base_url} does not serve model {self.model!r}; it lists: {shown} "
                "(for `transformers serve DIR`, the model name is DIR as the server got it)"
            )
        return names

    def reset(self, seed: int | None = None) -> None:
        self.bridge.reset()

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        messages = self.bridge.messages(obs, info)
        request: dict[str, Any] = dict(
            model=self.model,
            messages=messages,
            tools=self.bridge.tool_schemas,
            temperature=self.temperature,
        )
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        try:
            response = self.client.chat.completions.create(**request)
        except openai.APIError as exc:
            raise self._error(exc) from exc
        if not response.choices:
            raise EndpointError(f"{self.base_url} answered with no choices: {response!r}")
        return self.bridge.action(reply_of(response.choices[0].message))

    def _error(self, exc: openai.APIError) -> EndpointError:
        """``exc`` as an :class:`EndpointError` that says what to check."""
        where = f"OpenAI-compatible endpoint {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            hint = "it did not answer in time; is it overloaded? raise --timeout or check it"
        elif isinstance(exc, openai.APIConnectionError):
            hint = (
                "cannot connect; is the server running, and is --base-url (or "
                "OPENAI_BASE_URL) right, including the /v1 suffix?"
            )
        elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            hint = "it refused the API key; set OPENAI_API_KEY"
        elif isinstance(exc, openai.RateLimitError):
            hint = "still rate limited after the client's retries; lower the load or retry later"
        elif isinstance(exc, (openai.NotFoundError, openai.BadRequestError)):
            hint = f"request refused; does it serve model {self.model!r} and tool calls?"
        else:
            hint = "request failed"
        return EndpointError(f"{where}: {hint} ({type(exc).__name__}: {exc})")


def reply_of(message: Any) -> ChatReply:
    """An OpenAI ``ChatCompletionMessage`` as a :class:`ChatReply`."""
    calls = []
    for call in message.tool_calls or ():
        function = getattr(call, "function", None)
        if function is None:  # a custom (non-function) tool call: not a textgym tool
            calls.append(FunctionCall("", "{}", call.id, error="only function calls are tools"))
            continue
        calls.append(FunctionCall(function.name or "", function.arguments or "", call.id))
    return ChatReply(
        content=message.content,
        tool_calls=tuple(calls),
        refusal=getattr(message, "refusal", None),
    )
