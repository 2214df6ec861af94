from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pipelines.config import Acceptance, EvaluateParams
from pipelines.curves import curves
from pipelines.evaluate import (
    CandidateReport,
    Check,
    Evaluation,
    Verdict,
    beats,
    champion_gate,
    champion_score,
    choose_alias,
    gate,
)
from pipelines.metrics import (
    Metrics,
    SliceResult,
    binary_metrics,
    precision_at_recall,
    slice_metrics,
)
from tests.conftest import ROOT

ACCEPT = Acceptance(
    min_recall=0.8,
    min_precision=0.35,
    max_slice_recall_gap=0.1,
    slices=["depot"],
    min_auc_gain_over_baseline=0.02,
    max_drop_vs_champion=0.01,
)


def metrics(recall: float = 0.85, precision: float = 0.4, auc: float = 0.85) -> Metrics:
    return Metrics(
        rows=100,
        positives=10,
        threshold=0.5,
        roc_auc=auc,
        pr_auc=0.5,
        precision=precision,
        recall=recall,
        f1=0.5,
        precision_at_recall=precision,
        true_positives=8,
        false_positives=12,
        false_negatives=2,
        true_negatives=78,
    )


def test_precision_at_recall_picks_best_precision_meeting_target() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    threshold, precision, recall = precision_at_recall(y, s, 0.75)
    assert threshold == pytest.approx(0.7)
    assert recall == pytest.approx(0.75)
    assert precision == pytest.approx(3 / 4)


def test_binary_metrics_counts_flags_at_threshold() -> None:
    y = np.array([1, 0, 1, 0])
    m = binary_metrics(y, np.array([0.9, 0.8, 0.3, 0.1]), 0.5, 0.5)
    assert (m.true_positives, m.false_positives, m.false_negatives, m.true_negatives) == (
        1,
        1,
        1,
        1,
    )
    assert m.precision == 0.5 and m.recall == 0.5


def test_binary_metrics_on_one_class_reports_nan_auc() -> None:
    m = binary_metrics(np.zeros(4), np.array([0.9, 0.8, 0.3, 0.1]), 0.5, 0.5)
    assert math.isnan(m.roc_auc)


def test_slices_with_too_few_positives_are_reported_not_gated() -> None:
    frame = pd.DataFrame({"depot": ["A"] * 6 + ["B"] * 2})
    y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1])
    out = {r.value: r for r in slice_metrics(frame, y, s, 0.5, ["depot"], min_positives=2)}
    assert out["A"].recall == pytest.approx(2 / 3) and out["A"].gated
    assert out["B"].recall == 1.0 and not out["B"].gated


@pytest.mark.parametrize(
    ("candidate", "baseline_auc", "slices", "failed"),
    [
        (metrics(), 0.7, [], []),
        (metrics(recall=0.79), 0.7, [], ["min_recall"]),
        (metrics(precision=0.30), 0.7, [], ["min_precision"]),
        (metrics(auc=0.71), 0.7, [], ["beats_baseline"]),
        (
            metrics(),
            0.7,
            [SliceResult("depot", "R2", 50, 40, 0.70, 0.3, True)],
            ["slice_recall_gap"],
        ),
        (metrics(), 0.7, [SliceResult("depot", "R3", 5, 3, 0.0, 0.0, False)], []),
        (
            metrics(recall=0.5, precision=0.2),
            0.9,
            [],
            ["min_recall", "min_precision", "beats_baseline"],
        ),
    ],
)
def test_gate_names_each_failed_criterion(candidate, baseline_auc, slices, failed) -> None:
    verdict = gate(candidate, metrics(auc=baseline_auc), slices, ACCEPT)
    assert [c.name for c in verdict.checks if not c.passed] == failed
    assert verdict.passed == (not failed)


def test_gate_failure_message_names_the_slice() -> None:
    slices = [SliceResult("depot", "R2", 50, 40, 0.70, 0.3, True)]
    verdict = gate(metrics(), metrics(auc=0.7), slices, ACCEPT)
    assert "depot=R2 recall 0.700" in verdict.failures[0]


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"),
    [(0.40, None, True), (0.40, 0.40, True), (0.395, 0.40, True), (0.38, 0.40, False)],
)
def test_challenger_may_not_fall_below_champion(candidate, champion, passed) -> None:
    assert beats(candidate, champion, ACCEPT).passed is passed


def test_first_passing_model_becomes_champion_later_ones_challenger() -> None:
    ok, bad = Verdict((Check("a", True, ""),)), Verdict((Check("a", False, "x"),))
    assert choose_alias(ok, ok, has_champion=False) == "champion"
    assert choose_alias(ok, ok, has_champion=True) == "challenger"
    assert choose_alias(bad, ok, has_champion=True) is None
    assert choose_alias(ok, bad, has_champion=True) is None


def test_verdict_round_trips_through_json_form() -> None:
    verdict = gate(metrics(recall=0.5), metrics(auc=0.7), [], ACCEPT)
    assert Verdict.from_json(verdict.to_json()) == verdict


def test_curves_have_bounded_size_and_calibration_bins() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    s = rng.random(5000)
    out = curves(y, s, bins=10)
    assert len(out["roc"]) <= 200 and len(out["pr"]) <= 200
    assert len(out["calibration"]) == 10
    assert out["calibration"]["rows"].sum() == 5000


# ------------------------------------------------------- the champion gate

PARAMS = EvaluateParams(recall_target=0.8, min_slice_positives=1)
PERFECT = [0.9, 0.8, 0.7, 0.1]  # y below: both delays ranked first, precision 1.0 at recall 1
HALF = [0.9, 0.1, 0.8, 0.7]  # one delay ranked last: recall 1 only at precision 0.5


class ScoreColumn:
    """A champion stand-in: its probability is the frame's `score` column."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["score"].to_numpy()


def holdout(scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"delayed": [1, 1, 0, 0], "score": scores})


def candidate(precision_at_recall: float) -> CandidateReport:
    return CandidateReport("lgbm", 0.5, metrics(), metrics(precision=precision_at_recall))


@pytest.mark.parametrize(("scores", "expected"), [(PERFECT, 1.0), (HALF, 0.5)])
def test_champion_score_is_precision_at_the_recall_target(scores, expected) -> None:
    assert champion_score(ScoreColumn(), holdout(scores), "delayed", 0.8) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("candidate_par", "champion_scores", "passed", "detail"),
    [
        (0.40, None, True, "no champion yet"),
        (0.40, PERFECT, False, "precision at recall 0.400 vs champion 1.000"),
        (0.60, HALF, True, "vs champion 0.500"),
        (0.495, HALF, True, "may drop at most 0.01"),
        (0.48, HALF, False, "precision at recall 0.480 vs champion 0.500"),
    ],
)
def test_champion_gate_rescores_the_champion_on_the_holdout(
    candidate_par, champion_scores, passed, detail
) -> None:
    champion = None if champion_scores is None else ScoreColumn()
    frame = holdout(champion_scores or HALF)
    verdict = champion_gate(candidate(candidate_par), champion, frame, "delayed", PARAMS, ACCEPT)
    assert verdict.passed is passed
    (check,) = verdict.checks
    assert check.name == "not_below_champion" and detail in check.detail


# ------------------------------------------------------- the metrics file


def evaluation() -> Evaluation:
    slices = (SliceResult("depot", "R2", 50, 40, 0.70, 0.3, True),)
    return Evaluation(
        candidates={
            "baseline": CandidateReport("baseline", 0.0, metrics(auc=0.7), metrics(auc=0.7)),
            "lgbm": CandidateReport("lgbm", 0.31, metrics(), metrics(recall=0.5), slices),
        },
        chosen="lgbm",
        verdict=gate(metrics(recall=0.5), metrics(auc=0.7), list(slices), ACCEPT),
        oracle_roc_auc=0.91,
    )


def test_evaluation_round_trips_through_its_json_form() -> None:
    e = evaluation()
    assert Evaluation.from_json(e.to_json()) == e
    assert Evaluation.from_json(json.loads(json.dumps(e.to_json()))) == e
    assert e.chosen_report is e.candidates["lgbm"]


def test_evaluation_json_has_the_metrics_file_shape() -> None:
    payload = evaluation().to_json()
    assert set(payload) == {"chosen", "oracle_roc_auc", "gate", "candidates"}
    assert payload["gate"]["passed"] is False
    assert set(payload["gate"]["checks"][0]) == {"name", "passed", "detail"}
    lgbm = payload["candidates"]["lgbm"]
    assert set(lgbm) == {"threshold", "valid", "holdout", "slices"}
    assert lgbm["holdout"]["precision_at_recall"] == 0.4
    assert lgbm["slices"][0]["value"] == "R2"


def test_the_shipped_metrics_file_reads_back_to_the_same_json() -> None:
    payload = json.loads((ROOT / "metrics" / "evaluation.json").read_text())
    assert Evaluation.from_json(payload).to_json() == payload
