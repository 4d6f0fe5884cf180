"""Every tensor a training or evaluation step makes goes on the policy's device.

On a CPU-only machine "on the policy's device" and "on the CPU by default" look the same,
so the check is on the calls themselves: a :class:`DeviceRecorder` (a
``TorchFunctionMode``) sees every tensor-factory call (``torch.tensor``, ``zeros``,
``full``, ``arange``, ``randperm``, ...) and ``torch.Generator`` made from textgym's own
code (``agents/`` or ``textgym/``), and flags each one that names no device (no
``device=``, or ``device=None``) or whose tensor lands off the policy's device without
asking for the host explicitly (``device="cpu"``: batch indices, minibatch order).
``*_like``/``new_*`` calls inherit their device and are fine; ``torch.from_numpy`` cannot
name one and is always flagged (use ``torch.as_tensor(a, device=...)``).

Where CUDA is present the same tests also run with the policy on ``cuda``.

Also here: ``--device``/``--dtype`` refuse bad values with a message saying what the
machine has, and a bfloat16 run keeps log-probs, values and weights in float32.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import textgym
import textgym.agents
from textgym.agents import PPO, PolicyAgent, PPOConfig, devices
from textgym.agents.devices import place, resolve_device, resolve_dtype
from textgym.agents.generation import sample_turns
from textgym.agents.kv_reuse import reusable_prefix
from textgym.agents.padding import left_pad
from textgym.agents.reward_model import (
    PreferencePair,
    RewardConfig,
    RewardModel,
    train_reward_model,
)
from textgym.agents.sft import SFTConfig, oracle_demonstrations, sft
from textgym.agents.train import make_policy
from textgym.app.cli import main
from textgym.env_spec import env_spec

ENV = "TextEnv-Calculator-v0"
ROOTS = tuple(str(Path(m.__file__).resolve().parent) + "/" for m in (textgym, textgym.agents))
TORCH_DIR = str(Path(torch.__file__).resolve().parent) + "/"
FACTORIES = {
    torch.tensor,
    torch.as_tensor,
    torch.asarray,
    torch.scalar_tensor,
    torch.zeros,
    torch.ones,
    torch.full,
    torch.empty,
    torch.empty_strided,
    torch.arange,
    torch.linspace,
    torch.logspace,
    torch.eye,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
    torch.normal,
}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


HERE = str(Path(__file__).resolve())


def _textgym_caller() -> str | None:
    """``file:line`` of the nearest caller outside torch and this file, when it is
    textgym code."""
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(TORCH_DIR)
        or str(Path(frame.f_code.co_filename).resolve()) == HERE
    ):
        frame = frame.f_back
    if frame is None:
        return None
    name = str(Path(frame.f_code.co_filename).resolve())
    if not name.startswith(ROOTS):
        return None
    return f"{name}:{frame.f_lineno}"


class DeviceRecorder(TorchFunctionMode):
    """Records the factory calls from textgym code that do not place their tensor on
    ``device`` (see the module docstring for the rule)."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = torch.device(device)
        self.flagged: list[str] = []
        self.seen = 0

    def _check(self, what: str, kwargs: dict, result_device: torch.device | None) -> None:
        where = _textgym_caller()
        if where is None:
            return
        self.seen += 1
        asked = kwargs.get("device")
        if asked is None:
            self.flagged.append(f"{what} without a device at {where}")
        elif result_device is not None and result_device.type != self.device.type:
            if torch.device(asked).type != "cpu":  # only the host may be asked for apart
                self.flagged.append(f"{what} on {result_device} at {where}")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func in FACTORIES:
            device = result.device if isinstance(result, torch.Tensor) else None
            self._check(getattr(func, "__name__", str(func)), kwargs, device)
        return result


@pytest.fixture
def recorder(monkeypatch):
    """A factory that starts a :class:`DeviceRecorder` for a device; ``torch.from_numpy``
    and ``torch.Generator`` (not seen by function modes) are wrapped to report to it."""
    active: list[DeviceRecorder] = []
    real_generator, real_from_numpy = torch.Generator, torch.from_numpy

    def generator(*args, **kwargs):
        made = real_generator(*args, **kwargs)
        if active:
            active[-1]._check("Generator", kwargs, made.device)
        return made

    def from_numpy(array):
        where = _textgym_caller()
        if active and where is not None:
            active[-1].flagged.append(f"from_numpy (it cannot name a device) at {where}")
        return real_from_numpy(array)

    monkeypatch.setattr(torch, "Generator", generator)
    monkeypatch.setattr(torch, "from_numpy", from_numpy)

    def start(device) -> DeviceRecorder:
        rec = DeviceRecorder(device)
        active.append(rec)
        return rec

    return start


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "arch,settings",
    [
        ("causal", {"reuse_kv_cache": True}),  # KV reuse across turns, shared prefix
        ("llama", {"advantage": "rloo", "group_size": 2}),  # group prefill, group maths
        ("seq2seq", {}),
    ],
)
def test_ppo_iteration_makes_every_tensor_on_the_policy_device(recorder, device, arch, settings):
    env = gym.make(ENV)
    envs = gym.make_vec(ENV, 2)
    cfg = PPOConfig(
        episodes_per_iteration=4,
        mini_batch_size=2,
        ppo_epochs=1,
        max_new_tokens=6,
        device=device,
        **settings,
    )
    policy = make_policy(env, seed=0, arch=arch)  # built on the host, as a user's would be
    with recorder(device) as rec:
        ppo = PPO(envs, policy, cfg)
        stats = ppo.step()
    envs.close()
    assert rec.seen > 20, "the recorder saw too few calls to be watching"
    assert rec.flagged == []
    assert ppo.generator.device.type == torch.device(device).type
    assert np.isfinite(stats["ppo/loss/total"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["causal", "llama"])
def test_kv_reuse_across_turns_stays_on_the_policy_device(recorder, device, arch):
    # A tiny untrained policy rarely calls a tool, so PPO's episodes end after one turn;
    # here the second turn extends the first, as after a tool response, and reuses the
    # rows' caches (kv_reuse.stack_row_caches, extract_row_cache).
    env = gym.make(ENV)
    spec = env_spec(env)
    policy = make_policy(env, seed=0, arch=arch).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    contexts = [env.reset(seed=i)[0] for i in range(3)]
    caches: list = [None] * 3
    options = {
        "stop_token_ids": spec.stop_token_ids,
        "max_new_tokens": 4,
        "pad_id": spec.pad_id,
        "generator": generator,
        "row_caches": caches,
    }
    with recorder(device) as rec:
        turns = sample_turns(policy, contexts, prompt_lengths=[len(c) for c in contexts], **options)
        reply = np.array(spec.tokenizer.encode("5", add_special_tokens=False), dtype=np.int64)
        grown = [
            np.concatenate([c, t, reply[: i + 1]]) for i, (c, t) in enumerate(zip(contexts, turns))
        ]
        assert all(reusable_prefix(cache, g) for cache, g in zip(caches, grown))
        sample_turns(policy, grown, prompt_lengths=[len(c) for c in contexts], **options)
    assert rec.flagged == []
    assert all(cache is not None for cache in caches)


@pytest.mark.parametrize("device", DEVICES)
def test_sft_step_and_evaluation_stay_on_the_policy_device(recorder, device):
    env = gym.make(ENV)
    demos = oracle_demonstrations(env, 3, progress=False)
    policy = make_policy(env, seed=0, arch="llama")
    with recorder(device) as rec:
        sft(policy, demos, SFTConfig(steps=1, batch_size=2, device=device), progress=False)
        agent = PolicyAgent(env, policy, max_new_tokens=6)
        obs, info = env.reset(seed=0)
        agent.reset(seed=0)
        agent.act(obs, info)
        result = textgym.evaluate(env, agent, episodes=2, progress=False)
    assert policy.device.type == torch.device(device).type
    assert rec.seen > 10
    assert rec.flagged == []
    assert result.n == 2


@pytest.mark.parametrize("device", DEVICES)
def test_reward_model_step_stays_on_its_device(recorder, device):
    rm = RewardModel.from_config(RewardConfig(steps=1, batch_size=2, device=device))
    pairs = [PreferencePair("2+3?", "Result=5", "Result=7", 1.0)] * 3
    with recorder(device) as rec:
        train_reward_model(rm, pairs, progress=False)
    assert rm.device.type == torch.device(device).type
    assert rec.seen > 0
    assert rec.flagged == []


def test_the_recorder_catches_an_allocation_without_a_device(recorder):
    # The guard against a regression: left_pad without its device allocates on torch's
    # default device, and the recorder names the line.
    with recorder("cpu") as rec:
        left_pad([np.array([1, 2]), np.array([3])], 0)
        torch.zeros(2)  # from the test itself: not textgym code, not flagged
    assert rec.flagged and all("padding.py" in f for f in rec.flagged)


# ---- settings: clear refusals -------------------------------------------------------


def test_device_strings_resolve_or_say_what_is_available():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="must be one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="available: cpu"):
        resolve_device("cuda:7" if not torch.cuda.is_available() else "cuda:99")
    with pytest.raises(ValueError, match="must be one of"):
        PPOConfig(device="cdua")
    with pytest.raises(ValueError, match="float32, bfloat16, float16"):
        SFTConfig(dtype="fp16")


def test_float16_on_the_cpu_is_refused_with_advice():
    with pytest.raises(ValueError, match="use bfloat16 or float32"):
        resolve_dtype("float16", torch.device("cpu"))


def test_bfloat16_on_a_cpu_without_support_is_refused_naming_the_cpu(monkeypatch):
    monkeypatch.setattr(devices, "_cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="needs a CPU with bfloat16 support.*use float32"):
        resolve_dtype("bfloat16", torch.device("cpu"))
    with pytest.raises(ValueError, match="needs a CPU with bfloat16 support"):
        place(torch.nn.Linear(2, 2), "cpu", "bfloat16")
    monkeypatch.setattr(devices, "_cpu_has_bf16", lambda: True)
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "ppo", "--device", "tpu"], "must be one of auto, cpu, cuda"),
        (["train", "sft", "--device", "cuda:7"], "available: cpu"),
        (["train", "reward", "--dtype", "float16"], "use bfloat16 or float32"),
        (["train", "ppo", "--dtype", "half"], "float32, bfloat16, float16"),
        (["eval", "--agent", "random", "--device", "cuda:7"], "available: cpu"),
        (["eval", "--agent", "random", "--dtype", "float16"], "use bfloat16 or float32"),
    ],
)
def test_cli_refuses_bad_device_and_dtype(tmp_path, capsys, argv, message):
    if torch.cuda.device_count() > 7 and "cuda:7" in argv:
        pytest.skip("this machine has a cuda:7")
    if torch.cuda.is_available() and "float16" in argv:
        pytest.skip("float16 is fine with a GPU; the refusal is for the CPU")
    out = ["--out", str(tmp_path / "run")] if argv[0] == "train" else []
    code = main([*argv, "--env", ENV, *out, "--quiet"])
    assert code != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_help_shows_the_device_and_dtype_defaults(capsys):
    for argv in (["train", "ppo", "--help"], ["eval", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "--device" in text and "--dtype" in text
        assert "cpu" in text and "float32" in text


@pytest.mark.skipif(
    not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no bfloat16 on this CPU"
)
def test_bfloat16_autocast_keeps_the_maths_float32():
    env = gym.make(ENV)
    envs = gym.make_vec(ENV, 2)
    cfg = PPOConfig(
        episodes_per_iteration=2,
        mini_batch_size=2,
        ppo_epochs=1,
        max_new_tokens=6,
        dtype="bfloat16",
    )
    ppo = PPO(envs, make_policy(env, seed=0, arch="llama"), cfg)
    stats = ppo.step()
    envs.close()
    assert np.isfinite(stats["ppo/loss/total"])
    assert all(p.dtype == torch.float32 for p in ppo.policy.parameters())
    ids = torch.tensor([[5, 6, 7, 8]])
    logp, values, _ = ppo.policy.score_tokens(ids, torch.ones_like(ids))
    assert logp.dtype == torch.float32 and values.dtype == torch.float32
