"""Uncertainty on the board: Wilson intervals for success rates, seeded bootstrap intervals
for mean rewards and for the overall score, and ranks that treat overlapping intervals as
ties.

A test split of 200 items pins a success rate only to about +-7 points at 50%, so two
agents 3 points apart are not told apart by the board; the intervals say so, and the ranks
do not pretend otherwise. Every function here is deterministic: the bootstrap draws from
its own ``random.Random(seed)`` (never a global RNG), so the same episodes always give the
same interval and a board rewritten from its JSON prints the same numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

__all__ = [
    "LEVEL",
    "RESAMPLES",
    "BOOTSTRAP_SEED",
    "Z95",
    "wilson",
    "bootstrap_mean",
    "bootstrap_score",
    "shared_ranks",
    "percentile_interval",
    "cell_intervals",
]

#: Confidence level of every interval on the board.
LEVEL = 0.95
#: The two-sided 95% normal quantile, Phi^-1(0.975).
Z95 = 1.959963984540054
#: Bootstrap resamples: the 2.5% and 97.5% points then sit on the 50th and 1950th of 2000
#: sorted means, stable to about a tenth of the interval's width.
RESAMPLES = 2000
#: The bootstrap's own seed (not the board's episode seed): fixed, so intervals are
#: reproducible from the per-episode lists alone.
BOOTSTRAP_SEED = 0


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n``.

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not empty at 0/n or
    n/n, where a saturated tier sits: 0/200 gives (0, 0.0188), not (0, 0).
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Exact ends: 0/n has lower bound 0 and n/n upper bound 1 (rounding would miss them).
    lo = 0.0 if successes == 0 else max(0.0, center - half)
    hi = 1.0 if successes == n else min(1.0, center + half)
    return lo, hi


def percentile_interval(stats: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The nearest-rank percentile interval of bootstrap statistics: with B sorted values,
    the ceil(B * a/2)-th and ceil(B * (1 - a/2))-th, a = 1 - level (the 50th and 1950th
    of 2000)."""
    if not stats:
        raise ValueError("no bootstrap statistics")
    ordered = sorted(stats)
    alpha = 1.0 - level
    b = len(ordered)
    lo = ordered[max(0, math.ceil(b * alpha / 2 - 1e-9) - 1)]
    hi = ordered[min(b - 1, math.ceil(b * (1 - alpha / 2) - 1e-9) - 1)]
    return lo, hi


def bootstrap_mean(
    values: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``: ``resamples`` resamples of
    ``len(values)`` draws with replacement from ``random.Random(seed)``, each mean an
    exactly rounded sum (``math.fsum``) over n, so a constant list gives exactly itself."""
    if not values:
        raise ValueError("bootstrap_mean needs at least one value")
    rng = random.Random(seed)
    data = [float(v) for v in values]
    n = len(data)
    means = [math.fsum(rng.choices(data, k=n)) / n for _ in range(resamples)]
    return percentile_interval(means, level)


def bootstrap_score(
    columns: Sequence[Sequence[float] | float],
    *,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Interval of an overall score, the mean over envs of each env's per-episode mean.

    Each item of ``columns`` is an env's per-episode values (resampled independently, as
    the envs' test splits are independent) or a constant (a missing cell's fixed penalty).
    One ``random.Random(seed)`` draws every resample, columns in order.
    """
    if not columns:
        raise ValueError("bootstrap_score needs at least one column")
    rng = random.Random(seed)
    data = [c if isinstance(c, (int, float)) else [float(v) for v in c] for c in columns]
    scores = []
    for _ in range(resamples):
        total = 0.0
        for col in data:
            if isinstance(col, (int, float)):
                total += col
            else:
                total += math.fsum(rng.choices(col, k=len(col))) / len(col)
        scores.append(total / len(data))
    return percentile_interval(scores, level)


def shared_ranks(
    scored: Sequence[tuple[str, float, tuple[float, float]]],
) -> dict[str, int]:
    """Ranks with ties: name -> rank, from (name, score, (lo, hi)) best first.

    The rule: walk the agents by score (best first, name order among equal scores). The
    first agent of a group is its *leader*; a later agent joins the leader's group, and
    shares its rank, when its score equals the leader's or its interval overlaps the
    leader's. Otherwise it leads a new group ranked 1 + the number of agents above it
    (competition ranking: 1, 1, 3). Comparing with the leader, not the agent just above,
    stops a chain of small overlaps from tying the whole board. Overlap is a conservative
    test (intervals that overlap slightly can still differ significantly), so the board
    errs towards ties rather than orders it cannot support.
    """
    order = sorted(scored, key=lambda s: (-s[1], s[0]))
    ranks: dict[str, int] = {}
    leader: tuple[str, float, tuple[float, float]] | None = None
    for position, item in enumerate(order):
        name, score, (lo, hi) = item
        if leader is not None:
            _, lead_score, (lead_lo, lead_hi) = leader
            if score == lead_score or (hi >= lead_lo and lo <= lead_hi):
                ranks[name] = ranks[leader[0]]
                continue
        leader = item
        ranks[name] = position + 1
    return ranks


def cell_intervals(per_episode: Mapping[str, Sequence[object]]) -> dict[str, list[float]]:
    """The intervals of one cell: Wilson for its success rate, the bootstrap for its mean
    reward (``[lo, hi]`` lists, as they are stored in JSON)."""
    success = [bool(s) for s in per_episode["success"]]
    rewards = [float(r) for r in per_episode["reward"]]  # type: ignore[arg-type]
    return {
        "success_rate": list(wilson(sum(success), len(success))),
        "mean_reward": list(bootstrap_mean(rewards)),
    }
