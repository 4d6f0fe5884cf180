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
from textgym.agents.rollouts import Batch, collect_episodes, score_batch
from textgym.rollout import Episode

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


SYSTEM = 40  # system-prompt tokens: long enough that sharing pays (CALL_COST_TOKENS)


def _rows(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    system = rng.integers(3, 250, size=SYSTEM)
    if kind == "system prompt":  # rows share the system prompt, then differ
        return [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (7, 15, 1, 11)]
    if kind == "whole-prompt group":  # episodes of one item: the question is shared too
        prompt = np.concatenate([system, rng.integers(3, 250, size=9)])
        return [np.concatenate([prompt, rng.integers(3, 250, size=n)]) for n in (4, 12, 6)]
    if kind == "one row shares nothing":
        rows = [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (5, 9)]
        return [*rows, rng.integers(3, 250, size=20)]
    if kind == "a prefix of another row":  # row 0 is all prefix: it keeps one token
        longer = [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (10, 4)]
        return [system.copy(), *longer]
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


def test_the_shared_prefix_is_found_from_the_ids_and_the_mask():
    rng = np.random.default_rng(0)
    found = {}
    for kind in KINDS:
        ids, attention = _batch(_rows(kind, rng))
        found[kind] = shared_prefix_length(ids, attention)
    assert found == {
        "system prompt": SYSTEM,
        "whole-prompt group": SYSTEM + 9,
        "one row shares nothing": 0,
        "a prefix of another row": SYSTEM - 1,  # the short row keeps its last token
        "batch of one": 0,
    }
    ids, attention = _batch(_rows("system prompt", rng))
    attention[2, 25] = 0  # a hole inside the shared ids: the prefix stops before it
    assert shared_prefix_length(ids, attention) == 25
    # A shared BOS alone saves less than a forward call costs: not worth sharing.
    bos = torch.tensor([[1, 5, 6], [1, 7, 8], [1, 9, 9]])
    assert shared_prefix_length(bos, torch.ones_like(bos)) == 0
    assert shared_prefix_length(bos, torch.ones_like(bos), min_saving=1) == 1


def _scores_and_gradients(model, ids, attention, options):
    model.zero_grad(set_to_none=True)
    logp, values, entropy = model.score_tokens(ids, attention, with_entropy=True, **options)
    # A loss that reads every real position, as the PPO and value losses together do.
    weights = torch.linspace(0.5, 1.5, ids.shape[1])[None] * attention.bool()
    ((logp + values + 0.1 * entropy) * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return (logp.detach(), values.detach(), entropy.detach()), grads


def _assert_same_scores_and_gradients(model, ids, attention, plain, fast):
    """Log-probs, values and entropies within 1e-5 on every real position, and every
    parameter gradient within 1e-4 relative, between the ``plain`` and ``fast`` options."""
    real = attention.bool()
    scores0, g0 = _scores_and_gradients(model, ids, attention, plain)
    scores1, g1 = _scores_and_gradients(model, ids, attention, fast)
    for a, b in zip(scores0, scores1):
        assert torch.allclose(a[real], b[real], atol=1e-5)
    assert g0.keys() == g1.keys() and len(g0) > 4
    for name in g0:
        rel = (g0[name] - g1[name]).norm() / g0[name].norm().clamp(min=1e-12)
        assert rel < 1e-4, (name, float(rel))


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_shared_prefix_scores_and_gradients_match_the_plain_pass(arch, kind):
    model = _with_live_value_head(MODELS[arch](seed=3))
    ids, attention = _batch(_rows(kind, np.random.default_rng(7)))
    _assert_same_scores_and_gradients(model, ids, attention, {"share_prefix": False}, {})


@pytest.mark.parametrize("arch", MODELS)
def test_a_hole_in_the_mask_inside_the_prefix_gives_the_plain_numbers(arch):
    model = _with_live_value_head(MODELS[arch](seed=3))
    ids, attention = _batch(_rows("system prompt", np.random.default_rng(7)))
    attention[1, 30] = 0  # e.g. a masked-out token: row 1 must not attend to it
    real = attention.bool()
    plain = model.score_tokens(ids, attention, share_prefix=False, split_by_length=False)
    shared = model.score_tokens(ids, attention)
    for a, b in zip(plain[:2], shared[:2]):
        assert torch.allclose(a[real], b[real], atol=1e-5)


def test_score_batch_matches_one_plain_pass_over_every_episode():
    """The whole scoring path as PPO runs it (chunks of similar length, each split into
    groups, each group's own shared prefix: here two questions after one system prompt)
    against one padded pass with every speed-up off."""
    rng = np.random.default_rng(11)
    system = rng.integers(3, 250, size=SYSTEM)
    questions = [rng.integers(3, 250, size=12) for _ in range(2)]
    records = []
    for i, n in enumerate((3, 90, 5, 7, 120, 4, 6, 2, 60)):
        tokens = np.concatenate([system, questions[i % 2], rng.integers(3, 250, size=n)])
        mask = np.zeros(len(tokens), bool)
        mask[SYSTEM + 12 :] = True
        records.append(Episode(tokens, mask, [0.0], False, prompt_len=SYSTEM + 12))
    batch = Batch.from_episodes(records, pad_id=0)
    model = _with_live_value_head(llama(seed=8))
    real = batch.attention.bool()
    with torch.no_grad():
        plain = model.score_tokens(
            batch.ids, batch.attention, with_entropy=True, share_prefix=False, split_by_length=False
        )
        fast = score_batch(model, batch, chunk=5, with_entropy=True)
    for a, b in zip(plain, fast):
        assert torch.allclose(a.float()[real], b[real], atol=1e-5)


def test_entropy_without_gradient_is_the_same_number():
    model = gpt2(seed=1)
    ids, attention = _batch(_rows("system prompt", np.random.default_rng(2)))
    _, _, with_grad = model.score_tokens(ids, attention, with_entropy=True)
    _, _, without = model.score_tokens(ids, attention, with_entropy=True, entropy_grad=False)
    assert not without.requires_grad
    assert torch.allclose(with_grad.detach(), without)


@pytest.mark.parametrize("groups", [False, True], ids=["one-item-each", "groups-of-items"])
@pytest.mark.parametrize("arch", MODELS)
def test_shared_prefix_generation_is_identical(arch, groups):
    """Greedy turns are the same tokens with and without the broadcast prompt, and their
    log-probs agree; per-row caches built from it serve the next turn as before. With
    groups of episodes of one item, each distinct prompt is prefilled once."""
    model = MODELS[arch](seed=5)
    rng = np.random.default_rng(4)
    system = rng.integers(3, 250, size=30)
    contexts = [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (3, 11, 6, 8)]
    if groups:
        contexts = [contexts[i] for i in (0, 0, 1, 2, 1, 0)]
    responses = [rng.integers(3, 250, size=4) for _ in contexts]  # the "tool" replies
    runs, prefill_rows = [], []
    forward = model.forward

    def counting_forward(ids, **kwargs):
        if not prefill_rows or len(prefill_rows) == 1 and kwargs.get("past_key_values"):
            prefill_rows.append(int(sum(1 for row in ids if len(row) > 1)))
        return forward(ids, **kwargs)

    for share in (False, True):
        logps: list[list[float]] = []
        caches = [None] * len(contexts)
        prefill_rows.clear()
        if share and groups and arch == "causal":
            model.forward = counting_forward
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
        model.forward = forward
        runs.append((first, logps, second))
    if groups and arch == "causal":
        # The system prompt once, then one row per distinct question, not per episode.
        assert prefill_rows == [1, 3]
    (f0, lp0, s0), (f1, lp1, s1) = runs
    assert all(np.array_equal(a, b) for a, b in zip(f0, f1))
    assert all(np.array_equal(a, b) for a, b in zip(s0, s1))
    for a, b in zip(lp0, lp1):
        assert np.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("arch", MODELS)
def test_sampled_turns_are_the_same_with_the_shared_prompt(arch):
    """Sampling from a seeded generator draws the same tokens either way, under a position
    limit and with an empty context in the batch (which turns sharing off)."""
    model = MODELS[arch](seed=7)
    rng = np.random.default_rng(12)
    system = rng.integers(3, 250, size=SYSTEM)
    contexts = [np.concatenate([system, rng.integers(3, 250, size=n)]) for n in (2, 9, 5)]
    for batch in (contexts, [np.zeros(0, dtype=np.int64), *contexts]):
        runs = [
            sample_turns(
                model,
                batch,
                stop_token_ids=STOPS,
                max_new_tokens=20,
                pad_id=0,
                generator=torch.Generator().manual_seed(3),
                max_positions=SYSTEM + 9 + 16,
                share_prefix=share,
            )
            for share in (False, True)
        ]
        assert all(np.array_equal(a, b) for a, b in zip(*runs))
        assert max(len(t) for t in runs[0]) <= 16  # the position table is never overrun


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


def _records(rng: np.random.Generator) -> list[Episode]:
    system = rng.integers(3, 250, size=40)
    out = []
    for i, n in enumerate((6, 14, 9, 121, 4, 17, 11, 98)):  # two long: the split runs
        tokens = np.concatenate([system, rng.integers(3, 250, size=n)])
        mask = np.zeros(len(tokens), bool)
        mask[len(system) + 2 :] = True
        out.append(Episode(tokens, mask, [float(i % 2)], bool(i % 2), prompt_len=len(system)))
    return out


@pytest.mark.parametrize("group_by_length", [False, True])
@pytest.mark.parametrize("arch", MODELS)
def test_a_ppo_update_with_the_exact_speedups_matches_the_plain_one(arch, group_by_length):
    """PPO.learn on one batch of episodes, the same minibatches either way: with the shared
    prefix and the length split, the same stats and the same weights after the update as
    with neither."""
    trained = []
    for fast in (False, True):
        vec = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
        policy = _with_live_value_head(MODELS[arch](seed=2))
        config = PPOConfig(
            episodes_per_iteration=8,
            mini_batch_size=4,
            share_prefix=fast,
            split_by_length=fast,
            group_by_length=group_by_length,
            early_stopping=False,
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
    # Episodes of similar length (within the +-10% jitter) mix differently each epoch.
    similar = torch.arange(100, 116)
    memberships = {
        frozenset(
            frozenset(m.tolist())
            for m in minibatch_order(similar, 4, torch.Generator().manual_seed(s), True)
        )
        for s in range(6)
    }
    assert len(memberships) > 1
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
    _assert_same_scores_and_gradients(
        model, ids, attention, {"split_by_length": False}, {"split_by_length": True}
    )
