"""textgym: tool use by language models as ordinary Gymnasium environments.

``import textgym`` registers every environment, so ``gym.make("TextEnv-Calculator-v0")``
works; see ``textgym.registration.ENVS`` for the list.
"""

from textgym.chat_format import TOOL_FORMATS, ChatToolCallFormat, make_call_format
from textgym.env import TextEnv, ToolStats
from textgym.multiagent import MULTIAGENT_ENVS, make_multiagent, multiagent_ids
from textgym.protocol import ParsedTurn, ToolCallFormat, TurnKind, call_text, submit_text
from textgym.registration import ENVS, env_ids, register_envs
from textgym.rollout import Agent, Episode, EvalResult, evaluate, run_episode
from textgym.task import SPLITS, Task, TaskItem, ToolCall
from textgym.tokenizer import MARKERS, decode, encode_agent_text, encode_text, make_tokenizer
from textgym.tool import Tool, ToolError, ToolOutput, ToolResult
from textgym.vector import ThreadedVectorEnv, VectorEnvWorkerDied, make_vec

__version__ = "0.1.0"

__all__ = [
    "MULTIAGENT_ENVS",
    "make_multiagent",
    "multiagent_ids",
    "Agent",
    "Episode",
    "EvalResult",
    "evaluate",
    "run_episode",
    "ENVS",
    "MARKERS",
    "TOOL_FORMATS",
    "ChatToolCallFormat",
    "SPLITS",
    "ParsedTurn",
    "Task",
    "TaskItem",
    "TextEnv",
    "Tool",
    "ToolCall",
    "ToolCallFormat",
    "ToolError",
    "ToolOutput",
    "ToolResult",
    "ToolStats",
    "TurnKind",
    "call_text",
    "decode",
    "encode_agent_text",
    "encode_text",
    "env_ids",
    "make_call_format",
    "make_tokenizer",
    "register_envs",
    "submit_text",
    "ThreadedVectorEnv",
    "VectorEnvWorkerDied",
    "make_vec",
    "__version__",
]

register_envs()
