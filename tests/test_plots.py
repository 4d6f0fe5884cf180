"""Learning curves: the EMA's maths, and a readable PNG from any run's metrics rows
(with or without test-split evaluations, one row, missing or NaN stats)."""

from __future__ import annotations

import json
import math
import struct

import pytest

from textgym.agents.metrics import plot_learning_curve, read_jsonl, smooth, smoothing_alpha

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the file is a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND"  # written to the end, not torn
    return struct.unpack(">II", data[16:24])


def _rows(n: int, eval_every: int | None = None) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        row = {
            "iteration": i,
            "env/reward_mean": 0.1 * i - 0.5,
            "env/success_rate": min(1.0, 0.05 * i),
            "objective/kl": 0.01 * i,
        }
        if eval_every and i % eval_every == 0:
            row["eval/success_rate"] = min(1.0, 0.04 * i)
            row["eval/mean_reward"] = 0.08 * i
        rows.append(row)
    return rows


def test_smooth_is_an_exponential_moving_average():
    # s0 = 1; s1 = 0.5*3 + 0.5*1 = 2; s2 = 0.5*(-2) + 0.5*2 = 0; s3 = 0.5*4 + 0 = 2
    assert smooth([1.0, 3.0, -2.0, 4.0], 0.5) == [1.0, 2.0, 0.0, 2.0]
    # alpha 0.25: s1 = 0.25*4 + 0.75*0 = 1; s2 = 0.25*8 + 0.75*1 = 2.75
    assert smooth([0.0, 4.0, 8.0], 0.25) == pytest.approx([0.0, 1.0, 2.75])
    assert smooth([5.0, 7.0], 1.0) == [5.0, 7.0]  # alpha 1: no smoothing
    assert smooth([], 0.3) == []


def test_smooth_skips_missing_values_without_dragging_the_average():
    out = smooth([float("nan"), 2.0, float("nan"), 4.0, float("inf")], 0.5)
    assert math.isnan(out[0]) and math.isnan(out[2]) and math.isnan(out[4])
    # The NaN neither resets nor pulls the state: s = 2, then 0.5*4 + 0.5*2 = 3.
    assert out[1] == 2.0 and out[3] == 3.0


def test_smooth_rejects_a_weight_outside_0_1():
    for alpha in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            smooth([1.0], alpha)


def test_smoothing_alpha_follows_the_run_length_within_bounds():
    assert smoothing_alpha(1) == 0.5
    assert smoothing_alpha(100) == pytest.approx(0.1)
    assert smoothing_alpha(10_000) == 0.05
    assert smoothing_alpha(0) == 0.5


@pytest.mark.parametrize("eval_every", [None, 5], ids=["train-only", "with-test-split"])
def test_learning_curve_png_with_and_without_eval_rows(tmp_path, eval_every):
    path = plot_learning_curve(_rows(40, eval_every), tmp_path / "curve.png", title="PPO")
    assert path == tmp_path / "curve.png"
    width, height = _png_size(path)
    assert width >= 800 and 250 <= height <= 2000
    assert 10_000 < path.stat().st_size < 2_000_000


def test_learning_curve_from_one_row(tmp_path):
    import matplotlib.pyplot as plt

    from textgym.agents.metrics import learning_curve_figure

    path = plot_learning_curve(_rows(1), tmp_path / "one.png", title="PPO")
    assert _png_size(path)[0] >= 800
    fig = learning_curve_figure(_rows(1))
    try:
        for ax in fig.axes:
            assert ax.get_xlim() == (0.0, 2.0)  # a whole iteration each side, not 0.96..1.04
            ema = next(line for line in ax.lines if line.get_label().startswith("training, EMA"))
            assert ema.get_marker() == "o"  # one point: a dot, since a line would be empty
    finally:
        plt.close(fig)


def test_learning_curve_tolerates_nan_missing_and_odd_values(tmp_path):
    rows = _rows(12, eval_every=4)
    rows[2]["env/reward_mean"] = float("nan")
    del rows[5]["objective/kl"]
    rows[7]["env/success_rate"] = None
    rows[8]["objective/kl"] = "n/a"
    del rows[9]["iteration"]
    rows.append({"iteration": 13})  # a row with no stats at all
    path = plot_learning_curve(rows, tmp_path / "odd.png", title="PPO")
    assert _png_size(path)[0] >= 800


def test_learning_curve_skips_absent_panels_and_draws_extra_keys(tmp_path):
    only_kl = [{"iteration": i, "objective/kl": 0.1 * i} for i in range(1, 6)]
    one_panel = _png_size(plot_learning_curve(only_kl, tmp_path / "kl.png"))
    three = _png_size(plot_learning_curve(_rows(5), tmp_path / "three.png"))
    assert one_panel[0] < three[0]  # panels without stats are left out
    # The benchmark's `keys`: stats beyond the standard panels get their own panel.
    rows = [dict(r, **{"ppo/policy/clipfrac": 0.1}) for r in _rows(5)]
    four = plot_learning_curve(rows, tmp_path / "four.png", keys=("ppo/policy/clipfrac",))
    assert _png_size(four)[1] > three[1]  # four panels wrap onto a second row
    # No stats at all still writes a (labelled, empty) figure rather than failing.
    assert _png_size(plot_learning_curve([], tmp_path / "empty.png"))[0] > 0


def test_learning_curve_from_a_metrics_jsonl_with_nan(tmp_path):
    """What the trainer writes: json.dumps rows, where a NaN stat is the bare token NaN."""
    log = tmp_path / "metrics.jsonl"
    rows = _rows(6, eval_every=3)
    rows[1]["objective/kl"] = float("nan")
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = plot_learning_curve(read_jsonl(log), tmp_path / "curve.png", title="PPO")
    assert _png_size(path)[0] >= 800


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_the_figure_labels_training_smoothing_and_the_test_split():
    import matplotlib.pyplot as plt

    from textgym.agents.metrics import learning_curve_figure

    fig = learning_curve_figure(_rows(20, eval_every=5), title="PPO on calc", alpha=0.2)
    try:
        axes = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
        assert set(axes) == {"reward", "success rate", "KL to the reference policy"}
        success = axes["success rate"]
        labels = _legend(success)
        assert "training (raw)" in labels and "training, EMA \u03b1=0.20" in labels
        assert "test split (greedy)" in labels
        test_line = next(
            line for line in success.lines if line.get_label() == "test split (greedy)"
        )
        assert list(test_line.get_xdata()) == [5, 10, 15, 20]  # only the rows that carry it
        assert list(test_line.get_ydata()) == pytest.approx([0.2, 0.4, 0.6, 0.8])
        ema = next(line for line in success.lines if line.get_label().startswith("training, EMA"))
        raw = [r["env/success_rate"] for r in _rows(20)]
        assert list(ema.get_ydata()) == pytest.approx(smooth(raw, 0.2))
        assert success.get_ylim()[0] < 0 and success.get_ylim()[1] > 1  # the whole rate range
        assert "test split (greedy)" not in _legend(axes["KL to the reference policy"])
        assert fig.get_suptitle() == "PPO on calc"
    finally:
        plt.close(fig)

    fig = learning_curve_figure(_rows(20))  # no eval rows: no test-split curve
    try:
        assert all("test split (greedy)" not in _legend(ax) for ax in fig.axes)
    finally:
        plt.close(fig)
