"""The sandbox worker: a Python interpreter that runs untrusted cells, like a notebook.

Started by :mod:`textgym.sandbox.pool` as ``python -I -S worker_main.py CONFIG`` (inside
``unshare --net --mount`` where available). Standard library only: it runs under the
system interpreter, outside the virtual environment. It locks itself down, in this order,
while it still has the privileges to do so:

1. private tmpfs over /tmp, /var/tmp and /dev/shm (in its own mount namespace);
2. a private working directory;
3. rlimits on address space, CPU seconds, file size and open files;
4. when root: drop to an unprivileged uid/gid, then RLIMIT_NPROC 0 (no fork, no threads);
5. a seccomp filter denying socket, connect, exec, ptrace and kill (pyseccomp).

Then it answers requests on its stdin, one length-prefixed JSON frame each, with a frame on
a private copy of its original stdout. File descriptors 1 and 2 point to /dev/null, so
code that writes to them directly cannot corrupt the channel.

Cells run in this process, so they can reach its machinery. Two defences keep one hostile
cell from breaking the calls after it:

- the builtins are put back as they were at start-up before and after every cell (a cell
  that replaces ``compile``, ``print`` or clears ``builtins.__dict__`` affects only
  itself), and the harness calls ``exec``/``eval``/``compile`` through references taken
  at start-up;
- anything else the harness needs that a cell broke (``json``, ``os.write``) makes the
  worker exit with :data:`TAMPERED`, and the pool restarts it and says the variables
  were lost, as after a crash.

A cell that rewrites this module's own globals can still change what its later calls
report. That harms only its own episode: each episode has its own worker, and the
process limits above, not the harness, are the security boundary.
"""

import ast
import builtins
import ctypes
import errno
import json
import os
import resource
import struct
import sys
import tempfile
import traceback

_HEADER = struct.Struct(">I")
MS_NOSUID, MS_NODEV = 2, 4
TAMPERED = 3  # exit status: a cell broke the harness itself

# Taken before any cell runs: the harness never looks these up in builtins again.
_exec, _eval, _compile = builtins.exec, builtins.eval, builtins.compile
_BUILTINS = builtins.__dict__
_PRISTINE = dict(_BUILTINS)
_clear, _update, _items = _BUILTINS.clear, _BUILTINS.update, _BUILTINS.items


def restore_builtins(_len=len, _any=any, _pristine=_PRISTINE):
    """Put every builtin back as it was at start-up; True when a cell had changed one.

    Runs while the builtins may still be poisoned, so it looks none of them up: ``len``
    and ``any`` are bound as defaults when the module loads.
    """
    changed = _len(_BUILTINS) != _len(_pristine) or _any(
        _pristine.get(name, _pristine) is not value for name, value in _items()
    )
    if changed:
        _clear()
        _update(_pristine)
    return changed


def read_frame(fd):
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body.decode("utf-8"))


def _read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_frame(fd, obj):
    body = json.dumps(obj).encode("utf-8")
    data = _HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


class CappedOutput:
    """sys.stdout/sys.stderr for a cell: keeps the first ``limit`` characters."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0
        self.truncated = False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.limit - self.size
        if len(text) > room:
            self.truncated = True
            text = text[: max(room, 0)]
        if text:
            self.parts.append(text)
            self.size += len(text)
        return len(text)

    def flush(self):
        pass

    def close(self):  # code that closes stdout must not break the worker
        pass

    def isatty(self):
        return False

    def getvalue(self):
        return "".join(self.parts)


def lock_down(cfg):
    done = {}
    # Import the binding first: it finds libseccomp with a subprocess, which the process
    # limit below forbids.
    seccomp = _import_seccomp(cfg["seccomp_path"]) if cfg.get("seccomp_path") else None
    if cfg.get("private_tmp"):
        libc = ctypes.CDLL(None, use_errno=True)
        ok = True
        for path in ("/tmp", "/var/tmp", "/dev/shm"):
            if os.path.isdir(path):
                rc = libc.mount(
                    b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777"
                )
                ok = ok and rc == 0
        done["private_tmp"] = ok
    workdir = tempfile.mkdtemp(prefix="cell-", dir="/tmp")
    uid = cfg.get("uid")
    if uid is not None and os.geteuid() == 0:
        os.chown(workdir, uid, uid)
    os.chdir(workdir)
    done["private_workdir"] = True
    limits = cfg["limits"]
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    done["rlimits"] = True
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        done["unprivileged_uid"] = os.geteuid() != 0
        done["nproc_limit"] = True
    if seccomp is not None:
        _load_filter(seccomp)
        done["seccomp"] = True
    return done


def _import_seccomp(path):
    sys.path.insert(0, path)
    try:
        import pyseccomp

        pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)  # loads libseccomp now
        return pyseccomp
    except Exception:  # noqa: BLE001 - reported as a missing protection
        return None
    finally:
        sys.path.remove(path)


def _load_filter(seccomp):
    deny = seccomp.ERRNO(errno.EPERM)
    filt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in (
        "socket",
        "socketpair",
        "connect",
        "bind",
        "listen",
        "accept",
        "accept4",
        "execve",
        "execveat",
        "ptrace",
        "kill",
    ):
        try:
            filt.add_rule(deny, name)
        except Exception:  # noqa: BLE001 - a syscall this kernel lacks
            pass
    filt.load()


def error_text(exc):
    """``Type: message (line N)``, from the last traceback frame inside the cell."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<cell>":
            line = frame.lineno
    if isinstance(exc, SyntaxError) and exc.filename == "<cell>":
        line = exc.lineno
        message = exc.msg
    else:
        message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{text} (line {line})" if line else text


def run_cell(code, namespace, limit):
    restore_builtins()
    namespace["__builtins__"] = builtins  # a cell may have rebound its own
    out = CappedOutput(limit)
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    error = None
    try:
        try:
            tree = _compile(code, "<cell>", "exec", ast.PyCF_ONLY_AST)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            _exec(_compile(tree, "<cell>", "exec"), namespace)
            if last is not None:
                value = _eval(_compile(last, "<cell>", "eval"), namespace)
                if value is not None:
                    out.write(repr(value) + "\n")
        finally:
            # First, before the harness itself looks up a builtin again.
            restore_builtins()
    except SystemExit as exc:
        error = f"SystemExit: {exc.code}"
    except MemoryError:
        error = "MemoryError: the sandbox memory limit was reached"
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an error text
        try:
            error = error_text(exc)
        except BaseException:  # noqa: BLE001 - a hostile __str__
            error = type(exc).__name__
    finally:
        sys.stdout, sys.stderr = saved
    return {"stdout": out.getvalue(), "error": error, "truncated": out.truncated}


def main():
    cfg = json.loads(sys.argv[1])
    reply = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = CappedOutput(0)
    try:
        done = lock_down(cfg)
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        write_frame(reply, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    write_frame(reply, {"ready": True, "protections": done, "pid": os.getpid()})
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    limit = cfg["limits"]["output_chars"]
    # Locals, so a cell that rebinds this module's functions does not reach the loop.
    read, run, write, exit_now = read_frame, run_cell, write_frame, os._exit
    while True:
        try:
            request = read(0)
            if request is None:
                return
            write(reply, run(request["code"], namespace, limit))
        except BaseException:  # noqa: BLE001 - a cell broke what the harness needs
            exit_now(TAMPERED)


if __name__ == "__main__":
    main()
