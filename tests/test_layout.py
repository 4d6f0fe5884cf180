"""Architecture rules: the layers of the import graph, and editable and wheel installs.

The layers, top to bottom: the application (``textgym.app``: CLI, demo, agent specs, the
leaderboard runner) -> the integrations with other stacks (``textgym.integrations``: TRL,
OpenEnv) -> the agents (``textgym.agents``) and the envs (``textgym.envs``),
which never import each other -> the core (the rest of ``textgym``). A module imports only
its own layer and those below, and never imports a textgym module inside a function body
(the way an import cycle is dodged instead of fixed).
"""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Source folder -> the installed package it becomes.
SOURCES = {"textgym": "textgym", "envs": "textgym.envs", "agents": "textgym.agents"}
#: Layer -> the layers it may import.
ALLOWED = {
    "app": {"app", "integrations", "agents", "envs", "core"},
    "integrations": {"integrations", "agents", "envs", "core"},
    "agents": {"agents", "core"},
    "envs": {"envs", "core"},
    "core": {"core"},
}


def _layer(module: str) -> str | None:
    """The layer of a textgym module name (None for other packages)."""
    parts = module.split(".")
    if parts[0] != "textgym":
        return None
    if len(parts) > 1 and parts[1] in ("app", "integrations", "agents", "envs"):
        return parts[1]
    return "core"


def _module_name(root: Path, path: Path) -> str:
    folder, *rest = path.relative_to(root).with_suffix("").parts
    parts = SOURCES[folder].split(".") + [p for p in rest if p != "__init__"]
    return ".".join(parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The textgym modules (or names in them) an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    target = node.module or ""
    if node.level:  # relative: resolve against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        target = ".".join(base + ([target] if target else []))
    return [target]


def layer_violations(root: Path) -> list[str]:
    """Every import under ``root`` (holding textgym/, envs/, agents/) that crosses the
    layers upward or sideways, or imports a textgym module inside a function body."""
    found = []
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            module = _module_name(root, path)
            layer = _layer(module)
            tree = ast.parse(path.read_text())
            in_function = {
                id(node)
                for func in ast.walk(tree)
                if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                for node in ast.walk(func)
            }
            where = str(path.relative_to(root))
            for node in ast.walk(tree):
                for name in _imported(node, module, path.name == "__init__.py"):
                    target = _layer(name)
                    if target is None:
                        continue
                    if target not in ALLOWED[layer]:
                        found.append(f"{where}:{node.lineno}: {layer} imports {target} ({name})")
                    if id(node) in in_function:
                        found.append(f"{where}:{node.lineno}: {name} imported in a function")
    return found


def test_the_import_graph_keeps_its_layers():
    assert (ROOT / "textgym" / "app").is_dir()
    violations = layer_violations(ROOT)
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize(
    "where, plant, reason",
    [
        ("textgym/env.py", "from textgym.agents import PPO", "core imports agents"),
        ("textgym/tools/calculator.py", "import textgym.app.cli", "core imports app"),
        ("envs/calculator.py", "from textgym.agents.ppo import PPO", "envs imports agents"),
        (
            "agents/ppo.py",
            "from textgym.envs.calculator import CalculatorEnv",
            "agents imports envs",
        ),
        ("agents/ppo.py", "from ..envs import wiki", "agents imports envs"),
        (
            "agents/generation.py",
            "def f():\n    from textgym.agents.value_head import ValueHeadLM\n",
            "imported in a function",
        ),
    ],
)
def test_the_layer_check_catches_a_planted_import(tmp_path, where, plant, reason):
    """The check above can fail: a copy of the sources with one bad import planted."""
    for folder in SOURCES:
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    assert layer_violations(tmp_path) == []
    target = tmp_path / where
    target.write_text(target.read_text() + "\n" + plant + "\n")
    violations = layer_violations(tmp_path)
    assert len(violations) == 1 and reason in violations[0], violations


@pytest.mark.parametrize(
    "imported, absent",
    [
        ("textgym", ("textgym.agents", "textgym.app", "textgym.envs")),
        ("textgym.agents", ("textgym.envs", "textgym.app")),
        ("textgym.envs", ("textgym.agents", "textgym.app")),
    ],
)
def test_a_layer_loads_nothing_above_it(imported, absent):
    code = (
        f"import sys, {imported};print(sorted(m for m in sys.modules if m.startswith({absent!r})))"
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
