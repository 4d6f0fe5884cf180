"""The PPO agent: generation, the value-head model, SFT, and training through the plain
Gymnasium API on an env that only follows the token-sequence contract."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from textgym import make_tokenizer, make_vec
from textgym.agents import (
    PPO,
    PPOConfig,
    SFTConfig,
    ValueHeadLM,
    oracle_demonstrations,
    sft,
    tiny_gpt2_config,
    tiny_llama_config,
)
from textgym.agents.generation import left_pad, sample_turns
from textgym.rollout import Episode

TOK = make_tokenizer()
V = len(TOK)


def tiny_policy(seed=0, n_positions=256):
    cfg = tiny_gpt2_config(V, n_layer=1, n_embd=32, n_head=2, n_positions=n_positions)
    return ValueHeadLM.from_config(cfg, seed=seed)


class MagicTokenEnv(gym.Env):
    """A third-party env written against the contract only (not a textgym.TextEnv): the
    agent is shown a few random bytes and earns 1 if its single turn contains 'A'."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.tokenizer = TOK
        self.stop_token_ids = (TOK.convert_tokens_to_ids("<submit>"), TOK.eos_token_id)
        self.max_turn_tokens = 4
        self.max_context = 64
        self.observation_space = gym.spaces.Sequence(gym.spaces.Discrete(V), stack=True)
        self.action_space = gym.spaces.Sequence(gym.spaces.Discrete(V), stack=True)
        self._target = ord("A") + 3

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._obs = self.np_random.integers(100, 120, size=4).astype(np.int64)
        return self._obs.copy(), {"agent_mask": np.zeros(self.max_context, bool)}

    def step(self, action):
        action = np.asarray(action, dtype=np.int64)[: self.max_turn_tokens]
        obs = np.concatenate([self._obs, action])
        mask = np.zeros(self.max_context, bool)
        mask[len(self._obs) : len(obs)] = True
        reward = float(self._target in action)
        return obs, reward, True, False, {"agent_mask": mask, "success": reward > 0}


gym.register("ThirdParty-Magic-v0", entry_point=MagicTokenEnv)


def test_generation_stops_each_row_at_its_own_stop_token():
    policy = tiny_policy()
    stops = (TOK.convert_tokens_to_ids("<call>"), TOK.convert_tokens_to_ids("<submit>"), 1)
    contexts = [np.arange(3, 3 + n) for n in (5, 9, 2, 7)]
    gen = torch.Generator().manual_seed(0)
    turns = sample_turns(
        policy, contexts, stop_token_ids=stops, max_new_tokens=40, pad_id=0, generator=gen
    )
    for turn in turns:
        assert 1 <= len(turn) <= 40
        is_stop = np.isin(turn, stops)
        assert not is_stop[:-1].any()  # nothing generated past a stop token
        assert is_stop[-1] or len(turn) == 40


def test_rollout_and_training_forward_score_tokens_identically():
    """TRL pitfalls: left-padded generation and the PPO forward disagreed on positions, and
    rollouts sampled in a different mode than training scored. Here the log-probs seen
    while sampling (KV cache, left padding, finished rows dropped) equal those the PPO
    update computes on each episode alone."""
    policy = tiny_policy(seed=1)
    contexts = [np.arange(3, 3 + n) for n in (3, 11, 6)]
    _, _, positions = left_pad(contexts, pad_id=0)
    assert positions[0].tolist()[-3:] == [0, 1, 2]
    gen = torch.Generator().manual_seed(1)
    sampled_logps: list[list[float]] = []
    stops = (TOK.convert_tokens_to_ids("<call>"), 1)
    turns = sample_turns(
        policy,
        contexts,
        stop_token_ids=stops,
        max_new_tokens=12,
        pad_id=0,
        generator=gen,
        logprobs_out=sampled_logps,
    )
    policy.train()  # the update must score in the same (dropout-free) mode regardless
    for context, turn, logps in zip(contexts, turns, sampled_logps):
        full = torch.as_tensor(np.concatenate([context, turn]))[None]
        logp, _, _ = policy.score_tokens(full, torch.ones_like(full))
        assert torch.allclose(logp[0, len(context) :], torch.tensor(logps), atol=1e-4)



def test_sampled_log_probs_are_of_the_tempered_distribution_sampled_from():
    """At temperature T the reported log-probs are log softmax(logits / T), the
    distribution the tokens were drawn from (an off-policy correction needs exactly that)."""
    policy = tiny_policy(seed=2)
    policy.eval()
    context = np.arange(3, 10)
    sampled: list[list[float]] = []
    (turn,) = sample_turns(
        policy, [context], stop_token_ids=(1,), max_new_tokens=8, pad_id=0,
        generator=torch.Generator().manual_seed(0), temperature=0.7, logprobs_out=sampled,
    )  # fmt: skip
    full = torch.as_tensor(np.concatenate([context, turn]))[None]
    with torch.no_grad():
        logits = policy.model(input_ids=full).logits.float()[0, len(context) - 1 : -1] / 0.7
    expected = torch.log_softmax(logits, -1).gather(1, torch.as_tensor(turn)[:, None])[:, 0]
    assert torch.allclose(torch.tensor(sampled[0]), expected, atol=1e-4)

def test_value_head_save_and_load_round_trip(tmp_path):
    policy = tiny_policy()
    with torch.no_grad():
        policy.v_head.weight.fill_(0.5)
        policy.v_head.bias.fill_(-0.25)
    policy.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "value_head.safetensors").exists()
    assert (tmp_path / "m" / "model.safetensors").exists()
    loaded = ValueHeadLM.from_pretrained(tmp_path / "m")
    x = torch.arange(3, 13)[None]
    a, b = policy(x)[:2], loaded(x)[:2]
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert float(b[1].detach().abs().sum()) > 0
    with pytest.raises(FileNotFoundError):
        ValueHeadLM.from_pretrained(tmp_path / "missing")


def test_reference_is_frozen():
    ref = tiny_policy().frozen_copy()
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training


def test_sft_learns_agent_tokens_only():
    env = gym.make("TextEnv-Calculator-v0")
    demos = oracle_demonstrations(env, 8, progress=False)
    policy = tiny_policy(n_positions=512)
    losses = sft(policy, demos, SFTConfig(steps=40, batch_size=8, demonstrations=8), progress=False)
    assert losses[-1] < losses[0] * 0.7
    # With no agent tokens there is nothing to learn: the loss is exactly zero.
    blind = [Episode(d.tokens, np.zeros_like(d.agent_mask), [0.0], False) for d in demos]
    assert sft(
        tiny_policy(n_positions=512),
        blind,
        SFTConfig(steps=2, batch_size=4, demonstrations=8),
        progress=False,
    ) == [0.0, 0.0]


def test_sft_linear_schedule_decays_the_step_to_zero():
    """Under ``lr_schedule="linear"`` the last of N steps moves the weights about 1/N as
    far as a constant-rate step does (Adam's steps scale with the rate)."""
    env = gym.make("TextEnv-Calculator-v0")
    demos = oracle_demonstrations(env, 8, progress=False)

    def last_step_size(schedule: str) -> float:
        policy = tiny_policy(n_positions=512)
        before = {}

        def callback(step: int, loss: float) -> None:
            if step == 9:
                before.update({n: p.detach().clone() for n, p in policy.named_parameters()})

        config = SFTConfig(steps=10, batch_size=4, demonstrations=8, lr_schedule=schedule)
        sft(policy, demos, config, progress=False, callback=callback)
        moved = [(p.detach() - before[n]).norm() for n, p in policy.named_parameters()]
        return float(torch.stack(moved).norm())

    assert last_step_size("linear") < 0.3 * last_step_size("constant")
    with pytest.raises(ValueError, match="lr_schedule must be"):
        SFTConfig(lr_schedule="cosine")


def magic_config() -> PPOConfig:
    """PPO settings for the learning checks on ThirdParty-Magic-v0 (also used by
    tests/test_seq2seq.py): no KL penalty, a large step."""
    return PPOConfig(
        episodes_per_iteration=32,
        mini_batch_size=16,
        learning_rate=3e-3,
        init_kl_coef=0.0,
        adaptive_kl=False,
        early_stopping=False,
        seed=0,
    )


def test_ppo_learns_on_a_third_party_env():
    """Only the contract: a Sequence(Discrete) env with tokenizer and stop_token_ids."""
    envs = gym.make_vec("ThirdParty-Magic-v0", num_envs=8, vectorization_mode="sync")
    ppo = PPO(envs, tiny_policy(seed=3), magic_config())
    rewards = [ppo.step()["env/reward_mean"] for _ in range(25)]
    envs.close()
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.3


def test_a_llama_policy_learns_and_round_trips(tmp_path):
    """The rotary-position architecture (``arch="llama"``) goes through the same PPO
    (generation with a KV cache, scoring, the update) and saves and loads exactly."""
    cfg = tiny_llama_config(V, n_layer=1, n_embd=32, n_head=2, n_positions=256)
    policy = ValueHeadLM.from_config(cfg, seed=3)
    assert type(policy.model).__name__ == "LlamaForCausalLM"
    envs = gym.make_vec("ThirdParty-Magic-v0", num_envs=8, vectorization_mode="sync")
    ppo = PPO(envs, policy, magic_config())
    rewards = [ppo.step()["env/reward_mean"] for _ in range(25)]
    envs.close()
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.3
    policy.save_pretrained(tmp_path / "llama")
    loaded = ValueHeadLM.from_pretrained(tmp_path / "llama")
    x = torch.arange(3, 13)[None]
    with torch.no_grad():
        a, b = policy(x)[:2], loaded(x)[:2]
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert torch.allclose(a[0], b[0], atol=1e-6) and torch.allclose(a[1], b[1], atol=1e-6)


class NoRewardEnv(MagicTokenEnv):
    """MagicTokenEnv that never pays: every episode's return is the same."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, 0.0, terminated, truncated, {**info, "success": False}


gym.register("ThirdParty-NoReward-v0", entry_point=NoRewardEnv)


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_kl_penalty_in_the_loss_pulls_the_policy_back_to_the_reference(beta):
    """kl_penalty="loss": the return is the env reward alone, and the loss carries beta
    times the per-token mean KL. With equal rewards RLOO's advantages are 0, so the KL
    term is the only gradient: it must pull a perturbed policy back toward the reference
    (beta 1), and nothing must move it at beta 0."""
    envs = gym.make_vec("ThirdParty-NoReward-v0", num_envs=8, vectorization_mode="sync")
    config = PPOConfig(
        episodes_per_iteration=16,
        mini_batch_size=8,
        learning_rate=3e-3,
        advantage="rloo",
        group_size=4,
        advantage_norm="scale",
        kl_penalty="loss",
        kl_estimator="k3",
        init_kl_coef=beta,
        adaptive_kl=False,
        early_stopping=False,
        max_new_tokens=4,
    )
    ppo = PPO(envs, tiny_policy(seed=5), config)
    with torch.no_grad():  # the policy leaves its reference (a frozen copy made above)
        generator = torch.Generator().manual_seed(0)
        for p in ppo.policy.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=generator))
    probe = torch.randint(100, 120, (16, 8), generator=generator)

    def drift() -> float:  # how far the policy's log-probs are from the reference's
        with torch.no_grad():
            ones = torch.ones_like(probe)
            logp = ppo.policy.score_tokens(probe, ones)[0]
            ref = ppo.ref.score_tokens(probe, ones)[0]
        return float((logp - ref)[:, 1:].pow(2).mean())

    before = drift()
    stats = [ppo.step() for _ in range(8)]
    envs.close()
    assert all(s["ppo/mean_non_score_reward"] == 0.0 for s in stats)  # not in the return
    assert stats[0]["ppo/loss/kl"] > 0.1
    if beta:
        assert drift() < 0.5 * before
    else:
        assert drift() == pytest.approx(before)


def test_ppo_stats_have_trl_names_and_are_finite():
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=4, vectorization_mode="sync")
    ppo = PPO(
        envs,
        tiny_policy(n_positions=512),
        PPOConfig(episodes_per_iteration=6, mini_batch_size=4, max_new_tokens=8),
    )
    stats = ppo.step()
    envs.close()
    for key in (
        "objective/kl",
        "objective/kl_coef",
        "ppo/policy/clipfrac",
        "env/reward_mean",
        "ppo/loss/policy",
        "ppo/loss/value",
        "ppo/val/vpred",
        "time/ppo/total",
    ):
        assert key in stats and np.isfinite(stats[key]), key
    # 6 episodes in minibatches of 4: the partial minibatch of 2 is used, not dropped.
    assert stats["ppo/epochs_done"] >= 1


def test_ppo_is_deterministic_for_a_seed():
    def run(seed, mode="sync", reuse=True):
        envs = make_vec("TextEnv-Calculator-v0", 2, mode)
        ppo = PPO(
            envs,
            tiny_policy(n_positions=512),
            PPOConfig(
                episodes_per_iteration=4,
                mini_batch_size=2,
                max_new_tokens=8,
                seed=seed,
                reuse_kv_cache=reuse,
            ),
        )
        out = [ppo.step() for _ in range(2)]
        envs.close()
        return [{k: v for k, v in s.items() if not k.startswith("time/")} for s in out]

    assert run(0) == run(0)
    assert run(0) != run(1)
    # The threaded vector env (tool calls overlap) trains exactly as the sync one.
    assert run(0, "threaded") == run(0)


def test_ppo_rejects_a_policy_with_too_small_a_vocabulary():
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=1, vectorization_mode="sync")
    small = ValueHeadLM.from_config(tiny_gpt2_config(100, n_layer=1, n_embd=16, n_head=2))
    with pytest.raises(ValueError, match="resize_token_embeddings"):
        PPO(envs, small)
    with pytest.raises(TypeError, match="make_vec"):
        PPO(gym.make("TextEnv-Calculator-v0"), tiny_policy())
    envs.close()


def test_config_validation():
    with pytest.raises(ValueError, match="mini_batch_size"):
        PPOConfig(mini_batch_size=0)
    with pytest.raises(ValueError, match="kl_estimator"):
        PPOConfig(kl_estimator="k2")
    with pytest.raises(ValueError, match="kl_penalty must be"):
        PPOConfig(kl_penalty="both")
    with pytest.raises(ValueError, match="unknown"):
        PPOConfig.from_dict({"learning_rate": 1e-4, "lr": 3})
    with pytest.raises(ValueError, match="model_size must be one of"):
        SFTConfig(model_size="huge")


@pytest.mark.parametrize("arch", ["causal", "llama", "seq2seq"])
def test_model_sizes_build_the_named_depth_and_width(arch):
    from textgym.agents.model_sizes import MODEL_SIZES
    from textgym.agents.train import make_policy

    env = gym.make("TextEnv-Calculator-v0")
    for size, dims in MODEL_SIZES.items():
        config = make_policy(env, arch=arch, size=size).model.config
        assert config.num_hidden_layers == dims["layers"]
        assert config.hidden_size == dims["width"]
    with pytest.raises(ValueError, match="size must be one of"):
        make_policy(env, size="huge")


def test_scoring_in_length_chunks_matches_one_padded_pass():
    """score_batch cuts each chunk to its own longest episode; on every real token it must
    give what one pass over the whole right-padded batch gives."""
    from textgym.agents.rollouts import Batch, score_batch

    policy = tiny_policy(seed=2)
    rng = np.random.default_rng(0)
    records = []
    for n in (5, 40, 12, 33, 7, 21, 9):
        tokens = rng.integers(3, 250, size=n)
        mask = np.zeros(n, bool)
        mask[n // 2 :] = True
        records.append(Episode(tokens, mask, [1.0], True))
    batch = Batch.from_episodes(records, pad_id=0)
    with torch.no_grad():
        full = policy.score_tokens(batch.ids, batch.attention, with_entropy=True)
        chunked = score_batch(policy, batch, chunk=3, with_entropy=True)
    real = batch.attention.bool()
    for a, b in zip(full, chunked):
        assert torch.allclose(a.float()[real], b[real], atol=1e-5)
