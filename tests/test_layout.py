"""Architecture rules: agents never import envs; editable and wheel installs both work."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against textgym.agents
                base = ["textgym", "agents"][: 2 - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_agents_never_import_envs_statically():
    files = sorted((ROOT / "agents").rglob("*.py"))
    assert files
    offenders = {
        str(f.relative_to(ROOT)): name
        for f in files
        for name in _imports(f)
        if name == "textgym.envs" or name.startswith("textgym.envs.") or name.startswith("envs")
    }
    assert not offenders, f"textgym.agents must not import textgym.envs: {offenders}"


def _imports_inside_functions(path: Path) -> list[str]:
    """textgym modules imported inside a function body: how an import cycle is dodged."""
    found = []
    for func in ast.walk(ast.parse(path.read_text())):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("textgym"):
                found.append(f"{func.name}: {node.module}")
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("textgym")]
                found += [f"{func.name}: {name}" for name in names]
    return found


def test_agents_import_their_own_modules_at_the_top():
    """No function-level imports between textgym modules in the agents: the cycles they
    would hide are fixed instead (optional third-party extras may still load lazily)."""
    offenders = {
        str(f.relative_to(ROOT)): found
        for f in sorted((ROOT / "agents").rglob("*.py"))
        if (found := _imports_inside_functions(f))
    }
    assert not offenders, offenders


def test_agents_never_import_envs_at_runtime():
    code = (
        "import sys, textgym.agents;"
        "bad = sorted(m for m in sys.modules if m.startswith('textgym.envs'));"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_packages_import_from_the_install():
    import textgym
    import textgym.agents
    import textgym.envs

    assert Path(textgym.envs.__file__).parent == ROOT / "envs"
    assert Path(textgym.agents.__file__).parent == ROOT / "agents"


@pytest.mark.slow
def test_wheel_contains_all_three_packages_and_imports(tmp_path):
    # Built from a copy holding only what the wheel is made of: a build/ folder left in
    # the checkout keeps modules of earlier builds and would hide a missing package.
    source = tmp_path / "source"
    for folder in ("textgym", "envs", "agents"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("textgym-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for required in (
        "textgym/__init__.py",
        "textgym/env.py",
        "textgym/envs/__init__.py",
        "textgym/envs/calculator.py",
        "textgym/agents/__init__.py",
        "textgym/agents/oracle.py",
        "textgym/tools/calculator.py",
        "textgym/wrappers/__init__.py",
        "textgym/leaderboard/__init__.py",
        "textgym/leaderboard/entry.schema.json",
    ):
        assert required in names, f"{required} missing from the wheel"
    # Every source module ships: a subpackage left out of pyproject's list fails here.
    for folder, installed in (
        ("textgym", "textgym"),
        ("envs", "textgym/envs"),
        ("agents", "textgym/agents"),
    ):
        for source in (ROOT / folder).rglob("*.py"):
            module = f"{installed}/{source.relative_to(ROOT / folder).as_posix()}"
            assert module in names, f"{module} missing from the wheel"
    assert not any(n.startswith(("tests/", "envs/", "agents/")) for n in names)
    # Import from the unpacked wheel alone, with the source tree out of the path.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import sys; sys.path = [p for p in sys.path if 'main' not in p or 'site-packages' in p];"
        f"sys.path.insert(0, {str(target)!r});"
        "import textgym, textgym.envs, textgym.agents, gymnasium as gym;"
        f"assert textgym.__file__.startswith({str(target)!r}), textgym.__file__;"
        "env = gym.make('TextEnv-Calculator-v0'); env.reset(seed=0);"
        "from textgym.leaderboard import entry_schema; assert entry_schema()['$defs'];"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr
