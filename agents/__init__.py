"""The standalone agents (installed as ``textgym.agents``).

They see envs only through the Gymnasium API and ``textgym``'s public core; they never
import ``textgym.envs`` (a test enforces this), so they work on third-party envs too.
"""

from textgym.agents.hf_agent import HFAgent
from textgym.agents.model_paths import resolve_model_dir, resolve_tokenizer_dir
from textgym.agents.oracle import OracleAgent
from textgym.agents.policy_agent import PolicyAgent
from textgym.agents.ppo import PPO, STAT_DOCS
from textgym.agents.ppo_config import PPOConfig
from textgym.agents.random_agent import RandomAgent
from textgym.agents.reward_model import (
    LearnedReward,
    RewardConfig,
    RewardModel,
    RewardModelScorer,
    preference_pairs,
)
from textgym.agents.seq2seq_value_head import Seq2SeqValueHeadLM, tiny_t5_config
from textgym.agents.sft import SFTConfig, oracle_demonstrations, sft
from textgym.agents.text_agent import TextFunctionAgent
from textgym.agents.value_head import ValueHeadLM, tiny_gpt2_config, tiny_llama_config

__all__ = [
    "PPO",
    "PPOConfig",
    "STAT_DOCS",
    "HFAgent",
    "OracleAgent",
    "PolicyAgent",
    "RandomAgent",
    "LearnedReward",
    "RewardConfig",
    "RewardModel",
    "RewardModelScorer",
    "preference_pairs",
    "resolve_model_dir",
    "resolve_tokenizer_dir",
    "SFTConfig",
    "Seq2SeqValueHeadLM",
    "TextFunctionAgent",
    "ValueHeadLM",
    "oracle_demonstrations",
    "sft",
    "tiny_gpt2_config",
    "tiny_llama_config",
    "tiny_t5_config",
]
