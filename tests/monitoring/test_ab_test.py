"""The A/B test on prediction-log frames: recall, precision, latency; error rates by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.ab_test import ab_test, decide, noninferiority_z

T0 = pd.Timestamp("2026-11-25T21:00:00Z")


def variant_rows(
    variant: str,
    positives: int,
    warned: int,
    negatives: int,
    version: str,
    start: int = 0,
    false_alarms: int = 0,
    latency_ms: float = 2.0,
) -> pd.DataFrame:
    """Labelled rows of one variant: `warned` of the `positives` rows and `false_alarms` of
    the negatives were flagged; every answer took `latency_ms`."""
    n = positives + negatives
    outcome = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    decision = np.r_[np.arange(positives) < warned, np.arange(negatives) < false_alarms]
    order = np.random.default_rng(n + warned).permutation(n)  # positives spread out in time
    at = T0 + pd.to_timedelta(start + np.arange(n), unit="s")
    return pd.DataFrame(
        {
            "request_id": [f"{variant}-{start + i}" for i in range(n)],
            "received_at": at,
            "variant": variant,
            "model_version": version,
            "decision": decision[order],
            "outcome": pd.array(outcome[order], dtype="Int64"),
            "feedback_at": at + pd.Timedelta(seconds=30),
            "latency_ms": latency_ms,
        }
    )


def ab_frame(champ: tuple[int, int, int], chal: tuple[int, int, int]) -> pd.DataFrame:
    """(positives, warned, negatives) per variant, champion v1 and challenger v2."""
    return pd.concat(
        [variant_rows("champion", *champ, version="1"), variant_rows("challenger", *chal, "2")],
        ignore_index=True,
    )


def test_ab_waits_for_min_labelled_of_each_variant() -> None:
    frame = ab_frame((30, 25, 70), (10, 8, 40))
    result = ab_test(frame, alpha=0.05, margin=0.05, min_labelled=60)
    assert result.decision == "wait"
    assert result.look == 0
    assert "challenger 50/60" in result.reason
    unlabelled = frame.assign(outcome=pd.array([pd.NA] * len(frame), dtype="Int64"))
    assert ab_test(unlabelled, 0.05, 0.05, 10).decision == "wait"


def test_ab_promotes_an_equal_challenger_and_states_the_error_rate() -> None:
    frame = ab_frame((100, 90, 100), (100, 90, 100))
    result = ab_test(frame, alpha=0.05, margin=0.15, min_labelled=200, looks=3)
    assert result.decision == "promote"
    assert result.look == 1
    assert result.p_value < 0.05 / 3
    assert result.variants["challenger"].recall == pytest.approx(0.9)
    assert result.variants["champion"].precision == pytest.approx(1.0)
    assert "at most 5%" in result.reason
    assert result.z == pytest.approx(noninferiority_z(90, 100, 90, 100, 0.15), abs=1e-3)
    assert result.tests is not None and set(result.tests) == {"recall", "precision"}


def test_ab_rejects_a_challenger_that_never_warns() -> None:
    result = ab_test(ab_frame((40, 34, 60), (40, 0, 60)), 0.05, 0.05, 100)
    assert result.decision == "reject"
    assert "inferior in recall" in result.reason
    assert result.p_value_inferior < 0.05 / 3
    assert result.tests is not None and set(result.tests) == {"recall"}  # it never flagged


def test_ab_rejects_a_challenger_that_flags_everything_on_precision() -> None:
    """Same recall, but every negative row flagged too: precision is an acceptance criterion."""
    champ = variant_rows("champion", 100, 90, 200, "1", false_alarms=20)
    chal = variant_rows("challenger", 100, 90, 200, "2", false_alarms=200)
    result = ab_test(pd.concat([champ, chal], ignore_index=True), 0.05, 0.05, 300)
    assert result.decision == "reject"
    assert (
        "inferior in precision" in result.reason
        and "recall" not in result.reason.split("inferior in")[1].split(":")[0]
    )
    assert result.tests is not None
    assert result.tests["precision"].difference == pytest.approx(90 / 290 - 90 / 110, abs=1e-6)


def test_ab_rejects_a_challenger_over_the_latency_budget_at_the_first_look() -> None:
    champ = variant_rows("champion", 100, 90, 100, "1", latency_ms=3.0)
    chal = variant_rows("challenger", 100, 90, 100, "2", latency_ms=120.0)
    frame = pd.concat([champ, chal], ignore_index=True)
    result = ab_test(frame, 0.05, 0.15, 200, latency_budget_ms=50)
    assert result.decision == "reject"
    assert "p99 latency 120.0 ms breaks the latency budget of 50 ms" in result.reason
    assert result.variants["challenger"].latency_p99_ms == pytest.approx(120.0)
    assert ab_test(frame, 0.05, 0.15, 200).decision == "promote"  # without a budget


def test_ab_rejects_for_futility_after_the_last_look() -> None:
    close = ab_frame((150, 120, 150), (150, 117, 150))  # recall 0.80 vs 0.78, margin 0.02
    final = ab_test(close, 0.05, 0.02, min_labelled=100, looks=3)  # 300 rows: the last look
    assert (final.decision, final.look) == ("reject", 3)
    assert "futility" in final.reason and "not controlled" in final.reason
    second = ab_test(close, 0.05, 0.02, min_labelled=150, looks=3)
    assert second.decision == "wait"
    assert second.look == 2
    assert "next look at 450" in second.reason


def test_ab_decides_each_look_on_the_first_outcomes_to_arrive() -> None:
    base = ab_frame((30, 27, 70), (30, 27, 70))
    at_look = ab_test(base, 0.05, 0.3, min_labelled=100)
    later = variant_rows("challenger", 50, 0, 0, "2", start=1000)  # bad rows, after the look
    more = pd.concat([base, later], ignore_index=True).sample(frac=1.0, random_state=3)
    again = ab_test(more, 0.05, 0.3, min_labelled=100)
    assert again.variants["challenger"].labelled == 150
    assert again.variants["challenger"].recall == at_look.variants["challenger"].recall
    for key in ("decision", "look", "z", "p_value"):
        assert getattr(again, key) == getattr(at_look, key)


def test_ab_counts_only_the_named_versions() -> None:
    frame = ab_frame((30, 27, 70), (30, 27, 70))
    stale = variant_rows("challenger", 100, 0, 0, "9", start=5000)
    result = ab_test(
        pd.concat([frame, stale], ignore_index=True),
        0.05,
        0.3,
        100,
        champion_version="1",
        challenger_version="2",
    )
    assert result.variants["challenger"].labelled == 100
    assert result.variants["challenger"].recall == pytest.approx(0.9)


def test_ab_without_delayed_rows_waits_then_rejects() -> None:
    frame = ab_frame((0, 0, 100), (10, 9, 90))
    assert ab_test(frame, 0.05, 0.1, 50, looks=3).decision == "wait"
    assert ab_test(frame, 0.05, 0.1, 50, looks=2).decision == "reject"


# -------------------------------------------------- error rates, by simulation

SEEDS = 40_000


@pytest.mark.parametrize(("positives", "recall"), [(40, 0.8), (150, 0.6), (400, 0.9)])
def test_one_look_false_promote_and_reject_rates_are_near_alpha(positives, recall) -> None:
    """Equal true recalls, no margin: both one-sided tests are at their boundary."""
    rng = np.random.default_rng(positives)
    alpha = 0.05
    chal = rng.binomial(positives, recall, SEEDS)
    champ = rng.binomial(positives, recall, SEEDS)
    verdict = decide(noninferiority_z(chal, positives, champ, positives, 0.0), alpha)
    assert 0.03 < np.mean(verdict == "promote") < 0.065
    assert 0.03 < np.mean(verdict == "reject") < 0.065


def test_one_look_promotes_a_challenger_worse_by_the_margin_at_rate_alpha() -> None:
    rng = np.random.default_rng(1)
    n, margin = 200, 0.1
    chal = rng.binomial(n, 0.8 - margin, SEEDS)
    champ = rng.binomial(n, 0.8, SEEDS)
    verdict = decide(noninferiority_z(chal, n, champ, n, margin), 0.05)
    assert 0.035 < np.mean(verdict == "promote") < 0.065
    assert 0.035 < np.mean(verdict == "reject") < 0.065  # the mirror test's boundary too


def test_three_looks_keep_both_error_rates_below_alpha() -> None:
    """The whole A/B stage as the flow runs it: looks at 1x, 2x, 3x, alpha/3 each."""
    rng = np.random.default_rng(2)
    alpha, looks, per_look = 0.05, 3, 60  # delayed rows per variant and look
    chal = rng.binomial(per_look, 0.75, (SEEDS, looks)).cumsum(axis=1)
    champ = rng.binomial(per_look, 0.75, (SEEDS, looks)).cumsum(axis=1)
    n = per_look * np.arange(1, looks + 1)
    verdicts = decide(noninferiority_z(chal, n, champ, n, 0.0), alpha / looks)
    decided = verdicts != "wait"
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), looks - 1)
    final = verdicts[np.arange(SEEDS), first]
    false_promote, false_reject = np.mean(final == "promote"), np.mean(final == "reject")
    assert 0.02 < false_promote <= alpha + 0.005
    assert 0.02 < false_reject <= alpha + 0.005
