"""Where training stats go: JSONL (always), TensorBoard scalars (when the ``tensorboard``
package is installed) and a learning-curve PNG at the end."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = [
    "MetricsLog",
    "read_jsonl",
    "plot_learning_curve",
    "learning_curve_figure",
    "smooth",
    "smoothing_alpha",
]


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


#: The standard panels: (title, y label, training key, test-split key). The test-split
#: keys are the greedy evaluations ``--eval-every`` adds to some rows.
_PANELS: tuple[tuple[str, str, str, str | None], ...] = (
    ("reward", "mean episode reward", "env/reward_mean", "eval/mean_reward"),
    ("success rate", "success rate", "env/success_rate", "eval/success_rate"),
    ("KL to the reference policy", "KL", "objective/kl", None),
)

# One colour per kind of curve, the same in every panel, so the legend reads once.
_TRAIN, _TEST = "tab:blue", "tab:red"


def smooth(values: list[float], alpha: float) -> list[float]:
    """Exponential moving average: ``s[0] = x[0]``, ``s[t] = alpha * x[t] + (1 - alpha) *
    s[t-1]``. A NaN input (a row without the stat) gives NaN there and leaves the average
    as it was, so one missing row neither breaks nor drags the curve."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    out: list[float] = []
    state: float | None = None
    for x in values:
        if not math.isfinite(x):
            out.append(float("nan"))
            continue
        state = x if state is None else alpha * x + (1 - alpha) * state
        out.append(state)
    return out


def smoothing_alpha(n: int) -> float:
    """An EMA weight for a run of ``n`` rows: its span (``2 / alpha - 1`` points) is about
    a fifth of the run, within 3 to 39 points, so a 20-iteration run is not flattened and a
    500-iteration one is not noise."""
    return min(0.5, max(0.05, 10 / max(1, n)))


def _number(value: Any) -> float:
    # JSON rows may hold None, strings or bools for a stat; only real numbers are plotted.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float("nan")
    return float(value)


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(iterations, values) of ``key``, NaN where a row lacks it."""
    its = [_number(r.get("iteration", i + 1)) for i, r in enumerate(rows)]
    return its, [_number(r.get(key)) for r in rows]


def _finite(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _has(rows: list[dict[str, Any]], key: str | None) -> bool:
    return key is not None and any(math.isfinite(_number(r.get(key))) for r in rows)


def _draw_training(ax, rows: list[dict[str, Any]], key: str, alpha: float) -> None:
    """Raw per-iteration points, faint, under their EMA."""
    its, values = _series(rows, key)
    ax.plot(*_finite(its, values), "o", ms=2.5, color=_TRAIN, alpha=0.3, label="training (raw)")
    xs, ys = _finite(its, smooth(values, alpha))
    ax.plot(
        xs,
        ys,
        lw=1.8,
        marker="o" if len(xs) == 1 else None,  # a one-point line draws nothing
        color=_TRAIN,
        label=f"training, EMA \N{GREEK SMALL LETTER ALPHA}={alpha:.2f}",
    )


def _widen_short_runs(ax, rows: list[dict[str, Any]]) -> None:
    # Matplotlib zooms a one- or two-iteration run to fractions of an iteration, where
    # integer ticks vanish; a margin of one iteration each side keeps them.
    its = [x for x in _series(rows, "iteration")[0] if math.isfinite(x)]
    if its and max(its) - min(its) < 2:
        ax.set_xlim(min(its) - 1, max(its) + 1)


def _draw_test_split(ax, rows: list[dict[str, Any]], key: str) -> None:
    its, values = _finite(*_series(rows, key))
    ax.plot(its, values, "s-", ms=5, lw=1.2, color=_TEST, label="test split (greedy)")


def _panels(rows: list[dict[str, Any]], keys: tuple[str, ...]):
    """The panels this run has stats for: the standard ones, then one per extra key."""
    panels = [p for p in _PANELS if _has(rows, p[2]) or _has(rows, p[3])]
    shown = {p[2] for p in _PANELS} | {p[3] for p in _PANELS}
    panels += [(k, k, k, None) for k in keys if k not in shown and _has(rows, k)]
    return panels


def learning_curve_figure(
    rows: list[dict[str, Any]],
    keys: tuple[str, ...] = (),
    title: str = "PPO",
    *,
    alpha: float | None = None,
):
    """The figure :func:`plot_learning_curve` saves (a matplotlib ``Figure`` on the Agg
    backend; close it with ``matplotlib.pyplot.close``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    alpha = smoothing_alpha(len(rows)) if alpha is None else alpha
    panels = _panels(rows, tuple(keys))
    n = max(1, len(panels))
    cols = n if n <= 3 else 2  # four or more panels wrap instead of one long strip
    rows_of_axes = -(-n // cols)
    fig, axes = plt.subplots(
        rows_of_axes, cols, figsize=(5 * cols, 3.8 * rows_of_axes), squeeze=False
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    if not panels:
        flat[0].set_visible(True)
        flat[0].text(0.5, 0.5, "no stats to plot", ha="center", va="center")
    for ax, (name, ylabel, train_key, test_key) in zip(flat, panels):
        if _has(rows, train_key):
            _draw_training(ax, rows, train_key, alpha)
        if _has(rows, test_key):
            _draw_test_split(ax, rows, test_key)
        if train_key == "env/success_rate":
            ax.set_ylim(-0.03, 1.03)  # rates: the whole range, so runs compare by eye
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "iteration 0.96"
        _widen_short_runs(ax, rows)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learning_curve(
    rows: list[dict[str, Any]],
    path: str | os.PathLike,
    keys: tuple[str, ...] = (),
    title: str = "PPO",
    *,
    alpha: float | None = None,
) -> Path:
    """Write one PNG of a run's ``metrics.jsonl`` rows against the iteration; return its
    path.

    Panels (each skipped when its stats are absent): training reward, training success
    rate with the greedy test-split success (``eval/success_rate``) on the same axis, KL,
    then one panel per stat in ``keys`` not already shown. Training stats are drawn as
    faint raw points under an exponential moving average (``alpha``; default from the
    run length, see :func:`smoothing_alpha`); test-split scores as a marked line.
    """
    path = Path(path)
    fig = learning_curve_figure(rows, keys, title, alpha=alpha)  # selects Agg first
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path
