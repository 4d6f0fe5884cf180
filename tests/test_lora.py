"""LoRA adapters through peft: the policy trains adapters only, the KL reference is the
same model with its adapters off (no second copy), and checkpoints resume exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("peft", reason="the [peft] extra is not installed")

from textgym import make_tokenizer, make_vec  # noqa: E402
from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config  # noqa: E402
from textgym.agents.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from textgym.agents.lora import (  # noqa: E402
    LoraSettings,
    add_lora,
    merged_copy,
    training_state_bytes,
)
from textgym.agents.seq2seq_value_head import Seq2SeqValueHeadLM, tiny_t5_config  # noqa: E402

V = len(make_tokenizer())
ENV = "TextEnv-Calculator-v0"


def gpt2(seed=0):
    cfg = tiny_gpt2_config(V, n_layer=2, n_embd=64, n_head=2, n_positions=512)
    return ValueHeadLM.from_config(cfg, seed=seed)


def test_only_the_adapters_and_value_head_train():
    policy = add_lora(gpt2(), LoraSettings(rank=4))
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("v_head") for n in trainable)
    n_train = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    assert n_train < 0.1 * sum(p.numel() for p in policy.parameters())
    with pytest.raises(ValueError, match="already"):
        add_lora(policy)
    with pytest.raises(ValueError, match="rank"):
        LoraSettings(rank=0)


def test_ppo_reference_is_the_policy_with_adapters_off():
    base = gpt2(seed=1)
    ids = torch.arange(3, 40)[None]
    base_logp = base.score_tokens(ids, torch.ones_like(ids))[0].detach()
    policy = add_lora(gpt2(seed=1), LoraSettings(rank=4))
    frozen = {n: p.detach().clone() for n, p in policy.named_parameters() if not p.requires_grad}
    envs = make_vec(ENV, 4)
    cfg = PPOConfig(episodes_per_iteration=8, mini_batch_size=4, ppo_epochs=2, seed=0)
    ppo = PPO(envs, policy, cfg)
    assert ppo.ref is None  # no second copy of the weights
    # Random-init policy: rewards are all 0, so push the adapters off zero by hand, as
    # training would, and check the reference does not move with them.
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(0))
    ppo.step()
    adapted = policy.score_tokens(ids, torch.ones_like(ids))[0].detach()
    assert not torch.allclose(adapted, base_logp, atol=1e-4)
    with ppo.reference() as ref:
        ref_logp = ref.score_tokens(ids, torch.ones_like(ids))[0].detach()
    assert torch.allclose(ref_logp, base_logp, atol=1e-5)
    for n, p in policy.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    # The merged export is a plain model with the adapted behaviour.
    merged = merged_copy(policy)
    assert not merged.has_adapters
    merged_logp = merged.score_tokens(ids, torch.ones_like(ids))[0].detach()
    assert torch.allclose(merged_logp, adapted, atol=1e-4)
    envs.close()


def test_lora_holds_less_memory_than_a_full_policy_and_reference():
    """The memory the issue asks about, counted exactly: weights of policy and reference
    plus Adam's moments after one update (benchmarks/lora_memory.py measures process RSS)."""
    envs = make_vec(ENV, 2)
    cfg = PPOConfig(episodes_per_iteration=2, mini_batch_size=2, ppo_epochs=1, seed=0)
    full = PPO(envs, gpt2(), cfg)
    full.step()
    lora = PPO(envs, add_lora(gpt2(), LoraSettings(rank=4)), cfg)
    lora.step()
    full_bytes, lora_bytes = training_state_bytes(full), training_state_bytes(lora)
    # Full: 2 copies of weights + 2 Adam moments = 4x; LoRA: 1x plus small adapters.
    assert lora_bytes < 0.35 * full_bytes
    envs.close()


def test_lora_checkpoint_resumes_exactly(tmp_path):
    envs = make_vec(ENV, 4)
    cfg = PPOConfig(episodes_per_iteration=4, mini_batch_size=2, ppo_epochs=1, seed=3)
    ppo = PPO(envs, add_lora(gpt2(seed=2), LoraSettings(rank=4)), cfg)
    with torch.no_grad():
        for n, p in ppo.policy.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    ppo.step()
    path = save_checkpoint(ppo, tmp_path)
    assert (path / "policy" / "adapter").is_dir()
    # The exported policy folder is a plain model: every loader takes it without peft.
    plain = ValueHeadLM.from_pretrained(path / "policy")
    assert not plain.has_adapters
    ids = torch.arange(3, 40)[None]
    exported = plain.score_tokens(ids, torch.ones_like(ids))
    adapted = ppo.policy.score_tokens(ids, torch.ones_like(ids))
    assert torch.allclose(exported[0], adapted[0], atol=1e-4)  # merged = adapted
    assert torch.allclose(exported[1], adapted[1], atol=1e-5)  # value head kept
    resumed = load_checkpoint(path, envs)
    assert resumed.policy.has_adapters and resumed.ref is None
    expected = ppo.step()
    got = resumed.step()
    for key in ("env/reward_mean", "objective/kl", "ppo/loss/total"):
        assert got[key] == pytest.approx(expected[key], abs=1e-5), key
    for a, b in zip(ppo.policy.state_dict().values(), resumed.policy.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    envs.close()


def test_lora_on_the_encoder_decoder_policy():
    policy = Seq2SeqValueHeadLM.from_config(
        tiny_t5_config(V, d_model=32, num_layers=1, num_heads=2, d_ff=64)
    )
    ids = torch.arange(3, 30)[None]
    prompt = torch.tensor([10])
    before = policy.score_tokens(ids, torch.ones_like(ids), prompt)[0].detach()
    add_lora(policy, LoraSettings(rank=2))
    after = policy.score_tokens(ids, torch.ones_like(ids), prompt)[0].detach()
    assert torch.allclose(before, after, atol=1e-6)  # adapters start at zero
    assert policy.has_adapters and np.isfinite(after.numpy()).all()


def test_cli_trains_resumes_and_exports_a_lora_policy(tmp_path):
    from textgym.app.cli import main

    out = tmp_path / "run"
    argv = ["train", "ppo", "--env", ENV, "--out", str(out),
            "--batch-size", "4", "--mini-batch-size", "2", "--num-envs", "2",
            "--checkpoint-every", "1", "--quiet"]  # fmt: skip
    assert main([*argv, "--iterations", "1", "--lora-rank", "4"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["lora"]["rank"] == 4
    assert (out / "policy" / "adapter" / "adapter_config.json").exists()
    assert main([*argv, "--iterations", "2", "--resume"]) == 0  # the checkpoint knows LoRA
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert (out / "policy" / "adapter").is_dir()
    # The exported policy evaluates like any other.
    assert main(["eval", "--agent", f"ppo:{out}", "--env", ENV, "--episodes", "2",
                 "--quiet"]) == 0  # fmt: skip
