"""Every ```python and ```bash block of README.md runs, unless it is marked.

Markers: an HTML comment on the line just before the fence (GitHub renders nothing):

- ``<!-- readme: excerpt -->``: an API shape, never run;
- ``<!-- readme: slow -->``: runs for minutes (training with default sizes, `make demo`,
  benchmarks); run only with ``TEXTGYM_README_SLOW=1`` (pytest marker ``readme_slow``).

Every other block is a test, named ``<heading slug>-<index under that heading>``.

Python blocks: a chapter (a ``##`` section with its ``###`` subsections) reads as one
tutorial, so a block may use what earlier blocks of its chapter defined (``gym``,
``textgym``). Each block runs in a fresh subprocess, after every earlier non-excerpt
python block of its chapter, in one namespace; only the block's own stdout is kept.

Shell blocks: every command (``\\``-continued lines joined, comments allowed) runs with
``bash -c`` and stdin closed (``textgym play`` quits on EOF), with the venv's ``bin`` first
on PATH, under a timeout, and must exit 0. The working directory is a fresh temporary one
with copies of ``examples/`` and the leaderboard (``merge`` writes into it), except for
commands starting with ``make`` or ``.venv/``: those are targets and paths of the
repository itself and run in its root. A server (``tensorboard``) passes when it is still
running after a few seconds, and is then stopped.

Blocks that need a model the README trains elsewhere or in a slow block get a cheap
stand-in first (``SETUP``); ``EXPECTED_STDOUT`` holds outputs the README promises.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The venv that runs the tests is the one whose `textgym` the README means.
VENV_BIN = Path(sys.executable).parent
SLOW_ENV = "TEXTGYM_README_SLOW"
RUN_SLOW = os.environ.get(SLOW_ENV) == "1"

MARKS = ("excerpt", "slow")
_MARKER = re.compile(r"<!--\s*readme:\s*(\S+)\s*-->")
_FENCE = re.compile(r"^```(\w*)\s*$")
LANGS = ("python", "bash")
TIMEOUT_S = 120
SLOW_TIMEOUT_S = 3600
SERVERS = ("tensorboard",)
SERVER_GRACE_S = 8
REPO_COMMANDS = ("make ", ".venv/")

_TINY_SFT = "textgym train sft --env TextEnv-Calculator-v0 --steps 5 --demonstrations 20 --quiet"
_TINY_REWARD = "textgym train reward --steps 2 --items 4 --held-out 2 --quiet"
# Cheap stand-ins for what a block uses but the README makes elsewhere (`make demo`) or in
# a slow block: the same paths, tiny models.
SETUP = {
    "leaderboard-0": [f"{_TINY_SFT} --out runs/demo/ppo"],  # where `make demo` puts it
    "encoder-decoder-policies-lora-adapters-several-processes-0": [f"{_TINY_SFT} --out runs/sft"],
    "reward-models-1": [
        f"{_TINY_REWARD} --env TextEnv-Sentiment-v0 --out runs/rm",
        f"{_TINY_REWARD} --env TextEnv-Calculator-v0 --out runs/rm_calc",
    ],
}
# The last line of the block's stdout ends with this (what the README's comments promise).
EXPECTED_STDOUT = {
    "quickstart-0": "1.0 True",
    "environments-0": "1.0",  # the reasoning-gym oracle's success rate
    "environments-1": "{'giver_0': 1.0, 'guesser_0': 1.0}",
    "environments-2": "{'player_0': 1.0, 'player_1': -1.0}",
}


@dataclass(frozen=True)
class Block:
    id: str
    lang: str
    code: str
    line: int  # 1-based line of the first code line in the markdown file
    chapter: str  # the enclosing `##` heading
    mark: str | None  # None (runs), "excerpt" or "slow"


def slugify(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _marker(line: str, where: str) -> str | None:
    match = _MARKER.fullmatch(line.strip())
    if match is None:
        return None
    if match.group(1) not in MARKS:
        # A typo must not silently run a slow block or skip a broken one.
        raise ValueError(f"{where}: unknown readme marker {match.group(1)!r}; use {MARKS}")
    return match.group(1)


def parse_blocks(text: str, source: str = "README.md") -> list[Block]:
    """The fenced python and bash blocks of a markdown text, in order."""
    blocks: list[Block] = []
    lines = text.splitlines()
    heading = chapter = ""
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is None:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
                if line.startswith("## ") or line.startswith("# "):
                    chapter = heading
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{source}:{i + 1}: unclosed code fence")
        if fence.group(1) in LANGS:
            slug = slugify(heading)
            index = counts.get(slug, 0)
            counts[slug] = index + 1
            mark = _marker(lines[i - 1], f"{source}:{i}") if i else None
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(f"{slug}-{index}", fence.group(1), code, i + 2, chapter, mark))
        i = end + 1
    return blocks


def shell_commands(code: str) -> list[str]:
    """One string per command: continuation lines joined, blank and comment lines dropped."""
    commands, current = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip() and not current.lstrip().startswith("#"):
            commands.append(current.strip())
        current = ""
    if current.strip():
        commands.append(current.strip())
    return commands


def python_chain(blocks: list[Block], block: Block) -> list[Block]:
    """The python blocks that run for ``block``: the earlier ones of its chapter, then it."""
    earlier = blocks[: blocks.index(block)]
    return [
        b
        for b in earlier
        if b.lang == "python" and b.chapter == block.chapter and b.mark != "excerpt"
    ] + [block]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # `make test` inside a slow block must not run the slow blocks again.
    env.pop(SLOW_ENV, None)
    return env


# Runs the blocks in one namespace. Earlier blocks print to stderr, so stdout is the
# block's own; each block compiles under its README line so tracebacks point there.
_DRIVER = textwrap.dedent(
    """
    import contextlib, json, sys
    blocks = json.load(open(sys.argv[1]))
    namespace = {"__name__": "__main__"}
    for n, (name, code) in enumerate(blocks):
        quiet = n < len(blocks) - 1
        with contextlib.redirect_stdout(sys.stderr if quiet else sys.stdout):
            exec(compile(code, name, "exec"), namespace)
    """
)


def run_python(chain: list[Block], cwd: Path, timeout: float, source: str = "README.md"):
    """Run ``chain`` in one subprocess; return (returncode, stdout, stderr)."""
    # Blank lines in front keep traceback line numbers equal to the markdown's.
    payload = [(f"{source}:{b.id}", "\n" * (b.line - 1) + b.code) for b in chain]
    # The blocks go in a temporary file, never into the folder they run in.
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "readme_blocks.json"
        script.write_text(json.dumps(payload))
        proc = subprocess.run(
            [sys.executable, "-c", _DRIVER, str(script)],
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return proc.returncode, proc.stdout, proc.stderr


def _is_server(command: str) -> bool:
    return command.split()[0] in SERVERS


def _run_server(command: str, cwd: Path) -> tuple[int, str]:
    """A server never exits: it passes when it is still up after a grace period."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that stopping it stops bash's children too
    )
    try:
        output, _ = proc.communicate(timeout=SERVER_GRACE_S)
        return proc.returncode or 1, output  # it exited: that is a failure even with rc 0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate()
        return 0, ""


def run_shell(command: str, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run one command; return (returncode, combined output)."""
    if any(command.startswith(prefix) for prefix in REPO_COMMANDS):
        cwd = ROOT
    if _is_server(command):
        return _run_server(command, cwd)
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout


def check_shell(commands: list[str], cwd: Path, timeout: float, what: str) -> None:
    for command in commands:
        rc, output = run_shell(command, cwd, timeout)
        if rc != 0:
            pytest.fail(f"{what}: `{command}` exited {rc}:\n{output[-4000:]}", pytrace=False)


def check_python(chain: list[Block], cwd: Path, timeout: float) -> str:
    rc, stdout, stderr = run_python(chain, cwd, timeout)
    if rc != 0:
        pytest.fail(
            f"{chain[-1].id} (README.md:{chain[-1].line}) exited {rc}:\n{stderr[-4000:]}",
            pytrace=False,
        )
    return stdout


def workspace(tmp_path: Path) -> Path:
    """A fresh directory with what the README's relative paths expect."""
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    board = Path("benchmarks") / "results" / "leaderboard"
    shutil.copytree(ROOT / board, work / board, ignore=shutil.ignore_patterns("cells"))
    return work


def run_block(block: Block, blocks: list[Block], cwd: Path) -> str:
    """Run a README block (its stand-ins first); return the python block's stdout."""
    timeout = SLOW_TIMEOUT_S if block.mark == "slow" else TIMEOUT_S
    check_shell(SETUP.get(block.id, []), cwd, timeout, f"setup of {block.id}")
    if block.lang == "python":
        return check_python(python_chain(blocks, block), cwd, timeout)
    check_shell(shell_commands(block.code), cwd, timeout, f"{block.id} (README.md:{block.line})")
    return ""


# ---- the README ------------------------------------------------------------------------

BLOCKS = parse_blocks(README.read_text(encoding="utf-8"))


def _param(block: Block):
    marks = []
    if block.mark == "slow":
        marks.append(pytest.mark.readme_slow)
        marks.append(pytest.mark.skipif(not RUN_SLOW, reason=f"slow: set {SLOW_ENV}=1"))
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS if b.mark != "excerpt"])
def test_readme_block(block, tmp_path):
    stdout = run_block(block, BLOCKS, workspace(tmp_path))
    if block.id in EXPECTED_STDOUT:
        last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        assert last.endswith(EXPECTED_STDOUT[block.id]), stdout


def test_readme_tables_name_real_blocks():
    """A renamed heading must not silently drop a stand-in or an expected output."""
    ids = {b.id for b in BLOCKS}
    for table in (SETUP, EXPECTED_STDOUT):
        assert set(table) <= ids, set(table) - ids


def test_the_venv_textgym_is_the_one_blocks_run():
    assert (VENV_BIN / "textgym").exists(), VENV_BIN


# ---- the runner, on small synthetic markdown -------------------------------------------

SAMPLE = """\
# title

## First

```python
x = 41
```

### Sub

<!-- readme: excerpt -->
```python
raise RuntimeError("an excerpt is never run")
```

```python
print(x + 1)
```

## Second

```text
not code
```

<!-- readme: slow -->
```bash
echo one   # a comment
# a comment line
printf '%s\\n' \\
    two
```

```python
print(x)
```
"""


def test_parse_names_blocks_by_heading_and_reads_markers():
    blocks = parse_blocks(SAMPLE)
    assert [(b.id, b.lang, b.mark, b.chapter) for b in blocks] == [
        ("first-0", "python", None, "First"),
        ("sub-0", "python", "excerpt", "First"),
        ("sub-1", "python", None, "First"),
        ("second-0", "bash", "slow", "Second"),
        ("second-1", "python", None, "Second"),
    ]
    assert SAMPLE.splitlines()[blocks[0].line - 1] == "x = 41"


def test_an_unknown_marker_is_an_error():
    with pytest.raises(ValueError, match="unknown readme marker 'slw'"):
        parse_blocks("## A\n\n<!-- readme: slw -->\n```bash\ntrue\n```\n")


def test_shell_commands_join_continuations_and_skip_comments():
    block = parse_blocks(SAMPLE)[3]
    assert shell_commands(block.code) == ["echo one   # a comment", "printf '%s\\n'      two"]


def test_python_blocks_share_their_chapter_only(tmp_path):
    blocks = parse_blocks(SAMPLE)
    sub = blocks[2]
    assert [b.id for b in python_chain(blocks, sub)] == ["first-0", "sub-1"]  # no excerpt
    assert check_python(python_chain(blocks, sub), tmp_path, 60) == "42\n"
    rc, _, stderr = run_python(python_chain(blocks, blocks[4]), tmp_path, 60)
    assert rc != 0 and "NameError" in stderr  # `x` belongs to another chapter


def test_a_failing_python_block_fails_and_names_its_line(tmp_path):
    text = "## Broken\n\n```python\nprint('fine')\n1 / 0\n```\n"
    [block] = parse_blocks(text)
    with pytest.raises(pytest.fail.Exception, match="broken-0"):
        check_python([block], tmp_path, 60)
    _, _, stderr = run_python([block], tmp_path, 60)
    assert 'README.md:broken-0", line 5' in stderr and "ZeroDivisionError" in stderr


def test_a_failing_shell_command_fails_and_names_the_command(tmp_path):
    [block] = parse_blocks("## S\n\n```bash\ntrue\nfalse   # fails\necho never\n```\n")
    with pytest.raises(pytest.fail.Exception, match="`false   # fails` exited 1"):
        run_block(block, [block], tmp_path)


def test_shell_commands_find_the_venv_textgym_and_have_no_stdin(tmp_path):
    rc, output = run_shell("command -v textgym && cat", tmp_path, 60)
    assert rc == 0 and output.strip() == str(VENV_BIN / "textgym")


def test_a_server_that_exits_at_once_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "SERVERS", ("true",))
    assert run_shell("true", tmp_path, 60)[0] != 0
