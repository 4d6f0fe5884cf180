"""What isolation this machine allows, and the report of what a sandbox applied."""

from __future__ import annotations

import ctypes.util
import functools
import importlib.util
import logging
import os
import shutil
import subprocess
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Protections", "detect_isolation", "seccomp_path"]

log = logging.getLogger("textgym.sandbox")


@functools.lru_cache(maxsize=1)
def detect_isolation() -> tuple[tuple[str, ...], dict[str, bool]]:
    """The command prefix that puts a worker in new network and mount namespaces, and
    which namespaces it gives: ``unshare --net --mount`` as root, ``unshare --user
    --map-root-user --net --mount`` otherwise, or nothing where neither works."""
    unshare = shutil.which("unshare")
    candidates = []
    if unshare:
        if os.geteuid() == 0:
            candidates.append((unshare, "--net", "--mount"))
        candidates.append((unshare, "--user", "--map-root-user", "--net", "--mount"))
    for prefix in candidates:
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return prefix, {"network_namespace": True, "mount_namespace": True}
    return (), {"network_namespace": False, "mount_namespace": False}


def seccomp_path() -> str | None:
    """The folder holding the ``pyseccomp`` binding, if it and libseccomp are installed
    (the worker imports it from there before it drops privileges)."""
    spec = importlib.util.find_spec("pyseccomp")
    if spec is None or spec.origin is None or ctypes.util.find_library("seccomp") is None:
        return None
    return str(Path(spec.origin).parent)


#: What each protection guards against, for the warning text and SECURITY docs.
WHY = {
    "process_group": "a timeout kills every process the code started",
    "network_namespace": "no network: the worker sees no interfaces",
    "private_tmp": "writes to /tmp, /var/tmp and /dev/shm stay private to the worker",
    "private_workdir": "a private working directory per episode",
    "rlimits": "memory, CPU time, file size and open-file limits",
    "unprivileged_uid": "the code runs as nobody (65534), not as the host user",
    "nproc_limit": "no fork bombs: the code cannot start processes or threads",
    "seccomp": "socket, connect, exec, ptrace and kill are denied by a seccomp filter",
    "wall_timeout": "a wall-clock limit per call",
    "output_cap": "stdout and stderr are capped",
}


@dataclass(frozen=True)
class Protections:
    """Which protections a sandbox has active (True) or lacks (False)."""

    process_group: bool
    network_namespace: bool
    private_tmp: bool
    private_workdir: bool
    rlimits: bool
    unprivileged_uid: bool
    nproc_limit: bool
    seccomp: bool
    wall_timeout: bool = True
    output_cap: bool = True

    @classmethod
    def from_parts(cls, isolation: dict[str, bool], applied: dict[str, bool]) -> Protections:
        return cls(
            process_group=True,
            network_namespace=isolation.get("network_namespace", False),
            private_tmp=applied.get("private_tmp", False),
            private_workdir=applied.get("private_workdir", False),
            rlimits=applied.get("rlimits", False),
            unprivileged_uid=applied.get("unprivileged_uid", False),
            nproc_limit=applied.get("nproc_limit", False),
            seccomp=applied.get("seccomp", False),
        )

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)

    @property
    def missing(self) -> list[str]:
        return [name for name, on in self.as_dict().items() if not on]

    def warn_missing(self) -> None:
        """One loud warning listing every missing protection and what it would guard."""
        if not self.missing:
            return
        lines = "; ".join(f"{name} ({WHY[name]})" for name in self.missing)
        message = (
            f"textgym sandbox: running untrusted code WITHOUT these protections: {lines}. "
            "See SECURITY.md / the README's sandbox section for how to enable them."
        )
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
