"""Shadow report and A/B test on prediction-log frames; error rates of the test by simulation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.online import Latency, ab_test, decide, recall_z, shadow_report

T0 = pd.Timestamp("2026-11-25T21:00:00Z")


def shadow_frame() -> pd.DataFrame:
    """10 shadowed rows of v2 (6 scored, 2 errors, 2 shed) and 2 rows of another version."""
    scored = [0.9, 0.1, 0.8, 0.2, 0.45, 0.55]  # challenger; champion decisions below
    decisions = [True, False, False, False, True, False]
    rows = [
        {
            "mode": "shadow",
            "model_version": "1",
            "probability": 0.5,
            "decision": d,
            "latency_ms": 2.0 + i,
            "shadow_version": "2",
            "shadow_probability": p,
            "shadow_latency_ms": 10.0,
            "shadow_error": None,
            "outcome": [1, 0, 1, pd.NA, pd.NA, 1][i],
        }
        for i, (p, d) in enumerate(zip(scored, decisions, strict=True))
    ]
    for error in ("RuntimeError: boom", "RuntimeError: boom", "shed", "shed"):
        rows.append({**rows[0], "shadow_probability": np.nan, "shadow_error": error})
    rows += [{**rows[0], "shadow_version": "7"}, {**rows[0], "shadow_version": None}]
    frame = pd.DataFrame(rows)
    frame["outcome"] = frame["outcome"].astype("Int64")
    return frame


def test_shadow_report_counts_agreement_errors_and_latency() -> None:
    report = shadow_report(shadow_frame(), challenger_threshold=0.5, challenger_version="2")
    assert report.requests == 10
    assert report.scored == 6
    assert (report.errors, report.shed) == (2, 2)
    assert report.error_rate == pytest.approx(0.2)
    # challenger decisions at 0.5: T F T F F T; champion: T F F F T F -> 3 of 6 agree
    assert report.agreement == pytest.approx(0.5)
    assert report.mean_abs_difference == pytest.approx(np.mean([0.4, 0.4, 0.3, 0.3, 0.05, 0.05]))
    assert report.labelled == 4
    assert report.champion_recall == pytest.approx(1 / 3)
    assert report.challenger_recall == pytest.approx(1.0)
    assert report.challenger_latency == Latency(p50_ms=10.0, p99_ms=10.0)
    assert report.champion_latency.p50_ms is not None


def test_shadow_report_threshold_is_the_challengers() -> None:
    low = shadow_report(shadow_frame(), challenger_threshold=0.0, challenger_version="2")
    assert low.challenger_positive_rate == 1.0
    assert low.agreement == pytest.approx(2 / 6)


def test_shadow_report_of_no_shadow_rows() -> None:
    empty = shadow_frame().iloc[0:0]
    report = shadow_report(empty, 0.5, "2")
    assert report.requests == 0
    assert report.agreement is None
    assert report.error_rate is None


# ---------------------------------------------------------------------- A/B


def variant_rows(
    variant: str, positives: int, warned: int, negatives: int, version: str, start: int = 0
) -> pd.DataFrame:
    """Labelled rows of one variant: `warned` of the `positives` delayed rows were warned."""
    n = positives + negatives
    outcome = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    decision = np.r_[np.arange(positives) < warned, np.zeros(negatives, bool)]
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
    assert result.z == pytest.approx(recall_z(90, 100, 90, 100, 0.15), abs=1e-3)


def test_ab_rejects_a_challenger_that_never_warns() -> None:
    result = ab_test(ab_frame((40, 34, 60), (40, 0, 60)), 0.05, 0.05, 100)
    assert result.decision == "reject"
    assert "inferior" in result.reason
    assert result.p_value_inferior < 0.05 / 3


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
    verdict = decide(recall_z(chal, positives, champ, positives, 0.0), alpha)
    assert 0.03 < np.mean(verdict == "promote") < 0.065
    assert 0.03 < np.mean(verdict == "reject") < 0.065


def test_one_look_promotes_a_challenger_worse_by_the_margin_at_rate_alpha() -> None:
    rng = np.random.default_rng(1)
    n, margin = 200, 0.1
    chal = rng.binomial(n, 0.8 - margin, SEEDS)
    champ = rng.binomial(n, 0.8, SEEDS)
    verdict = decide(recall_z(chal, n, champ, n, margin), 0.05)
    assert 0.035 < np.mean(verdict == "promote") < 0.065
    assert 0.035 < np.mean(verdict == "reject") < 0.065  # the mirror test's boundary too


def test_three_looks_keep_both_error_rates_below_alpha() -> None:
    """The whole A/B stage as the flow runs it: looks at 1x, 2x, 3x, alpha/3 each."""
    rng = np.random.default_rng(2)
    alpha, looks, per_look = 0.05, 3, 60  # delayed rows per variant and look
    chal = rng.binomial(per_look, 0.75, (SEEDS, looks)).cumsum(axis=1)
    champ = rng.binomial(per_look, 0.75, (SEEDS, looks)).cumsum(axis=1)
    n = per_look * np.arange(1, looks + 1)
    verdicts = decide(recall_z(chal, n, champ, n, 0.0), alpha / looks)
    decided = verdicts != "wait"
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), looks - 1)
    final = verdicts[np.arange(SEEDS), first]
    false_promote, false_reject = np.mean(final == "promote"), np.mean(final == "reject")
    assert 0.02 < false_promote <= alpha + 0.005
    assert 0.02 < false_reject <= alpha + 0.005


# ------------------------------------------- the release flow's stored evidence

GOLDEN = Path(__file__).parent / "golden" / "online"
EVIDENCE = {
    "shadow_report": lambda: shadow_report(shadow_frame(), 0.5, "2"),
    "shadow_report_empty": lambda: shadow_report(shadow_frame().iloc[0:0], 0.5, "2"),
    "ab_waiting": lambda: ab_test(ab_frame((30, 25, 70), (10, 8, 40)), 0.05, 0.05, 60),
    "ab_promote": lambda: ab_test(ab_frame((100, 90, 100), (100, 90, 100)), 0.05, 0.15, 200),
    "ab_no_delayed": lambda: ab_test(ab_frame((0, 0, 100), (10, 9, 90)), 0.05, 0.1, 50, looks=2),
    "ab_futility": lambda: ab_test(ab_frame((150, 120, 150), (150, 117, 150)), 0.05, 0.02, 100),
    "ab_inconclusive": lambda: ab_test(ab_frame((150, 120, 150), (150, 117, 150)), 0.05, 0.02, 150),
    "ab_reject": lambda: ab_test(ab_frame((40, 34, 60), (40, 0, 60)), 0.05, 0.05, 100),
}
"""Recorded evidence (tests/monitoring/golden/online, written before the typed results)."""


@pytest.mark.parametrize("name", list(EVIDENCE))
def test_the_evidence_json_is_what_the_release_flow_stored_before(name) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    got = EVIDENCE[name]().to_json()
    assert json.dumps(got) == json.dumps(expected)  # keys, their order, nulls and values
