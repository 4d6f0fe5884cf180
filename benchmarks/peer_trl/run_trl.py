"""TRL's classic loop on textgym's calculator task: ``TextEnvironment`` + ``PPOTrainer``.

Runs in the peer venv (trl==0.11.4, transformers==4.46.3, torch==2.13.0, rich), started by
benchmarks/peer_trl/compare.py, which hands it the same warm-start model, tokenizer, task
items and PPO settings as textgym's run. It imports nothing from textgym.

    .venv-peer/bin/python benchmarks/peer_trl/run_trl.py --setup setup.json --out trl.json
"""

from __future__ import annotations

import argparse
import ast
import json
import operator
import re
import time

import torch
from transformers import AutoTokenizer
from trl import AutoModelForCausalLMWithValueHead, PPOConfig, PPOTrainer, TextEnvironment

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _eval(node):
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError("unsupported expression")


def calculator(query: str) -> str:
    """The same arithmetic as textgym's calculator for level-0 questions (+ - * and ints)."""
    try:
        value = _eval(ast.parse(query.strip(), mode="eval"))
    except Exception as exc:  # noqa: BLE001  (TRL's tools report errors as text)
        return f"Error: {exc}"
    return str(int(value)) if float(value).is_integer() else str(value)


ANSWER = re.compile(r"Result\s*=\s*(-?\d+)")


def reward_fn(responses: list[str], answers: list[str]) -> list[torch.Tensor]:
    out = []
    for text, answer in zip(responses, answers):
        found = ANSWER.search(text)
        out.append(torch.tensor(1.0 if found and found.group(1) == answer else 0.0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setup", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--eos-fix",
        action="store_true",
        help="stop ByT5 from appending </s> to every query and tool response (TRL's bug)",
    )
    args = parser.parse_args()
    setup = json.loads(open(args.setup).read())
    cfg = setup["config"]
    torch.manual_seed(setup["seed"])
    torch.set_num_threads(setup["threads"])
    tokenizer = AutoTokenizer.from_pretrained(setup["model"])
    if args.eos_fix:
        # TRL encodes queries and tool responses with add_special_tokens=True, so ByT5 puts
        # an EOS after each: the model then sees EOS mid-episode. This gives TRL the same
        # context tokens textgym's env builds.
        tokenizer._add_eos_if_not_present = lambda ids: ids
    model = AutoModelForCausalLMWithValueHead.from_pretrained(setup["model"])
    ref = AutoModelForCausalLMWithValueHead.from_pretrained(setup["model"])
    config = PPOConfig(
        batch_size=cfg["episodes_per_iteration"],
        mini_batch_size=cfg["mini_batch_size"],
        ppo_epochs=cfg["ppo_epochs"],
        learning_rate=cfg["learning_rate"],
        init_kl_coef=cfg["init_kl_coef"],
        adap_kl_ctrl=cfg["adaptive_kl"],
        target=cfg["kl_target"],
        horizon=cfg["kl_horizon"],
        gamma=cfg["gamma"],
        lam=cfg["lam"],
        cliprange=cfg["clip_range"],
        cliprange_value=cfg["clip_range_value"],
        vf_coef=cfg["vf_coef"],
        max_grad_norm=cfg["max_grad_norm"],
        early_stopping=cfg["early_stopping"],
        target_kl=cfg["target_kl"],
        ratio_threshold=cfg["ratio_threshold"],
        seed=setup["seed"],
    )
    trainer = PPOTrainer(config, model, ref, tokenizer)
    env = TextEnvironment(
        model,
        tokenizer,
        {"Calculator": calculator},
        reward_fn,
        prompt="",
        max_turns=setup["max_turns"],
        # TRL 0.11.4 cannot use max_length: its check calls len() on an int and raises.
        max_length=None,
        generation_kwargs={
            "do_sample": True,
            "top_k": 0,
            "top_p": 1.0,
            "max_new_tokens": cfg["max_new_tokens"],
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
    )
    batch = cfg["episodes_per_iteration"]
    rows = []
    for it in range(setup["iterations"]):
        items = setup["tasks"][it * batch : (it + 1) * batch]
        t0 = time.perf_counter()
        queries, responses, masks, rewards, _ = env.run(
            [item["query"] for item in items], answers=[item["answer"] for item in items]
        )
        t1 = time.perf_counter()
        stats = trainer.step(queries, responses, rewards, masks)
        t2 = time.perf_counter()
        rows.append(
            {
                "iteration": it + 1,
                "rollout_s": t1 - t0,
                "step_s": t2 - t1,
                "total_s": t2 - t0,
                "reward_mean": float(torch.stack(rewards).mean()),
                "response_tokens_mean": float(sum(len(r) for r in responses) / len(responses)),
                "kl": float(stats["objective/kl"]),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    with open(args.out, "w") as fh:
        json.dump({"rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
