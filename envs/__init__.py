"""The concrete textgym environments (installed as ``textgym.envs``)."""

from textgym.envs.calculator import CalculatorEnv, CalculatorTask

__all__ = ["CalculatorEnv", "CalculatorTask"]
