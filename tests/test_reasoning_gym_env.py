"""TextEnv-ReasoningGym-v0: reasoning-gym's generators and scorers behind the textgym task
interface, with the Python sandbox tool. The registry-wide tests (contract, vector envs,
prefix preservation, leaderboard) cover the default dataset; these cover the rest."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textgym
from textgym import registration
from textgym.agents import OracleAgent, RandomAgent
from textgym.app.cli import main
from textgym.envs import reasoning_gym_tasks
from textgym.envs.reasoning_gym_tasks import DEFAULT_DATASET, ReasoningGymTask, dataset_names
from textgym.task import ToolCall

reasoning_gym = pytest.importorskip("reasoning_gym")

ENV_ID = "TextEnv-ReasoningGym-v0"
#: Offline, fast generators of three kinds: arithmetic, a word problem, string work.
DATASETS = ("basic_arithmetic", "chain_sum", "leg_counting", "spell_backward")
#: chain_sum over two one-digit terms: about 200 distinct questions, so train draws hit
#: the test split often and must be redrawn.
TINY_CHAIN_SUM = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


@pytest.fixture(scope="module")
def env():
    env = gym.make(ENV_ID, dataset="chain_sum", test_size=20)
    yield env
    env.close()


@pytest.mark.parametrize("dataset", DATASETS)
def test_items_are_reproducible_from_seed_and_index(dataset):
    task, again = ReasoningGymTask(dataset, seed=5), ReasoningGymTask(dataset, seed=5)
    for split, index in (("test", 0), ("test", 7), ("train", 0), ("train", 123456)):
        assert task.item(split, index) == again.item(split, index)
    other = ReasoningGymTask(dataset, seed=6)
    assert [task.item("test", i).question for i in range(5)] != [
        other.item("test", i).question for i in range(5)
    ]


@pytest.mark.parametrize("dataset", DATASETS)
def test_an_item_is_the_reasoning_gym_item_of_its_source_seed(dataset):
    item = ReasoningGymTask(dataset).item("train", 3)
    entry = reasoning_gym.create_dataset(dataset, seed=item.data["source_seed"], size=1)[0]
    assert (item.question, item.answer) == (entry["question"], entry["answer"])
    assert item.data["dataset"] == dataset


def test_train_items_never_repeat_a_test_question():
    task = ReasoningGymTask("chain_sum", dataset_kwargs=TINY_CHAIN_SUM, test_size=50)
    test_questions = [item.question for item in task.test_items()]
    assert len(set(test_questions)) == 50  # no repeats inside the test split either
    train = [task.item("train", i) for i in range(300)]
    assert not {item.question for item in train} & set(test_questions)
    # The space is small enough that the first draw collided: redraws really happened.
    first_draws = [task.generate(task.item_rng("train", i))[0] for i in range(300)]
    assert set(first_draws) & set(test_questions)


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_reference_answer_scores_1_on_every_test_item(dataset):
    task = ReasoningGymTask(dataset, test_size=30)
    for item in task.test_items():
        assert task.score(item, item.answer) == 1.0
        assert task.score(item, task.oracle_turn(item, ()).removesuffix("<submit>")) == 1.0


# Not spell_backward: its scorer counts matching leading letters, so the answer plus extra
# letters scores about 1 (its float sum can land on 1.0), and the env passes scores through.
@pytest.mark.parametrize("dataset", ("basic_arithmetic", "chain_sum", "leg_counting", "gcd"))
def test_wrong_answers_score_below_1(dataset):
    task = ReasoningGymTask(dataset, test_size=10)
    for item in task.test_items():
        for wrong in (f"{item.answer}0", f"{item.answer} or so", "zzz", "", "   ", None):
            score = task.score(item, wrong)
            assert 0.0 <= score < 1.0, (item.answer, wrong, score)


def test_scores_are_clamped_and_scorer_errors_score_0(monkeypatch):
    task = ReasoningGymTask("chain_sum", test_size=2)
    item = task.item("test", 0)
    for returned in (2.5, -1.0, float("nan")):
        monkeypatch.setattr(task._scorer, "score_answer", lambda answer, entry, r=returned: r)
        assert 0.0 <= task.score(item, "1") <= 1.0
        assert task.score(item, "1") == (1.0 if returned == 2.5 else 0.0)

    def broken(answer, entry):
        raise KeyError("a scorer that chokes on odd text")

    monkeypatch.setattr(task._scorer, "score_answer", broken)
    assert task.score(item, "\x00<garbage>") == 0.0


def test_the_oracle_solves_the_test_split_and_random_does_not(env):
    oracle = textgym.evaluate(env, OracleAgent(env), progress=False)
    assert oracle.n == 20 and oracle.success_rate == 1.0 and oracle.mean_reward == 1.0
    random_agent = textgym.evaluate(env, RandomAgent(env, seed=0), progress=False)
    assert random_agent.success_rate == 0.0


def test_the_python_tool_works_inside_an_episode(env):
    base = env.unwrapped
    base.reset(options={"split": "test", "index": 4})
    expression = base.task.item("test", 4).data["metadata"]["expression"]
    _, reward, terminated, _, info = env.step(
        base.encode_turn(f"<request><Python>x = {expression}\nprint(x)<call>")
    )
    assert not terminated and reward == 0.0
    call = info["tool_calls"][-1]
    assert call["ok"] and call["response"] == base.task.item("test", 4).answer
    _, _, _, _, info = env.step(base.encode_turn("<request><Python>x * 0<call>"))
    assert info["tool_calls"][-1]["response"] == "0"  # state persists within the episode
    _, reward, terminated, _, info = env.step(
        base.encode_turn(f"Result={call['response']}<submit>")
    )
    assert terminated and reward == 1.0 and info["success"]
    # A new episode gets a new interpreter: nothing crosses.
    base.reset(seed=1)
    _, _, _, _, info = env.step(base.encode_turn("<request><Python>print(x)<call>"))
    assert "NameError" in info["tool_calls"][-1]["response"]


def test_split_hash_pins_dataset_config_seed_and_size():
    base = ReasoningGymTask("chain_sum", test_size=20).split_hash()
    assert ReasoningGymTask("chain_sum", test_size=20).split_hash() == base
    changed = (
        ReasoningGymTask("basic_arithmetic", test_size=20),
        ReasoningGymTask("chain_sum", dataset_kwargs={"max_terms": 3}, test_size=20),
        ReasoningGymTask("chain_sum", seed=1, test_size=20),
        ReasoningGymTask("chain_sum", test_size=21),
    )
    hashes = {task.split_hash() for task in changed}
    assert base not in hashes and len(hashes) == len(changed)


def test_check_env_passes_on_another_dataset():
    env = gym.make(ENV_ID, dataset="leg_counting", test_size=5)
    try:
        check_env(env.unwrapped)
    finally:
        env.close()


def _oracle_record(vec) -> list:
    record = [vec.reset(seed=7)[0]]
    for _ in range(4):
        obs, reward, terminated, truncated, _ = vec.step(tuple(vec.call("oracle_action")))
        record.append((obs, reward, terminated, truncated))
    return record


def test_sync_and_async_vector_envs_agree_on_another_dataset():
    kwargs = {"dataset": "spell_backward", "test_size": 5}
    # Same-step autoreset: every step has a running episode for the oracle to play.
    same_step = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    sync = gym.make_vec(ENV_ID, 2, vectorization_mode="sync", vector_kwargs=same_step, **kwargs)
    asyn = gym.make_vec(
        ENV_ID,
        2,
        vectorization_mode="async",
        vector_kwargs={**same_step, "shared_memory": False},
        **kwargs,
    )
    try:
        a, b = _oracle_record(sync), _oracle_record(asyn)
    finally:
        sync.close()
        asyn.close()
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    for (obs_a, *rest_a), (obs_b, *rest_b) in zip(a[1:], b[1:]):
        assert all(np.array_equal(x, y) for x, y in zip(obs_a, obs_b))
        assert all(np.array_equal(x, y) for x, y in zip(rest_a, rest_b))
    assert a[1][1].tolist() == [1.0, 1.0]  # the oracle answered on the first turn


def test_an_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="Did you mean 'chain_sum'") as error:
        gym.make(ENV_ID, dataset="chain_sun")
    assert "Valid names:" in str(error.value) and "leg_counting" in str(error.value)
    with pytest.raises(ValueError, match="unknown reasoning-gym dataset 'qqqqqq'\\. Valid"):
        ReasoningGymTask("qqqqqq")
    assert DEFAULT_DATASET in dataset_names() and "composite" not in dataset_names()


@pytest.mark.parametrize(
    "dataset, kwargs, error, match",
    [
        ("chain_sum", {"seed": 3}, ValueError, "may not set \\['seed'\\]"),
        ("chain_sum", {"size": 9}, ValueError, "may not set \\['size'\\]"),
        ("chain_sum", {"no_such_field": 1}, ValueError, "rejected dataset_kwargs"),
        ("chain_sum", {"min_terms": 9, "max_terms": 2}, ValueError, "rejected dataset_kwargs"),
        ("chain_sum", {"min_terms": object()}, TypeError, "JSON-serialisable"),
        ("graph_color", {}, ValueError, "no reference answer"),
        ("composite", {}, ValueError, "not supported"),
        (7, {}, TypeError, "dataset name"),
    ],
)
def test_bad_arguments_are_clear_errors(dataset, kwargs, error, match):
    with pytest.raises(error, match=match):
        ReasoningGymTask(dataset, dataset_kwargs=kwargs)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'textgym\[reasoning-gym\]'"):
        gym.make(ENV_ID)
    with pytest.raises(ImportError, match="reasoning-gym"):
        reasoning_gym_tasks.dataset_names()


def test_importing_textgym_does_not_import_reasoning_gym():
    code = "import sys, textgym, textgym.envs; sys.exit('reasoning_gym' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_garbage_actions_do_not_crash(env):
    base = env.unwrapped
    rng = np.random.default_rng(0)
    fragments = ("<request><Python>", "<call>", "<submit>", "<request><Nope>1<call>", "Result=")
    for episode in range(12):
        env.reset(seed=episode)
        done = False
        while not done:
            if rng.random() < 0.5:
                action = rng.integers(-3, base.vocab_size + 3, size=int(rng.integers(0, 40)))
            else:
                action = base.encode_turn("".join(rng.choice(fragments, size=3)))
            _, reward, terminated, truncated, _ = env.step(action)
            assert 0.0 <= reward <= 1.0
            done = terminated or truncated


def _without_reasoning_gym(monkeypatch):
    """This process as a core install would see it: reasoning_gym not importable."""
    real_find_spec = registration.importlib.util.find_spec
    monkeypatch.setattr(
        registration.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "reasoning_gym" else real_find_spec(name, *a),
    )
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)


def test_without_the_extra_the_leaderboard_skips_the_env_and_names_the_install(
    monkeypatch, tmp_path, capsys
):
    _without_reasoning_gym(monkeypatch)
    assert ENV_ID not in registration.env_ids(installed_only=True)
    assert "pip install 'textgym[reasoning-gym]'" in registration.missing_extra(ENV_ID)
    argv = ["leaderboard", "run", "--agents", "random", "--episodes", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "board")]) == 0
    out = capsys.readouterr()
    assert "skipping TextEnv-ReasoningGym-v0 needs the reasoning-gym extra" in out.err
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert ENV_ID not in [e["env"] for e in board["envs"]]
    # Asked for by name, it is refused in one line, as is making it.
    assert main([*argv, "--out", str(tmp_path / "b2"), "--envs", ENV_ID]) == 2
    assert "pip install 'textgym[reasoning-gym]'" in capsys.readouterr().err
    assert main(["eval", "--agent", "random", "--env", ENV_ID, "--episodes", "1"]) == 2
    assert "pip install 'textgym[reasoning-gym]'" in capsys.readouterr().err


# ---- the tool-using oracle (oracle_tool_rate) ------------------------------------------


def _tool_oracle_result(dataset: str, rate: float, episodes: int, **kwargs):
    env = gym.make(ENV_ID, dataset=dataset, oracle_tool_rate=rate, **kwargs)
    try:
        task = env.unwrapped.task
        result = textgym.evaluate(env, OracleAgent(env), episodes=episodes, progress=False)
    finally:
        env.close()
    return task, result


def test_the_tool_using_oracle_solves_the_whole_default_test_split():
    """At rate 1.0 every episode runs the item's program and submits what it printed: on
    all 200 default test items the program prints the reference itself (reasoning-gym
    floors its divisions and prints ints: ``-764495``, not ``-764495.0``)."""
    task, result = _tool_oracle_result(DEFAULT_DATASET, 1.0, 200)
    assert result.n == 200 and result.success_rate == 1.0 and result.mean_reward == 1.0
    assert result.tool_call_rate == 1.0 and result.mean_tool_calls == 1.0
    for episode in result.episodes:
        item = task.item("test", episode.index)
        (call,) = episode.tool_calls
        assert call["name"] == "Python" and call["ok"], call
        assert call["query"] == task.oracle_program(item)
        assert call["response"].strip() == item.answer  # read off the tool, not the fallback
        assert episode.answer is not None and item.answer in episode.answer


@pytest.mark.parametrize(
    "dataset", sorted(set(reasoning_gym_tasks.ORACLE_PROGRAMS) - {DEFAULT_DATASET})
)
def test_every_program_writer_solves_its_test_items(dataset):
    task, result = _tool_oracle_result(dataset, 1.0, 40)
    assert result.success_rate == 1.0 and result.tool_call_rate == 1.0
    for episode in result.episodes:
        assert episode.tool_calls[0]["response"].strip() == task.item("test", episode.index).answer


def test_oracle_tool_rate_mixes_programs_and_direct_answers():
    mixed = ReasoningGymTask(oracle_tool_rate=0.3)
    items = mixed.test_items()
    used = [mixed.oracle_uses_tool(item) for item in items]
    assert 0.2 <= sum(used) / len(used) <= 0.4
    assert used == [ReasoningGymTask(oracle_tool_rate=0.3).oracle_uses_tool(i) for i in items]
    direct = items[used.index(False)]
    assert mixed.oracle_turn(direct, ()) == f"Result={direct.answer}<submit>"
    program = items[used.index(True)]
    assert mixed.oracle_turn(program, ()).startswith("<request><Python>print(")

    task, result = _tool_oracle_result(DEFAULT_DATASET, 0.3, 40)
    assert result.success_rate == 1.0
    assert result.tool_call_rate == sum(used[:40]) / 40


def test_the_default_oracle_never_calls_the_tool_and_the_split_is_unchanged():
    default = ReasoningGymTask()
    assert default.oracle_tool_rate == 0.0
    item = default.item("test", 0)
    assert default.oracle_turn(item, ()) == f"Result={item.answer}<submit>"
    base_hash = default.split_hash()
    for rate in (0.3, 1.0):
        task = ReasoningGymTask(oracle_tool_rate=rate)
        assert task.split_hash() == base_hash and task.test_items() == default.test_items()
        assert "oracle_tool_rate" not in task.config()
    # A failed call falls back to the reference answer.
    task = ReasoningGymTask(oracle_tool_rate=1.0)
    failed = ToolCall("Python", "print(1)", "TimeoutError", ok=False, valid=True)
    assert task.oracle_turn(item, (failed,)) == f"Result={item.answer}<submit>"


@pytest.mark.parametrize("rate", [-0.1, 1.5, "half", True, None])
def test_reasoning_gym_oracle_tool_rate_is_validated(rate):
    with pytest.raises(ValueError, match="oracle_tool_rate must be a number in"):
        ReasoningGymTask(oracle_tool_rate=rate)


def test_a_tool_rate_needs_a_dataset_with_a_program_writer():
    with pytest.raises(ValueError, match="'leg_counting' has no program writer") as error:
        ReasoningGymTask("leg_counting", oracle_tool_rate=0.5)
    for name in reasoning_gym_tasks.ORACLE_PROGRAMS:
        assert name in str(error.value)
    with pytest.raises(ValueError, match="'spell_backward' has no program writer"):
        gym.make(ENV_ID, dataset="spell_backward", oracle_tool_rate=1.0)
    ReasoningGymTask("leg_counting", oracle_tool_rate=0.0)  # the default: fine anywhere
    # basic_arithmetic without parentheses: reasoning-gym's reference ignores precedence.
    with pytest.raises(ValueError, match="allow_parentheses=False"):
        ReasoningGymTask(dataset_kwargs={"allow_parentheses": False}, oracle_tool_rate=1.0)


def test_gym_make_passes_oracle_tool_rate_through():
    env = gym.make(ENV_ID, oracle_tool_rate=1.0, test_size=5)
    try:
        assert env.unwrapped.task.oracle_tool_rate == 1.0
        base = env.unwrapped
        env.reset(options={"split": "test", "index": 0})
        _, reward, terminated, _, info = env.step(base.oracle_action())
        assert not terminated and reward == 0.0
        assert info["tool_calls"][-1]["name"] == "Python" and info["tool_calls"][-1]["ok"]
        _, reward, terminated, _, info = env.step(base.oracle_action())
        assert terminated and reward == 1.0 and info["success"]
    finally:
        env.close()
