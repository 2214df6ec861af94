from __future__ import annotations

from flows.dvc import StageFailed, stage_names
from tests.conftest import ROOT


def test_stages_run_in_dag_order() -> None:
    assert stage_names(ROOT) == ["ingest", "validate", "featurize", "split", "train", "evaluate"]


def test_bad_input_failures_are_not_retryable() -> None:
    output = "error: data/raw/x.parquet: validation failed\nERROR: failed to reproduce 'validate'"
    failed = StageFailed("validate", 2, output)
    assert failed.bad_input
    assert "validation failed" in str(failed)
    assert not StageFailed("train", 1, "Traceback ...\nMemoryError").bad_input
