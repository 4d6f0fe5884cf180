"""PettingZoo multi-agent envs: the API tests over the registry, conversions, scripted
seats, and self-play with the PPO agent."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.utils.conversions import aec_to_parallel, parallel_to_aec

import textgym
from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config
from textgym.envs.race import RaceEnv
from textgym.envs.wiki_clue import (
    ScriptedClueGiver,
    ScriptedGuesser,
    WikiClueEnv,
    clue_is_legal,
)
from textgym.multiagent import MULTIAGENT_ENVS
from textgym.tokenizer import decode
from textgym.wrappers import SelfPlayVectorEnv

IDS = [entry.id for entry in MULTIAGENT_ENVS]


def make(env_id: str):
    return textgym.make_multiagent(env_id)


def as_aec(env) -> AECEnv:
    return env if isinstance(env, AECEnv) else parallel_to_aec(env)


def as_parallel(env) -> ParallelEnv:
    return env if isinstance(env, ParallelEnv) else aec_to_parallel(env)


@pytest.mark.parametrize("env_id", IDS)
def test_api_test_passes(env_id):
    env = as_aec(make(env_id))
    api_test(env, num_cycles=60)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_seed_test_passes(env_id):
    seed_test(lambda: as_aec(make(env_id)), num_cycles=30)


@pytest.mark.parametrize("env_id", IDS)
def test_parallel_api_test_passes(env_id):
    entry = next(e for e in MULTIAGENT_ENVS if e.id == env_id)
    if entry.api == "aec" and not make(env_id).metadata.get("is_parallelizable", False):
        # A turn-based game whose seats move a variable number of times in a row (tool
        # calls) is not a parallel game; PettingZoo's converter must refuse it.
        with pytest.raises(AssertionError, match="parallelizable"):
            aec_to_parallel(make(env_id))
        return
    parallel_api_test(as_parallel(make(env_id)), num_cycles=60)
    parallel_seed_test(lambda: as_parallel(make(env_id)), num_cycles=30)


def test_race_round_trips_through_aec():
    par = aec_to_parallel(parallel_to_aec(RaceEnv()))
    parallel_api_test(par, num_cycles=30)
    obs, infos = par.reset(seed=3)
    assert set(obs) == {"player_0", "player_1"}


def test_unknown_multiagent_id_is_a_clear_error():
    with pytest.raises(ValueError, match="known: TextMA-WikiClue-v0"):
        textgym.make_multiagent("TextMA-Nope-v0")
    with pytest.raises(ValueError, match="num_agents"):
        RaceEnv(num_agents=1)
    with pytest.raises(ValueError, match="unknown env id"):
        RaceEnv(env_id="Nope-v0")


# ---- the clue game -------------------------------------------------------------------


def play_clue(env: WikiClueEnv, giver, guesser, *, index: int) -> float:
    env.reset(seed=index, options={"split": "test", "index": index})
    total = 0.0
    for agent in env.agent_iter():
        _, reward, terminated, truncated, _ = env.last()
        if agent == "giver_0":
            total += reward
        if terminated or truncated:
            env.step(None)
            continue
        env.step((giver if agent == "giver_0" else guesser).act(env))
    return total


class RandomSeat:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, env) -> np.ndarray:
        return env.action_space(env.agent_selection).sample()


def test_scripted_seats_reach_their_documented_score():
    env = WikiClueEnv()
    scores = [play_clue(env, ScriptedClueGiver(), ScriptedGuesser(), index=i) for i in range(60)]
    env.close()
    # Documented: 199/200 wins, mean 0.93 on the whole test split.
    assert np.mean([s > 0 for s in scores]) >= 0.95
    assert np.mean(scores) >= 0.85


def test_a_random_guesser_scores_zero():
    env = WikiClueEnv()
    scores = [play_clue(env, ScriptedClueGiver(), RandomSeat(i), index=i) for i in range(10)]
    env.close()
    assert scores == [0.0] * 10


def test_both_seats_share_the_reward_and_it_drops_per_round():
    env = WikiClueEnv()
    env.reset(options={"split": "test", "index": 0})
    name = env.entity.name
    env.step(env.encode_turn("nothing useful<submit>"))  # round 1 clue
    env.step(env.encode_turn("Result=Wrong Name<submit>"))  # wrong guess
    assert env.round == 2 and env.agent_selection == "giver_0"
    env.step(env.encode_turn("still vague<submit>"))
    env.step(env.encode_turn(f"Result={name}<submit>"))
    assert env.terminations == {"giver_0": True, "guesser_0": True}
    assert env._cumulative_rewards["giver_0"] == env._cumulative_rewards["guesser_0"] == 0.75
    assert env.infos["giver_0"]["success"] is True
    env.close()


def test_a_clue_that_names_the_entity_is_rejected():
    env = WikiClueEnv()
    env.reset(options={"split": "test", "index": 1})
    word = env.entity.name.split()[0]
    env.step(env.encode_turn(f"it is {word.lower()}<submit>"))
    assert env.agent_selection == "giver_0" and env.round == 2  # the round is wasted
    guesser_view = env.transcripts["guesser_0"].text()
    assert word not in guesser_view.split("Clue 1:")[1]
    assert not clue_is_legal(f"the {word.upper()}", env.entity.name)
    env.close()


def test_tool_calls_keep_the_turn_and_are_capped():
    env = WikiClueEnv(max_calls_per_turn=2)
    env.reset(options={"split": "test", "index": 2})
    env.step(env.encode_turn("<request><Wiki>1800 weaver<call>"))
    assert env.agent_selection == "giver_0"
    assert "[1]" in env.transcripts["giver_0"].text()
    env.step(env.encode_turn("<request><Wiki>again<call>"))  # the cap: an empty clue
    assert env.round == 2 and env.agent_selection == "giver_0"
    env.close()


def test_garbage_actions_never_crash():
    env = WikiClueEnv(max_rounds=2)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in env.agent_iter(max_iter=200):
        _, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        kind = rng.integers(4)
        if kind == 0:
            action = rng.integers(-5, 10**6, size=rng.integers(0, 300))
        elif kind == 1:
            action = np.zeros(0, dtype=np.int64)
        elif kind == 2:
            action = env.encode_turn("<request><Nope>x<call>")
        else:
            action = env.encode_turn('<request><Wiki>"((* AND<call>')
        env.step(action)
    assert not env.agents  # the game ended
    env.close()


class EnvScriptedSeat:
    """Plays whichever seat is to move with the env's own ``scripted_action``."""

    def act(self, env) -> np.ndarray:
        return env.scripted_action(env.agent_selection)


def test_clue_scripted_action_plays_winning_games():
    env = WikiClueEnv()
    seat = EnvScriptedSeat()
    scores = [play_clue(env, seat, seat, index=i) for i in range(5)]
    # The same seats as ScriptedClueGiver/ScriptedGuesser, so the same games.
    direct = [play_clue(env, ScriptedClueGiver(), ScriptedGuesser(), index=i) for i in range(5)]
    assert scores == direct and np.mean([s > 0 for s in scores]) >= 0.8
    assert isinstance(env._scripted_seats["giver_0"], ScriptedClueGiver)  # built once, kept
    assert isinstance(env._scripted_seats["guesser_0"], ScriptedGuesser)
    env.reset(options={"split": "test", "index": 0})
    with pytest.raises(ValueError, match="no seat 'nobody_0'"):
        env.scripted_action("nobody_0")
    with pytest.raises(RuntimeError, match="on its turn"):
        env.scripted_action("guesser_0")  # the giver moves first
    env.close()


def test_clue_test_size_and_encode_turn():
    env = WikiClueEnv(test_size=7)
    assert env.test_size == env.task.test_size == 7
    text = "<request><Wiki>weaver 1800<call>"
    ids = env.encode_turn(text)
    assert ids.dtype == np.int64 and decode(env.tokenizer, ids) == text
    env.close()


# ---- the race ------------------------------------------------------------------------


def play_race(env: RaceEnv, policies: dict, *, index: int) -> dict[str, float]:
    env.reset(seed=index, options={"split": "test", "index": index})
    totals = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        actions = {agent: policies[agent](env, agent) for agent in env.agents}
        _, rewards, _, _, _ = env.step(actions)
        for agent, reward in rewards.items():
            totals[agent] += reward
    return totals


def oracle(env, agent):
    return env.oracle_action(agent) if not env.out[agent] else np.zeros(0, np.int64)


def random_seat(env, agent):
    return env.action_space(agent).sample()


def test_race_oracle_beats_random_and_rewards_are_zero_sum():
    env = RaceEnv()
    env.action_space("player_1").seed(0)
    results = [
        play_race(env, {"player_0": oracle, "player_1": random_seat}, index=i) for i in range(20)
    ]
    assert all(r["player_0"] == 1.0 and r["player_1"] == -1.0 for r in results)
    ties = [play_race(env, {"player_0": oracle, "player_1": oracle}, index=i) for i in range(5)]
    assert all(r == {"player_0": 0.0, "player_1": 0.0} for r in ties)
    env.close()


def test_race_with_three_seats_splits_the_loss():
    env = RaceEnv(num_agents=3)
    env.reset(options={"split": "test", "index": 4})
    first = {a: env.oracle_action(a) for a in env.agents}  # the calculator call
    env.step(first)
    answer = env.oracle_action("player_0")
    wrong = env.envs["player_2"].unwrapped.encode_turn("Result=-1<submit>")
    _, rewards, terminations, _, infos = env.step(
        {"player_0": answer, "player_1": np.zeros(0, np.int64), "player_2": wrong}
    )
    assert rewards == {"player_0": 1.0, "player_1": -0.5, "player_2": -0.5}
    assert sum(rewards.values()) == 0.0
    assert all(terminations.values()) and env.agents == []
    assert infos["player_0"]["winner"] and not infos["player_2"]["winner"]
    env.close()


def test_race_on_another_single_agent_env():
    env = RaceEnv(env_id="TextEnv-WikiSearch-v0")
    result = play_race(env, {"player_0": random_seat, "player_1": oracle}, index=0)
    assert result == {"player_0": -1.0, "player_1": 1.0}
    env.close()


def test_race_scripted_action_is_the_oracle_and_wins():
    env = RaceEnv()
    env.action_space("player_1").seed(0)

    def scripted(env, agent):
        return env.scripted_action(agent) if not env.out[agent] else np.zeros(0, np.int64)

    results = [
        play_race(env, {"player_0": scripted, "player_1": random_seat}, index=i) for i in range(5)
    ]
    assert all(r == {"player_0": 1.0, "player_1": -1.0} for r in results)
    env.reset(options={"split": "test", "index": 3})
    assert np.array_equal(env.scripted_action("player_0"), env.oracle_action("player_0"))
    env.close()


def test_race_test_size_and_encode_turn():
    env = RaceEnv(env_kwargs={"test_size": 9})
    inner = env.envs["player_0"].unwrapped
    assert env.test_size == inner.task.test_size == 9
    text = "Result=-1<submit>"
    assert np.array_equal(env.encode_turn(text), inner.encode_turn(text))
    assert decode(env.tokenizer, env.encode_turn(text)) == text
    env.close()
    contract_only = RaceEnv(env_id="TestRace-EvenFirstToken-v0")
    assert contract_only.test_size is None  # no task, no test split
    contract_only.close()


# ---- self-play with the PPO agent ----------------------------------------------------


class EvenFirstTokenEnv(gym.Env):
    """A contract-only env (no textgym.TextEnv, no task): one turn, reward 1 when its
    first token id is even. Racing on it, a random policy wins about half the time."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.tokenizer = textgym.make_tokenizer()
        self.stop_token_ids = (self.tokenizer.convert_tokens_to_ids("<submit>"),)
        self.max_turn_tokens = 4
        self.max_context = 32
        vocab = len(self.tokenizer)
        self.observation_space = gym.spaces.Sequence(gym.spaces.Discrete(vocab), stack=True)
        self.action_space = gym.spaces.Sequence(gym.spaces.Discrete(vocab), stack=True)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._obs = self.np_random.integers(100, 120, size=4).astype(np.int64)
        return self._obs.copy(), {"agent_mask": np.zeros(self.max_context, bool)}

    def step(self, action):
        action = np.asarray(action, dtype=np.int64)[: self.max_turn_tokens]
        obs = np.concatenate([self._obs, action])
        mask = np.zeros(self.max_context, bool)
        mask[len(self._obs) : len(obs)] = True
        success = len(action) > 0 and action[0] % 2 == 0
        return obs, float(success), True, False, {"agent_mask": mask, "success": success}


gym.register("TestRace-EvenFirstToken-v0", entry_point=EvenFirstTokenEnv)


def test_ppo_self_play_with_a_shared_policy():
    envs = SelfPlayVectorEnv(
        lambda: RaceEnv(env_id="TestRace-EvenFirstToken-v0", num_agents=2), num_games=4
    )
    assert envs.num_envs == 8
    vocab = int(envs.single_action_space.feature_space.n)
    cfg = tiny_gpt2_config(vocab, n_layer=1, n_embd=32, n_head=2, n_positions=64)
    policy = ValueHeadLM.from_config(cfg, seed=0)
    ppo = PPO(
        envs, policy, PPOConfig(episodes_per_iteration=16, mini_batch_size=8, max_new_tokens=4)
    )
    before = [p.detach().clone() for p in policy.parameters()]
    stats = ppo.step()
    envs.close()
    # Every game contributes all of its seats, so a zero-sum game's batch sums to zero.
    assert stats["env/reward_mean"] == pytest.approx(0.0, abs=1e-9)
    assert stats["env/reward_std"] > 0  # races were won and lost: there was signal
    assert np.isfinite(stats["ppo/loss/total"])
    assert any(not (a == b).all() for a, b in zip(before, policy.parameters()))
