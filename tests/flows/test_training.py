"""The training flow's summary reads the typed outcome: reports, evaluation and decision."""

from __future__ import annotations

from flows.adapters.dvc import StageRun
from flows.training import ALREADY, Decision, TrainingOutcome, format_training
from pipelines.evaluate import CandidateReport, Check, Evaluation, Verdict
from pipelines.ingest import IngestReport
from pipelines.metrics import Metrics
from pipelines.validate import ValidationReport


def metrics(recall: float, precision: float, auc: float) -> Metrics:
    return Metrics(100, 10, 0.5, auc, 0.5, precision, recall, 0.5, precision, 8, 12, 2, 78)


def outcome(decision: Decision | None, oracle: float | None = 0.93) -> TrainingOutcome:
    evaluation = Evaluation(
        candidates={
            "baseline": CandidateReport(
                "baseline", 0.0, metrics(1, 0.15, 0.79), metrics(1, 0.15, 0.79)
            ),
            "lgbm": CandidateReport(
                "lgbm", 0.3127, metrics(0.8, 0.4, 0.9), metrics(0.81, 0.42, 0.91)
            ),
        },
        chosen="lgbm",
        verdict=Verdict((Check("min_recall", True, "recall 0.810"), Check("x", False, "why"))),
        oracle_roc_auc=oracle,
    )
    return TrainingOutcome(
        stages=[StageRun("ingest", True, ""), StageRun("split", False, "")],
        evaluation=evaluation,
        ingest=IngestReport(rows=20000, columns=18, source="generator"),
        validation=ValidationReport(success=True, rows=20000, evaluated=60),
        decision=decision,
        run_id="abc123",
        data_pushed="2 files pushed",
    )


def test_summary_lists_data_candidates_gate_and_decision() -> None:
    text = format_training(outcome(Decision("lgbm", "champion", "1", ["recall 0.810"])))
    lines = text.splitlines()
    assert lines[0] == "stages run: ingest"
    assert "rows ingested: 20000 (generator)" in lines
    assert "validation: passed (60 expectations on 20000 rows)" in lines
    assert "  lgbm          0.910   0.500   0.810      0.420     0.3127" in lines
    assert "  best achievable ROC AUC (true probabilities): 0.930" in lines
    assert "chosen: lgbm at threshold 0.3127" in lines
    assert "gate: failed" in lines
    assert "  [ok] min_recall: recall 0.810" in lines and "  [FAIL] x: why" in lines
    assert "registry: version 1 has alias 'champion'" in lines
    assert lines[-2:] == ["MLflow run: abc123", "DVC remote: 2 files pushed"]


def test_summary_says_why_nothing_was_registered_or_that_nothing_changed() -> None:
    refused = format_training(outcome(Decision("lgbm", None, None, ["a: b", "c: d"]), None))
    assert "registry: not registered: a: b; c: d" in refused
    assert "best achievable" not in refused
    same = format_training(outcome(Decision("lgbm", "champion", "3", [ALREADY])))
    assert f"registry: version 3 has alias 'champion' ({ALREADY})" in same
    assert "registry:" not in format_training(outcome(None))


def test_a_first_run_whose_gate_fails_says_why_and_that_nothing_was_packaged() -> None:
    failed = outcome(Decision("lgbm", None, None, ["x: why"]))
    text = format_training(TrainingOutcome(**{**vars(failed), "packaged": False}))
    assert "gate: failed" in text and "  [FAIL] x: why" in text
    assert "registry: not registered: x: why" in text
    assert "package: skipped: no version is champion yet" in text
    assert "run `mlops train` first" not in text
