"""OpenAIAgent against a real local server: ``transformers serve`` serving a tiny Llama
folder (random weights, a ChatML chat template with tools) built here, driven through the
official ``openai`` client. Random weights, so this checks the plumbing: requests with
tools are accepted, episodes finish, results are recorded.

Skipped (with the server's output) only when the server cannot start.
"""

import functools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("openai")

from local_models import save_local_model  # noqa: E402

import textgym  # noqa: E402
from textgym.agents.openai_agent import OpenAIAgent  # noqa: E402
from textgym.app import leaderboard_runner, specs  # noqa: E402

pytestmark = pytest.mark.slow

#: Seconds the server may take to load (about 20 s on 2 busy cores).
START_TIMEOUT = 90
ENV_ID = "TextEnv-Calculator-v0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path, chars=2000) -> str:
    return path.read_text(errors="replace")[-chars:]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(model folder, base URL) of a running ``transformers serve``."""
    root = tmp_path_factory.mktemp("served")
    folder = save_local_model(root / "llama", "llama")
    port = _free_port()
    log = root / "serve.log"
    command = [
        sys.executable, "-m", "transformers.cli.transformers", "serve", str(folder),
        "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.skip(f"transformers serve exited with code {proc.returncode}: {_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                _stop(proc)
                pytest.skip(
                    f"transformers serve did not answer /health in {START_TIMEOUT} s: {_tail(log)}"
                )
            time.sleep(0.5)
        yield folder, f"{url}/v1"
    finally:
        _stop(proc)


def test_openai_agent_plays_calculator_episodes_on_transformers_serve(served, calc_env):
    folder, base_url = served
    # The server names the model by the folder path it was given.
    agent = OpenAIAgent(calc_env, str(folder), base_url=base_url, max_tokens=12, timeout=120)
    assert str(folder) in agent.check_endpoint()
    result = textgym.evaluate(calc_env, agent, episodes=2, progress=False)
    assert result.n == 2
    for episode in result.episodes:
        assert episode.actions and (episode.terminated or episode.truncated)
        assert 0.0 <= episode.reward <= 1.0
    # The second episode started a new conversation.
    assert [m["role"] for m in agent.bridge.history[:2]] == ["system", "user"]


def test_the_leaderboard_records_an_openai_spec_cell(served, tmp_path, monkeypatch):
    folder, base_url = served
    # A short reply cap: uncapped, the random model writes to its 1024-token limit.
    monkeypatch.setattr(specs, "OpenAIAgent", functools.partial(OpenAIAgent, max_tokens=12))
    entry = leaderboard_runner.evaluate_agent(
        f"openai:{folder}",
        [ENV_ID],
        episodes=2,
        cells_dir=tmp_path / "cells",
        progress=False,
        base_url=base_url,
    )
    (cell,) = entry["results"]
    assert cell["env"] == ENV_ID and cell["episodes"] == 2
    (saved,) = (tmp_path / "cells").rglob(f"{ENV_ID}.json")
    assert json.loads(saved.read_text())["key"]["base_url"] == base_url
