"""Where training stats go: JSONL (always), TensorBoard scalars (when the ``tensorboard``
package is installed) and a learning-curve PNG at the end."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "read_jsonl", "plot_learning_curve"]


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (a killed writer) is ignored."""
    rows = []
    path = Path(path)
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


class MetricsLog:
    """Appends one JSON line per iteration and mirrors scalars to TensorBoard.

    ``truncate_after(iteration)`` drops rows past a resumed checkpoint, so a resumed run's
    log has each iteration exactly once.
    """

    def __init__(self, out_dir: str | os.PathLike, tensorboard: bool = True):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "metrics.jsonl"
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.dir / "tensorboard"))
            except ImportError:
                warnings.warn(
                    "tensorboard is not installed; metrics go to metrics.jsonl only "
                    "(pip install tensorboard)",
                    stacklevel=2,
                )

    def truncate_after(self, iteration: int) -> None:
        rows = [r for r in read_jsonl(self.path) if r.get("iteration", 0) <= iteration]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path)

    def log(self, stats: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(stats) + "\n")
            f.flush()
        if self._tb is not None:
            step = int(stats.get("iteration", 0))
            for key, value in stats.items():
                if isinstance(value, (int, float)) and math.isfinite(value) and key != "iteration":
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def plot_learning_curve(
    rows: list[dict[str, Any]],
    path: str | os.PathLike,
    keys: tuple[str, ...] = ("env/reward_mean", "objective/kl"),
    title: str = "PPO",
) -> Path:
    """A PNG with one panel per stat against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    its = [r.get("iteration", i + 1) for i, r in enumerate(rows)]
    for ax, key in zip(axes[0], keys):
        ax.plot(its, [r.get(key, float("nan")) for r in rows], lw=1.5)
        ax.set_xlabel("iteration")
        ax.set_title(key)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
