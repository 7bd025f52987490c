"""Verdicts: does a lesson's claim reproduce, given the spread over seeds?

Comparisons are paired (seed i of every variant starts from the same weights and sees
the same data order), so the spread that matters is that of the per-seed differences.
"""

import math

import numpy as np

from dlrun.core.config import Claim
from dlrun.core.trainer import VariantResult
from dlrun.record_format import INCONCLUSIVE, NOT_REPRODUCED, OK, REPRODUCED


def paired_differences(claim: Claim, results: dict[str, VariantResult]) -> np.ndarray | None:
    """metric(better) - metric(worse) for each seed both ran (metric(better) alone when the
    claim has no `worse`); None if a variant is missing, diverged, interrupted or lacks the metric."""
    a = _metric(results.get(claim.better), claim.metric)
    if a is None or claim.worse is None:
        return a
    b = _metric(results.get(claim.worse), claim.metric)
    if b is None:
        return None
    n = min(len(a), len(b))
    return a[:n] - b[:n]


def _metric(result: VariantResult | None, metric: str) -> np.ndarray | None:
    if result is None or result.status != OK or not result.final.get(metric):
        return None
    return np.asarray(result.final[metric], dtype=float)


def verdict(claim: Claim, results: dict[str, VariantResult]) -> tuple[str, str]:
    """(verdict, evidence). With one seed the point estimate decides; with K >= 2 seeds
    the claim must hold beyond two standard errors of the mean paired difference."""
    diffs = paired_differences(claim, results)
    if diffs is None:
        return INCONCLUSIVE, "a variant is missing, diverged or interrupted"
    mean = float(diffs.mean())
    if len(diffs) == 1:
        return (REPRODUCED if mean > claim.margin else NOT_REPRODUCED), f"{_measured(claim)} {mean:+.3f} (1 seed)"
    stderr = float(diffs.std(ddof=1)) / math.sqrt(len(diffs))
    evidence = f"{_measured(claim)} {mean:+.3f} ± {2 * stderr:.3f} (2 s.e., {len(diffs)} seeds)"
    if mean - 2 * stderr > claim.margin:
        return REPRODUCED, evidence
    if mean + 2 * stderr < claim.margin:
        return NOT_REPRODUCED, evidence
    return INCONCLUSIVE, evidence


def _measured(claim: Claim) -> str:
    return "difference" if claim.worse else claim.metric
