"""The typed window summary: its one JSON form is the recorded one, and reads back the same."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from monitoring.summary import RetrainVerdict, WindowSpan, WindowSummary
from tests.monitoring.summaries import contract_example, full_summary_json, golden

RECORDED = ["drifted", "drifted_again", "ok", "few", "empty", "no_reference", "window_problem"]


@pytest.mark.parametrize("name", RECORDED)
def test_a_recorded_summary_reads_back_to_the_same_json(name) -> None:
    recorded = golden(name)
    summary = WindowSummary.from_json(recorded)
    assert json.dumps(summary.to_json()) == json.dumps(recorded)  # keys, order, nulls, values
    assert WindowSummary.from_json(summary.to_json()) == summary


@pytest.mark.parametrize(
    "data",
    [contract_example(), full_summary_json(), full_summary_json(stale=True)],
    ids=["contract", "full", "stale"],
)
def test_the_contracts_examples_round_trip(data) -> None:
    summary = WindowSummary.from_json(data)
    assert summary.to_json() == data
    assert WindowSummary.from_json(summary.to_json()) == summary


def test_a_scored_window_has_every_section_and_a_stale_one_none() -> None:
    ok, stale = WindowSummary.from_json(golden("ok")), WindowSummary.from_json(golden("few"))
    assert ok.is_scored and ok.drift is not None and ok.segment_drift is not None
    assert ok.variants is not None and list(ok.variants) == ["champion", "challenger"]
    assert ok.variants["champion"].calibration[0].bin == "0.0-0.1"
    assert not stale.is_scored
    assert (stale.drift, stale.prediction_drift, stale.segment_drift, stale.variants) == (
        None,
        None,
        None,
        None,
    )
    assert isinstance(ok.finished_at, datetime) and ok.finished_at.tzinfo is not None


def test_a_scored_window_without_scores_writes_a_null_prediction_drift() -> None:
    summary = replace(WindowSummary.from_json(golden("ok")), prediction_drift=None)
    data = summary.to_json()
    assert data["prediction_drift"] is None
    assert WindowSummary.from_json(data) == summary


def test_the_stale_summary_is_the_recorded_stale_form() -> None:
    recorded = golden("few")
    window = recorded["window"]
    span = WindowSpan(
        datetime.fromisoformat(window["start"]),
        datetime.fromisoformat(window["end"]),
        window["rows"],
        window["labelled"],
    )
    finished = datetime.fromisoformat(recorded["finished_at"])
    stale = WindowSummary.stale(recorded["run_id"], span, "3", recorded["problems"], finished)
    assert json.dumps(stale.to_json()) == json.dumps(recorded)


def test_a_window_not_scored_never_asks_for_retraining() -> None:
    assert RetrainVerdict.not_scored(["no predictions", "no reference"]) == RetrainVerdict(
        False, "window not scored: no predictions; no reference"
    )
    assert RetrainVerdict.not_scored([]).reason == "window not scored: status stale"
