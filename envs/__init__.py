"""The concrete textgym environments (installed as ``textgym.envs``)."""

from textgym.envs.calculator import CalculatorEnv, CalculatorTask
from textgym.envs.python import PythonEnv
from textgym.envs.python_tasks import PythonTask
from textgym.envs.reasoning_gym import ReasoningGymEnv
from textgym.envs.reasoning_gym_tasks import ReasoningGymTask
from textgym.envs.sentiment import SentimentEnv, SentimentTask
from textgym.envs.wiki import WikiSearchEnv, WikiSearchTask

__all__ = [
    "CalculatorEnv",
    "CalculatorTask",
    "PythonEnv",
    "PythonTask",
    "ReasoningGymEnv",
    "ReasoningGymTask",
    "SentimentEnv",
    "SentimentTask",
    "WikiSearchEnv",
    "WikiSearchTask",
]
