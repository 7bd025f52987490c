"""Verdicts on hand-made results: one seed decides by the point estimate; several seeds
by the paired differences and two standard errors of their mean."""

import math

import pytest

from dlrun.core.config import Claim
from dlrun.core.trainer import VariantResult
from dlrun.record_format import DIVERGED, INCONCLUSIVE, INTERRUPTED, NOT_REPRODUCED, OK, REPRODUCED
from dlrun.run.claims import paired_differences, verdict

CLAIM = Claim("good", "bad", margin=0.3, text="good beats bad by more than 0.3")


def results(good: list[float], bad: list[float], *, good_status=OK, bad_status=OK, metric="test_accuracy"):
    def make(name, values, status):
        return VariantResult(
            name, None, list(range(len(values))), status=status, epochs=1, final={metric: values} if values else {}
        )

    return {"good": make("good", good, good_status), "bad": make("bad", bad, bad_status)}


# ------------------------------------------------------------------ one seed


def test_one_seed_above_margin_is_reproduced():
    v, evidence = verdict(CLAIM, results([0.90], [0.50]))
    assert v == REPRODUCED
    assert evidence == "difference +0.400 (1 seed)"


def test_one_seed_below_margin_is_not_reproduced():
    v, evidence = verdict(CLAIM, results([0.70], [0.50]))
    assert v == NOT_REPRODUCED
    assert "+0.200" in evidence


def test_one_seed_worse_variant_winning_is_not_reproduced_with_negative_difference():
    v, evidence = verdict(CLAIM, results([0.20], [0.80]))
    assert v == NOT_REPRODUCED
    assert "-0.600" in evidence


def test_negative_margin_claim_accepts_a_small_loss():
    """'at least as good, within 0.01': a difference of -0.005 passes, -0.05 does not."""
    claim = Claim("good", "bad", margin=-0.01)
    assert verdict(claim, results([0.945], [0.95]))[0] == REPRODUCED
    assert verdict(claim, results([0.90], [0.95]))[0] == NOT_REPRODUCED


# ------------------------------------------------------------------ several seeds


def test_several_seeds_clearly_above_margin_are_reproduced():
    # Differences 0.80, 0.79, 0.81: mean 0.80, sd 0.01, 2 s.e. = 2 * 0.01 / sqrt(3) = 0.0115.
    v, evidence = verdict(CLAIM, results([0.90, 0.91, 0.92], [0.10, 0.12, 0.11]))
    assert v == REPRODUCED
    assert evidence == "difference +0.800 ± 0.012 (2 s.e., 3 seeds)"


def test_several_seeds_clearly_below_margin_are_not_reproduced():
    # Differences 0.10, 0.12, 0.11: mean 0.11 + 0.0115 < 0.3.
    v, _ = verdict(CLAIM, results([0.50, 0.52, 0.51], [0.40, 0.40, 0.40]))
    assert v == NOT_REPRODUCED


def test_mean_above_margin_but_within_two_standard_errors_is_inconclusive():
    # Differences 0.0, 0.8, 0.4: mean 0.4 > 0.3, but sd 0.4, 2 s.e. = 0.8 / sqrt(3) = 0.462.
    v, evidence = verdict(CLAIM, results([0.5, 0.9, 0.8], [0.5, 0.1, 0.4]))
    assert v == INCONCLUSIVE
    assert evidence == f"difference +0.400 ± {0.8 / math.sqrt(3):.3f} (2 s.e., 3 seeds)"
    # The same mean from one seed alone would have been called reproduced.
    assert verdict(CLAIM, results([0.9], [0.5]))[0] == REPRODUCED


def test_mean_below_margin_but_within_two_standard_errors_is_inconclusive():
    # Differences 0.0, 0.4: mean 0.2 < 0.3, sd 0.283, 2 s.e. = 0.4: 0.2 + 0.4 > 0.3.
    assert verdict(CLAIM, results([0.5, 0.9], [0.5, 0.5]))[0] == INCONCLUSIVE


def test_one_standard_error_is_not_enough_on_either_side():
    """Differences 0.3, 0.5, 0.4: mean 0.4, sd 0.1 (sample), s.e. 0.0577. mean - 1 s.e. = 0.342
    clears the 0.3 margin, but mean - 2 s.e. = 0.285 does not: inconclusive, not reproduced.
    (With the population sd, 0.0816, 2 s.e. would be 0.094 and the claim would pass.)"""
    assert verdict(CLAIM, results([0.8, 0.9, 0.8], [0.5, 0.4, 0.4]))[0] == INCONCLUSIVE
    # Mirror image: differences 0.1, 0.3, 0.2: mean + 2 s.e. = 0.315 > 0.3 > mean + 1 s.e.
    assert verdict(CLAIM, results([0.6, 0.7, 0.6], [0.5, 0.4, 0.4]))[0] == INCONCLUSIVE
    # Twice as many seeds with the same spread shrink the s.e. enough: 0.4 - 2 * 0.1 / sqrt(6) > 0.3.
    good, bad = [0.8, 0.9, 0.8] * 2, [0.5, 0.4, 0.4] * 2
    assert verdict(CLAIM, results(good, bad))[0] == REPRODUCED


def test_pairing_removes_the_spread_shared_by_both_variants():
    """Seeds differ a lot (0.5 .. 0.9), but each seed's gap is exactly 0.4: the paired
    verdict is reproduced, though the unpaired means' spreads overlap the margin."""
    good, bad = [0.5, 0.7, 0.9], [0.1, 0.3, 0.5]
    v, evidence = verdict(CLAIM, results(good, bad))
    assert v == REPRODUCED
    assert "± 0.000" in evidence
    diffs = paired_differences(CLAIM, results(good, bad))
    assert diffs.tolist() == pytest.approx([0.4, 0.4, 0.4])


def test_unequal_seed_counts_compare_the_seeds_both_ran():
    diffs = paired_differences(CLAIM, results([0.9, 0.8, 0.7], [0.1, 0.2]))
    assert diffs.tolist() == pytest.approx([0.8, 0.6])


def test_claim_on_another_metric_reads_that_metric():
    claim = Claim("bad", "good", margin=0.0, metric="weight_norm")  # weight decay shrinks weights
    res = results([3.0, 3.1], [5.0, 5.2], metric="weight_norm")
    assert verdict(claim, res)[0] == REPRODUCED
    assert verdict(CLAIM, res)[0] == INCONCLUSIVE  # test_accuracy is not in these results


# ------------------------------------------------------------------ missing or diverged


@pytest.mark.parametrize("which", ["good", "bad"])
def test_a_diverged_variant_gives_inconclusive(which):
    status = {f"{which}_status": DIVERGED}
    v, evidence = verdict(CLAIM, results([0.9, 0.9], [0.1, 0.1], **status))
    assert v == INCONCLUSIVE
    assert "diverged" in evidence


def test_a_missing_variant_gives_inconclusive():
    res = results([0.9], [0.1])
    del res["bad"]
    assert verdict(CLAIM, res)[0] == INCONCLUSIVE
    assert paired_differences(CLAIM, res) is None


def test_a_variant_without_final_metrics_gives_inconclusive():
    """An interrupted variant that never finished an epoch has no final metrics."""
    assert verdict(CLAIM, results([0.9], [], bad_status=INTERRUPTED))[0] == INCONCLUSIVE


# ------------------------------------------------------------------ VariantResult summaries


def test_variant_result_mean_and_std_over_seeds():
    r = VariantResult("v", 0.5, [0, 1], final={"test_accuracy": [0.6, 0.8]})
    assert r.mean("test_accuracy") == pytest.approx(0.7)
    assert 0 < r.std("test_accuracy") <= 0.2 + 1e-12  # population or sample std of a 0.2 gap
    assert r.mean("missing") is None and r.std("missing") is None


def test_diverged_variant_reports_no_mean_rather_than_nan():
    r = VariantResult("v", 0.5, [0], status=DIVERGED, final={"test_accuracy": [float("nan")]})
    assert r.mean("test_accuracy") is None
    assert r.std("test_accuracy") is None


# ------------------------------------------------------------------ one variant against a threshold

THRESHOLD = Claim("good", None, margin=7.5, metric="classes", text="good covers at least 8 classes")


@pytest.mark.parametrize(
    "values, expected",
    [([10.0], REPRODUCED), ([7.0], NOT_REPRODUCED), ([10.0, 9.0, 10.0], REPRODUCED), ([9.0, 6.0, 8.0], INCONCLUSIVE)],
)
def test_a_claim_without_worse_variant_compares_the_metric_with_the_margin(values, expected):
    outcome, evidence = verdict(THRESHOLD, results(values, [], metric="classes"))
    assert outcome == expected
    assert evidence.startswith(f"classes {sum(values) / len(values):+.3f}")
