"""The shadow report on prediction-log frames: agreement, errors, latency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.shadow_report import Latency, shadow_report

T0 = pd.Timestamp("2026-11-25T21:00:00Z")
GOLDEN = Path(__file__).parent / "golden" / "online"


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


@pytest.mark.parametrize(
    ("name", "frame"),
    [("shadow_report", shadow_frame), ("shadow_report_empty", lambda: shadow_frame().iloc[0:0])],
)
def test_the_evidence_json_is_what_the_release_flow_stored_before(name, frame) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    got = shadow_report(frame(), 0.5, "2").to_json()
    assert json.dumps(got) == json.dumps(expected)  # keys, their order, nulls and values
