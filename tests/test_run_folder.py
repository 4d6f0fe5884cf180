"""Run folders never lose data: refusal and --overwrite, pruning that keeps what `latest`
names, resume under the recorded settings, fallback from damaged checkpoints, TOML
configs, and Ctrl-C at a safe point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from textgym.agents.checkpoint import checkpoints_newest_first
from textgym.agents.metrics import read_jsonl
from textgym.agents.run_folder import (
    RunFolderError,
    check_resume,
    prepare_run_folder,
    resume_conflicts,
)
from textgym.app.cli import main

ENV = "TextEnv-Calculator-v0"
TINY = [
    "--batch-size", "4", "--mini-batch-size", "2", "--num-envs", "2", "--eval-every", "0",
    "--quiet",
]


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "run"
    argv = ["train", "sft", "--env", ENV, "--out", str(out), "--steps", "3",
            "--demonstrations", "8", "--batch-size", "4", "--quiet"]
    assert main(argv) == 0
    return out


def _ppo(out: Path, *extra: str, init: Path | None = None) -> list[str]:
    argv = ["train", "ppo", "--env", ENV, "--out", str(out), *TINY, *extra]
    return argv + (["--init", str(init)] if init is not None else [])


@pytest.fixture(scope="module")
def ppo_run(sft_model, tmp_path_factory):
    """A 3-iteration run with a checkpoint every iteration (keep 2)."""
    out = tmp_path_factory.mktemp("ppo") / "run"
    assert main(_ppo(out, "--iterations", "3", "--checkpoint-every", "1", init=sft_model)) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    return dst


# -- a non-empty --out ---------------------------------------------------------------------


def test_a_new_run_into_a_used_folder_is_refused_and_names_the_options(
    sft_model, ppo_run, tmp_path, capsys
):
    run = _copy(ppo_run, tmp_path / "run")
    before = (run / "metrics.jsonl").read_text()
    assert main(_ppo(run, "--iterations", "1", init=sft_model)) == 2
    err = capsys.readouterr().err
    for option in ("--resume", "--out", "--overwrite"):
        assert option in err
    assert (run / "metrics.jsonl").read_text() == before  # nothing touched


def test_overwrite_moves_the_old_run_aside(sft_model, ppo_run, tmp_path, capsys):
    run = _copy(ppo_run, tmp_path / "run")
    old_rows = read_jsonl(run / "metrics.jsonl")
    assert main(_ppo(run, "--iterations", "1", "--overwrite", init=sft_model)) == 0
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(moved) == 1 and "moved the previous run" in capsys.readouterr().out
    assert read_jsonl(moved[0] / "metrics.jsonl") == old_rows  # the old history is whole
    assert [r["iteration"] for r in read_jsonl(run / "metrics.jsonl")] == [1]


def test_sft_into_a_used_folder_is_refused_too(sft_model, capsys):
    argv = ["train", "sft", "--env", ENV, "--out", str(sft_model), "--steps", "1", "--quiet"]
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err


def test_an_out_that_cannot_be_created_says_so(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(_ppo(blocker / "run", "--iterations", "1")) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "cannot create the folder" in err


def test_resume_and_overwrite_together_are_refused(tmp_path):
    with pytest.raises(RunFolderError, match="choose one"):
        prepare_run_folder(tmp_path, resume=True, overwrite=True)


# -- pruning -------------------------------------------------------------------------------


def test_pruning_keeps_the_newest_by_number_and_what_latest_names(ppo_run, tmp_path):
    from textgym.agents.checkpoint import _prune

    root = tmp_path / "checkpoints"
    for n in (36, 35, 999_999, 1_000_000, 1):
        (root / f"iter-{n:06d}").mkdir(parents=True)
    (root / "latest").write_text("iter-000001")
    _prune(root, keep=2)
    left = sorted(p.name for p in root.iterdir() if p.is_dir())
    # By name, iter-1000000 sorts before iter-999999 and iter-000001 first of all.
    assert left == ["iter-000001", "iter-1000000", "iter-999999"]
    assert [p.name for p in checkpoints_newest_first(root)][:2] == ["iter-000001", "iter-1000000"]


def test_a_run_keeps_its_newest_checkpoints(ppo_run):
    names = sorted(p.name for p in (ppo_run / "checkpoints").iterdir() if p.is_dir())
    assert names == ["iter-000002", "iter-000003"]
    assert (ppo_run / "checkpoints" / "latest").read_text() == "iter-000003"


# -- resume under the recorded settings ----------------------------------------------------


@pytest.mark.parametrize(
    "flags, shown",
    [
        (["--lr", "0.01", "--batch-size", "8"], ["learning_rate", "episodes_per_iteration"]),
        (["--env", "TextEnv-Sentiment-v0"], ["env: recorded 'TextEnv-Calculator-v0'"]),
        (["--env-kwargs", '{"level": 2}'], ["env_kwargs"]),
        (["--iterations", "2"], ["has done 3 iterations"]),
    ],
)
def test_resume_refuses_settings_that_contradict_the_run(ppo_run, tmp_path, capsys, flags, shown):
    run = _copy(ppo_run, tmp_path / "run")
    argv = ["train", "ppo", "--out", str(run), "--resume", "--quiet", *flags]
    if "--env" not in flags:
        argv += ["--env", ENV]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "was started with other settings" in err
    for text in shown:
        assert text in err
    assert len(read_jsonl(run / "metrics.jsonl")) == 3  # nothing ran


def test_resume_with_the_same_command_and_a_larger_iterations_extends_the_run(
    sft_model, ppo_run, tmp_path, capsys
):
    run = _copy(ppo_run, tmp_path / "run")
    argv = _ppo(run, "--iterations", "4", "--checkpoint-every", "1", "--resume", init=sft_model)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "extending the run from 3 to 4 iterations" in out
    assert [r["iteration"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3, 4]
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["config"]["total_iterations"] == 4


def test_resume_without_flags_takes_everything_from_the_run(ppo_run, tmp_path, capsys):
    run = _copy(ppo_run, tmp_path / "run")
    # Done already: the recorded 3 iterations, not the CLI default of 100.
    assert main(["train", "ppo", "--out", str(run), "--resume", "--quiet"]) == 0
    assert len(read_jsonl(run / "metrics.jsonl")) == 3
    assert "PPO: 3 iterations" in capsys.readouterr().out


def test_resume_conflicts_compare_only_what_was_given():
    recorded = {"env": "A", "num_envs": 8, "config": {"learning_rate": 1e-4,
                                                     "total_iterations": 10}}
    conflicts, notes = resume_conflicts(recorded, {"env": "A", "total_iterations": 12},
                                        done_iterations=10)
    assert conflicts == [] and notes == ["extending the run from 10 to 12 iterations"]
    conflicts, _ = resume_conflicts(recorded, {"num_envs": 16, "learning_rate": 0.0001},
                                    done_iterations=3)
    assert conflicts == ["  num_envs: recorded 8, given 16"]


def test_resume_may_switch_the_exact_speedups_and_records_the_switch(tmp_path, capsys):
    """share_prefix, split_by_length and reuse_kv_cache give the same numbers on or off,
    so a resumed run may change them (to debug, or to compare speed); the new values are
    what the run continues with."""
    recorded = {
        "env": "A",
        "config": {"share_prefix": True, "split_by_length": True, "learning_rate": 1e-4},
    }
    asked = {"share_prefix": False, "split_by_length": False, "eval_every": 5}
    updated = check_resume(tmp_path, recorded, asked, done=3)
    assert updated["config"]["share_prefix"] is False
    assert updated["config"]["split_by_length"] is False
    assert updated["eval_every"] == 5
    assert "share_prefix: True -> False" in capsys.readouterr().out
    assert recorded["config"]["share_prefix"] is True  # the record itself is not touched


# -- damaged checkpoints -------------------------------------------------------------------


def _damage_trainer_state(ckpt: Path) -> None:
    state = ckpt / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:100])


def _damage_safetensors(ckpt: Path) -> None:
    (ckpt / "policy" / "model.safetensors").write_bytes(b"\xff" * 64)


def _drop_latest(ckpt: Path) -> None:
    (ckpt.parent / "latest").unlink()


@pytest.mark.parametrize(
    "damage, expected, warning",
    [
        (_damage_trainer_state, "iter-000002", "trainer_state.pt cannot be read"),
        (_damage_safetensors, "iter-000002", "model files cannot be read"),
        (_drop_latest, "iter-000003", "using the newest by iteration number"),
    ],
)
def test_resume_falls_back_to_the_newest_intact_checkpoint(
    ppo_run, tmp_path, capsys, damage, expected, warning
):
    run = _copy(ppo_run, tmp_path / "run")
    damage(run / "checkpoints" / "iter-000003")
    with pytest.warns(UserWarning, match=warning) as caught:
        assert main(["train", "ppo", "--out", str(run), "--resume", "--quiet"]) == 0
    if expected == "iter-000002":
        assert "iter-000003" in str(caught[0].message)  # names the damaged one ...
        assert "iter-000002" in str(caught[0].message)  # ... and the one used instead
    out = capsys.readouterr().out
    assert f"from {expected}" in out
    # The damaged iteration was run again; the log has each iteration once.
    assert [r["iteration"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]


def test_every_checkpoint_damaged_is_a_clear_error(ppo_run, tmp_path, capsys):
    run = _copy(ppo_run, tmp_path / "run")
    for ckpt in (run / "checkpoints").glob("iter-*"):
        _damage_trainer_state(ckpt)
    assert main(["train", "ppo", "--out", str(run), "--resume", "--quiet"]) == 2
    assert "every checkpoint under" in capsys.readouterr().err


# -- a whole config in TOML ----------------------------------------------------------------


def test_train_ppo_takes_a_toml_config_and_records_the_resolved_one(sft_model, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        f'env = "{ENV}"\ninit = "{sft_model}"\nnum_envs = 2\neval_every = 0\n'
        "total_iterations = 1\nepisodes_per_iteration = 4\nmini_batch_size = 2\n"
        "clip_range = 0.1\nkl_estimator = \"k3\"\nlearning_rate = 3e-4\n"
    )
    out = tmp_path / "run"
    # A flag given beside the file wins over it.
    assert main(["train", "ppo", "--config", str(config), "--out", str(out), "--quiet",
                 "--lr", "2e-4"]) == 0
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["env"] == ENV and recorded["num_envs"] == 2
    cfg = recorded["config"]
    assert (cfg["clip_range"], cfg["kl_estimator"], cfg["learning_rate"]) == (0.1, "k3", 2e-4)
    assert cfg["target_kl"] == 0.1  # the defaults are recorded too: the config is whole
    # run.json is itself a config a new run can start from.
    again = tmp_path / "again"
    assert main(["train", "ppo", "--config", str(out / "run.json"), "--out", str(again),
                 "--quiet"]) == 0
    assert json.loads((again / "run.json").read_text())["config"] == cfg


def test_a_toml_config_with_an_unknown_key_is_refused(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("clip_rnage = 0.1\n")
    assert main(["train", "ppo", "--env", ENV, "--config", str(config),
                 "--out", str(tmp_path / "r")]) == 2
    assert "unknown setting(s) clip_rnage" in capsys.readouterr().err


# -- Ctrl-C --------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_stops_at_a_safe_point_and_says_what_was_saved(sft_model, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "textgym.app.cli", *_ppo(out, "--iterations", "50",
           "--checkpoint-every", "100", init=sft_model)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 300
    while not read_jsonl(out / "metrics.jsonl"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    rows = read_jsonl(out / "metrics.jsonl")
    done = rows[-1]["iteration"]
    assert 1 <= done < 50
    saved = out / "checkpoints" / f"iter-{done:06d}"
    assert f"stopped at iteration {done}; saved checkpoint {saved}" in err
    assert "--resume" in err and (saved / "trainer_state.pt").exists()
    assert (out / "policy" / "model.safetensors").exists()


def test_an_extended_linear_schedule_decays_to_the_new_end():
    import textgym
    from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config

    vec = textgym.make_vec(ENV, 1)
    tok = textgym.make_tokenizer()
    policy = ValueHeadLM.from_config(tiny_gpt2_config(len(tok), n_layer=1, n_embd=16, n_head=2))
    config = PPOConfig(lr_schedule="linear", total_iterations=4, learning_rate=1.0,
                       episodes_per_iteration=1, mini_batch_size=1)
    ppo = PPO(vec, policy, config)

    def step() -> float:
        ppo.optimizer.step()  # no gradients: only keeps the scheduler's order check quiet
        ppo.scheduler.step()
        return ppo.optimizer.param_groups[0]["lr"]

    assert [step(), step()] == [0.75, 0.5]
    ppo.config = PPOConfig.from_dict({**config.to_dict(), "total_iterations": 8})  # resume
    assert step() == pytest.approx(1 - 3 / 8)
    vec.close()
    conflicts, notes = resume_conflicts(
        {"config": config.to_dict()}, {"total_iterations": 8}, done_iterations=4
    )
    assert conflicts == [] and "linear LR schedule now reaches 0 at iteration 8" in notes[0]
