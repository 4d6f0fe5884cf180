"""The hostile battery: every program is contained with a defined outcome, and the host,
the pool and later calls are unaffected."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from textgym.sandbox import RunResult, Sandbox

MARKER = Path("/tmp/textgym_hostile_marker")


def children() -> set[int]:
    """Live child processes of this test process."""
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[1] == me and fields[0] != "Z":
                found.add(int(entry))
    return found


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(timeout=1.0, memory_mb=256, cpu_seconds=5)
    yield box
    box.close()


def needs(sandbox: Sandbox, *names: str) -> None:
    missing = [n for n in names if not getattr(sandbox.protections, n)]
    if missing:
        pytest.skip(f"protection not active on this machine: {missing}")


def error(result: RunResult, *fragments: str) -> bool:
    assert result.error is not None, result
    assert any(f in result.error for f in fragments), result.error
    return True


# (id, code, check, protections needed)
BATTERY = [
    ("infinite_loop", "while True:\n    pass", lambda r: r.timed_out, ()),
    (
        "deep_recursion",
        "def f(n):\n    return f(n + 1)\nf(0)",
        lambda r: error(r, "RecursionError"),
        (),
    ),
    (
        "recursion_limit_raised",
        "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)",
        lambda r: r.error is not None,
        (),
    ),
    ("memory_bytearray", "x = bytearray(10**10)", lambda r: error(r, "MemoryError"), ("rlimits",)),
    ("memory_list", "x = [0] * (10**9)", lambda r: error(r, "MemoryError"), ("rlimits",)),
    (
        "memory_growth",
        "l = []\nwhile True:\n    l.append(' ' * 10**6)",
        lambda r: error(r, "MemoryError", "timeout", "killed"),
        ("rlimits",),
    ),
    (
        "fork_bomb",
        "import os\nwhile True:\n    os.fork()",
        lambda r: error(r, "BlockingIOError", "PermissionError"),
        ("nproc_limit",),
    ),
    (
        "multiprocessing",
        "import multiprocessing as mp\nmp.Process(target=print).start()",
        lambda r: r.error is not None,
        ("nproc_limit",),
    ),
    (
        "huge_output",
        "print('x' * 10**7)",
        lambda r: r.truncated and len(r.stdout) <= 4000 and r.error is None,
        (),
    ),
    ("endless_output", "while True:\n    print('y' * 1000)", lambda r: r.timed_out, ()),
    (
        "write_etc",
        "open('/etc/textgym_hostile', 'w')",
        lambda r: error(r, "PermissionError"),
        ("unprivileged_uid",),
    ),
    (
        "write_project",
        f"open({str(Path.cwd() / 'HOSTILE')!r}, 'w')",
        # A checkout under /tmp is not even visible: the worker has its own /tmp.
        lambda r: (
            error(r, "PermissionError", "Read-only", "FileNotFoundError")
            and not (Path.cwd() / "HOSTILE").exists()
        ),
        ("unprivileged_uid",),
    ),
    (
        "write_host_tmp",
        f"open({str(MARKER)!r}, 'w').write('x')",
        lambda r: not MARKER.exists(),
        ("private_tmp",),
    ),
    (
        "file_size",
        "open('big', 'wb').write(b'x' * (64 * 1024 * 1024))",
        lambda r: error(r, "File too large", "OSError", "MemoryError"),
        ("rlimits",),
    ),
    (
        "open_files",
        "fs = [open('/dev/null') for _ in range(10000)]",
        lambda r: error(r, "Too many open files"),
        ("rlimits",),
    ),
    (
        "read_init_environ",
        "open('/proc/1/environ').read()",
        lambda r: error(r, "PermissionError"),
        ("unprivileged_uid",),
    ),
    (
        "host_env_secret",
        "import os\nprint(sorted(os.environ))",
        lambda r: "TEXTGYM_TEST_SECRET" not in r.stdout,
        (),
    ),
    (
        "tcp",
        "import socket\nsocket.create_connection(('127.0.0.1', 80), timeout=0.2)",
        lambda r: error(r, "PermissionError", "OSError", "unreachable"),
        (),
    ),
    (
        "udp",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'x', ('8.8.8.8', 53))",
        lambda r: error(r, "PermissionError", "OSError"),
        (),
    ),
    (
        "unix_socket",
        "import socket\nsocket.socket(socket.AF_UNIX).connect('/run/x.sock')",
        lambda r: error(r, "PermissionError", "FileNotFoundError"),
        (),
    ),
    (
        "socketpair",
        "import socket\nsocket.socketpair()",
        lambda r: error(r, "PermissionError"),
        ("seccomp",),
    ),
    (
        "subprocess",
        "import subprocess\nsubprocess.run(['ls', '/'])",
        lambda r: error(r, "BlockingIOError", "PermissionError"),
        ("nproc_limit",),
    ),
    (
        "os_system",
        "import os\nos.system('touch /tmp/textgym_hostile_marker')",
        lambda r: r.stdout.strip() != "0" and not MARKER.exists(),
        ("nproc_limit",),
    ),
    (
        "exec",
        "import os\nos.execv('/bin/sh', ['sh', '-c', 'true'])",
        lambda r: error(r, "PermissionError"),
        ("seccomp",),
    ),
    (
        "posix_spawn",
        "import os\nos.posix_spawn('/bin/true', ['true'], {})",
        lambda r: r.error is not None,
        ("nproc_limit",),
    ),
    (
        "ctypes_segfault",
        "import ctypes\nctypes.string_at(0)",
        lambda r: r.restarted and error(r, "crashed", "killed", "stopped"),
        (),
    ),
    (
        "ctypes_socket",
        "import ctypes\nctypes.CDLL(None).socket(2, 1, 0)",
        lambda r: r.stdout.strip() == "-1",
        ("seccomp",),
    ),
    (
        "signal_parent",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        lambda r: error(r, "PermissionError"),
        (),
    ),
    (
        "signal_group",
        "import os, signal\nos.killpg(0, signal.SIGTERM)",
        lambda r: r.error is not None or r.restarted,
        (),
    ),
    ("sys_exit", "import sys\nsys.exit(3)", lambda r: error(r, "SystemExit: 3"), ()),
    ("os_exit", "import os\nos._exit(0)", lambda r: r.restarted and error(r, "exited"), ()),
    (
        "close_stdout",
        "import sys, os\nsys.stdout.close()\nos.close(1)\nos.close(2)\nprint('on')",
        lambda r: r.error is None and "on" in r.stdout,
        (),
    ),
    (
        "close_channel",
        "import os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n"
        "    except OSError:\n        pass",
        lambda r: r.restarted or r.error is None,
        (),
    ),
    (
        "thread_outlives_call",
        "import threading, time\nthreading.Thread(target=lambda: time.sleep(100)).start()",
        lambda r: error(r, "can't start new thread", "RuntimeError"),
        ("nproc_limit",),
    ),
    (
        "spin_at_import",
        "open('spin.py', 'w').write('while True:\\n    pass\\n')\n"
        "import sys\nsys.path.insert(0, '.')\nimport spin",
        lambda r: r.timed_out,
        (),
    ),
    ("keyboard_interrupt", "raise KeyboardInterrupt", lambda r: error(r, "KeyboardInterrupt"), ()),
    ("wreck_builtins", "import builtins\nbuiltins.__dict__.clear()", lambda r: True, ()),
    (
        "poison_compile_exec_eval",
        "import builtins\n"
        "def bad(*a, **k):\n    raise RuntimeError('builtins poisoned')\n"
        "builtins.compile = builtins.exec = builtins.eval = bad",
        lambda r: r.ok,
        (),
    ),
    (
        "poison_print_repr_len",
        "import builtins\nbuiltins.print = builtins.repr = builtins.len = None",
        lambda r: r.ok,
        (),
    ),
    (
        "poison_exceptions",
        "import builtins\nbuiltins.SystemExit = builtins.BaseException = builtins.MemoryError = 1",
        lambda r: r.ok,
        (),
    ),
    ("rebind_own_builtins", "__builtins__ = None", lambda r: r.ok, ()),
    (
        "poison_json",
        "import json\njson.dumps = lambda *a, **k: 1 / 0",
        lambda r: error(r, "sandbox's own machinery") and r.restarted,
        (),
    ),
    (
        "poison_os_write",
        "import os\nos.write = None",
        lambda r: error(r, "sandbox's own machinery") and r.restarted,
        (),
    ),
    ("huge_int_repr", "10 ** 100000", lambda r: error(r, "ValueError", "MemoryError"), ()),
]


def test_battery_has_at_least_30_programs():
    assert len(BATTERY) >= 30


@pytest.mark.parametrize("name,code,check,protections", BATTERY, ids=[b[0] for b in BATTERY])
def test_hostile_program_is_contained(sandbox, name, code, check, protections, monkeypatch):
    needs(sandbox, *protections)
    monkeypatch.setenv("TEXTGYM_TEST_SECRET", "leak")
    with sandbox.session() as session:
        result = session.run(code)
        assert check(result), f"{name}: {result}"
        # The next call prints 42, or says the interpreter was restarted and the call
        # after it prints 42.
        after = session.run("print(6 * 7)")
        if after.stdout.strip() != "42":
            assert after.restarted and "restarted" in (after.error or ""), after
            assert session.run("6 * 7").stdout.strip() == "42"
        assert session.run("6 * 7").stdout.strip() == "42"
    assert not MARKER.exists()


def test_poisoned_builtins_are_undone_and_the_variables_kept(sandbox):
    with sandbox.session() as session:
        session.run("x = 41")
        poisoned = session.run(
            "import builtins\n"
            "def bad(*a, **k):\n    raise RuntimeError('builtins poisoned')\n"
            "builtins.compile = builtins.exec = builtins.print = bad\n"
            "print('inside the cell the poison works')"
        )
        assert "builtins poisoned" in (poisoned.error or ""), poisoned  # its own cell only
        after = session.run("print(x + 1)\nimport builtins\nprint(builtins.compile is bad)")
        assert after.ok and after.stdout.split() == ["42", "False"], after
        assert not after.restarted


def test_a_cleared_builtins_module_is_restored(sandbox):
    with sandbox.session() as session:
        session.run("import builtins\nbuiltins.__dict__.clear()")
        result = session.run("print(len([1, 2, 3]), sorted({3, 1}))")
        assert result.stdout.strip() == "3 [1, 3]" and not result.restarted, result


def test_killing_the_worker_mid_call_is_a_defined_error(sandbox):
    with sandbox.session() as session:
        box: dict[str, RunResult] = {}
        thread = threading.Thread(
            target=lambda: box.update(r=session.run("import time\ntime.sleep(0.8)"))
        )
        thread.start()
        time.sleep(0.2)
        os.killpg(session.pid, signal.SIGKILL)
        thread.join()
        assert box["r"].restarted and "killed" in (box["r"].error or "")
        assert session.run("1 + 1").stdout.strip() == "2"


def test_another_episodes_state_is_unreachable(sandbox):
    with sandbox.session() as first:
        first.run("secret = 'hunter2'\nopen('state.txt', 'w').write(secret)")
        assert first.run("secret").stdout.strip() == "'hunter2'"
        with sandbox.session() as second:
            error(second.run("secret"), "NameError")
            error(second.run("open('state.txt').read()"), "FileNotFoundError")
            found = second.run("import glob\nprint(glob.glob('/tmp/**/state.txt', recursive=True))")
            assert found.stdout.strip() == "[]"


def test_pool_is_healthy_and_children_return_to_baseline():
    baseline = children()
    box = Sandbox(timeout=1.0)
    for code, _check in [(b[1], b[2]) for b in BATTERY[:12]]:
        box.run(code)
    assert box.run("sum(range(10))").stdout.strip() == "45"
    box.close()
    deadline = time.monotonic() + 5
    while children() - baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children() - baseline == set()
