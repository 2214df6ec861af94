"""The retraining policy on a table of window histories."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.retrain_policy import decide, drift_streak
from pipelines.config import Monitoring, Retrain

SETTINGS = Monitoring(retrain=Retrain(drift_windows=2, min_labelled=200))
MIN_RECALL = 0.8


def w(
    drift: bool | None = False,
    *,
    version: str = "3",
    recall: float | None = None,
    labelled: int = 0,
    run: str | None = None,
) -> dict[str, Any]:
    """A window summary; drift None means the window was stale."""
    if drift is None:
        return {"run_id": run, "model_version": version, "status": "stale", "problems": ["empty"]}
    return {
        "run_id": run,
        "model_version": version,
        "status": "ok",
        "problems": [],
        "drift": {"dataset_drift": drift},
        "variants": {"champion": {"labelled": labelled, "recall": recall}},
    }


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
    ],
)
def test_decide(history, latest, fire, reason):
    verdict = decide(history, latest, SETTINGS, MIN_RECALL)
    assert verdict["fire"] is fire
    assert reason in verdict["reason"]


def test_the_latest_window_counts_once_when_history_already_holds_it():
    latest = w(D, run="b")
    assert drift_streak([w(N, run="a"), latest], latest, 2) == 1
    assert decide([latest], latest, SETTINGS, MIN_RECALL)["fire"] is False


def test_one_drifted_window_is_enough_when_configured():
    settings = Monitoring(retrain=Retrain(drift_windows=1, min_labelled=200))
    assert decide([], w(D), settings, MIN_RECALL)["fire"] is True


def test_the_streak_stops_counting_at_the_number_needed():
    assert drift_streak([w(D)] * 10, w(D), 3) == 3


def test_one_retraining_request_per_served_model():
    asked = dict(w(D, run="b"), retrain={"fire": True, "reason": ""})
    again = decide([w(D, run="a"), asked], w(D, run="c"), SETTINGS, MIN_RECALL)
    assert again["fire"] is False  # the streak restarts after a request
    low_recall = decide([asked], w(N, run="c", recall=0.5, labelled=900), SETTINGS, MIN_RECALL)
    assert low_recall["fire"] is False
    assert "already asked for in window b" in low_recall["reason"]
    new_model = [asked, w(D, run="d", version="4")]
    assert decide(new_model, w(D, run="e", version="4"), SETTINGS, MIN_RECALL)["fire"] is True
