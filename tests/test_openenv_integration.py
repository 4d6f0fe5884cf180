"""Every registered env served by openenv-core (textgym.integrations.openenv) and played
through OpenEnv's client equals local play: rewards, contexts, agent masks and info, for
the oracle and a random agent, one session at a time and eight at once. Malformed requests
get an error and the server goes on serving; ``textgym serve`` starts the same server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'textgym[openenv]'")

import httpx  # noqa: E402  (comes with openenv-core)
import uvicorn  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

import textgym  # noqa: E402
from textgym.agents import OracleAgent, RandomAgent  # noqa: E402
from textgym.app import cli_serve  # noqa: E402
from textgym.app.cli import main  # noqa: E402
from textgym.integrations.openenv import jsonable, make_app  # noqa: E402
from textgym.integrations.openenv_client import TextgymClient, play_remote_episode  # noqa: E402

CALC = "TextEnv-Calculator-v0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serve():
    """``serve(env_id, max_sessions)`` -> base URL of a uvicorn server in a thread, one per
    (env, max_sessions) for the module."""
    servers: dict[tuple[str, int], tuple[str, uvicorn.Server, threading.Thread]] = {}

    def start(env_id: str, max_sessions: int = 8) -> str:
        key = (env_id, max_sessions)
        if key not in servers:
            port = _free_port()
            app = make_app(env_id, max_sessions=max_sessions)
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
                time.sleep(0.02)
            servers[key] = (f"http://127.0.0.1:{port}", server, thread)
        return servers[key][0]

    yield start
    for _, server, thread in servers.values():
        server.should_exit = True
        thread.join(timeout=10)


def _make(env_id: str) -> gym.Env:
    try:
        return gym.make(env_id)
    except ImportError as exc:  # an env whose optional extra is not installed
        pytest.skip(f"{env_id}: {exc}")


def _record(obs, info, reward=None, done=False, truncated=False) -> dict:
    """One step as the comparison sees it: the context, its mask, reward, end, info."""
    rest = {key: value for key, value in info.items() if key != "agent_mask"}
    return {
        "tokens": np.asarray(obs).tolist(),
        "agent_mask": np.asarray(info["agent_mask"])[: len(obs)].tolist(),
        "reward": reward,
        "done": done,
        "truncated": truncated,
        "info": jsonable(rest),
    }


def _remote_records(episode) -> list[dict]:
    return [
        _record(o.tokens, {**o.info, "agent_mask": o.agent_mask}, o.reward, o.done, o.truncated)
        for o in episode.observations
    ]


def _agent(kind: str, env: gym.Env):
    return OracleAgent(env) if kind == "oracle" else RandomAgent(env, seed=7)


def play_local(env_id: str, kind: str, seed: int, options: dict) -> list[dict]:
    env = _make(env_id)
    try:
        agent = _agent(kind, env)
        agent.reset(seed)
        obs, info = env.reset(seed=seed, options=options)
        records = [_record(obs, info)]
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
            done = terminated or truncated
            records.append(_record(obs, info, float(reward), done, truncated))
        return records
    finally:
        env.close()


class LockstepOracle:
    """The oracle for a remote episode. Its turns come from the task's script, which needs
    the episode's item and calls: a local twin of the env, reset with the same seed and
    options and stepped with the same turns, writes them, and checks on the way that the
    context the server sent is the twin's."""

    def __init__(self, env_id: str, options: dict):
        self.env = _make(env_id)
        self.oracle = OracleAgent(self.env)
        self.options = options

    def reset(self, seed=None):
        self.obs, _ = self.env.reset(seed=seed, options=self.options)

    def act(self, obs, info):
        np.testing.assert_array_equal(obs, self.obs)
        action = self.oracle.act(self.obs, {})
        self.obs, *_ = self.env.step(action)
        return action

    def close(self):
        self.env.close()


def play_remote(url: str, env_id: str, kind: str, seed: int, options: dict) -> list[dict]:
    if kind == "oracle":
        agent = LockstepOracle(env_id, options)
    else:
        space_env = _make(env_id)  # the random agent only reads the action space
        agent = _agent(kind, space_env)
    try:
        with TextgymClient(base_url=url).sync() as client:
            episode = play_remote_episode(client, agent, seed=seed, options=options)
    finally:
        (agent if kind == "oracle" else space_env).close()
    return _remote_records(episode)


# Two oracle episodes and one random one per env, on test items.
EPISODES = [("oracle", 3, 0), ("oracle", 11, 5), ("random", 4, 2)]


@pytest.mark.parametrize("env_id", textgym.env_ids())
def test_every_env_plays_remotely_as_locally(serve, env_id):
    url = serve(env_id)
    for kind, seed, index in EPISODES:
        options = {"split": "test", "index": index}
        local = play_local(env_id, kind, seed, options)
        remote = play_remote(url, env_id, kind, seed, options)
        assert remote == local, f"{env_id} {kind} seed={seed}"
        assert local[-1]["done"]
        if kind == "oracle":
            assert local[-1]["info"]["success"], f"{env_id}: the oracle should succeed"


def test_eight_concurrent_sessions_each_equal_local_play(serve):
    url = serve(CALC, max_sessions=8)
    jobs = [("oracle" if i % 2 else "random", 100 + i, i) for i in range(8)]
    expected = [
        play_local(CALC, kind, seed, {"split": "test", "index": i}) for kind, seed, i in jobs
    ]
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(slot: int) -> None:
        kind, seed, index = jobs[slot]
        options = {"split": "test", "index": index}
        agent = LockstepOracle(CALC, options) if kind == "oracle" else None
        space_env = None if agent else _make(CALC)
        agent = agent or RandomAgent(space_env, seed=7)
        try:
            with TextgymClient(base_url=url).sync() as client:
                client.reset(seed=0)  # every session open before any episode is played
                barrier.wait(timeout=60)
                for _ in range(2):  # twice: a session's second episode is its own as well
                    episode = play_remote_episode(client, agent, seed=seed, options=options)
                results[slot] = _remote_records(episode)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[slot] = exc
            barrier.abort()
        finally:
            (space_env or agent).close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for slot, (got, want) in enumerate(zip(results, expected)):
        assert got == want, f"session {slot} ({jobs[slot]}): {got!r:.300}"


def test_python_sessions_keep_their_own_interpreter(serve):
    """Interleaved turns of four Python sessions: each sandbox worker keeps its own
    variables, as each local env does."""
    url = serve("TextEnv-Python-v0", max_sessions=4)
    clients = [TextgymClient(base_url=url).sync() for _ in range(4)]
    try:
        for n, client in enumerate(clients):
            client.reset(seed=n)
        for n, client in enumerate(clients):
            client.step(f"<request><Python>x = {n * 10}<call>")
        for n, client in enumerate(clients):
            result = client.step("<request><Python>print(x + 1)<call>")
            assert result.observation.info["tool_calls"][-1]["response"] == str(n * 10 + 1)
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    "action, says",
    [
        ({}, "exactly one of them"),
        ({"tokens": [1, 2], "text": "x"}, "exactly one of them"),
        ({"tokens": [1, "two"]}, "tokens.1: Input should be a valid integer"),
        ({"tokens": [1.5]}, "tokens.0: Input should be a valid integer"),
        ({"tokens": [True]}, "tokens.0: Input should be a valid integer"),
        ({"tokens": [2**64]}, "less than or equal to"),
        ({"tokens": "1 2 3"}, "tokens: Input should be a valid list"),
        ({"text": 5}, "text: Input should be a valid string"),
        ({"tokens": [0] * 70_000}, "at most 65536 items"),
        ({"turn": "hi"}, "turn: Extra inputs are not permitted"),
    ],
)
def test_a_malformed_action_is_an_error_and_the_session_goes_on(serve, action, says):
    url = serve(CALC)
    options = {"split": "test", "index": 1}
    with TextgymClient(base_url=url).sync() as client:
        client.reset(seed=1, options=options)
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR") as error:
            client.step(action)
        assert says in str(error.value)
        # The same session then plays a whole valid episode, as local play does.
        oracle = LockstepOracle(CALC, options)
        try:
            episode = play_remote_episode(client, oracle, seed=1, options=options)
        finally:
            oracle.close()
    assert _remote_records(episode) == play_local(CALC, "oracle", 1, options)


def test_misuse_gets_a_message_that_says_what_to_do(serve):
    url = serve(CALC)
    with TextgymClient(base_url=url).sync() as client:
        for call, says in [
            (lambda: client.step("Result=1<submit>"), "step before reset"),
            (lambda: client.reset(options={"split": "dev"}), "split must be one of"),
            (lambda: client.reset(options={"split": "test", "index": 10**6}), "index"),
            (lambda: client.reset(options={"index": -1}), "non-negative integer"),
            (lambda: client.reset(options=[1]), "options must be an object"),
            (lambda: client.reset(seed="x"), "seed must be a non-negative integer"),
            (lambda: client.reset(level=3), "unknown reset arguments ['level']"),
        ]:
            with pytest.raises(RuntimeError, match="EXECUTION_ERROR") as error:
                call()
            assert says in str(error.value)
        result = client.reset(seed=2, options={"split": "test", "index": 0})
        assert not result.done and result.reward is None
        # Text actions, markers included, are encoded as the TextLevel wrapper does.
        result = client.step("Result=nothing<submit>")
        assert result.done and result.reward == 0.0 and not result.observation.truncated
        assert result.observation.text.endswith("Result=nothing<submit>")
        assert result.observation.info["answer"] == "Result=nothing"
        with pytest.raises(RuntimeError, match="the episode has ended"):
            client.step("again")
        assert client.state().done and client.state().step_count == 1


def test_raw_protocol_errors_leave_the_server_serving(serve):
    url = serve(CALC)
    ws_url = url.replace("http://", "ws://") + "/ws"
    with ws_connect(ws_url) as ws:
        for raw in ["not json", json.dumps({"type": "dance"}), json.dumps({"type": "step"})]:
            ws.send(raw)
            reply = json.loads(ws.recv(timeout=30))
            assert reply["type"] == "error", reply
        ws.send(json.dumps({"type": "reset", "data": {"seed": 0}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "observation"
    # OpenEnv's HTTP routes make a fresh env per request: /step says so with a 400.
    assert httpx.get(f"{url}/health", timeout=30).json()["status"] == "healthy"
    reply = httpx.post(f"{url}/step", json={"action": {"text": "hi"}}, timeout=30)
    assert reply.status_code == 400 and "step before reset" in reply.json()["detail"]
    assert httpx.post(f"{url}/step", json={"action": {}}, timeout=30).status_code == 422
    reply = httpx.post(f"{url}/reset", json={"seed": 0}, timeout=30)
    assert reply.status_code == 200 and reply.json()["observation"]["tokens"]


def test_sessions_past_max_sessions_are_refused_until_one_closes(serve):
    url = serve(CALC, max_sessions=2)
    first, second = (TextgymClient(base_url=url).sync() for _ in range(2))
    with first, second:
        first.reset(seed=0)
        second.reset(seed=0)
        with TextgymClient(base_url=url).sync() as third:
            # The server answers CAPACITY_REACHED and hangs up as soon as the socket opens:
            # the client reads the error, or finds the socket closed if it sends first.
            with pytest.raises((RuntimeError, ConnectionClosed)) as refused:
                third.reset(seed=0)
            if isinstance(refused.value, RuntimeError):
                assert "CAPACITY_REACHED" in str(refused.value)
    deadline = time.monotonic() + 10
    while True:  # the server frees the two sessions once their sockets close
        try:
            with TextgymClient(base_url=url).sync() as again:
                assert not again.reset(seed=0).done
            break
        except (RuntimeError, ConnectionClosed):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_textgym_serve_runs_the_server(tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "textgym.app.cli", "serve", "--env", CALC]
    command += ["--port", str(port), "--max-sessions", "2", "--log-level", "warning"]
    server = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "textgym serve did not come up"
            time.sleep(0.2)
        options = {"split": "test", "index": 4}
        assert play_remote(url, CALC, "oracle", 5, options) == play_local(
            CALC, "oracle", 5, options
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, server.stderr.read()


def test_serve_without_the_extra_says_what_to_install(monkeypatch, capsys):
    def missing(name):
        raise ModuleNotFoundError("No module named 'openenv'", name="openenv")

    monkeypatch.setattr(cli_serve.importlib, "import_module", missing)
    assert main(["serve", "--env", CALC]) == 2
    assert "pip install 'textgym[openenv]'" in capsys.readouterr().err


def test_serve_refuses_bad_arguments(capsys):
    assert main(["serve", "--env", "TextEnv-Nope-v0"]) == 2
    assert "unknown env id 'TextEnv-Nope-v0'" in capsys.readouterr().err
    assert main(["serve", "--env", CALC, "--env-kwargs", "[1]"]) == 2
    assert "--env-kwargs must be a JSON object" in capsys.readouterr().err
    assert main(["serve", "--env", CALC, "--max-sessions", "0"]) == 2
    assert "--max-sessions must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 127.0.0.1)", "(default: 8000)", "(default: 8)"):
        assert default in text
