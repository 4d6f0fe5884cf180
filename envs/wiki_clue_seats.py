"""The scripted seats of ``TextMA-WikiClue-v0``, and the rule a clue must keep.

The seats read the game through :class:`ClueGame`, the part of
:class:`~textgym.envs.wiki_clue.WikiClueEnv` a player may see: the hidden entity (the
giver's knowledge), the clues and guesses so far, each seat's tool calls with their
structured results, and how many calls the seat to move has made this turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Protocol

import numpy as np

from textgym.envs.wiki_facts import Entity
from textgym.envs.wiki_tasks import normalize_answer
from textgym.protocol import call_text, submit_text
from textgym.task import ToolCall

__all__ = ["GIVER", "GUESSER", "ClueGame", "ScriptedClueGiver", "ScriptedGuesser", "clue_is_legal"]

GIVER, GUESSER = "giver_0", "guesser_0"
_WORD = re.compile(r"[^\W_]+")


def clue_is_legal(clue: str, name: str) -> bool:
    """A clue may not contain any word of the entity's name (case-insensitive)."""
    banned = {w.lower() for w in _WORD.findall(name)}
    return bool(clue.strip()) and not banned & {w.lower() for w in _WORD.findall(clue)}


class ClueGame(Protocol):
    """What a scripted seat reads of the game (a :class:`WikiClueEnv` is one)."""

    max_calls_per_turn: int
    clues: Sequence[str]
    guesses: Sequence[str]
    calls: Mapping[str, Sequence[ToolCall]]

    @property
    def entity(self) -> Entity: ...

    @property
    def turn_calls(self) -> int: ...

    def encode_turn(self, text: str) -> np.ndarray: ...


class ScriptedClueGiver:
    """Builds clues from pairs of facts (never words of the name), searches each, and
    submits the first whose top hit is the entity; with none, the first legal clue."""

    def candidates(self, env: ClueGame) -> list[str]:
        entity = env.entity
        values = [v for v in entity.facts.values() if clue_is_legal(v, entity.name)]
        kind = entity.extra.get("form", entity.kind)
        # Three facts pin an entity down better than two; distractor sentences in other
        # articles often repeat a pair.
        clues = [" ".join(c) for c in combinations(values, 3)]
        clues += [f"{a} {b}" for a, b in combinations(values, 2)]
        clues += [f"{kind} {v}" for v in values if clue_is_legal(f"{kind} {v}", entity.name)]
        used = set(env.clues)
        return [c for c in clues if c not in used] or [entity.kind]

    def act(self, env: ClueGame) -> np.ndarray:
        candidates = self.candidates(env)
        tried = [call for call in env.calls[GIVER] if call.query in candidates]
        turn_calls = env.turn_calls
        if turn_calls:
            last = env.calls[GIVER][-1]
            hits = last.data or []
            if hits and normalize_answer(hits[0]["title"]) == normalize_answer(env.entity.name):
                return env.encode_turn(f"{last.query}<submit>")
        queried = {call.query for call in tried}
        fresh = [c for c in candidates if c not in queried]
        if turn_calls < env.max_calls_per_turn - 1 and fresh:
            return env.encode_turn(call_text("Wiki", fresh[0]))
        return env.encode_turn(f"{candidates[0]}<submit>")


class ScriptedGuesser:
    """Searches the latest clue and names the best-ranked title not yet guessed."""

    def act(self, env: ClueGame) -> np.ndarray:
        clue = env.clues[-1] if env.clues else ""
        if env.turn_calls == 0:
            return env.encode_turn(call_text("Wiki", clue or "entry"))
        hits = env.calls[GUESSER][-1].data or []
        guessed = {normalize_answer(g) for g in env.guesses}
        for hit in hits:
            if normalize_answer(hit["title"]) not in guessed:
                return env.encode_turn(submit_text(hit["title"]))
        return env.encode_turn(submit_text(hits[0]["title"] if hits else "unknown"))
