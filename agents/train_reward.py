"""``textgym train reward``: a reward model on preference pairs played out in an env.

The pairs come from agents playing the same train items, ranked by the task's own score:
the oracle and the random agent by default, and, given a trained ``policy``, ``samples``
sampled episodes of it per item. The policy's failures are the *hard* negatives (near
misses: a wrong copy of the tool's result, an answer guessed without the tool), the
texts a policy trained against the model will produce. Random text alone teaches only
"looks like an answer" (58% on right vs right + 1 on the calculator).

Playing the items is the slow part (a policy sampled episode by episode), so the pairs are
kept beside the model in ``pairs.jsonl``; ``pairs=`` trains another model on them without
playing again (a wider model, more steps).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym

from textgym.agents.oracle import OracleAgent
from textgym.agents.policy_agent import PolicyAgent
from textgym.agents.random_agent import RandomAgent
from textgym.agents.reward_model import (
    PreferencePair,
    RewardConfig,
    RewardModel,
    hard_negative_accuracy,
    pairwise_accuracy,
    preference_pairs,
    train_reward_model,
)
from textgym.agents.run_folder import prepare_run_folder
from textgym.agents.train import announce_moved, check_hardware
from textgym.checks import positive_int
from textgym.fileio import atomic_write_text
from textgym.rollout import Agent

__all__ = ["train_reward", "pair_agents", "save_pairs", "load_pairs", "pairs_header", "PAIRS_FILE"]

PAIRS_FILE = "pairs.jsonl"
PAIRS_FORMAT = "textgym-preference-pairs/1"


def save_pairs(
    path: str | os.PathLike,
    header: dict[str, Any],
    train: list[PreferencePair],
    held_out: list[PreferencePair],
) -> None:
    """One JSON header line (``format``, ``env``, ``transcript``, ...) and one line per
    pair with its side (``train`` or ``held_out``); written atomically."""
    lines = [json.dumps({"format": PAIRS_FORMAT, **header})]
    for side, pairs in (("train", train), ("held_out", held_out)):
        lines += [json.dumps({"side": side, **asdict(p)}) for p in pairs]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def pairs_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header line of a :func:`save_pairs` file: how its pairs were made."""
    with open(path) as pairs:
        return json.loads(pairs.readline())


def load_pairs(
    path: str | os.PathLike, env_id: str, transcript: bool
) -> tuple[list[PreferencePair], list[PreferencePair], dict[str, Any]]:
    """The train and held-out pairs of a :func:`save_pairs` file and its header. Refuses a
    file of another env, or of answers where the model reads transcripts (or the reverse):
    a model trained on the one would score the other's texts."""
    path = Path(path)
    if path.is_dir():
        path = path / PAIRS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no preference pairs at {str(path)!r}; a `textgym train reward` run folder "
            f"holds them in {PAIRS_FILE}"
        )
    rows = path.read_text().splitlines()
    try:
        header = json.loads(rows[0]) if rows else {}
        records = [json.loads(row) for row in rows[1:] if row.strip()]
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a preference-pairs file ({error})") from None
    if header.get("format") != PAIRS_FORMAT:
        raise ValueError(f"{path}: not a preference-pairs file (format {header.get('format')!r})")
    if header.get("env") != env_id:
        raise ValueError(f"{path}: the pairs are from {header.get('env')!r}, not {env_id!r}")
    if bool(header.get("transcript")) != transcript:
        kinds = {True: "whole transcripts", False: "final answers"}
        raise ValueError(
            f"{path}: the pairs hold {kinds[bool(header.get('transcript'))]} but the model "
            f"would read {kinds[transcript]}; set --with-transcript to match"
        )
    sides: dict[str, list[PreferencePair]] = {"train": [], "held_out": []}
    for record in records:
        side = record.pop("side", None)
        if side not in sides:
            raise ValueError(f"{path}: a pair with side {side!r} (train or held_out)")
        sides[side].append(PreferencePair(**record))
    return sides["train"], sides["held_out"], header


def pair_agents(
    env: gym.Env, policy: str | os.PathLike | None, samples: int, seed: int
) -> tuple[list[Agent], list[int]]:
    """The agents whose episodes are ranked into pairs, and the indices of those whose
    failures are hard negatives (the policy's samples; without a policy, the random
    agent's, though those are easy)."""
    agents: list[Agent] = [OracleAgent(env), RandomAgent(env, seed=seed)]
    if policy is None:
        return agents, [1]
    # Temperature 1: the policy's own distribution, the texts PPO will sample from it.
    agents += [
        PolicyAgent(env, policy, temperature=1.0, seed=seed * 1_000 + k) for k in range(samples)
    ]
    return agents, list(range(2, 2 + samples))


def train_reward(
    env_id: str,
    out_dir: str | os.PathLike,
    config: RewardConfig | None = None,
    *,
    items: int = 300,
    held_out: int = 100,
    first_item: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    policy: str | os.PathLike | None = None,
    samples: int = 4,
    min_margin: float = 0.0,
    pairs: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[Path, float]:
    """Train a reward model on preference pairs from ``env_id``.

    The oracle, the random agent and (with ``policy``) ``samples`` sampled episodes of
    that policy play ``items`` train items from ``first_item`` on; every two texts whose
    task scores differ by more than ``min_margin`` make a pair. The ``held_out`` items
    after those give the held-out pairs. Saves the model to ``out_dir`` with
    ``reward_log.json`` (losses, pair counts, held-out accuracy on all pairs and on the
    hard ones) and the pairs in ``pairs.jsonl``; returns the folder and the held-out
    pairwise accuracy. ``pairs`` (such a file, or a folder holding one) trains on those
    pairs instead of playing the items again."""
    for name, value in (("items", items), ("held_out", held_out), ("samples", samples)):
        positive_int(name, value)
    if first_item < 0:
        raise ValueError(f"first_item must be >= 0, got {first_item}")
    cfg = config or RewardConfig()
    check_hardware(cfg)
    out = Path(out_dir)
    if policy is not None and not Path(policy).is_dir():
        raise FileNotFoundError(f"--policy {str(policy)!r} is not a model folder")
    header = {
        "env": env_id,
        "env_kwargs": env_kwargs or {},
        "transcript": cfg.with_transcript,
        "policy": str(policy) if policy is not None else None,
        "samples": samples if policy is not None else 0,
        "min_margin": min_margin,
        "train_items": [first_item, first_item + items],
        "held_out_items": [first_item + items, first_item + items + held_out],
    }
    if pairs is not None:
        # Checked before the folder is made: a bad file must not move an old run aside.
        train_pairs, test_pairs, header = load_pairs(pairs, env_id, cfg.with_transcript)
        header = {k: v for k, v in header.items() if k != "format"}
    announce_moved(prepare_run_folder(out, overwrite=overwrite), out)
    if pairs is None:
        train_pairs, test_pairs = _play_pairs(env_id, header, cfg, progress)
    save_pairs(out / PAIRS_FILE, header, train_pairs, test_pairs)
    if not train_pairs or not test_pairs:
        raise ValueError(
            f"{env_id}: every agent scored the same on every item, so there are no "
            "preference pairs; try more items, other env_kwargs or a lower --min-margin"
        )
    rm = RewardModel.from_config(cfg)
    losses = train_reward_model(rm, train_pairs, progress=progress)
    accuracy = pairwise_accuracy(rm, test_pairs)
    rm.save_pretrained(out)
    atomic_write_text(
        out / "reward_log.json",
        json.dumps(
            {
                **{k: v for k, v in header.items() if k != "transcript"},
                "config": asdict(cfg),
                "pairs_from": str(pairs) if pairs is not None else None,
                "train_pairs": len(train_pairs),
                "train_hard_pairs": sum(p.hard for p in train_pairs),
                "held_out_pairs": len(test_pairs),
                "held_out_hard_pairs": sum(p.hard for p in test_pairs),
                "held_out_accuracy": accuracy,
                "held_out_hard_accuracy": hard_negative_accuracy(rm, test_pairs),
                "losses": losses,
            }
        ),
    )
    return out, accuracy


def _play_pairs(
    env_id: str, header: dict[str, Any], cfg: RewardConfig, progress: bool
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """The train and held-out pairs, played out as ``header`` says."""
    env = gym.make(env_id, **header["env_kwargs"])
    try:
        agents, hard_from = pair_agents(env, header["policy"], header["samples"], cfg.seed)
        pair_args = dict(
            seed=cfg.seed,
            transcript=cfg.with_transcript,
            min_margin=header["min_margin"],
            hard_from=hard_from,
        )
        train = preference_pairs(
            env, agents, range(*header["train_items"]), progress=progress, **pair_args
        )
        held_out = preference_pairs(env, agents, range(*header["held_out_items"]), **pair_args)
    finally:
        env.close()
    return train, held_out
