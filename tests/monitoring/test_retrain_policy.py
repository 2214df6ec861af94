"""The retraining policy on a table of window histories."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitoring.retrain_policy import decide, drift_streak
from monitoring.summary import (
    DatasetDrift,
    RetrainVerdict,
    VariantQuality,
    WindowSpan,
    WindowSummary,
)
from pipelines.config import Acceptance, Monitoring, Retrain

SETTINGS = Monitoring(retrain=Retrain(drift_windows=2, min_labelled=200))
ACCEPTANCE = Acceptance(min_recall=0.8, min_precision=0.35, max_slice_recall_gap=0.1)
AT = datetime(2026, 11, 25, 22, 15, tzinfo=UTC)
_RUNS = itertools.count()


def w(
    drift: bool | None = False,
    *,
    version: str = "3",
    recall: float | None = None,
    labelled: int = 0,
    run: str | None = None,
    precision: float | None = None,
) -> WindowSummary:
    """A window summary; drift None means the window was stale."""
    run_id = run or f"run-{next(_RUNS)}"
    span = WindowSpan(AT, AT, rows=1000, labelled=labelled)
    if drift is None:
        return WindowSummary.stale(run_id, span, version, ["empty"], AT)
    return WindowSummary(
        run_id=run_id,
        finished_at=AT,
        window=span,
        model_version=version,
        status="ok",
        problems=[],
        retrain=RetrainVerdict(False, ""),
        drift=DatasetDrift("scipy", 1000, 1000, 0.5 if drift else 0.0, 0.3, drift, 0, {}),
        variants={"champion": quality(labelled, recall, precision)},
    )


def quality(labelled: int, recall: float | None, precision: float | None) -> VariantQuality:
    """The champion's quality with only the figures the policy reads."""
    return VariantQuality("3", 1000, labelled, recall, precision, None, None, None, None, [])


D, N, S = True, False, None  # drifted, not drifted, stale


@pytest.mark.parametrize(
    ("history", "latest", "fire", "reason"),
    [
        ([], w(D), False, "1 drifted window of 2 needed"),
        ([w(N)], w(D), False, "1 drifted window of 2 needed"),
        ([w(D)], w(D), True, "dataset drift in 2 consecutive windows (2 needed)"),
        ([w(D), w(N), w(D)], w(D), True, "dataset drift in 2 consecutive windows"),
        ([w(D), w(S), w(S)], w(D), True, "dataset drift in 2 consecutive windows"),  # stale skipped
        ([w(D), w(N)], w(D), False, "1 drifted window of 2 needed"),  # a clean window breaks it
        ([w(D), w(D)], w(N), False, "0 drifted windows of 2 needed"),
        ([w(D, version="2")], w(D), False, "1 drifted window of 2 needed"),  # another model
        ([w(D), w(D)], w(S), False, "window not scored: empty"),  # no new evidence
        ([], w(N, recall=0.70, labelled=250), True, "live recall 0.700 < 0.800 on 250 labelled"),
        ([], w(N, recall=0.70, labelled=150), False, "0.700 not judged: 150 labelled rows of 200"),
        ([], w(N, recall=0.85, labelled=250), False, "live recall 0.850 >= 0.800 on 250 labelled"),
        ([], w(N, recall=None, labelled=300), False, "live recall unknown (300 labelled rows"),
        ([], w(N), False, "live recall not judged: 0 labelled rows of 200"),
        ([w(D)], w(D, recall=0.5, labelled=900), True, "in 2 consecutive windows (2 needed); live"),
        # precision is an acceptance criterion too: watched the same way
        (
            [],
            w(N, recall=0.9, precision=0.2, labelled=250),
            True,
            "live precision 0.200 < 0.350 on 250 labelled rows",
        ),
        ([], w(N, recall=0.9, precision=0.5, labelled=250), False, "live precision 0.500 >= 0.350"),
        ([], w(N, recall=0.9, precision=0.2, labelled=150), False, "0.200 not judged: 150"),
    ],
)
def test_decide(history, latest, fire, reason):
    verdict = decide(history, latest, SETTINGS, ACCEPTANCE)
    assert verdict.fire is fire
    assert reason in verdict.reason


def test_the_latest_window_counts_once_when_history_already_holds_it():
    latest = w(D, run="b")
    assert drift_streak([w(N, run="a"), latest], latest, 2) == 1
    assert decide([latest], latest, SETTINGS, ACCEPTANCE).fire is False


def test_one_drifted_window_is_enough_when_configured():
    settings = Monitoring(retrain=Retrain(drift_windows=1, min_labelled=200))
    assert decide([], w(D), settings, ACCEPTANCE).fire is True


def test_the_streak_stops_counting_at_the_number_needed():
    assert drift_streak([w(D)] * 10, w(D), 3) == 3


def test_one_retraining_request_per_served_model():
    asked = replace(w(D, run="b"), retrain=RetrainVerdict(True, ""))
    again = decide([w(D, run="a"), asked], w(D, run="c"), SETTINGS, ACCEPTANCE)
    assert again.fire is False  # the streak restarts after a request
    low_recall = decide([asked], w(N, run="c", recall=0.5, labelled=900), SETTINGS, ACCEPTANCE)
    assert low_recall.fire is False
    assert "already asked for in window b" in low_recall.reason
    new_model = [asked, w(D, run="d", version="4")]
    assert decide(new_model, w(D, run="e", version="4"), SETTINGS, ACCEPTANCE).fire is True
