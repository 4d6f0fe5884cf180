"""Training runs end to end: CLI, logs, plot, checkpoints, and exact resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textgym.agents.metrics import read_jsonl
from textgym.app.cli import main

TINY = [
    "--batch-size", "4", "--mini-batch-size", "2", "--num-envs", "2", "--eval-episodes", "3",
    "--quiet",
]


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "model"
    assert (
        main(
            [
                "train",
                "sft",
                "--env",
                "TextEnv-Calculator-v0",
                "--out",
                str(out),
                "--steps",
                "5",
                "--demonstrations",
                "16",
                "--batch-size",
                "8",
                "--quiet",
            ]
        )
        == 0
    )
    return out


def test_sft_cli_saves_a_loadable_model(sft_model):
    assert (sft_model / "policy" / "model.safetensors").exists()
    assert (sft_model / "policy" / "value_head.safetensors").exists()
    assert (sft_model / "policy" / "tokenizer_config.json").exists()  # hf: loads the pair
    assert json.loads((sft_model / "run.json").read_text())["config"]["steps"] == 5
    log = json.loads((sft_model / "sft_log.json").read_text())
    assert len(log["losses"]) == 5


@pytest.mark.slow
def test_ppo_cli_writes_metrics_tensorboard_plot_and_evaluates(sft_model, tmp_path, capsys):
    out = tmp_path / "ppo"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "TextEnv-Calculator-v0",
                "--out",
                str(out),
                "--init",
                str(sft_model),
                "--iterations",
                "2",
                *TINY,
            ]
        )
        == 0
    )
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2]
    for key in ("objective/kl", "ppo/policy/clipfrac", "env/reward_mean"):
        assert key in rows[0]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert (out / "checkpoints" / "latest").read_text() == "iter-000002"
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                "--agent",
                f"ppo:{out}",
                "--env",
                "TextEnv-Calculator-v0",
                "--episodes",
                "3",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["episodes"] == 3


def _train_cmd(out: Path, init: Path, iterations: int, resume: bool = False) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "textgym.app.cli",
        "train",
        "ppo",
        "--env",
        "TextEnv-Calculator-v0",
        "--out",
        str(out),
        "--init",
        str(init),
        "--iterations",
        str(iterations),
        "--checkpoint-every",
        "1",
        *TINY,
    ]
    return cmd + (["--resume"] if resume else [])


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(sft_model, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_train_cmd(full, sft_model, 4), check=True, env=env, capture_output=True)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        _train_cmd(cut, sft_model, 4), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while not (cut / "checkpoints" / "iter-000002").exists():
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = read_jsonl(cut / "metrics.jsonl")
    assert len(done) < 4, "the run finished before the kill"

    subprocess.run(
        _train_cmd(cut, sft_model, 4, resume=True), check=True, env=env, capture_output=True
    )

    def strip(rows):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]

    assert strip(read_jsonl(cut / "metrics.jsonl")) == strip(read_jsonl(full / "metrics.jsonl"))
    a = load_file(str(full / "policy" / "model.safetensors"))
    b = load_file(str(cut / "policy" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_checkpoint_is_a_clear_error(sft_model, tmp_path, capsys):
    code = main(
        [
            "train",
            "ppo",
            "--env",
            "TextEnv-Calculator-v0",
            "--out",
            str(tmp_path / "none"),
            "--resume",
            "--iterations",
            "1",
            *TINY,
        ]
    )
    assert code == 2 and "no checkpoint" in capsys.readouterr().err


def test_a_llama_run_records_its_arch_and_resumes_with_the_same_flags(tmp_path):
    # The run record once said "causal" for every decoder, so `--arch llama --resume`
    # was refused as a changed setting.
    out = tmp_path / "llama"
    flags = ["train", "ppo", "--env", "TextEnv-Calculator-v0", "--out", str(out), "--arch", "llama"]
    assert main([*flags, "--iterations", "1", *TINY]) == 0
    assert json.loads((out / "run.json").read_text())["arch"] == "llama"
    assert main([*flags, "--iterations", "2", "--resume", *TINY]) == 0
    assert len(read_jsonl(out / "metrics.jsonl")) == 2
