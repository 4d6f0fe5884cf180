"""``TextMA-WikiClue-v0``: a cooperative two-seat clue game over the wiki encyclopedia.

A PettingZoo AEC env. The clue giver knows a hidden entity and its facts; the guesser
knows nothing but the clue and a search engine. Both seats may call the ``Wiki`` tool,
and both share the reward, so the giver is rewarded for clues that *search well*.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from pettingzoo import AECEnv
from pettingzoo.utils import AgentSelector

from textgym.answers import read_answer
from textgym.checks import positive_int
from textgym.envs.wiki_clue_seats import (
    GIVER,
    GUESSER,
    ScriptedClueGiver,
    ScriptedGuesser,
    clue_is_legal,
)
from textgym.envs.wiki_corpus import GENERATOR_VERSION, Encyclopedia, generate_encyclopedia
from textgym.envs.wiki_facts import Entity
from textgym.envs.wiki_tasks import exact_match
from textgym.multiagent import token_array_spaces
from textgym.protocol import call_text, submit_text
from textgym.task import Task, TaskItem, ToolCall
from textgym.tokenizer import encode_agent_text, encode_text, make_tokenizer
from textgym.tools.search import DocumentsCorpus, SearchIndex, WikiSearch
from textgym.turn_engine import TurnEngine

__all__ = ["ClueTask", "WikiClueEnv", "ScriptedClueGiver", "ScriptedGuesser", "clue_is_legal"]


class ClueTask(Task):
    """Hidden entities drawn from the generated encyclopedia.

    ``item.question`` and ``item.answer`` are the entity's title; ``item.data`` holds its
    ``kind``. Scoring: 1.0 for a TriviaQA-normalised exact match of the title.
    """

    name = "wiki_clue"

    def __init__(self, seed: int = 0, test_size: int = 200, entities: int = 2000):
        super().__init__(seed=seed, test_size=test_size)
        self.entities = entities
        self.encyclopedia: Encyclopedia = generate_encyclopedia(seed, entities)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "entities": self.entities, "generator": GENERATOR_VERSION}

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        entity = self.encyclopedia.entities[rng.randrange(len(self.encyclopedia.entities))]
        return entity.name, entity.name, {"kind": entity.kind}

    def score(self, item: TaskItem, answer: str | None) -> float:
        return 1.0 if exact_match(answer, [item.answer]) else 0.0

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        # A guesser who already knows the answer; the game's scripted seats are below.
        return submit_text(item.answer)


def _fact_text(entity: Entity) -> str:
    facts = {**entity.facts, **{k: v for k, v in entity.extra.items() if k != "pronoun"}}
    return "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in facts.items())


class WikiClueEnv(AECEnv):
    """A cooperative clue game: describe a hidden encyclopedia entity so a partner with a
    search engine can name it.

    ## Description

    Two seats, ``"giver_0"`` and ``"guesser_0"``, play up to ``max_rounds`` rounds about one
    hidden entity of the generated encyclopedia (2,000 fictional people, places,
    organisations, works and events). Each round the giver writes a clue, which must not
    contain any word of the entity's name; the guesser reads it, searches, and names an
    entity. Both seats may call ``<request><Wiki>query<call>`` (at most
    ``max_calls_per_turn`` times a turn) before ending their turn with ``<submit>``: the
    giver to test which article a clue finds, the guesser to find it. A wrong guess is
    shown to both and the next round begins.

    ## Action Space

    ``Box(0, V-1, (max_turn_tokens,), int64)`` per seat: one turn of token ids, read up to
    its first stop token (``<call>``, ``<submit>``, EOS) or its first pad id. Shorter
    arrays are accepted; out-of-vocabulary ids become the unknown token.

    ## Observation Space

    ``Box(0, V-1, (max_context,), int64)`` per seat: that seat's own context (its prompt,
    its turns, its tool responses, and what the game told it), right-padded with the pad
    id. ``info["length"]`` is the number of real tokens, ``info["agent_mask"]`` marks the
    seat's own tokens.

    ## Rewards

    Cooperative and shared: when the guess in round ``r`` (1-based) names the entity,
    both seats get ``1 - 0.25 (r - 1)`` (1.0, 0.75, 0.5). Otherwise both get 0. A clue
    that uses a word of the name is rejected and wastes the round.

    ## Starting State

    A hidden entity: a random train item, or a test item by ``options={"split": "test",
    "index": i}``. The giver moves first.

    ## Episode End

    Terminated at a correct guess or after ``max_rounds`` rounds; truncated when a seat's
    context overflows ``max_context``.

    ## Arguments

    - ``seed`` (0): dataset and encyclopedia seed; ``test_size`` (200); ``entities``
      (2000).
    - ``max_rounds`` (3), ``max_calls_per_turn`` (3), ``max_turn_tokens`` (128),
      ``max_context`` (4096), ``max_response_tokens`` (300).
    - ``k`` (3): search results per call; ``index_path``/``cache_dir``: as
      ``TextEnv-WikiSearch-v0`` (the two envs share the index file).
    - ``tokenizer``: default the ByT5 tokenizer with the protocol markers.
    - ``render_mode``: ``"ansi"`` or ``"human"``.

    ## Scripted seats

    :class:`ScriptedClueGiver` builds clues from two facts, checks with the search tool
    that the entity is the top hit, and submits the first that is;
    :class:`ScriptedGuesser` searches the clue and names the best-ranked title it has not
    guessed yet. Together they win 199 of the 200 test games (mean reward 0.93); a random
    guesser scores 0. ``env.scripted_action(agent)`` is the scripted seat's next turn for
    the seat to move (the giver's or the guesser's, by its role); ``env.test_size`` is the
    number of test games.

    ## Version History

    - v0: initial release.
    """

    metadata = {"name": "textma_wikiclue_v0", "render_modes": ["ansi", "human"]}

    def __init__(
        self,
        seed: int = 0,
        test_size: int = 200,
        entities: int = 2000,
        max_rounds: int = 3,
        max_calls_per_turn: int = 3,
        max_turn_tokens: int = 128,
        max_context: int = 4096,
        max_response_tokens: int = 300,
        k: int = 3,
        index_path: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        tokenizer: Any = None,
        render_mode: str | None = None,
    ):
        super().__init__()
        for name, value in (
            ("max_rounds", max_rounds),
            ("max_calls_per_turn", max_calls_per_turn),
            ("max_turn_tokens", max_turn_tokens),
            ("max_context", max_context),
            ("max_response_tokens", max_response_tokens),
        ):
            positive_int(name, value)
        if render_mode not in (None, "ansi", "human"):
            raise ValueError(f"render_mode must be None, 'ansi' or 'human', got {render_mode!r}")
        self.task = ClueTask(seed=seed, test_size=test_size, entities=entities)
        enc = self.task.encyclopedia
        documents = DocumentsCorpus(
            enc.articles,
            name=f"wiki-generated-v{GENERATOR_VERSION}-seed{seed}-n{entities}",
            fingerprint=enc.fingerprint,
        )
        self.tokenizer = make_tokenizer(tokenizer)
        self.search_tool = WikiSearch(
            SearchIndex(documents, index_path, cache_dir=cache_dir),
            k=k,
        )  # the turn engine binds it to the tokenizer and max_response_tokens
        # Box actions are right-padded with the pad id: a turn also ends at its first pad.
        self._engine = TurnEngine(
            self.tokenizer,
            {self.search_tool.name: self.search_tool},
            max_turn_tokens=max_turn_tokens,
            max_response_tokens=max_response_tokens,
            cut_at_pad=True,
        )
        self.call_format = self._engine.call_format
        self.stop_token_ids = self._engine.stop_token_ids
        self.vocab_size = self._engine.vocab_size
        self.pad_id = self._engine.pad_id
        self.max_rounds = max_rounds
        self.max_calls_per_turn = max_calls_per_turn
        self.max_turn_tokens = max_turn_tokens
        self.max_context = max_context
        self.max_response_tokens = max_response_tokens
        self.render_mode = render_mode
        self.possible_agents = [GIVER, GUESSER]
        spaces = token_array_spaces(self.vocab_size, max_context, max_turn_tokens)
        self.observation_spaces = {agent: spaces[0] for agent in self.possible_agents}
        self.action_spaces = {agent: spaces[1] for agent in self.possible_agents}
        self.item: TaskItem | None = None
        self._np_random = np.random.default_rng()
        self._scripted_seats: dict[str, ScriptedClueGiver | ScriptedGuesser] = {}

    @property
    def test_size(self) -> int:
        """The number of test games (items of the fixed test split)."""
        return self.task.test_size

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    # ---- the game ---------------------------------------------------------------------

    @property
    def entity(self) -> Entity:
        if self.item is None:
            raise RuntimeError("no game running; call reset() first")
        return self.task.encyclopedia.by_name[self.item.answer]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        if seed is not None:
            self._np_random = np.random.default_rng(seed)
        # Only "split" and "index" mean anything; PettingZoo's API test passes other keys
        # and expects them to be ignored.
        options = dict(options or {})
        split = options.get("split", "train")
        index = options.get("index")
        if index is None:
            high = self.task.test_size if split == "test" else 2**31 - 1
            index = int(self._np_random.integers(0, high))
        self.item = self.task.item(split, int(index))
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.round = 1
        self.guesses: list[str] = []
        self.clues: list[str] = []
        self.calls: dict[str, list[ToolCall]] = {agent: [] for agent in self.agents}
        self.turn_calls = 0  # by the seat to move, this turn (the scripted seats read it)
        self.transcripts = {
            agent: self._engine.new_transcript(self.max_context) for agent in self.agents
        }
        entity = self.entity
        self._tell(
            GIVER,
            "You are the clue giver. Your partner must name a hidden encyclopedia entry "
            "from your clue, using the Wiki search tool. Hidden entry: "
            f"{entity.name} ({entity.kind}). Facts: {_fact_text(entity)}.\n"
            "Do not use any word of its name. You may test a clue with "
            f"{call_text('Wiki', 'your clue')}. End your clue with <submit>.\n",
            kind="prompt",
        )
        self._tell(
            GUESSER,
            "You are the guesser. Your partner describes a hidden encyclopedia entry. "
            f"Search with {call_text('Wiki', 'keywords')} and answer with "
            f"{submit_text('Title')}.\n",
            kind="prompt",
        )
        self.infos = {agent: self._info(agent) for agent in self.agents}
        self._selector = AgentSelector(self.agents)
        self.agent_selection = self._selector.reset()

    def observe(self, agent: str) -> np.ndarray:
        return self.transcripts[agent].padded()

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self.rewards = dict.fromkeys(self.agents, 0.0)
        turn = self._engine.take_turn(self.transcripts[agent], action)
        overflow = turn.overflow
        if turn.call is not None:
            self.calls[agent].append(turn.call)
            self.turn_calls += 1
            if not overflow and self.turn_calls < self.max_calls_per_turn:
                self._after_step(agent, overflow=False)  # the same seat goes on
                return
            text = ""  # out of calls: the turn ends with an empty clue or guess
        else:
            text = (turn.parsed.answer or "").strip()
        if not overflow:
            if agent == GIVER:
                overflow = self._clue(text)
            else:
                overflow = self._guess(text)
        self._after_step(agent, overflow=overflow)

    def _clue(self, clue: str) -> bool:
        self.clues.append(clue)
        self.turn_calls = 0
        if clue_is_legal(clue, self.entity.name):
            ok = self._tell(GUESSER, f"Clue {self.round}: {clue}\n")
        else:
            ok = self._tell(
                GUESSER, f"Clue {self.round}: (rejected: it was empty or named the entry)\n"
            )
            ok = (
                self._tell(GIVER, "Your clue was empty or used a word of the name; rejected.\n")
                and ok
            )
            return not ok or self._next_round(guessed=False)
        self.agent_selection = GUESSER
        return not ok

    def _guess(self, guess: str) -> bool:
        answer = read_answer(guess)
        self.guesses.append(answer)
        self.turn_calls = 0
        if self.task.score(self.item, answer) >= 1.0:
            reward = 1.0 - 0.25 * (self.round - 1)
            self.rewards = dict.fromkeys(self.agents, reward)
            self.terminations = dict.fromkeys(self.agents, True)
            return False
        ok = self._tell(GIVER, f"Your partner guessed {answer!r}: wrong.\n")
        ok = self._tell(GUESSER, f"{answer!r} is wrong.\n") and ok
        return not ok or self._next_round(guessed=True)

    def _next_round(self, *, guessed: bool) -> bool:
        if self.round >= self.max_rounds:
            self.terminations = dict.fromkeys(self.agents, True)
            return False
        self.round += 1
        self.agent_selection = GIVER
        return False

    def _after_step(self, agent: str, *, overflow: bool) -> None:
        if overflow and not any(self.terminations.values()):
            self.truncations = dict.fromkeys(self.agents, True)
        self.infos = {name: self._info(name) for name in self.agents}
        self._accumulate_rewards()
        if any(self.terminations.values()) or any(self.truncations.values()):
            self.agent_selection = self._selector.reset()  # dead seats step out in order
        if self.render_mode == "human":
            print(self.render())

    def _tell(self, agent: str, text: str, kind: str = "prompt") -> bool:
        return self.transcripts[agent].append(encode_text(self.tokenizer, text), kind, agent=False)

    def _info(self, agent: str) -> dict[str, Any]:
        transcript = self.transcripts[agent]
        done = any(self.terminations.values()) or any(self.truncations.values())
        info: dict[str, Any] = {
            "length": transcript.length,
            "agent_mask": transcript.agent_mask.copy(),
            "round": self.round,
            "clues": list(self.clues),
            "guesses": list(self.guesses),
            "tool_calls": [call.as_dict() for call in self.calls[agent]],
        }
        if done:
            info["success"] = (
                bool(self.guesses) and self.task.score(self.item, self.guesses[-1]) >= 1.0
            )
        return info

    # ---- display and scripted play ----------------------------------------------------

    def render(self) -> str | None:
        if self.item is None:
            return None
        colour = self.render_mode == "human"
        parts = [
            f"== {agent} ==\n{self.transcripts[agent].render(colour, legend=False)}"
            for agent in self.possible_agents
        ]
        return "\n".join(parts)

    def encode_turn(self, text: str) -> np.ndarray:
        """Agent text with markers to an action (for scripted seats and people)."""
        return encode_agent_text(self.tokenizer, text)

    def scripted_action(self, agent: str) -> np.ndarray:
        """The scripted seat's next turn for ``agent``, the seat to move: the
        :class:`ScriptedClueGiver`'s for the giver, the :class:`ScriptedGuesser`'s for the
        guesser (built once per env and kept: they hold no state of their own)."""
        if agent not in self.possible_agents:
            raise ValueError(f"no seat {agent!r}; seats: {', '.join(self.possible_agents)}")
        if self.item is None or not self.agents or agent != self.agent_selection:
            # The scripted seats read the game state of the seat to move.
            raise RuntimeError(f"scripted_action({agent!r}) needs a running game on its turn")
        if agent not in self._scripted_seats:
            seat = ScriptedClueGiver() if agent == GIVER else ScriptedGuesser()
            self._scripted_seats[agent] = seat
        return self._scripted_seats[agent].act(self)

    def close(self) -> None:
        self.search_tool.close()
