"""The learning table, made from the result files (never typed by hand).

    .venv/bin/python benchmarks/learning_report.py            # benchmarks/results/LEARNING.md
    .venv/bin/python benchmarks/learning_report.py --readme   # and the README's copy

Reads what the learning benchmarks wrote to benchmarks/results/ and skips what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _arrow(before: dict, after: dict, key: str, fmt=_pct) -> str:
    return f"{fmt(before[key])} → {fmt(after[key])}"


def _learning_rows() -> list[str]:
    rows = []
    for name, label in [
        ("ppo_learning_tool-discovery", "Tool discovery (calculator level 0)"),
        ("ppo_learning_python", "Python"),
        ("ppo_learning_wiki", "WikiSearch"),
        ("ppo_learning_reasoning-gym", "ReasoningGym (basic_arithmetic)"),
    ]:
        r = _load(name)
        if r is None or "test" not in r.get("measured_on", "test"):
            continue
        b, a = r["before"], r["after"]
        cells = [
            label,
            f"SFT {r['sft_steps']} steps{_decay(r)}{_model(r)}"
            + (f", demos {json.dumps(r['sft_env_kwargs'])}" if r["sft_env_kwargs"] else ""),
            f"{r['ppo_iterations']} × {r['ppo_config']['episodes_per_iteration']}",
            f"{_arrow(b['greedy'], a['greedy'], 'success')} / "
            f"{_arrow(b['sampled'], a['sampled'], 'success')}",
            f"tool-call rate (greedy) {_arrow(b['greedy'], a['greedy'], 'tool_call_rate')}",
            f"{r['minutes']['total']:.1f}",
        ]
        kinds = a["greedy"].get("success_by_kind")
        if kinds:
            cells[4] += "; greedy by kind: " + ", ".join(
                f"{k} {_pct(b['greedy']['success_by_kind'][k])} → {_pct(v)}"
                for k, v in kinds.items()
            )
        rows.append("| " + " | ".join(cells) + " |")
    for level in (0, 1, 2, 3):
        r = _load(f"calculator_level{level}")
        if r is None or "test" not in r:
            continue
        t = r["test"]
        extra = ""
        if "sft+more sft" in t:
            extra = (
                f"SFT alone for the same minutes: {_pct(t['sft+more sft']['greedy']['success'])}"
                " greedy"
            )
        rows.append(
            f"| Calculator level {level} | SFT {r['sft_steps']} steps{_decay(r)} "
            f"({r['model_size']}{', Llama' if r.get('arch') == 'llama' else ''}) | "
            f"{r['ppo_iterations_done']} × {r['ppo_config']['episodes_per_iteration']} | "
            f"{_arrow(t['sft']['greedy'], t['sft+ppo']['greedy'], 'success')} / "
            f"{_arrow(t['sft']['sampled'], t['sft+ppo']['sampled'], 'success')} | {extra} | "
            f"{r['minutes']['sft_plus_ppo']:.1f} |"
        )
    for name, label in [
        ("ppo_learning_sentiment", "Sentiment, GPT-2"),
        ("ppo_learning_sentiment-t5", "Sentiment, T5"),
    ]:
        r = _load(name)
        if r is None or "test" not in r.get("measured_on", "test"):
            continue
        if "diversity_kept" not in r:  # a result from before the diversity metrics
            continue
        b, a, kept = r["before"], r["after"], r["diversity_kept"]
        rows.append(
            f"| {label} | SFT {r['sft_steps']} steps{_decay(r)}, mixed polarity | "
            f"{r['ppo_iterations']} × {r['ppo_config']['episodes_per_iteration']} | "
            f"mean positive score {_arrow(b['greedy'], a['greedy'], 'mean_reward', _num)} / "
            f"{_arrow(b['sampled'], a['sampled'], 'mean_reward', _num)} | "
            "kept of SFT's (greedy / sampled): unique answers "
            f"{_pct(kept['greedy']['unique_answers'])} / {_pct(kept['sampled']['unique_answers'])},"
            f" distinct-2 {_pct(kept['greedy']['distinct_2'])} / "
            f"{_pct(kept['sampled']['distinct_2'])} | {r['minutes']['total']:.1f} |"
        )
    r = _load("ppo_learning_detox")
    if r is not None and "test" in r.get("measured_on", "test"):
        b, a, kept = r["before"], r["after"], r["diversity_kept"]
        rows.append(
            f"| Detox | SFT {r['sft_steps']} steps{_decay(r)}, demos "
            f"{json.dumps(r['sft_env_kwargs'])} | "
            f"{r['ppo_iterations']} × {r['ppo_config']['episodes_per_iteration']} | "
            f"mean 1 - P(offensive) {_arrow(b['greedy'], a['greedy'], 'mean_reward', _num)} / "
            f"{_arrow(b['sampled'], a['sampled'], 'mean_reward', _num)} | "
            "mean toxicity (greedy / sampled) "
            f"{_arrow(b['greedy'], a['greedy'], 'mean_toxicity', _num)} / "
            f"{_arrow(b['sampled'], a['sampled'], 'mean_toxicity', _num)}; over 0.5 "
            f"{_arrow(b['greedy'], a['greedy'], 'toxic_share')} / "
            f"{_arrow(b['sampled'], a['sampled'], 'toxic_share')}; kept of SFT's: unique "
            f"answers {_pct(kept['greedy']['unique_answers'])} / "
            f"{_pct(kept['sampled']['unique_answers'])}, distinct-2 "
            f"{_pct(kept['greedy']['distinct_2'])} / {_pct(kept['sampled']['distinct_2'])}; "
            f"final KL {r['kl']['final']:.2f} | {r['minutes']['total']:.1f} |"
        )
    return rows


#: The TRL comparisons in the report: result file, what it trained on.
TRL_RUNS = (
    ("trl_vs_textgym", "tool discovery"),
    ("trl_vs_textgym_sentiment_board", "positive sentiment"),
    ("trl_vs_textgym_detox_board", "detox"),
)


def _trl_last_cell(key: str, greedy: dict) -> str:
    # What a tool task gains is the tool call; what a free-text one can lose is variety
    # (a reward won by repeating a phrase shows as low distinct-2, high repetition).
    if key == "success":
        return _pct(greedy["tool_call_rate"])
    return f"{_pct(greedy['distinct_2'])} / {_pct(greedy['repetition_rate'])}"


def _trl_rows() -> list[str]:
    lines: list[str] = []
    for name, task in TRL_RUNS:
        r = _load(name)
        if r is None or "test" not in r:
            continue
        t = r["test"]
        # Success on pass/fail tasks; the mean reward where the env is ranked by it.
        key = r.get("metric", "success")
        fmt = _pct if key == "success" else _num
        label = "test greedy" if key == "success" else "test greedy mean reward"
        last_label = (
            "greedy tool-call rate" if key == "success" else "greedy distinct-2 / repetition rate"
        )
        lines += [
            "",
            f"TRL's GRPOTrainer against textgym's PPO (GRPO advantages), {task}, "
            f"{r['minutes_each']} training minutes each from one SFT start "
            f"({r['sft_steps']} steps, {r['arch']}):",
            "",
            f"| trainer | updates in the budget | {label} | {label.replace('greedy', 'sampled')} "
            f"| {last_label} |",
            "|---|---|---|---|---|",
        ]
        counts = {
            "sft": "-",
            "textgym": f"{r['runs']['textgym']['iterations']} iterations",
            "trl": f"{r['runs']['trl']['optimizer_steps']} optimizer steps",
        }
        runs = (("sft", "SFT start"), ("textgym", "textgym PPO"), ("trl", "TRL GRPO"))
        for run, run_label in runs:
            lines.append(
                f"| {run_label} | {counts[run]} | {fmt(t[run]['greedy'][key])} | "
                f"{fmt(t[run]['sampled'][key])} | "
                f"{_trl_last_cell(key, t[run]['greedy'])} |"
            )
    return lines


def _decay(result: dict) -> str:
    return ", lr decayed linearly" if result.get("sft_lr_schedule") == "linear" else ""


def _model(result: dict) -> str:
    """The policy, where it is not the default tiny GPT-2 (older results lack the keys)."""
    parts = [result.get("model_size", "tiny"), {"llama": "Llama"}.get(result.get("arch"), "")]
    shown = [p for p in parts if p and p != "tiny"]
    return f" ({', '.join(shown)})" if shown else ""


def _num(x: float) -> str:
    return f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write benchmarks/results/LEARNING.md from the learning result files."
    )
    parser.add_argument(
        "--readme", action="store_true", help="also replace the README's learning table"
    )
    args = parser.parse_args(argv)
    lines = [
        "# Learning results",
        "",
        "Test split (200 items), greedy / sampled, before → after PPO; presets chosen on the "
        "validation split (train items 0-199). Minutes: training on 2 CPU cores.",
        "",
        "| task | warm start | PPO (iterations × episodes) | success before → after "
        "(greedy / sampled) | more | minutes |",
        "|---|---|---|---|---|---|",
        *_learning_rows(),
    ]
    r = _load("advantage_estimators")
    if r is not None and "test" in r:
        lines += [
            "",
            f"Advantage estimators, tool discovery, {r['ppo_minutes_each']} PPO minutes each "
            "from one SFT start:",
            "",
            "| estimator | iterations | test greedy | test sampled | greedy tool-call rate |",
            "|---|---|---|---|---|",
        ]
        for name, run in r["runs"].items():
            t = r["test"][name]
            lines.append(
                f"| {name} | {run['iterations']} | {_pct(t['greedy']['success'])} | "
                f"{_pct(t['sampled']['success'])} | {_pct(t['greedy']['tool_call_rate'])} |"
            )
    lines += _trl_rows()
    (RESULTS / "LEARNING.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.readme:
        readme = RESULTS.parent.parent / "README.md"
        text = readme.read_text()
        start = text.index("<!-- learning-table")
        start = text.index("\n", start) + 1
        end = text.index("<!-- /learning-table -->")
        tables = "\n".join(lines[4:])  # without the title and the preamble
        readme.write_text(text[:start] + tables + "\n" + text[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
