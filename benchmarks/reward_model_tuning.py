"""Choose the reward model's size and steps for the RLHF pipeline on validation pairs.

The pairs come from a ``textgym train reward`` run (its ``pairs.jsonl``). Only its *train*
pairs are used here: they are split by prompt (a hash of the question) into a fit part and
a validation part, so no question is on both sides. Each candidate is trained on the fit
part and scored on the validation part, on all pairs and on the hard ones (the policy's
failures). The held-out pairs of the run are not read; they are reported once, by
``rlhf_pipeline.py``, for the setting chosen here.

    cd benchmarks && ../.venv/bin/python reward_model_tuning.py --pairs runs/rmtune/calc_pairs \\
        --env TextEnv-Calculator-v0 --with-transcript --name calculator

Writes ``benchmarks/results/reward_model_tuning_<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch

from textgym.agents.reward_model import (
    RewardConfig,
    RewardModel,
    hard_negative_accuracy,
    pairwise_accuracy,
    train_reward_model,
)
from textgym.agents.train_reward import load_pairs

RESULTS = Path(__file__).parent / "results"

#: (n_layer, n_embd, steps, learning_rate); the first is the pipeline's earlier setting.
CANDIDATES = [
    (2, 128, 600, 5e-4),
    (2, 128, 1500, 5e-4),
    (4, 128, 1500, 5e-4),
    (4, 256, 1500, 3e-4),
]


def validation_prompt(prompt: str, fraction: int = 5) -> bool:
    """One question in ``fraction`` validates; the split depends on the text alone."""
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % fraction == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--pairs", required=True, help="a train reward run folder or pairs.jsonl")
    parser.add_argument("--env", required=True)
    parser.add_argument("--name", required=True, help="results file suffix")
    parser.add_argument("--with-transcript", action="store_true")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--candidates",
        nargs="+",
        metavar="LAYERS,WIDTH,STEPS,LR",
        help="settings to compare (default: the list in this file)",
    )
    args = parser.parse_args(argv)
    candidates = CANDIDATES
    if args.candidates:
        candidates = [
            (int(layers), int(width), int(steps), float(lr))
            for layers, width, steps, lr in (c.split(",") for c in args.candidates)
        ]
    torch.set_num_threads(args.threads)

    train, _, header = load_pairs(args.pairs, args.env, args.with_transcript)
    fit = [p for p in train if not validation_prompt(p.prompt)]
    val = [p for p in train if validation_prompt(p.prompt)]
    print(f"{len(fit)} fit pairs, {len(val)} validation ({sum(p.hard for p in val)} hard)")
    rows = []
    for n_layer, n_embd, steps, lr in candidates:
        config = RewardConfig(
            steps=steps,
            batch_size=args.batch_size,
            learning_rate=lr,
            with_transcript=args.with_transcript,
            n_layer=n_layer,
            n_embd=n_embd,
        )
        t0 = time.perf_counter()
        rm = RewardModel.from_config(config)
        train_reward_model(rm, fit, progress=False)
        row = {
            "n_layer": n_layer,
            "n_embd": n_embd,
            "steps": steps,
            "learning_rate": lr,
            "validation_accuracy": pairwise_accuracy(rm, val),
            "validation_hard_accuracy": hard_negative_accuracy(rm, val),
            "minutes": round((time.perf_counter() - t0) / 60, 2),
        }
        print(row, flush=True)
        rows.append(row)
        write(args, header, fit, val, rows)  # each candidate kept as it lands
    return 0


def write(args, header, fit, val, rows) -> None:
    record = {
        "env": args.env,
        "pairs": {k: header.get(k) for k in ("policy", "samples", "min_margin", "train_items")},
        "fit_pairs": len(fit),
        "validation_pairs": len(val),
        "validation_hard_pairs": sum(p.hard for p in val),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "candidates": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"reward_model_tuning_{args.name}.json").write_text(json.dumps(record, indent=2))
    lines = [
        f"Reward model candidates, {args.env}: {len(fit)} fit pairs, {len(val)} validation "
        f"pairs ({record['validation_hard_pairs']} hard), split by question.",
        "",
        "| layers | width | steps | lr | validation accuracy | on hard pairs | minutes |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hard = r["validation_hard_accuracy"]
        lines.append(
            f"| {r['n_layer']} | {r['n_embd']} | {r['steps']} | {r['learning_rate']:g} | "
            f"{r['validation_accuracy']:.1%} | {'-' if hard is None else f'{hard:.1%}'} | "
            f"{r['minutes']} |"
        )
    (RESULTS / f"reward_model_tuning_{args.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
