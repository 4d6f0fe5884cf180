"""The one answer reader: every task reads a final answer the same way."""

from __future__ import annotations

import gymnasium as gym
import pytest

import textgym  # noqa: F401 - registers the envs
from textgym.answers import read_answer


@pytest.mark.parametrize(
    "text, value",
    [
        ("Result=5", "5"),
        ("  result = 5 ", "5"),
        ("Answer: 5", "5"),
        ("ANSWER:5", "5"),
        ("5", "5"),
        ("Result=Result=5", "Result=5"),  # one prefix only
        ("Resultant=5", "Resultant=5"),
        ("", ""),
        (None, None),
    ],
)
def test_read_answer_takes_off_whitespace_and_one_prefix(text, value):
    assert read_answer(text) == value


@pytest.mark.parametrize(
    "env_id", ["TextEnv-Calculator-v0", "TextEnv-Python-v0", "TextEnv-WikiSearch-v0"]
)
@pytest.mark.parametrize("form", ["Result={}", "Answer: {}", "answer={}", " {} "])
def test_every_task_grades_the_same_answer_forms_alike(env_id, form):
    env = gym.make(env_id)
    task = env.unwrapped.task
    item = task.item("test", 3)
    assert task.score(item, form.format(item.answer)) == 1.0
    assert task.score(item, form.format("no such answer")) == 0.0
    env.close()
