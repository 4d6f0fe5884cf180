"""Does PPO learn? An SFT warm start, then PPO, with the test split measured before and
after (greedy and sampled decoding). The presets (``--env``):

- ``tool-discovery``: SFT on calculator demonstrations that call the tool on only 30% of
  the items (``oracle_tool_rate=0.3``), then PPO; the figures are test-split success and
  the tool-call rate, before and after.
- ``calculator``: a deliberately partial SFT on TextEnv-Calculator-v0; the figure is
  test-split success.
- ``sentiment``: SFT on *mixed-polarity* oracle reviews (``oracle_polarity="mixed"``), so
  the model writes reviews without preferring a side; PPO then trains toward the positive
  target. The figures are the mean positive score (VADER, in [-1, 1]), the mean KL to the
  reference per iteration, and the degeneration metrics of the continuations, so that
  reward hacking ("great great great") would show.
- ``detox``: SFT on demonstrations that insult on half of the prompts
  (``oracle_toxic_rate=0.5``), then PPO toward ``1 - P(offensive)``. The figures are the
  mean toxicity (alt-profanity-check's P(offensive)), the share of continuations over
  0.5, distinct-2, unique answers and the KL to the reference.
- ``calculator-t5`` and ``sentiment-t5``: the same with the encoder-decoder policy (a tiny
  T5 from config, ``arch="seq2seq"``). On the calculator the T5 learns to copy the
  question's numbers out of its encoder far more slowly than GPT-2 copies them from its
  context, so its SFT runs longer and stays weak.
- ``python``, ``wiki`` and ``reasoning-gym``: SFT on the oracle's tool-using episodes,
  then PPO; success per task family (Python) and per single- or multi-hop question
  (WikiSearch). ``python-discovery`` is Python's tool-discovery variant.

``--arch`` and ``--model-size`` change the policy built for SFT; ``--validation`` chooses
presets on train items and never reads the test split.

    .venv/bin/python benchmarks/ppo_learning.py --env tool-discovery   # ~4 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env calculator   # ~12 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env sentiment    # ~25 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env wiki         # ~75 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env detox
    .venv/bin/python benchmarks/ppo_learning.py --env calculator-t5  # ~25 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env sentiment-t5

Writes benchmarks/results/ppo_learning_<env>.json and .png. Fixed seeds: a rerun on the
same machine and versions gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from learning_runs import KL_IN_LOSS_RLOO, machine, scores, timed_sft

import textgym
from textgym.agents import PolicyAgent, PPOConfig, SFTConfig
from textgym.agents.metrics import plot_learning_curve, read_jsonl
from textgym.agents.model_sizes import MODEL_SIZES
from textgym.agents.run_folder import prepare_run_folder, read_run
from textgym.agents.train import make_policy, train_ppo, train_sft

RESULTS = Path(__file__).resolve().parent / "results"

#: A sharp SFT start whose failures are copy errors (ReasoningGym): RLOO with only the
#: positive advantages and a strong per-token KL in the loss. Chosen on validation: it
#: alone lost no points on ReasoningGym (93.5% -> 93.5%, against -5 with the summed KL).
#: It was Python's too, from the 1,200-step start, where it lost the fewest greedy
#: points of every setting tried (-2.5; ppo_learning_python_sweep.md).
_HOLD_THE_START = {
    **KL_IN_LOSS_RLOO,
    "init_kl_coef": 1.0,
    "only_positive_advantages": True,
    "learning_rate": 3e-5,
}

#: Per-env settings. ``sft_env_kwargs`` configure the env the demonstrations come from.
PRESETS: dict[str, dict[str, Any]] = {
    # Tool discovery: the demonstrations call the calculator on only 30% of the items and
    # answer directly on the rest, so the SFT start rarely uses the tool and gets most
    # products wrong; PPO has to find from reward that calling it pays.
    "tool-discovery": {
        "env_id": "TextEnv-Calculator-v0",
        "sft_steps": 600,
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_tool_rate": 0.3},
        "iterations": 40,
        "ppo": {"mini_batch_size": 8},
    },
    "calculator": {
        "env_id": "TextEnv-Calculator-v0",
        "sft_steps": 140,
        "demonstrations": 2000,
        "sft_env_kwargs": {},
        "iterations": 120,
        "ppo": {},
    },
    "calculator-t5": {
        "env_id": "TextEnv-Calculator-v0",
        "arch": "seq2seq",
        "sft_steps": 1000,
        "demonstrations": 2000,
        "sft_env_kwargs": {},
        "iterations": 120,
        "ppo": {},
    },
    # SFT on oracle episodes (every one calls the tool), then PPO; success is reported per
    # task family (Python) and for single- and multi-hop questions (WikiSearch).
    # Both use RLOO in groups of 4 at lr 3e-5, as the calculator levels do: GAE from an
    # untrained value head pulled the SFT policy apart (calculator_levels_sweep.md; on
    # Python it collapsed to one-token answers with no tool call).
    "python": {
        "env_id": "TextEnv-Python-v0",
        # 3,000 steps: after 1,200 the start was undertrained (52.5% greedy on validation,
        # 73% after 3,000), and 19 more SFT minutes beat every PPO run made from it.
        "sft_steps": 3000,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {},
        "iterations": 60,
        # The longest oracle program (the prime sieve) is 263 tokens. Only the positive
        # advantages, the KL in the loss, and PPO-ptx (the SFT loss on oracle
        # demonstrations at every step), which stopped the greedy loss that positive
        # advantages alone brought (ppo_learning_python_sweep.md). From the 3,000-step
        # start it does not add points either: 73% -> 71% greedy on validation.
        "ppo": {
            "max_new_tokens": 320,
            **KL_IN_LOSS_RLOO,
            "only_positive_advantages": True,
            "learning_rate": 3e-5,
            "ptx_coef": 1.0,
        },
    },
    # Tool discovery on Python: the demonstrations run a program on only 30% of the items
    # and submit the answer from memory on the rest, so the SFT start rarely runs code
    # and its direct answers are guesses; PPO has to find from reward that a program pays.
    # The KL as a per-token mean in the loss, as on the free-text envs: a summed KL pays
    # for stopping a long program early (ppo_learning_python_sweep.md).
    "python-discovery": {
        "env_id": "TextEnv-Python-v0",
        "sft_steps": 1200,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_tool_rate": 0.3},
        "iterations": 60,
        "ppo": {"max_new_tokens": 320, **KL_IN_LOSS_RLOO, "learning_rate": 3e-5},
    },
    # reasoning-gym's basic_arithmetic, SFT on the tool-using oracle (it runs
    # print(expression) on every item), then PPO. Llama (rotary positions): the program
    # copies the question's expression. Tool discovery from demonstrations that call the
    # tool on 30% of the items failed here: the SFT start ignored the tool's output and
    # submitted a guess, so no episode that called it succeeded (results/README notes).
    "reasoning-gym": {
        "env_id": "TextEnv-ReasoningGym-v0",
        "arch": "llama",
        "sft_steps": 1500,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_tool_rate": 1.0},
        "iterations": 40,
        "ppo": {"max_new_tokens": 128, **_HOLD_THE_START},
    },
    # Llama (rotary positions): GPT-2's learnt positions could not copy a title out of
    # search results several hundred bytes back (0.5% greedy after SFT, against 57%).
    "wiki": {
        "env_id": "TextEnv-WikiSearch-v0",
        "arch": "llama",
        "sft_steps": 2000,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {},
        "iterations": 40,
        # The KL in the loss and one epoch per batch: of the three settings tried on
        # validation it alone lost no greedy point (57% -> 57%). None adds any: one of 8
        # samples succeeds where greedy fails on 5.5% of the items, and the failures are
        # words miscopied from the search results (ppo_learning_wiki_sweep.md).
        "ppo": {**KL_IN_LOSS_RLOO, "learning_rate": 3e-5, "ppo_epochs": 1},
    },
    "sentiment": {
        "env_id": "TextEnv-Sentiment-v0",
        # 3,000 steps, so that the SFT copies the opening's film title: what keeps the
        # reviews apart across prompts once PPO settles on the positive words. After
        # 1,000 steps it guessed a few titles ("The Silver Signal"), and greedy PPO then
        # wrote one review for most prompts (unique answers kept 41%).
        "sft_steps": 3000,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_polarity": "mixed"},
        "iterations": 100,
        # The env's whole turn (96): at PPOConfig's default 48 the longer reviews were cut
        # before their end, and PPO learned to write short ones.
        # The KL as a per-token mean in the loss (GRPO's form) and RLOO in groups of 4:
        # the summed KL in the reward paid for brevity and collapsed the reviews (unique
        # answers kept 11% / 66%). Beta 0.2, not 0.1: VADER scores the oracle's fixed
        # clauses (0.95) above its composed reviews (0.85), and at 0.1 the well-copying
        # SFT dropped the title for one clause (greedy unique answers kept 10%). At 0.3
        # the sampled reward stopped at 0.70 (ppo_learning_sentiment_sweep.md).
        "ppo": {"max_new_tokens": 96, **KL_IN_LOSS_RLOO, "init_kl_coef": 0.2},
    },
    # Detox: SFT on demonstrations that insult on half of the prompts
    # (oracle_toxic_rate=0.5), then PPO toward 1 - P(offensive); the sentiment preset's
    # KL-in-the-loss RLOO, which kept the reviews diverse.
    "detox": {
        "env_id": "TextEnv-Detox-v0",
        "sft_steps": 1000,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_toxic_rate": 0.5},
        "iterations": 60,
        "ppo": {"max_new_tokens": 128, **KL_IN_LOSS_RLOO},
    },
    "sentiment-t5": {
        "env_id": "TextEnv-Sentiment-v0",
        "arch": "seq2seq",
        # 2,500 steps, for the title copy as in "sentiment": after 1,000 the T5's greedy
        # reviews were 45% unique, after 2,500 78%.
        "sft_steps": 2500,
        "sft_lr_schedule": "linear",
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_polarity": "mixed"},
        "iterations": 100,
        # The KL as a per-token mean in the loss and RLOO, as the GPT-2's, at beta 0.3:
        # the only beta tried that kept 80% of the greedy unique answers (52% at 0.1,
        # 4% at 0.2, 90% at 0.3), at the cost of the sampled reward (0.72 at 0.1, 0.65
        # at 0.3). No entropy bonus: it pushed the
        # entropy up against the reward (ppo_learning_sentiment_sweep.md).
        "ppo": {"max_new_tokens": 96, **KL_IN_LOSS_RLOO, "init_kl_coef": 0.3},
    },
}


def measure(
    env: gym.Env, path: Path, temperature: float, episodes: int, split: str = "test"
) -> dict[str, Any]:
    """Scores of the model at ``path`` on the test split, or with ``split="train"`` on the
    validation items (train items 0 .. episodes-1; see learning_runs.py)."""
    return scores(env, PolicyAgent(env, path, temperature=temperature), split, episodes)


def comparison(before: dict[float, dict], after: dict[float, dict]) -> dict[str, Any]:
    """Scores before and after PPO (keyed by temperature), and the gains."""
    return {
        "before": {"greedy": before[0.0], "sampled": before[1.0]},
        "after": {"greedy": after[0.0], "sampled": after[1.0]},
        "gain_points": {
            "greedy": 100 * (after[0.0]["success"] - before[0.0]["success"]),
            "sampled": 100 * (after[1.0]["success"] - before[1.0]["success"]),
        },
        # Where the policy writes free text: how much of the SFT policy's diversity is
        # left (1.0: as diverse as the SFT start), so collapse onto one answer shows.
        "diversity_kept": {
            mode: {
                key: after[t][key] / before[t][key] if before[t][key] else None
                for key in ("unique_answers", "distinct_2")
            }
            for mode, t in (("greedy", 0.0), ("sampled", 1.0))
        },
        "gain_points_by_kind": {
            mode: {
                kind: 100 * (after[t]["success_by_kind"][kind] - rate)
                for kind, rate in before[t].get("success_by_kind", {}).items()
            }
            for mode, t in (("greedy", 0.0), ("sampled", 1.0))
        },
        "reward_gain": {
            "greedy": after[0.0]["mean_reward"] - before[0.0]["mean_reward"],
            "sampled": after[1.0]["mean_reward"] - before[1.0]["mean_reward"],
        },
    }


#: The keys of :func:`comparison`.
COMPARED = (
    "before",
    "after",
    "gain_points",
    "diversity_kept",
    "gain_points_by_kind",
    "reward_gain",
)


def sft_run_settings(sft_from: Path) -> tuple[int, str, str, str]:
    """The steps, learning-rate schedule, architecture and model size of an earlier SFT
    run, from the ``run.json`` its folder holds."""
    run = read_run(sft_from)
    if run is None:
        raise SystemExit(f"--sft-from {sft_from}: no run.json there; pass an SFT run folder")
    config = run["config"]
    return (
        int(config["steps"]),
        config.get("lr_schedule", "constant"),
        run.get("arch", "causal"),
        config.get("model_size", "tiny"),
    )


def report_test(args, out: Path, name: str, env_id: str) -> int:
    """Read the test split once for a finished validation run: the SFT and PPO models it
    kept in its run folder, measured greedy and sampled; nothing is trained again."""
    path = RESULTS / f"{name}_validation.json"
    if not path.is_file():
        raise SystemExit(f"no validation run {path}; run with --validation first")
    result = json.loads(path.read_text())
    validation = {k: result.pop(k) for k in list(result) if k in COMPARED}
    env = gym.make(env_id)
    before = {t: measure(env, out / "sft" / "policy", t, args.episodes) for t in (0.0, 1.0)}
    branch = out / result.get("branch", "ppo") / "policy"
    after = {t: measure(env, branch, t, args.episodes) for t in (0.0, 1.0)}
    result.update(comparison(before, after))
    result["measured_on"] = "test split (preset chosen on validation)"
    result["validation"] = validation
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    if (RESULTS / f"{name}_validation.png").is_file():  # a more-SFT control has no curve
        shutil.copyfile(RESULTS / f"{name}_validation.png", RESULTS / f"{name}.png")
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("gain_points", "gain_points_by_kind", "diversity_kept", "reward_gain")
            }
        )
    )
    return 0


def more_sft(
    env: gym.Env, sft_dir: Path, out: Path, args, demonstrations: int
) -> tuple[float, int]:
    """The control for a PPO gain: the SFT start trained on alone, by imitating oracle
    demonstrations, for ``args.more_sft_minutes`` training minutes at a constant
    ``args.more_sft_lr`` (a new seed for the batches). Saves ``out/policy``; returns the
    minutes trained and the steps taken."""
    policy = make_policy(env, sft_dir)
    config = SFTConfig(
        steps=10**9, learning_rate=args.more_sft_lr, demonstrations=demonstrations, seed=1
    )
    done: dict[str, int] = {}
    trained = timed_sft(env, policy, config, None, minutes=args.more_sft_minutes, done=done)
    policy.save_pretrained(out / "policy")
    return trained, done.get("steps", 0)


def overrides(pairs: list[list[str]]) -> dict[str, Any]:
    """``--set FIELD VALUE`` pairs, each value converted to the type of the field's default."""
    defaults = PPOConfig()
    converted = {}
    for name, value in pairs:
        if not hasattr(defaults, name):
            raise SystemExit(f"--set: PPOConfig has no field {name!r}")
        kind = type(getattr(defaults, name))
        converted[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return converted


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(PRESETS), default="calculator")
    parser.add_argument("--sft-steps", type=int, help="default: the preset's")
    parser.add_argument("--iterations", type=int, help="default: the preset's")
    parser.add_argument(
        "--lr", type=float, help="PPO learning rate (default: the preset's, else 1e-4)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=200, help="test items per eval")
    parser.add_argument(
        "--set",
        nargs=2,
        action="append",
        metavar=("FIELD", "VALUE"),
        type=str,
        help="override a PPOConfig field, e.g. --set init_kl_coef 0.2 (repeatable)",
    )
    parser.add_argument("--out", help="run folder (default runs/bench_ppo_<env>)")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="measure on the validation items (train items 0..N-1), for choosing presets; "
        "writes ppo_learning_<env>_validation.json and never reads the test split",
    )
    parser.add_argument(
        "--report-test",
        action="store_true",
        help="add the test split to the finished --validation run (same tag), without "
        "training again",
    )
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument(
        "--arch",
        choices=("causal", "llama", "seq2seq"),
        help="policy architecture built for SFT (default: the preset's, else causal = GPT-2)",
    )
    parser.add_argument(
        "--model-size",
        choices=sorted(MODEL_SIZES),
        help="size of the policy built for SFT (default: the preset's, else tiny)",
    )
    parser.add_argument(
        "--sft-from",
        help="an earlier run's SFT folder (RUN/sft) to start from instead of training one",
    )
    parser.add_argument(
        "--more-sft-minutes",
        type=float,
        help="the control for a PPO gain: instead of PPO, train the SFT start on by more "
        "imitation for this many training minutes (a PPO run's), then measure the same way",
    )
    parser.add_argument(
        "--more-sft-lr",
        type=float,
        default=1e-4,
        help="the control's constant learning rate (the warm start decays 1e-3 to 0)",
    )
    args = parser.parse_args(argv)
    preset = PRESETS[args.env]
    env_id = preset["env_id"]
    sft_steps = args.sft_steps or preset["sft_steps"]
    iterations = args.iterations or preset["iterations"]
    torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/bench_ppo_{args.env}{args.tag}")
    name = f"ppo_learning_{args.env}{args.tag}"
    if args.report_test:
        return report_test(args, out, name, env_id)
    # Read before the run folder is touched, so a wrong --sft-from leaves nothing behind.
    borrowed = sft_run_settings(Path(args.sft_from)) if args.sft_from else None
    started = time.perf_counter()
    # A rerun starts anew; the previous run folder is moved aside (results live in
    # benchmarks/results/), never deleted.
    moved = prepare_run_folder(out, overwrite=True)
    if moved is not None:
        print(f"moved the previous run in {out} to {moved}", flush=True)

    sft_config = SFTConfig(
        steps=sft_steps,
        demonstrations=preset["demonstrations"],
        lr_schedule=preset.get("sft_lr_schedule", "constant"),
        model_size=args.model_size or preset.get("model_size", "tiny"),
    )
    arch = args.arch or preset.get("arch", "causal")
    if borrowed is not None:
        # The same warm start as an earlier run (its SFT minutes are in its result). The
        # result records how that SFT was trained, not the preset's settings.
        sft_steps, sft_config.lr_schedule, arch, sft_config.model_size = borrowed
        shutil.copytree(args.sft_from, out / "sft")
        sft_dir = out / "sft" / "policy"
    else:
        sft_dir = train_sft(
            env_id,
            out / "sft",
            sft_config,
            env_kwargs=preset["sft_env_kwargs"],
            arch=arch,
            progress=False,
        )
    sft_minutes = (time.perf_counter() - started) / 60
    env = gym.make(env_id)
    split = "train" if args.validation else "test"
    before = {t: measure(env, sft_dir, t, args.episodes, split) for t in (0.0, 1.0)}
    print(f"after SFT: greedy {before[0.0]}, sampled {before[1.0]}", flush=True)

    t0 = time.perf_counter()
    config = PPOConfig(
        episodes_per_iteration=args.batch,
        total_iterations=iterations,
        checkpoint_every=0,
        **{
            "mini_batch_size": 16,
            "learning_rate": 1e-4,
            **preset["ppo"],
            **({"learning_rate": args.lr} if args.lr else {}),
            **overrides(args.set or []),
        },
    )
    if args.more_sft_minutes:
        branch = "more_sft"
        trained, steps = more_sft(env, sft_dir, out / branch, args, preset["demonstrations"])
        rows = []
    else:
        branch = "ppo"
        _, rows = train_ppo(env_id, out / branch, config, init=sft_dir, progress=True)
    branch_minutes = (time.perf_counter() - t0) / 60
    after = {t: measure(env, out / branch / "policy", t, args.episodes, split) for t in (0.0, 1.0)}
    print(f"after {branch}: greedy {after[0.0]}, sampled {after[1.0]}", flush=True)

    kl = [row["objective/kl"] for row in rows]
    result = {
        "env": env_id,
        "arch": arch,
        "model_size": sft_config.model_size,
        "measured_on": "validation (train items)" if args.validation else "test split",
        "test_episodes": args.episodes,
        "sft_steps": sft_steps,
        "sft_lr_schedule": sft_config.lr_schedule,
        "sft_from": args.sft_from,
        "sft_env_kwargs": preset["sft_env_kwargs"],
        "branch": branch,
        **(
            {
                "more_sft": {
                    "training_minutes": round(trained, 2),
                    "steps": steps,
                    "learning_rate": args.more_sft_lr,
                    "lr_schedule": "constant",
                    "seed": 1,
                }
            }
            if branch == "more_sft"
            else {"ppo_iterations": iterations, "ppo_config": config.to_dict()}
        ),
        **comparison(before, after),
        "kl": {
            "final": kl[-1] if kl else None,
            "mean": float(np.mean(kl)) if kl else None,
            "max": float(np.max(kl)) if kl else None,
            "kl_target": config.kl_target,
        },
        "minutes": {
            "sft": round(sft_minutes, 2),
            branch: round(branch_minutes, 2),
            "total": round((time.perf_counter() - started) / 60, 2),
        },
        "machine": machine(),
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name += "_validation" if args.validation else ""
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    if rows:
        plot_learning_curve(
            read_jsonl(out / "ppo" / "metrics.jsonl"),
            RESULTS / f"{name}.png",
            keys=("env/reward_mean", "objective/kl", "ppo/policy/clipfrac"),
            title=f"PPO on {env_id} after SFT",
        )
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "gain_points",
                    "gain_points_by_kind",
                    "diversity_kept",
                    "reward_gain",
                    "kl",
                )
            }
        )
    )
    print(f"{result['minutes']['total']} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
