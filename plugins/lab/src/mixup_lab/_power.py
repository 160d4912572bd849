"""How many seeds are enough: the smallest difference a paired comparison could detect, and the seeds it needs.

A study compares each arm with the baseline seed by seed (`mixup_lab._report.paired_comparison`). When
the 95 % interval of the mean paired difference contains 0 the verdict is *within noise*; that does not
say "no difference", only "not at this seed count". This module turns the paired spread into two figures:

- the **minimum detectable difference** at the study's ``n`` seeds: the true mean difference a paired
  t-test at level ``alpha`` (two-sided) detects with probability ``power``, using the usual approximation
  ``(t[1 − alpha/2, n − 1] + t[power, n − 1]) · sd / √n`` where ``sd`` is the sample standard deviation of
  the paired differences (Cohen, *Statistical Power Analysis for the Behavioral Sciences*, 1988, ch. 2;
  the same formula as G*Power's paired-means approximation with the central t);
- the **seeds needed** to detect the observed mean difference: the smallest ``m ≥ 2`` for which the
  detectable difference at ``m`` seeds, with the observed ``sd``, is at most ``|mean|``.

Both assume the observed spread is the true one, which with a handful of seeds is itself uncertain: they
are a planning figure, not a promise, and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SeedAdvice", "detectable_difference", "seed_advice", "seeds_needed"]

SEEDS_CAP = 1000
"""Beyond this many seeds `seeds_needed` answers ``None`` ("more than 1000"): the difference is negligible."""


def detectable_difference(sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean paired difference detected with probability ``power`` at ``n`` seeds.

    Args:
        sd: sample standard deviation of the paired differences (arm − baseline, seed by seed).
        n: number of paired seeds (at least 2).
        alpha: two-sided level of the paired t-test.
        power: the probability of detecting a difference of that size.

    Raises:
        ValueError: ``n < 2``, a negative or non-finite ``sd``, or ``alpha``/``power`` outside (0, 1).

    Examples:
        >>> round(detectable_difference(0.01, 4), 5)
        0.0208
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 paired seeds, got n={n}")
    if not math.isfinite(sd) or sd < 0:
        raise ValueError(f"sd must be a finite number >= 0, got sd={sd!r}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got alpha={alpha!r}, power={power!r}")
    from scipy import stats

    df = n - 1
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def seeds_needed(diff: float, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """The fewest paired seeds (at least 2) at which a mean difference ``diff`` with spread ``sd`` is detectable.

    Returns:
        The seed count, or ``None`` when more than `SEEDS_CAP` seeds would be needed (or ``diff`` is 0).

    Examples:
        >>> seeds_needed(0.015, 0.0129099)
        8
    """
    target = abs(diff)
    if target == 0 or not math.isfinite(target):
        return None
    if sd == 0:
        return 2
    lo, hi = 2, SEEDS_CAP
    if detectable_difference(sd, hi, alpha=alpha, power=power) > target:
        return None
    while lo < hi:  # the detectable difference falls with n: bisect for the first n that reaches the target
        mid = (lo + hi) // 2
        if detectable_difference(sd, mid, alpha=alpha, power=power) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class SeedAdvice:
    """What the seed count of one arm × metric comparison could show.

    Args:
        arm: the arm compared with the baseline.
        metric: the metric.
        n: paired seeds.
        mean_diff: observed mean difference (arm − baseline).
        sd_diff: sample standard deviation of the paired differences.
        detectable: the minimum detectable difference at ``n`` seeds (`detectable_difference`).
        needed: seeds needed to detect ``mean_diff`` (`seeds_needed`), ``None`` when over `SEEDS_CAP`.
        alpha: the test's level.
        power: the power asked.
    """

    arm: str
    metric: str
    n: int
    mean_diff: float
    sd_diff: float
    detectable: float
    needed: int | None
    alpha: float = 0.05
    power: float = 0.8

    @property
    def more(self) -> int | None:
        """Seeds to add to reach `needed` (``None`` when over the cap)."""
        return None if self.needed is None else max(0, self.needed - self.n)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (``more`` included)."""
        return {"arm": self.arm, "metric": self.metric, "n": self.n,
                "mean_diff": self.mean_diff, "sd_diff": self.sd_diff,
                "detectable": self.detectable, "needed": self.needed, "more": self.more, "alpha": self.alpha,
                "power": self.power}


def seed_advice(arm: str, comparison: dict[str, Any], *, power: float = 0.8) -> SeedAdvice | None:
    """The seeds hint of a `paired_comparison` result that is *within noise*; ``None`` for any other verdict.

    A comparison whose differences are all equal (``sd`` 0) has no spread to plan with and gets ``None`` too.
    """
    if comparison.get("verdict") != "within noise":
        return None
    n, mean, sd = comparison.get("n") or 0, comparison.get("mean_diff"), comparison.get("sd_diff")
    if n < 2 or mean is None or not sd:
        return None
    alpha = 1 - float(comparison.get("confidence", 0.95))
    return SeedAdvice(arm, str(comparison["metric"]), int(n), float(mean), float(sd),
                      detectable_difference(float(sd), int(n), alpha=alpha, power=power),
                      seeds_needed(float(mean), float(sd), alpha=alpha, power=power), alpha, power)


def advice_lines(advice: Sequence[dict[str, Any]], *, base: str, percent: Collection[str] = ()) -> list[str]:
    """The report's lines for the seeds hints (``SeedAdvice.to_json`` mappings); none when the list is empty."""
    if not advice:
        return []
    lines = ["## How many seeds are enough", ""]
    for a in advice:
        pct = a["metric"] in percent

        def fmt(v: float, pct: bool = pct) -> str:
            return f"{100 * v:.2f} pp" if pct else f"{v:.4f}"

        needed = (f"about {a['needed']} seeds ({a['more']} more: `mixup compare … --more-seeds {a['more']}`)"
                  if a["needed"] is not None and a["more"] else
                  f"about {a['needed']} seeds" if a["needed"] is not None else f"more than {SEEDS_CAP} seeds")
        lines.append(
            f"- {a['arm']} vs {base}, {a['metric']}: with {a['n']} paired seeds (sd of the differences "
            f"{fmt(a['sd_diff'])}) this study detects a difference of {fmt(a['detectable'])} or more "
            f"({100 * a['power']:.0f} % power, two-sided {100 * a['alpha']:g} % test); the observed "
            f"{'+' if a['mean_diff'] >= 0 else '−'}{fmt(abs(a['mean_diff']))} would need {needed}."
        )
    lines += ["", ("Detectable difference = (t(1 − α/2, n − 1) + t(power, n − 1)) · sd / √n, with sd the sample "
                   "standard deviation of the paired differences; the seeds needed take that sd as the true one, so "
                   "with few seeds they are a planning figure, not a promise."), ""]
    return lines
