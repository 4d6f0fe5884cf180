import json
import re
import subprocess
import sys

from textgym.app.cli import main


def test_list_prints_every_env(capsys):
    import textgym

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id in textgym.env_ids() + textgym.multiagent_ids():
        assert env_id in out


def test_eval_oracle_and_random(capsys):
    assert (
        main(
            [
                "eval",
                "--agent",
                "oracle",
                "--env",
                "TextEnv-Calculator-v0",
                "--episodes",
                "20",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    oracle = json.loads(capsys.readouterr().out)
    assert oracle["success_rate"] == 1.0 and oracle["episodes"] == 20
    assert (
        main(
            [
                "eval",
                "--agent",
                "random",
                "--env",
                "TextEnv-Calculator-v0",
                "--episodes",
                "20",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["success_rate"] == 0.0


def test_eval_module_callable_spec(capsys):
    assert (
        main(
            [
                "eval",
                "--agent",
                "textgym.agents:OracleAgent",
                "--env",
                "TextEnv-Calculator-v0",
                "--episodes",
                "5",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["success_rate"] == 1.0


def test_play_in_a_terminal_session():
    """A person types turns; they see the coloured history, tool responses and reward."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "textgym.app.cli",
            "play",
            "TextEnv-Calculator-v0",
            "--seed",
            "0",
            "--split",
            "test",
            "--index",
            "0",
            "--color",
            "on",
        ],
        input="<request><Calculator>2+3<call>\nResult=0<submit>\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "<call>5<response>" in proc.stdout.replace("\x1b[0m", "").replace(
        "\x1b[30;48;5;219m", ""
    ).replace("\x1b[30;48;5;39m", "")
    assert "episode over: reward 0" in proc.stdout
    assert "\x1b[30;48;5;219m" in proc.stdout  # tool output coloured


def test_demo_runs_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    from textgym.app.demo import run_demo

    code = run_demo(
        episodes=4,
        out_dir=str(tmp_path / "demo"),
        sft_steps=2,
        ppo_iterations=1,
        episodes_per_iteration=4,
    )
    out = capsys.readouterr().out
    assert code == 0
    for row in ("random", "SFT warm start", "SFT + PPO", "oracle"):
        assert row in out
    # Success, then tool-call rate, greedy and sampled: the oracle always uses the tool.
    assert re.search(r"oracle \(tool\) +100\.0% +100\.0% +100\.0% +100\.0%", out)
    assert "the greedy policy calls the tool on" in out
    assert (tmp_path / "demo" / "ppo" / "learning_curve.png").is_file()
    assert (tmp_path / "demo" / "ppo" / "policy").is_dir()
    first = (tmp_path / "demo" / "ppo" / "metrics.jsonl").read_text()
    # Running it again keeps the previous demo, moved aside.
    assert run_demo(episodes=2, out_dir=str(tmp_path / "demo"), sft_steps=1,
                    ppo_iterations=1, episodes_per_iteration=4) == 0
    assert "was moved to" in capsys.readouterr().out
    (old,) = tmp_path.glob("demo.old-*")
    assert (old / "ppo" / "metrics.jsonl").read_text() == first
