"""Shared-prefix computation is exact: scoring, gradients, generation and a whole PPO
update give what the plain per-row path gives, for GPT-2 and for a Llama-architecture
model, including rows that share nothing, a batch of one and a whole-prompt group."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from transformers import LlamaConfig

from textgym import make_tokenizer
from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config
from textgym.agents.generation import sample_turns
from textgym.agents.kv_reuse import shared_prefix_length
from textgym.agents.padding import length_groups, right_pad
from textgym.agents.ppo_math import minibatch_order
from textgym.agents.rollouts import EpisodeRecord, collect_episodes

TOK = make_tokenizer()
V = len(TOK)
STOPS = (TOK.convert_tokens_to_ids("<call>"), TOK.convert_tokens_to_ids("<submit>"), 1)


def gpt2(seed=0):
    cfg = tiny_gpt2_config(V, n_layer=2, n_embd=32, n_head=2, n_positions=512)
    return ValueHeadLM.from_config(cfg, seed=seed)


def llama(seed=0):
    cfg = LlamaConfig(
        vocab_size=V,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=1,
    )
    return ValueHeadLM.from_config(cfg, seed=seed)


MODELS = {"gpt2": gpt2, "llama": llama}


def _with_live_value_head(model: ValueHeadLM) -> ValueHeadLM:
    # The head starts at zero; give it weights so values and their gradients are tested.
    torch.nn.init.normal_(model.v_head.weight, std=0.5, generator=torch.Generator().manual_seed(1))
    return model


def _batch(rows: list[np.ndarray]):
    ids, attention = right_pad(rows, 0)
    return ids, attention


def _rows(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    system = rng.integers(3, 250, size=24)
    if kind == "system prompt":  # rows share the system prompt, then differ
        return [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (7, 15, 1, 11)]
    if kind == "whole-prompt group":  # episodes of one item: the question is shared too
        prompt = np.concatenate([system, rng.integers(3, 250, size=9)])
        return [np.concatenate([prompt, rng.integers(3, 250, size=n)]) for n in (4, 12, 6)]
    if kind == "one row shares nothing":
        rows = [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (5, 9)]
        return [*rows, rng.integers(3, 250, size=20)]
    if kind == "a prefix of another row":  # row 0 is all prefix: it keeps one token
        long = np.concatenate([system, rng.integers(3, 250, size=10)])
        return [system.copy(), long]
    if kind == "batch of one":
        return [np.concatenate([system, rng.integers(3, 250, size=6)])]
    raise AssertionError(kind)


KINDS = [
    "system prompt",
    "whole-prompt group",
    "one row shares nothing",
    "a prefix of another row",
    "batch of one",
]


def test_the_shared_prefix_is_found_from_the_ids_alone():
    rng = np.random.default_rng(0)
    lengths = {}
    for kind in KINDS:
        ids, attention = _batch(_rows(kind, rng))
        lengths[kind] = shared_prefix_length(ids, attention.sum(1))
    assert lengths["system prompt"] >= 24
    assert lengths["whole-prompt group"] >= 33
    assert lengths["one row shares nothing"] == 0 or lengths["one row shares nothing"] < 3
    assert lengths["a prefix of another row"] == 23  # the short row keeps its last token
    assert lengths["batch of one"] == 0


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_shared_prefix_scores_and_gradients_match_the_plain_pass(arch, kind):
    model = _with_live_value_head(MODELS[arch](seed=3))
    ids, attention = _batch(_rows(kind, np.random.default_rng(7)))
    real = attention.bool()
    results = []
    for share in (False, True):
        model.zero_grad(set_to_none=True)
        logp, values, entropy = model.score_tokens(
            ids, attention, with_entropy=True, share_prefix=share
        )
        # A loss that reads every real position, as the PPO and value losses together do.
        weights = torch.linspace(0.5, 1.5, ids.shape[1])[None] * real
        ((logp + values + 0.1 * entropy) * weights).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((logp.detach(), values.detach(), entropy.detach(), grads))
    (lp0, v0, e0, g0), (lp1, v1, e1, g1) = results
    assert torch.allclose(lp0[real], lp1[real], atol=1e-5)
    assert torch.allclose(v0[real], v1[real], atol=1e-5)
    assert torch.allclose(e0[real], e1[real], atol=1e-5)
    assert g0.keys() == g1.keys() and len(g0) > 4
    for name in g0:
        rel = (g0[name] - g1[name]).norm() / g0[name].norm().clamp(min=1e-12)
        assert rel < 1e-4, (name, float(rel))


def test_entropy_without_gradient_is_the_same_number():
    model = gpt2(seed=1)
    ids, attention = _batch(_rows("system prompt", np.random.default_rng(2)))
    _, _, with_grad = model.score_tokens(ids, attention, with_entropy=True)
    _, _, without = model.score_tokens(ids, attention, with_entropy=True, entropy_grad=False)
    assert not without.requires_grad
    assert torch.allclose(with_grad.detach(), without)


@pytest.mark.parametrize("arch", MODELS)
def test_shared_prefix_generation_is_identical(arch):
    """Greedy turns are the same tokens with and without the broadcast prompt, and their
    log-probs agree; per-row caches built from it serve the next turn as before."""
    model = MODELS[arch](seed=5)
    rng = np.random.default_rng(4)
    system = rng.integers(3, 250, size=30)
    contexts = [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (3, 11, 6, 8)]
    responses = [rng.integers(3, 250, size=4) for _ in contexts]  # the "tool" replies
    runs = []
    for share in (False, True):
        logps: list[list[float]] = []
        caches = [None] * len(contexts)
        first = sample_turns(
            model,
            contexts,
            stop_token_ids=STOPS,
            max_new_tokens=12,
            pad_id=0,
            temperature=0.0,
            logprobs_out=logps,
            row_caches=caches,
            share_prefix=share,
        )
        second_contexts = [np.concatenate([c, t, r]) for c, t, r in zip(contexts, first, responses)]
        second = sample_turns(
            model,
            second_contexts,
            stop_token_ids=STOPS,
            max_new_tokens=12,
            pad_id=0,
            temperature=0.0,
            row_caches=caches,
            share_prefix=share,
        )
        runs.append((first, logps, second))
    (f0, lp0, s0), (f1, lp1, s1) = runs
    assert all(np.array_equal(a, b) for a, b in zip(f0, f1))
    assert all(np.array_equal(a, b) for a, b in zip(s0, s1))
    for a, b in zip(lp0, lp1):
        assert np.allclose(a, b, atol=1e-5)


def test_shared_prefix_rollouts_give_the_same_greedy_episodes():
    model = gpt2(seed=6)
    vec = gym.make_vec("TextEnv-Calculator-v0", num_envs=4)
    runs = [
        collect_episodes(
            vec,
            model,
            8,
            seed=3,
            generator=torch.Generator().manual_seed(0),
            max_new_tokens=24,
            temperature=0.0,
            share_prefix=share,
        )
        for share in (False, True)
    ]
    vec.close()
    for a, b in zip(*runs):
        assert np.array_equal(a.tokens, b.tokens)
        assert np.array_equal(a.agent_mask, b.agent_mask)
        assert a.reward == b.reward


def _records(rng: np.random.Generator) -> list[EpisodeRecord]:
    system = rng.integers(3, 250, size=40)
    out = []
    for i, n in enumerate((6, 14, 9, 21, 4, 17, 11, 8)):
        tokens = np.concatenate([system, rng.integers(3, 250, size=n)])
        mask = np.zeros(len(tokens), bool)
        mask[len(system) + 2 :] = True
        out.append(EpisodeRecord(tokens, mask, float(i % 2), bool(i % 2), False, len(system)))
    return out


@pytest.mark.parametrize("arch", MODELS)
def test_a_ppo_update_with_the_shared_prefix_matches_the_plain_one(arch):
    """PPO.learn on one batch of episodes: the same stats and, after every epoch of
    minibatch steps, the same weights."""
    trained = []
    for share in (False, True):
        vec = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
        policy = _with_live_value_head(MODELS[arch](seed=2))
        config = PPOConfig(
            episodes_per_iteration=8, mini_batch_size=4, share_prefix=share, early_stopping=False
        )
        ppo = PPO(vec, policy, config)
        stats = ppo.learn(_records(np.random.default_rng(9)))
        vec.close()
        trained.append((stats, dict(policy.named_parameters())))
    (s0, p0), (s1, p1) = trained
    for key in ("ppo/loss/total", "ppo/policy/approxkl", "ppo/val/error", "objective/kl"):
        assert s0[key] == pytest.approx(s1[key], rel=1e-4, abs=1e-6), key
    for name in p0:
        assert torch.allclose(p0[name], p1[name], atol=1e-5), name


def test_minibatches_group_similar_lengths_in_a_seeded_order():
    lengths = torch.tensor([50, 10, 48, 12, 30, 11, 49, 31, 29, 13, 47, 28])
    order = minibatch_order(lengths, 4, torch.Generator().manual_seed(0), True)
    assert sorted(torch.cat(order).tolist()) == list(range(12))  # each episode once
    for members in order:
        spread = lengths[members].max() - lengths[members].min()
        assert spread <= 3  # three groups of four: ~10, ~30, ~50 tokens
    again = minibatch_order(lengths, 4, torch.Generator().manual_seed(0), True)
    assert all(torch.equal(a, b) for a, b in zip(order, again))
    orders = {
        tuple(
            int(m[0]) for m in minibatch_order(lengths, 4, torch.Generator().manual_seed(s), True)
        )
        for s in range(8)
    }
    assert len(orders) > 1  # the generator draws the order of the minibatches
    plain = minibatch_order(lengths, 5, torch.Generator().manual_seed(0), False)
    assert [len(m) for m in plain] == [5, 5, 2]  # the last, partial one is kept


def test_rows_of_very_different_lengths_run_in_groups_with_the_same_numbers():
    """split_by_length pads each group of rows to its own longest: same scores and
    gradients as one pass padded to the longest row."""
    lengths = [30, 31, 29, 200, 33, 190]
    groups = length_groups(lengths, 64)
    assert len(groups) == 2 and sorted(groups[1]) == [3, 5]  # the two long rows together
    assert length_groups([30] * 6, 64) == [[0, 1, 2, 3, 4, 5]]  # nothing to gain: one pass
    model = _with_live_value_head(gpt2(seed=4))
    rng = np.random.default_rng(5)
    system = rng.integers(3, 250, size=12)
    rows = [np.concatenate([system, rng.integers(3, 250, size=n - 12)]) for n in lengths]
    ids, attention = _batch(rows)
    real = attention.bool()
    results = []
    for split in (False, True):
        model.zero_grad(set_to_none=True)
        logp, values, entropy = model.score_tokens(
            ids, attention, with_entropy=True, split_by_length=split
        )
        ((logp + values + entropy) * real).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results.append((logp.detach(), values.detach(), entropy.detach(), grads))
    (lp0, v0, e0, g0), (lp1, v1, e1, g1) = results
    for a, b in ((lp0, lp1), (v0, v1), (e0, e1)):
        assert torch.allclose(a[real], b[real], atol=1e-5)
    for name in g0:
        rel = (g0[name] - g1[name]).norm() / g0[name].norm().clamp(min=1e-12)
        assert rel < 1e-4, name
