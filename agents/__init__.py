"""The standalone agents (installed as ``textgym.agents``).

They see envs only through the Gymnasium API and ``textgym``'s public core; they never
import ``textgym.envs`` (a test enforces this), so they work on third-party envs too.
"""

from textgym.agents.oracle import OracleAgent
from textgym.agents.random_agent import RandomAgent

__all__ = ["OracleAgent", "RandomAgent"]
