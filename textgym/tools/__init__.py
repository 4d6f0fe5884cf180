"""Tools an environment can offer the agent."""

from textgym.tools.calculator import Calculator

__all__ = ["Calculator"]
