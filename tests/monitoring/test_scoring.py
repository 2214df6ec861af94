"""Scoring a window: the contract's shape when scored, stale (and why) when not, as before."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring import scoring
from monitoring.scoring import (
    ReferenceUnavailable,
    drift_schema,
    score_window,
    serving_version,
    summarize_window,
)
from monitoring.summary import RetrainVerdict, WindowSpan, WindowSummary
from monitoring.window import WindowProblem
from tests.conftest import ROOT, tiny_deliveries
from tests.monitoring.factories import empty_log, log_rows, reference, shifted
from tests.monitoring.summaries import canonical, golden

START, END = datetime(2026, 11, 25, 21, 15, tzinfo=UTC), datetime(2026, 11, 25, 22, 15, tzinfo=UTC)
STALE_ABSENT = ("drift", "prediction_drift", "variants")


def contract_example() -> dict[str, Any]:
    text = (ROOT / "docs" / "monitoring-contract.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def plain_json(value: Any) -> None:
    """Only JSON's own types, so json.dumps needs no default and no NaN."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            plain_json(item)
    elif isinstance(value, list):
        for item in value:
            plain_json(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), (value, type(value))
        assert not (isinstance(value, float) and not np.isfinite(value))


def summarize(log, ref, schema, config, version="3", history=()):
    """The summary's JSON (the contract's shape) and the snapshot."""
    summary, snapshot = summarize_window(
        log, ref, schema, config, START, END, version, list(history), "run-1"
    )
    return summary.to_json(), snapshot


def test_a_scored_window_has_the_contracts_shape(deliveries, schema, config):
    raw = deliveries(n=1500, seed=1)
    champion = log_rows(raw.iloc[:1200], schema, labelled_every=3)
    challenger = log_rows(raw.iloc[1200:], schema, variant="challenger", model_version="4")
    log = pd.concat([champion, challenger], ignore_index=True)
    ref = reference(deliveries(n=1500, seed=0), schema)
    earlier = WindowSpan(START - (END - START), START, 1500, 0)  # scored, no drift figures
    history = [WindowSummary("run-0", START, earlier, "3", "ok", [], RetrainVerdict(False, ""))]

    summary, snapshot = summarize(log, ref, schema, config.project, history=history)

    example = contract_example()
    assert list(summary) == list(example)
    assert summary["status"] == "ok" and summary["problems"] == []
    assert summary["run_id"] == "run-1" and summary["model_version"] == "3"
    assert summary["window"] == {
        "start": START.isoformat(),
        "end": END.isoformat(),
        "rows": 1500,
        "labelled": 400 + 300,
    }
    assert datetime.fromisoformat(summary["finished_at"]).tzinfo is not None
    drift = summary["drift"]
    assert set(example["drift"]) <= set(drift)
    assert drift["dataset_drift"] is False  # the same process, another sample
    assert drift["threshold_share"] == config.project.monitoring.drift_share
    assert list(drift["features"]) == schema.feature_names
    feature = example["drift"]["features"]["distance_km"]
    assert all(set(f) == set(feature) for f in drift["features"].values())
    assert set(summary["prediction_drift"]) == set(example["prediction_drift"])
    segmented = summary["segment_drift"]
    assert set(segmented) == set(example["segment_drift"])
    assert segmented["column"] == config.project.monitoring.segment_by
    rural = example["segment_drift"]["segments"]["rural"]
    assert all(set(s) == set(rural) for s in segmented["segments"].values())
    assert sum(s["rows"] for s in segmented["segments"].values()) == 1500
    assert list(summary["variants"]) == ["champion", "challenger"]
    champion_q = summary["variants"]["champion"]
    assert set(champion_q) == set(example["variants"]["champion"])
    version, rows, labelled = (champion_q[k] for k in ("model_version", "rows", "labelled"))
    assert (version, rows, labelled) == ("3", 1200, 400)
    assert summary["variants"]["challenger"]["model_version"] == "4"
    calibration_keys = set(example["variants"]["champion"]["calibration"][0])
    assert all(set(b) == calibration_keys for b in champion_q["calibration"])
    recall = champion_q["recall"]  # the oracle at 0.5 misses most of the tiny batch's delays
    precision = champion_q["precision"]
    assert summary["retrain"] == {
        "fire": True,
        "reason": f"0 drifted windows of 2 needed; live recall {recall:.3f} < 0.800 "
        f"on 400 labelled rows; live precision {precision:.3f} >= 0.350 on 400 labelled rows",
    }
    plain_json(summary)
    assert snapshot is not None


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("empty", "no predictions in the window"),
        ("few", "only 50 predictions in the window, fewer than monitoring.min_rows (200)"),
        ("missing feature", "missing from the prediction log: 'weather'"),
        ("no reference", "no drift reference for model version 3"),
        ("reference lacks", "the drift reference of model version 3 lacks: 'depot'"),
        ("bad time", "1 rows have no readable 'pickup_time'"),
    ],
)
def test_a_window_that_cannot_be_scored_is_stale_and_says_why(
    deliveries, schema, config, case, problem
):
    raw = deliveries(n=300)
    log, ref = log_rows(raw, schema, labelled_every=2), reference(raw, schema)
    if case == "empty":
        log = empty_log()
    elif case == "few":
        log = log.iloc[:50]
    elif case == "missing feature":
        log = log.drop(columns=["weather"])
    elif case == "no reference":
        ref = None
    elif case == "reference lacks":
        ref = ref.drop(columns=["depot"])
    else:
        log.loc[7, "pickup_time"] = "not a time"

    summary, snapshot = summarize(log, ref, schema, config)

    assert summary["status"] == "stale"
    assert summary["problems"] == [problem]
    assert snapshot is None
    for key in STALE_ABSENT:
        assert key not in summary
    assert summary["window"]["rows"] == len(log)
    assert summary["window"]["labelled"] == int(log["outcome"].notna().sum())
    assert summary["retrain"] == {"fire": False, "reason": f"window not scored: {problem}"}
    plain_json(summary)


# ------------------------------------------------------- the flow's one call


def ok_rows(schema) -> pd.DataFrame:
    """1,200 champion rows (v3, a third labelled) and 300 challenger rows (v4)."""
    raw = tiny_deliveries(n=1500, seed=1)
    champion = log_rows(raw.iloc[:1200], schema, labelled_every=3)
    challenger = log_rows(raw.iloc[1200:], schema, variant="challenger", model_version="4")
    return pd.concat([champion, challenger], ignore_index=True)


WINDOWS = {
    "drifted_again": (
        lambda schema: log_rows(shifted(tiny_deliveries(n=1500, seed=2)), schema, labelled_every=2),
        ["drifted"],
    ),
    "ok": (ok_rows, ["drifted", "drifted_again"]),
    "few": (lambda schema: ok_rows(schema).iloc[:50], ["drifted", "drifted_again", "ok"]),
    "empty": (lambda schema: empty_log(), ["drifted", "drifted_again", "ok", "few"]),
    "no_reference": (ok_rows, []),
    "window_problem": (ok_rows, []),
}
"""Recorded window -> its log rows and the recorded windows before it (tests/monitoring/golden)."""


def score_as_recorded(name: str, schema, config, monkeypatch) -> scoring.ScoredWindow:
    """Score the window the way it was recorded, with its run id and finish time."""
    rows, earlier = WINDOWS[name]
    expected = golden(name)
    ref = reference(tiny_deliveries(n=1500, seed=0), schema)

    def load_reference(version: str) -> pd.DataFrame:
        if name == "no_reference":
            raise ReferenceUnavailable(f"parcel-delay v{version}: no drift reference")
        return ref

    if name == "window_problem":

        def unreadable(*args, **kwargs):
            raise WindowProblem(["1 rows have no readable 'pickup_time'", "x"])

        monkeypatch.setattr(scoring, "summarize_window", unreadable)
    history = [WindowSummary.from_json(golden(n)) for n in earlier]
    return score_window(
        rows(schema), load_reference, config, history, START, END, run_id=expected["run_id"]
    )


@pytest.mark.parametrize("name", list(WINDOWS))
def test_the_summary_is_what_the_flow_wrote_before(name, schema, config, monkeypatch):
    scored = score_as_recorded(name, schema, config, monkeypatch)
    summary = {**scored.summary.to_json(), "finished_at": golden(name)["finished_at"]}
    assert canonical(summary) == canonical(golden(name))
    assert (scored.snapshot is None) == (summary["status"] == "stale")


def test_serving_version_is_the_champions_most_common():
    rows = pd.DataFrame(
        {
            "variant": ["champion", "champion", "champion", "challenger", "challenger"],
            "model_version": ["2", "3", "3", "4", "4"],
        }
    )
    assert serving_version(rows) == "3"
    assert serving_version(rows[rows["variant"] == "challenger"]) is None
    assert serving_version(empty_log()) is None


def test_drift_schema_leaves_out_the_ignored_features(schema):
    compared = drift_schema(schema, ["pickup_hour", "weather", "distance_km"])
    assert set(schema.feature_names) - set(compared.feature_names) == {
        "pickup_hour",
        "weather",
        "distance_km",
    }
    assert compared.time_column == schema.time_column
