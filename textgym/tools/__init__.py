"""Tools an environment can offer the agent."""

from textgym.tools.calculator import Calculator
from textgym.tools.python import PythonTool
from textgym.tools.sentiment import SentimentTool

__all__ = ["Calculator", "PythonTool", "SentimentTool"]
