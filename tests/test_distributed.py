"""Data-parallel PPO: two CPU processes (gloo) launched with `accelerate launch` keep
identical weights, and learn exactly what one process learns from the same global batch,
minibatch by minibatch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate", reason="the [accelerate] extra is not installed")

import distributed_worker as worker  # noqa: E402  (tests/ is on sys.path under pytest)

from textgym.agents import ValueHeadLM  # noqa: E402
from textgym.agents.distributed import SingleProcess  # noqa: E402

WORKER = Path(__file__).with_name("distributed_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(mode: str, out: Path) -> dict:
    # --multi_gpu selects accelerate's torch.distributed launcher, which starts the N
    # processes; PartialState(cpu=True) in DataParallel then picks gloo on the CPU.
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        str(WORKER), mode, str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    result = launch("learn", tmp_path / "dp")
    assert result["world_size"] == 2
    assert result["max_weight_difference"] == 0.0  # the processes stayed in sync
    # One process, the whole batch, the same two updates.
    single = worker.make_ppo(SingleProcess())
    batch = worker.fixed_batch()
    expected = [single.learn(batch) for _ in range(2)]
    got = ValueHeadLM.from_pretrained(tmp_path / "dp" / "policy")
    start = worker.make_ppo(SingleProcess()).policy
    moved = 0.0
    for (name, a), b, c in zip(
        single.policy.state_dict().items(), got.state_dict().values(), start.state_dict().values()
    ):
        assert torch.allclose(a, b, atol=2e-5), name
        moved = max(moved, float((a - c).abs().max()))
    assert moved > 1e-3  # the updates did move the weights
    for mine, theirs in zip(expected, result["stats"]):
        for key in (
            "env/reward_mean",
            "objective/kl",
            "objective/kl_coef",
            "ppo/policy/advantages_mean",
            "ppo/returns/mean",
            "tokens/agent_tokens_mean",
            "ppo/epochs_done",
        ):
            assert theirs[key] == pytest.approx(mine[key], rel=1e-4, abs=1e-5), key
    single.envs.close()


def test_two_processes_train_in_sync(tmp_path):
    """Whole iterations: each process collects its own episodes (different ones), and the
    weights still agree exactly after every update."""
    result = launch("train", tmp_path / "train")
    assert result["max_weight_difference"] == 0.0
    first = result["first_weight_per_process"]
    assert first[0] == first[1]
    for stats in result["stats"]:
        assert stats["tokens/generated"] > 0
    start = worker.make_ppo(SingleProcess()).policy
    trained = ValueHeadLM.from_pretrained(tmp_path / "train" / "policy")
    assert any(
        not torch.equal(a, b)
        for a, b in zip(start.state_dict().values(), trained.state_dict().values())
    )


def test_two_processes_resume_exactly_from_a_checkpoint(tmp_path):
    """The checkpoint keeps each process's sampling state: the iteration after a resume
    equals the uninterrupted one on both processes."""
    result = launch("resume", tmp_path / "resume")
    assert result["max_weight_difference"] == 0.0
    assert result["resumed_difference"] == 0.0
    state = torch.load(
        next((tmp_path / "resume" / "checkpoints").glob("iter-*")) / "trainer_state.pt",
        weights_only=False,
    )
    assert len(state["generators"]) == 2
    assert not torch.equal(state["generators"][0], state["generators"][1])


def test_batch_sizes_must_split_evenly_over_processes():
    class FakeThree(SingleProcess):
        world_size = 3

    with pytest.raises(ValueError, match="multiple of the number of processes"):
        worker.make_ppo(FakeThree())
