"""The public hooks subclasses use instead of private internals: extra final info, tasks
over a fixed list of problems, tools bound to the env's tokenizer, structured results."""

from __future__ import annotations

import pytest

from textgym import Task, TaskItem, TextEnv, Tool, ToolOutput, call_text, submit_text
from textgym.answers import read_answer


class Echo(Tool):
    name = "Echo"
    description = "echoes its input, with its length as data"

    def __init__(self):
        self.bound = None

    def bind(self, tokenizer, max_response_tokens):
        self.bound = (tokenizer, max_response_tokens)

    def __call__(self, query):
        return ToolOutput(query, {"length": len(query)})


class ListTask(Task):
    """A fixed list of problems: no generate(), the two draw hooks instead."""

    name = "list"
    problems = [(f"Say {w}", w) for w in ("ant", "bee", "cat", "dog", "eel", "fox")]

    def draw_test_items(self):
        return [TaskItem("test", i, q, a) for i, (q, a) in enumerate(self.problems[:2])]

    def draw_train_item(self, index):
        q, a = self.problems[2 + index % 4]
        return TaskItem("train", index, q, a)

    def score(self, item, answer):
        return float(read_answer(answer) == item.answer)

    def oracle_turn(self, item, calls):
        return submit_text(calls[-1].response) if calls else call_text("Echo", item.answer)


class CountingEnv(TextEnv):
    def episode_info(self, answer):
        return {"answer_chars": len(answer or "")}


def test_a_task_over_a_fixed_list_needs_no_generate():
    task = ListTask(test_size=2)
    assert [i.answer for i in task.test_items()] == ["ant", "bee"]
    assert task.item("train", 1).answer == "dog" and task.test_keys() == {"Say ant", "Say bee"}
    with pytest.raises(ValueError, match="non-negative"):
        task.item("train", -1)


def test_a_task_with_neither_generate_nor_the_draw_hooks_says_so():
    class Empty(Task):
        def score(self, item, answer):
            return 0.0

        def oracle_turn(self, item, calls):
            return ""

    with pytest.raises(NotImplementedError, match="generate"):
        Empty().test_items()


def test_tools_are_bound_the_extra_info_arrives_and_data_is_recorded():
    tool = Echo()
    env = CountingEnv(ListTask(test_size=2), [tool], max_response_tokens=40)
    assert tool.bound == (env.tokenizer, 40)
    env.reset(options={"split": "test", "index": 0})
    _, _, _, _, info = env.step(env.oracle_action())
    assert info["tool_calls"][0]["data"] == {"length": 3}
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert terminated and reward == 1.0
    assert info["answer_chars"] == len("Result=ant") and info["success"]
