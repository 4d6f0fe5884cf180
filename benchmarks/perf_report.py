"""Write benchmarks/results/PERF.md from the JSON the benchmarks wrote.

    .venv/bin/python benchmarks/perf_report.py

Reads perf.json (benchmarks/perf.py), peer_trl.json (make bench-peer) and
sandbox_latency.json (benchmarks/sandbox_latency.py); a missing file leaves its rows out
and says so. Every number in PERF.md comes from those files.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def _goal(met: bool) -> str:
    return "**met**" if met else "**not met**"


def _reach(side: dict) -> str:
    """'12.3 s (iteration 9)', or that the level was not reached in the run."""
    reach = side["time_to_reward"]
    if reach["seconds"] is None:
        return f"not reached ({reach['seconds_run']:.0f} s run)"
    return f"{reach['seconds']:.1f} s (iteration {reach['iterations']})"


def _prefix_section(x: dict) -> list[str]:
    names = {
        "plain": "plain (every row computes its prompt; minibatches shuffled uniformly)",
        "length_grouped": "length-grouped minibatches, length-split passes",
        "shared_prefix": "shared prefix",
        "both": "shared prefix + length grouping and splitting (default)",
    }
    lines = [
        "",
        f"Shared-prefix computation, one batch of {x['episodes']} warm-start episodes "
        f"({x['episode_tokens_mean']:.0f} tokens on average, of which "
        f"{x['shared_prefix_tokens']} every episode opens with) learned from the same weights; "
        "tokens computed per episode and epoch in the update's forward passes, seconds best "
        "of two:",
        "",
        "| update | tokens per episode | scoring s | PPO epochs s | total s |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in names.items():
        v = x["variants"][key]
        lines.append(
            f"| {label} | {v['update_tokens_per_episode']:.1f} | {v['forward_s']:.3f} | "
            f"{v['optimize_s']:.3f} | {v['learn_s']:.3f} |"
        )
    lines += [
        "",
        f"{x['tokens_ratio']:.2f}x fewer tokens computed, {x['learn_speedup']:.2f}x faster "
        "scoring and update. The shared prefix and the split give the same numbers "
        "(tests/test_shared_prefix.py); length-grouped minibatches change which episodes "
        "share a gradient step.",
    ]
    return lines


def report() -> str:
    perf, peer, sandbox = _load("perf.json"), _load("peer_trl.json"), _load("sandbox_latency.json")
    lines = ["# textgym performance", ""]
    if perf:
        m = perf["machine"]
        lines += [
            f"Machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}; torch "
            f"{m['torch']} ({m['torch_threads']} threads), transformers {m['transformers']}, "
            f"gymnasium {m['gymnasium']}, Python {m['python']}, textgym {m['textgym']}. "
            f"Measured {m['date']}.",
            "",
            "Reproduce: `make bench` (benchmarks/perf.py), `make bench-peer` "
            "(benchmarks/peer_trl/), `.venv/bin/python benchmarks/sandbox_latency.py`, then "
            "`.venv/bin/python benchmarks/perf_report.py` writes this file.",
            "",
        ]
    lines += ["## Goals", "", "| goal | measured | status |", "|---|---|---|"]
    if peer:
        s = peer["speedup"]
        lines.append(
            f"| PPO iteration ≥ 3x faster than TRL classic at equal settings | "
            f"{s['ppo_iteration']:.2f}x (TRL as shipped: {s['ppo_iteration_vs_as_shipped']:.2f}x) "
            f"| {_goal(s['ppo_iteration'] >= 3)} |"
        )
    if perf and "ppo" in perf:
        share = perf["ppo"]["env_share_of_iteration"]
        lines.append(
            f"| env overhead < 2% of a PPO iteration | {100 * share:.2f}% | {_goal(share < 0.02)} |"
        )
    if sandbox:
        trivial = sandbox["results"]["trivial"]
        lines.append(
            f"| python tool ≥ 10x faster than spawn-per-call | {trivial['p50_speedup']:.0f}x "
            f"(p50, trivial program; {sandbox['results']['10ms']['p50_speedup']:.1f}x for a "
            f"10 ms program) | {_goal(trivial['p50_speedup'] >= 10)} |"
        )
    if perf and "env" in perf:
        lines += [
            "",
            "## Env overhead per turn (no model)",
            "",
            "A scripted episode per env: one tool call, one submission; median over 300 episodes.",
            "",
            "| env | env.step per turn | of which tool | env bookkeeping | reset |",
            "|---|---:|---:|---:|---:|",
        ]
        for env_id, r in perf["env"].items():
            lines.append(
                f"| {env_id} | {_ms(r['step_s_per_turn'])} | {_ms(r['tool_s_per_turn'])} | "
                f"{_ms(r['overhead_s_per_turn'])} | {_ms(r['reset_s'])} |"
            )
    if perf and "tools" in perf:
        lines += ["", "## Tool latency (one call)", "", "| tool | p50 | p99 |", "|---|---:|---:|"]
        for tool, r in perf["tools"].items():
            lines.append(f"| {tool} | {_ms(r['p50_s'])} | {_ms(r['p99_s'])} |")
    if perf and "vector" in perf:
        lines += [
            "",
            "## Vector env scaling",
            "",
            "Turns per second of `step()` (resets excluded), every slot playing a scripted "
            "episode: the calculator (a fast tool) and a Python program that sleeps 5 ms (a "
            'slow tool). `threaded` is `textgym.make_vec(..., "threaded")`: the envs step '
            "in a thread pool, so their tool calls overlap.",
            "",
            "| workload | envs | sync | async | threaded |",
            "|---|---:|---:|---:|---:|",
        ]
        workloads = sorted({key.split("/")[0] for key in perf["vector"] if key.count("/") == 2})
        for workload in workloads:
            for n in (1, 2, 4, 8):
                cells = [
                    perf["vector"].get(f"{workload}/{mode}/{n}")
                    for mode in ("sync", "async", "threaded")
                ]
                values = ["-" if c is None else f"{c['turns_per_s']:.0f}" for c in cells]
                lines.append(f"| {workload} | {n} | " + " | ".join(values) + " |")
    if perf and "ppo" in perf:
        p = perf["ppo"]
        c = p["config"]
        lines += [
            "",
            "## One PPO iteration (TextEnv-Calculator-v0)",
            "",
            f"{c['episodes_per_iteration']} episodes on {c['num_envs']} sync envs, "
            f"{c['ppo_epochs']} epochs of minibatches of {c['mini_batch_size']}, up to "
            f"{c['max_new_tokens']} new tokens a turn, a {c['model_parameters']:,}-parameter "
            "GPT-2 after a short SFT warm start; median of 4 iterations after a warm-up.",
            "",
            "| phase | seconds | share |",
            "|---|---:|---:|",
        ]
        for phase in ("generate", "env", "forward", "optimize"):
            lines.append(
                f"| {phase} | {p['seconds'][phase]:.3f} | {100 * p['share'][phase]:.1f}% |"
            )
        lines += [
            f"| total | {p['seconds']['total']:.3f} | 100% |",
            "",
            f"Generated tokens per iteration: {p['generated_tokens']:.0f}; generation "
            f"throughput {p['generated_tokens_per_s']:.0f} tokens/s (KV-cached, reused "
            "across tool turns). `forward` is scoring the batch under the policy and the "
            "reference, plus KL, GAE and whitening.",
        ]
        if "prefix" in perf:
            lines += _prefix_section(perf["prefix"])
        if "kv_reuse" in perf:
            kv = perf["kv_reuse"]
            lines += [
                "",
                "KV-cache reuse across tool turns, same model and seeds, greedy rollouts of "
                f"{kv['episodes']} episodes: re-encoding {kv['reencode_s']:.3f} s, reusing "
                f"{kv['reuse_s']:.3f} s ({kv['speedup']:.2f}x); identical episodes: "
                f"{kv['identical']}.",
            ]
    if peer:
        t, r, shipped = peer["textgym"], peer["trl"], peer["trl_as_shipped"]
        st = peer["settings"]
        lines += [
            "",
            "## textgym vs TRL classic (`make bench-peer`)",
            "",
            f"TRL {peer['peer']['trl']} (`TextEnvironment` + `PPOTrainer`), transformers "
            f"{peer['peer']['transformers']}, torch {peer['peer']['torch']}, in its own venv. "
            f"Same warm start, tokenizer, calculator items, {st['episodes_per_iteration']} "
            f"episodes per iteration, {st['iterations']} iterations, PPO settings "
            "(early stopping off on both, so every iteration does all its epochs), "
            f"{st['threads']} threads. 'TRL' gets the same context tokens as textgym; 'TRL "
            "as shipped' lets ByT5 append `</s>` to the query and every tool response, as "
            "TRL's TextEnvironment does.",
            "",
            "| | textgym | TRL | TRL as shipped |",
            "|---|---:|---:|---:|",
            f"| rollout per episode | {_ms(t['rollout_s_per_episode'])} | "
            f"{_ms(r['rollout_s_per_episode'])} | {_ms(shipped['rollout_s_per_episode'])} |",
            f"| update (scoring + PPO epochs) | {t['update_s']:.3f} s | {r['update_s']:.3f} s | "
            f"{shipped['update_s']:.3f} s |",
            f"| PPO iteration | {t['iteration_s']:.3f} s | {r['iteration_s']:.3f} s | "
            f"{shipped['iteration_s']:.3f} s |",
            f"| time to training reward {st['reward_level']} (mean of {st['reward_window']} "
            f"iterations) | {_reach(t)} | {_reach(r)} | {_reach(shipped)} |",
            f"| tokens written per episode (TRL: agent + tool response) | "
            f"{t['response_tokens_mean']:.1f} | "
            f"{r['response_tokens_mean']:.1f} | {shipped['response_tokens_mean']:.1f} |",
            f"| training reward, iteration 1 | {t['reward_first']:.3f} | "
            f"{r['reward_first']:.3f} | {shipped['reward_first']:.3f} |",
            f"| training reward, last {4} iterations | {t['reward_last']:.3f} | "
            f"{r['reward_last']:.3f} | {shipped['reward_last']:.3f} |",
            "",
            f"Ratio TRL/textgym: rollout per episode "
            f"{peer['speedup']['rollout_per_episode']:.2f}x, update "
            f"{peer['speedup']['update']:.2f}x, PPO iteration "
            f"{peer['speedup']['ppo_iteration']:.2f}x, time to reward "
            + (
                f"{peer['speedup']['time_to_reward']:.2f}x."
                if peer["speedup"]["time_to_reward"]
                else "n/a (a side did not reach the level)."
            ),
        ]
    if not (perf and peer and sandbox):
        missing = [
            n
            for n, d in (
                ("perf.json", perf),
                ("peer_trl.json", peer),
                ("sandbox_latency.json", sandbox),
            )
            if not d
        ]
        lines += ["", f"Not measured yet: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = RESULTS / "PERF.md"
    out.write_text(report())
    print(f"wrote {out}")
