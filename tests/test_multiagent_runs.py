"""Evaluating and playing the multi-agent envs by seat specs (textgym.multiagent_runs)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import textgym
from textgym.multiagent_runs import Game, evaluate_multiagent, play_multiagent
from textgym.tokenizer import decode

CLUE, RACE = "TextMA-WikiClue-v0", "TextMA-Race-v0"


def lines_then_eof(lines: list[str]):
    """An input_fn that types ``lines`` and then hits Ctrl-D; records the prompts."""
    pending = list(lines)

    def input_fn(prompt: str) -> str:
        if not pending:
            raise EOFError
        return pending.pop(0)

    input_fn.pending = pending
    return input_fn


def printed(out: list[str]):
    return lambda *args: out.append(" ".join(map(str, args)))


# ---- evaluation ----------------------------------------------------------------------


def test_scripted_clue_seats_win_most_test_games():
    seen: list[Game] = []
    result = evaluate_multiagent(CLUE, "scripted", games=5, progress=False, on_game=seen.append)
    assert seen == result.games and [g.index for g in result.games] == [0, 1, 2, 3, 4]
    assert result.seat_specs == {"giver_0": "scripted", "guesser_0": "scripted"}
    # Documented: 199/200 test games won.
    assert result.win_rate()["giver_0"] >= 0.8 and result.win_rate()["guesser_0"] >= 0.8
    won = [g for g in result.games if g.winners]
    assert all(g.winners == ("giver_0", "guesser_0") for g in won)  # cooperative
    assert all(g.rewards["giver_0"] == g.rewards["guesser_0"] > 0 for g in won)
    game = won[0]
    guesser = game.seats["guesser_0"]
    assert "Clue 1:" in guesser.text and "You are the guesser" in guesser.text
    assert guesser.text == decode(textgym.make_tokenizer(), guesser.tokens)
    assert game.steps >= 4  # a test search and a clue, a search and a guess


def test_a_random_guesser_scores_zero():
    result = evaluate_multiagent(CLUE, ["scripted", "random"], games=5, progress=False)
    assert result.mean_reward() == {"giver_0": 0.0, "guesser_0": 0.0}
    assert result.win_rate() == {"giver_0": 0.0, "guesser_0": 0.0}


def test_race_oracle_beats_random():
    result = evaluate_multiagent(RACE, ["oracle", "random"], games=5, progress=False)
    assert all(g.rewards == {"player_0": 1.0, "player_1": -1.0} for g in result.games)
    assert all(g.winners == ("player_0",) for g in result.games)
    summary = result.summary()
    assert summary["api"] == "parallel" and summary["split"] == "test"
    assert summary["mean_reward"] == {"player_0": 1.0, "player_1": -1.0}
    assert summary["win_rate"] == {"player_0": 1.0, "player_1": 0.0}
    assert "<request><Calculator>" in result.games[0].seats["player_0"].text


def test_scripted_is_the_race_oracle():
    result = evaluate_multiagent(RACE, ["random", "scripted"], games=3, progress=False)
    assert result.mean_reward() == {"player_0": -1.0, "player_1": 1.0}


@pytest.mark.parametrize("seats", ["oracle", ["oracle"]])
def test_one_spec_plays_every_seat(seats):
    result = evaluate_multiagent(RACE, seats, games=3, env_kwargs={"num_agents": 3}, progress=False)
    assert result.seat_specs == dict.fromkeys(["player_0", "player_1", "player_2"], "oracle")
    # Oracles tie every race: all win at once, so all score 0.
    assert result.mean_reward() == dict.fromkeys(result.seat_specs, 0.0)


def test_summary_is_json_and_deterministic():
    def run(seed):
        return evaluate_multiagent(CLUE, ["scripted", "random"], games=3, seed=seed, progress=False)

    first, again, other = run(0), run(0), run(1)
    assert json.loads(json.dumps(first.summary())) == first.summary() == again.summary()
    for a, b in zip(first.games, again.games):
        assert np.array_equal(a.seats["guesser_0"].tokens, b.seats["guesser_0"].tokens)
    # The random seat is seeded per game from the seed: another seed, other turns.
    assert first.games[0].seats["guesser_0"].text != other.games[0].seats["guesser_0"].text


def test_two_random_seats_do_not_mirror_each_other():
    result = evaluate_multiagent(RACE, "random", games=2, progress=False)
    for game in result.games:
        assert game.seats["player_0"].text != game.seats["player_1"].text


# ---- seat specs ----------------------------------------------------------------------


def test_a_wrong_number_of_specs_is_refused_naming_the_seats():
    with pytest.raises(
        ValueError, match=r"2 seats to fill \(player_0, player_1\).*one spec per seat"
    ):
        evaluate_multiagent(RACE, ["oracle", "random", "random"], games=1, progress=False)
    with pytest.raises(ValueError, match="player_0, player_1"):
        evaluate_multiagent(RACE, [], games=1, progress=False)


def test_an_unknown_spec_is_refused_with_the_seats_and_accepted_specs():
    with pytest.raises(
        ValueError, match=r"'nope'.*player_0, player_1.*scripted \| oracle \| random"
    ):
        evaluate_multiagent(RACE, ["oracle", "nope"], games=1, progress=False)
    # The clue game's scripted seats are not oracles.
    with pytest.raises(ValueError, match=r"'oracle'.*giver_0, guesser_0.*scripted \| random"):
        evaluate_multiagent(CLUE, "oracle", games=1, progress=False)
    with pytest.raises(ValueError, match="need a seat_factory"):
        evaluate_multiagent(RACE, "ppo:runs/x", games=1, progress=False)


def test_games_and_seed_are_checked():
    with pytest.raises(ValueError, match="games must be a positive int"):
        evaluate_multiagent(RACE, "oracle", games=0, progress=False)
    with pytest.raises(ValueError, match="test split has 2 games; asked for 3"):
        evaluate_multiagent(CLUE, "scripted", games=3, env_kwargs={"test_size": 2})
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        evaluate_multiagent(RACE, "oracle", games=1, seed=-1, progress=False)


class OracleByFactory:
    """A factory-made seat: plays the race oracle and records its per-game seeds."""

    def __init__(self, env, agent):
        self.env, self.agent, self.seeds = env, agent, []

    def reset(self, seed=None):
        self.seeds.append(seed)

    def act(self, obs, info):
        assert obs.ndim == 1 and len(obs) == info["length"]  # the real context, unpadded
        return self.env.oracle_action(self.agent)


def test_other_specs_go_to_the_seat_factory():
    made = {}

    def factory(spec, env, agent):
        assert spec == "mine:oracle"
        made[agent] = OracleByFactory(env, agent)
        return made[agent]

    result = evaluate_multiagent(
        RACE, ["mine:oracle", "random"], games=3, seat_factory=factory, progress=False
    )
    assert set(made) == {"player_0"}
    assert result.mean_reward() == {"player_0": 1.0, "player_1": -1.0}
    seeds = made["player_0"].seeds
    assert len(seeds) == 3 and len(set(seeds)) == 3  # reset once per game, new seed each

    with pytest.raises(TypeError, match="has no act"):
        evaluate_multiagent(RACE, "x", games=1, seat_factory=lambda *a: object())

    def refuses(spec, env, agent):
        raise ValueError("unknown agent spec")

    with pytest.raises(ValueError, match=r"seat player_0 of TextMA-Race-v0 \('x'\): unknown"):
        evaluate_multiagent(RACE, "x", games=1, seat_factory=refuses)


# ---- play ----------------------------------------------------------------------------


def test_play_the_clue_giver_until_eof():
    out: list[str] = []
    input_fn = lines_then_eof(["<request><Wiki>weaver 1800<call>", "a weaver of 1800<submit>"])
    rc = play_multiagent(
        CLUE, "giver_0", "scripted", seed=3, input_fn=input_fn, print_fn=printed(out)
    )
    assert rc == 0 and input_fn.pending == []
    text = "\n".join(out)
    assert "You are giver_0" in text and "You are the clue giver" in text
    assert "<request><Wiki>weaver 1800<call>[1]" in text  # the search ran and was shown
    assert "a weaver of 1800<submit>" in text  # the clue, printed after the move
    assert "Your partner guessed" in text  # the scripted guesser replied, and was shown


def test_play_a_race_through_a_game_and_into_the_next():
    out: list[str] = []
    input_fn = lines_then_eof(["Result=-1<submit>"])
    rc = play_multiagent(
        RACE, "player_1", "random", seed=0, input_fn=input_fn, print_fn=printed(out)
    )
    assert rc == 0
    text = "\n".join(out)
    assert "Result=-1<submit>" in text
    assert "game over" in text and "you were player_1" in text
    assert text.count("What is") >= 2  # the next game started before EOF


def test_play_refuses_an_unknown_seat_and_quits_at_once_on_eof():
    with pytest.raises(ValueError, match=r"no seat 'player_9'; seats: player_0, player_1"):
        play_multiagent(RACE, "player_9", "random", seed=0, input_fn=lines_then_eof([]))
    with pytest.raises(ValueError, match=r"1 seat to fill \(player_1\); got 2 seat specs"):
        play_multiagent(RACE, "player_0", ["random", "random"], seed=0)
    assert (
        play_multiagent(
            RACE, "player_0", "oracle", seed=0, input_fn=lines_then_eof([]), print_fn=printed([])
        )
        == 0
    )


def test_the_module_is_core_it_imports_no_envs_or_agents():
    code = (
        "import sys, textgym.multiagent_runs;"
        "print(sorted(m for m in sys.modules if m.startswith(('textgym.envs', 'textgym.agents'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
