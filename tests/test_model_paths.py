"""One rule for model paths (textgym.agents.model_paths), checked for every folder layout
textgym writes and every loader that takes a path: ValueHeadLM.from_pretrained,
PolicyAgent, make_agent("ppo:..."), make_agent("hf:...") and make_policy(init=...)."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from transformers import GPT2LMHeadModel

import textgym
from textgym.agents import PolicyAgent, ValueHeadLM, tiny_gpt2_config
from textgym.agents.checkpoint import LATEST
from textgym.agents.hf_agent import HFAgent, stop_marker_ids, turn_text
from textgym.agents.model_paths import (
    LATEST_POINTER,
    resolve_model_dir,
    resolve_tokenizer_dir,
)
from textgym.agents.train import make_policy
from textgym.app.specs import make_agent
from textgym.tokenizer import CALL, SUBMIT

ENV = "TextEnv-Calculator-v0"


@pytest.fixture(scope="module")
def env():
    env = gym.make(ENV)
    yield env
    env.close()


@pytest.fixture(scope="module")
def policy(env):
    """One tiny policy, saved into every layout."""
    vocab = len(env.unwrapped.tokenizer)
    config = tiny_gpt2_config(vocab, n_layer=1, n_embd=16, n_head=2, n_positions=1024)
    return ValueHeadLM.from_config(config)


class Layouts:
    """Builds the folders by hand (not with the trainer), as the trainer lays them out."""

    def __init__(self, root: Path, policy: ValueHeadLM, tokenizer):
        self.root, self.policy, self.tokenizer = root, policy, tokenizer

    def model(self, folder: Path, *, tokenizer: bool = True) -> Path:
        self.policy.save_pretrained(folder)
        if tokenizer:
            self.tokenizer.save_pretrained(folder)
        return folder

    def ppo_run(self, run: Path, *, final: bool = True) -> Path:
        """run.json, policy/ (with the tokenizer), two checkpoints (policy/ and ref/
        without a tokenizer), checkpoints/latest naming the newer one, metrics.jsonl."""
        run.mkdir(parents=True)
        (run / "run.json").write_text("{}")
        (run / "metrics.jsonl").write_text("")
        if final:
            self.model(run / "policy")
        for name in ("iter-000005", "iter-000010"):
            checkpoint = run / "checkpoints" / name
            self.model(checkpoint / "policy", tokenizer=False)
            self.model(checkpoint / "ref", tokenizer=False)
            (checkpoint / "trainer_state.pt").write_bytes(b"")
        (run / "checkpoints" / LATEST).write_text("iter-000010\n")
        return run

    def sft_run(self, run: Path) -> Path:
        self.model(run / "policy")
        (run / "sft_log.json").write_text("{}")
        (run / "run.json").write_text("{}")
        return run

    def old_sft_run(self, run: Path) -> Path:
        """Before policy/: the model at the root, no tokenizer files."""
        self.model(run, tokenizer=False)
        (run / "sft_log.json").write_text("{}")
        return run


# name: (builds the folder and returns the path to pass, the model folder it means relative
# to root, the tokenizer folder relative to root or None when hf: must refuse)
LAYOUTS = {
    "plain HF folder": (lambda b: b.model(b.root / "lm"), "lm", "lm"),
    "PPO run": (lambda b: b.ppo_run(b.root / "run"), "run/policy", "run/policy"),
    "policy/ of a run": (
        lambda b: b.ppo_run(b.root / "run") / "policy",
        "run/policy",
        "run/policy",
    ),
    "checkpoint iter-N": (
        lambda b: b.ppo_run(b.root / "run") / "checkpoints" / "iter-000010",
        "run/checkpoints/iter-000010/policy",
        "run/policy",  # a checkpoint shares its run's tokenizer
    ),
    "checkpoints/ (latest)": (
        lambda b: b.ppo_run(b.root / "run") / "checkpoints",
        "run/checkpoints/iter-000010/policy",
        "run/policy",
    ),
    "PPO run stopped before policy/": (
        lambda b: b.ppo_run(b.root / "run", final=False),
        "run/checkpoints/iter-000010/policy",
        None,
    ),
    "SFT run": (lambda b: b.sft_run(b.root / "sft"), "sft/policy", "sft/policy"),
    "old SFT run (model at the root)": (lambda b: b.old_sft_run(b.root / "sft"), "sft", None),
    "make demo folder (sft/ + ppo/)": (
        lambda b: (b.sft_run(b.root / "demo" / "sft"), b.ppo_run(b.root / "demo" / "ppo"))[1]
        .parent,
        "demo/ppo/policy",
        "demo/ppo/policy",
    ),
    "old make demo folder": (
        lambda b: (b.old_sft_run(b.root / "demo" / "sft"), b.ppo_run(b.root / "demo" / "ppo"))[
            1
        ].parent,
        "demo/ppo/policy",
        "demo/ppo/policy",
    ),
    "folder holding one run": (
        lambda b: b.sft_run(b.root / "runs" / "only").parent,
        "runs/only/policy",
        "runs/only/policy",
    ),
}


def _loaded_from(model) -> Path:
    """The folder transformers loaded ``model`` from."""
    return Path(model.name_or_path)


def _value_head(path, env):
    return ValueHeadLM.from_pretrained(path)


def _policy_agent(path, env):
    return PolicyAgent(env, path).policy


def _ppo_spec(path, env):
    return make_agent(f"ppo:{path}", env).policy


def _init(path, env):
    return make_policy(env, init=path)


POLICY_LOADERS = {
    "ValueHeadLM.from_pretrained": _value_head,
    "PolicyAgent": _policy_agent,
    "ppo: spec": _ppo_spec,
    "--init (make_policy)": _init,
}


@pytest.mark.parametrize("loader", POLICY_LOADERS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_policy_loader_finds_the_model_of_every_layout(
    layout, loader, tmp_path, env, policy
):
    build, model, _ = LAYOUTS[layout]
    path = build(Layouts(tmp_path, policy, env.unwrapped.tokenizer))
    assert resolve_model_dir(path) == tmp_path / model
    loaded = POLICY_LOADERS[loader](path, env)
    assert isinstance(loaded, ValueHeadLM)
    assert _loaded_from(loaded.model) == tmp_path / model


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hf_spec_finds_the_model_and_tokenizer_of_every_layout(layout, tmp_path, env, policy):
    build, model, tokenizer = LAYOUTS[layout]
    path = build(Layouts(tmp_path, policy, env.unwrapped.tokenizer))
    if tokenizer is None:
        with pytest.raises(FileNotFoundError, match="has no tokenizer") as err:
            make_agent(f"hf:{path}", env)
        # The message says what to do: the ppo: spec, or saving a tokenizer.
        assert f"ppo:{path}" in str(err.value) and "save_pretrained" in str(err.value)
        return
    assert resolve_tokenizer_dir(path) == tmp_path / tokenizer
    agent = make_agent(f"hf:{path}", env)
    assert isinstance(agent, HFAgent)
    assert _loaded_from(agent.model) == tmp_path / model
    assert Path(agent.tokenizer.name_or_path) == tmp_path / tokenizer
    assert len(agent.tokenizer) == len(env.unwrapped.tokenizer)


def test_checkpoint_resume_still_loads_policy_and_ref_as_given(tmp_path, env, policy):
    """load_checkpoint passes iter-N/policy and iter-N/ref; each is its own model."""
    run = Layouts(tmp_path, policy, env.unwrapped.tokenizer).ppo_run(tmp_path / "run")
    checkpoint = run / "checkpoints" / "iter-000005"
    for part in ("policy", "ref"):
        loaded = ValueHeadLM.from_pretrained(checkpoint / part)
        assert _loaded_from(loaded.model) == checkpoint / part


def test_the_pointer_name_matches_the_checkpoint_writer():
    assert LATEST_POINTER == LATEST


def _unrelated(root: Path) -> Path:
    (root / "notes").mkdir(parents=True)
    (root / "README.md").write_text("not a model")
    (root / "notes" / "todo.txt").write_text("")
    return root


MISSING = {
    "missing folder": (lambda root: root / "nope", FileNotFoundError, "no model folder at"),
    "empty folder": (
        lambda root: root,
        FileNotFoundError,
        "holds no model: looked for config.json, policy/config.json, latest",
    ),
    "unrelated folder": (_unrelated, FileNotFoundError, "holds no model: looked for"),
}
ALL_LOADERS = {
    **POLICY_LOADERS,
    "HFAgent": lambda path, env: HFAgent(env, path),
    "hf: spec": lambda path, env: make_agent(f"hf:{path}", env),
}


@pytest.mark.parametrize("loader", ALL_LOADERS)
@pytest.mark.parametrize("case", MISSING)
def test_a_folder_without_a_model_is_refused_by_every_loader_with_what_was_looked_for(
    case, loader, tmp_path, env
):
    make, error, match = MISSING[case]
    path = make(tmp_path)
    with pytest.raises(error, match=match):
        ALL_LOADERS[loader](path, env)


def test_specs_name_themselves_in_path_errors(tmp_path, env):
    with pytest.raises(FileNotFoundError, match=r"agent spec 'ppo:.*': .* holds no model"):
        make_agent(f"ppo:{tmp_path}", env)


def test_several_runs_without_a_final_stage_are_refused_listing_them(tmp_path, env, policy):
    layouts = Layouts(tmp_path, policy, env.unwrapped.tokenizer)
    layouts.sft_run(tmp_path / "runs" / "a")
    layouts.sft_run(tmp_path / "runs" / "b")
    with pytest.raises(ValueError, match="several runs") as err:
        resolve_model_dir(tmp_path / "runs")
    assert str(tmp_path / "runs" / "a") in str(err.value)
    assert str(tmp_path / "runs" / "b") in str(err.value)
    with pytest.raises(ValueError, match="agent spec 'ppo:"):
        make_agent(f"ppo:{tmp_path / 'runs'}", env)


def test_a_pointer_to_a_missing_checkpoint_says_so(tmp_path, env, policy):
    run = Layouts(tmp_path, policy, env.unwrapped.tokenizer).ppo_run(tmp_path / "run", final=False)
    (run / "checkpoints" / LATEST).write_text("iter-000099")
    with pytest.raises(FileNotFoundError, match="iter-000099.*missing or incomplete"):
        ValueHeadLM.from_pretrained(run)


def test_hf_refuses_an_encoder_decoder_model_pointing_to_ppo(tmp_path, env):
    seq2seq = make_policy(env, arch="seq2seq")
    seq2seq.save_pretrained(tmp_path / "t5")
    env.unwrapped.tokenizer.save_pretrained(tmp_path / "t5")
    with pytest.raises(ValueError, match="encoder-decoder.*ppo:"):
        make_agent(f"hf:{tmp_path / 't5'}", env)


def test_hf_plays_a_textgym_trained_folder_with_the_env_tokenizer(tmp_path, env, policy):
    """End to end: the ByT5 tokenizer with the markers added, through generate() (with
    stop_strings, which failed on a folder without tokenizer files)."""
    run = Layouts(tmp_path, policy, env.unwrapped.tokenizer).sft_run(tmp_path / "sft")
    agent = make_agent(f"hf:{run}", env)
    agent.max_new_tokens = 4  # a few tokens a turn keeps it fast
    (episode,) = textgym.evaluate(env, agent, episodes=1, progress=False, split="test").episodes
    assert episode.actions and (episode.terminated or episode.truncated)


def test_hf_keeps_a_marker_token_the_model_writes_and_stops_there(tmp_path, env):
    """A model that writes <call> as its marker token: the turn keeps it (decoding with
    skip_special_tokens would drop it) and generation stops on it."""
    tokenizer = env.unwrapped.tokenizer
    call_id = tokenizer.get_vocab()[CALL]
    config = tiny_gpt2_config(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=1024)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        # The last layer norm outputs e_0 whatever the input, and only <call>'s (tied)
        # embedding points along e_0: greedy decoding writes <call> every time.
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.transformer.wte.weight[:, 0] = 0.0
        model.transformer.wte.weight[call_id, 0] = 10.0
    model.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    agent = HFAgent(env, tmp_path / "lm", max_new_tokens=8)
    obs, info = env.reset(seed=0)
    agent.reset(0)
    turn = agent.act(obs, info)
    np.testing.assert_array_equal(turn, [call_id])


def test_turn_text_keeps_markers_and_drops_other_special_tokens(env):
    tokenizer = env.unwrapped.tokenizer
    markers = stop_marker_ids(tokenizer)
    assert markers == [tokenizer.get_vocab()[CALL], tokenizer.get_vocab()[SUBMIT]]
    ids = tokenizer.encode("7", add_special_tokens=False) + markers[1:] + [
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    ]
    assert turn_text(tokenizer, ids, markers) == "7<submit>"


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A tmp folder as the cwd, holding agent modules; they leave sys.modules after."""
    monkeypatch.chdir(tmp_path)
    names = ("textgym_test_cwd_agent", "textgym_test_broken_agent")
    yield tmp_path
    for name in names:
        sys.modules.pop(name, None)


def test_module_callable_is_found_in_the_current_directory(module_dir, env):
    (module_dir / "textgym_test_cwd_agent.py").write_text(
        "from textgym.agents import RandomAgent\n\n\ndef make(env):\n    return RandomAgent(env)\n"
    )
    before = list(sys.path)
    agent = make_agent("textgym_test_cwd_agent:make", env)
    assert type(agent).__name__ == "RandomAgent"
    assert sys.path == before  # the cwd was on sys.path only while importing


def test_a_missing_module_gets_a_pythonpath_hint(module_dir, env):
    with pytest.raises(ValueError, match="cannot import 'textgym_no_such_module'.*PYTHONPATH"):
        make_agent("textgym_no_such_module:make", env)


def test_a_module_whose_own_import_fails_shows_that_error_without_the_hint(module_dir, env):
    (module_dir / "textgym_test_broken_agent.py").write_text("import textgym_no_such_dep\n")
    with pytest.raises(ValueError, match="textgym_no_such_dep") as err:
        make_agent("textgym_test_broken_agent:make", env)
    assert "PYTHONPATH" not in str(err.value)
