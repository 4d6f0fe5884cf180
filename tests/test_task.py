import subprocess
import sys

import pytest

from textgym.envs.calculator import CalculatorTask, parse_number


def test_items_are_reproducible_by_index():
    a, b = CalculatorTask(level=1), CalculatorTask(level=1)
    indices = (0, 7, 10**9)
    assert [a.item("train", i) for i in indices] == [b.item("train", i) for i in indices]
    assert a.item("test", 3) == b.item("test", 3)


def test_items_are_stable_across_processes():
    code = (
        "from textgym.envs.calculator import CalculatorTask;"
        "t=CalculatorTask(level=2);print(t.item('train',5).question, t.split_hash())"
    )
    out = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": str(s), "PATH": ""},
        ).stdout
        for s in (1, 2)
    }
    assert len(out) == 1 and "What is" in out.pop()


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_train_and_test_splits_never_share_a_problem(level):
    task = CalculatorTask(level=level)
    test = {item.question for item in task.test_items()}
    assert len(test) == task.test_size  # distinct within the split too
    train = {task.item("train", i).question for i in range(3000)}
    assert not (train & test)


def test_level_zero_is_trls_task():
    task = CalculatorTask(level=0)
    for item in task.test_items():
        a, op, b = (
            item.data["expression"].partition("+")
            if "+" in item.data["expression"]
            else (None, None, None)
        )
        if a is not None:
            assert 0 <= int(a) < 50 and 0 <= int(b) < 50


def test_seed_and_level_change_the_dataset():
    assert CalculatorTask(seed=0).split_hash() != CalculatorTask(seed=1).split_hash()
    assert CalculatorTask(level=0).split_hash() != CalculatorTask(level=1).split_hash()
    assert CalculatorTask(seed=0).split_hash() == CalculatorTask(seed=0).split_hash()


def test_higher_levels_have_big_numbers():
    items = CalculatorTask(level=3).test_items()
    assert max(abs(int(i.answer)) for i in items) > 10**10


def test_score_is_strict_and_numeric():
    task = CalculatorTask()
    item = task.item("test", 0)
    ans = item.answer
    assert task.score(item, f"Result={ans}") == 1.0
    assert task.score(item, f" {ans}. ") == 1.0
    assert task.score(item, f"Result={ans}.0000001") == 1.0  # within 1e-6 relative
    assert task.score(item, f"Result={int(ans) + 1}") == 0.0
    assert task.score(item, f"1 2 3 {ans}") == 0.0  # guesses do not match by accident
    assert task.score(item, "") == 0.0 and task.score(item, None) == 0.0


def test_parse_number():
    assert parse_number("Result=1,234,567") == 1234567
    assert parse_number("answer: -2.5") == -2.5
    assert parse_number("12abc") is None and parse_number("1e5") is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        CalculatorTask(level=9)
    with pytest.raises(ValueError, match="test_size"):
        CalculatorTask(test_size=0)
    task = CalculatorTask(test_size=5)
    with pytest.raises(IndexError):
        task.item("test", 5)
    with pytest.raises(ValueError, match="split"):
        task.item("valid", 0)
