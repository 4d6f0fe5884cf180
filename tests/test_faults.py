"""Faults from outside: each has a defined outcome, a clear error or a transparent recovery.

- a sandbox worker killed mid-episode: the call reports it, the interpreter restarts;
- a vector-env subprocess killed: VectorEnvWorkerDied names it, close() still works;
- the search index deleted or truncated while envs run: queries keep answering;
- a checkpoint write interrupted: the previous checkpoint stays whole and loads;
- the disk full while writing results: the old file stays whole, the CLI says why.
"""

from __future__ import annotations

import errno
import json
import os
import signal

import gymnasium as gym
import numpy as np
import pytest
import torch

import textgym
from textgym import leaderboard as lb
from textgym.app.cli import main


@pytest.mark.parametrize("with_reap", [False, True], ids=["unnoticed", "reaped"])
def test_sandbox_worker_killed_mid_episode_restarts_the_interpreter(with_reap):
    env = gym.make("TextEnv-Python-v0")
    base = env.unwrapped
    try:
        env.reset(seed=0)
        env.step(base.encode_turn("<request><Python>x = 41<call>"))
        session = base.python_tool._session
        os.killpg(session.pid, signal.SIGKILL)
        if with_reap:  # the death may be noticed before the call or during it
            session._worker.proc.wait(timeout=10)
        *_, info = env.step(base.encode_turn("<request><Python>x + 1<call>"))
        reply = info["tool_calls"][-1]["response"]
        assert "killed" in reply and "restarted" in reply and "variables are lost" in reply
        *_, info = env.step(base.encode_turn("<request><Python>6 * 7<call>"))
        assert info["tool_calls"][-1]["response"] == "42"  # a fresh interpreter answers
    finally:
        env.close()


def test_a_killed_vector_env_subprocess_is_a_clear_error_and_close_still_works():
    vec = textgym.make_vec("TextEnv-Calculator-v0", 3, "async")
    vec.reset(seed=0)
    victim = vec.processes[1]
    victim.kill()
    victim.join()
    actions = tuple(np.array([5], dtype=np.int64) for _ in range(3))
    with pytest.raises(textgym.VectorEnvWorkerDied, match=r"worker 1 \(pid \d+, exit code -9\)"):
        vec.step(actions)
    vec.close()  # Gymnasium's own close raises BrokenPipeError here
    assert not any(p.is_alive() for p in vec.processes)


def test_training_on_a_dead_vector_env_fails_with_the_reason(tmp_path, capsys, monkeypatch):
    from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config

    vec = textgym.make_vec("TextEnv-Calculator-v0", 2, "async")
    tok = textgym.make_tokenizer()
    policy = ValueHeadLM.from_config(tiny_gpt2_config(len(tok), n_layer=1, n_embd=16, n_head=2))
    ppo = PPO(vec, policy, PPOConfig(episodes_per_iteration=2, mini_batch_size=2, max_new_tokens=4))
    vec.processes[0].kill()
    vec.processes[0].join()
    with pytest.raises(textgym.VectorEnvWorkerDied):
        ppo.step()
    vec.close()

    # Through the CLI: exit code 1 and the reason, no traceback.
    import textgym.app.cli_train as cli_train

    def dies(*args, **kwargs):
        raise textgym.VectorEnvWorkerDied("async vector env: worker 0 (pid 1, exit code -9)")

    monkeypatch.setattr(cli_train, "train_ppo", dies)
    argv = ["train", "ppo", "--env", "TextEnv-Calculator-v0", "--out", str(tmp_path),
            "--vector-mode", "async", "--quiet"]
    assert main(argv) == 1
    assert "worker 0 (pid 1, exit code -9)" in capsys.readouterr().err


def test_search_index_deleted_or_truncated_while_an_episode_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGYM_CACHE", str(tmp_path))
    env = gym.make("TextEnv-WikiSearch-v0")
    base = env.unwrapped
    try:
        env.reset(seed=0, options={"split": "test", "index": 0})
        index_files = list(tmp_path.rglob("*.sqlite"))
        assert index_files, "the env should have built its index under TEXTGYM_CACHE"
        query = base.item.data.get("query") or base.item.question
        env.step(base.encode_turn(f"<request><Wiki>{query}<call>"))
        first = base.tool_calls[-1].response
        for path in index_files:
            path.unlink()  # deleted under the open connection
        env.step(base.encode_turn(f"<request><Wiki>{query}<call>"))
        assert base.tool_calls[-1].response == first
        env.close()
        env = gym.make("TextEnv-WikiSearch-v0")  # a new env rebuilds the missing file
        env.reset(seed=0, options={"split": "test", "index": 0})
        for path in tmp_path.rglob("*.sqlite"):
            with open(path, "r+b") as fh:
                fh.truncate(os.path.getsize(path) // 3)  # truncated under the open file
        env.step(env.unwrapped.encode_turn(f"<request><Wiki>{query}<call>"))
        assert env.unwrapped.tool_calls[-1].response == first  # repaired, same answer
    finally:
        env.close()


def test_an_interrupted_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config
    from textgym.agents import checkpoint as ckpt

    vec = textgym.make_vec("TextEnv-Calculator-v0", 2)
    tok = textgym.make_tokenizer()
    policy = ValueHeadLM.from_config(tiny_gpt2_config(len(tok), n_layer=1, n_embd=16, n_head=2))
    ppo = PPO(vec, policy, PPOConfig(episodes_per_iteration=2, mini_batch_size=2, max_new_tokens=4))
    ppo.step()
    first = ckpt.save_checkpoint(ppo, tmp_path)
    ppo.step()

    def torn(*args, **kwargs):  # the process dies half-way through the trainer state
        raise OSError(errno.EIO, "simulated crash while writing trainer_state.pt")

    monkeypatch.setattr(ckpt.torch, "save", torn)
    with pytest.raises(OSError, match="simulated crash"):
        ckpt.save_checkpoint(ppo, tmp_path)
    monkeypatch.undo()
    assert ckpt.latest_checkpoint(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    restored = ckpt.load_checkpoint(first, vec)
    assert restored.iteration == 1
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            restored.policy.state_dict().values(),
            ValueHeadLM.from_pretrained(first / "policy").state_dict().values(),
        )
    )
    vec.close()


def _disk_full(monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("textgym.fileio.os.fsync", full)


def test_disk_full_while_writing_results_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    from textgym.fileio import atomic_write_text

    target = tmp_path / "results.json"
    target.write_text('{"old": true}')
    _disk_full(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, '{"new": true}')
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left

    code = main(
        [
            "leaderboard",
            "run",
            "--agents",
            "oracle",
            "--envs",
            "TextEnv-Calculator-v0",
            "--episodes",
            "1",
            "--out",
            str(tmp_path / "board"),
            "--quiet",
            "--no-chart",
        ]
    )
    assert code == 1
    assert "No space left on device" in capsys.readouterr().err
    assert lb.load_board(tmp_path / "board") is None  # nothing half-written
