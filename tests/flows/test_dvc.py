from __future__ import annotations

from flows.dvc import StageFailed, stage_names
from tests.conftest import ROOT


def test_stages_run_in_dag_order() -> None:
    assert stage_names(ROOT) == [
        "ingest",
        "validate",
        "featurize",
        "split",
        "train",
        "evaluate",
        "package",
    ]


def test_bad_input_failures_are_not_retryable() -> None:
    output = (
        "Running stage 'validate'\nerror: data/raw/x.parquet: validation failed\n"
        "  - depot: expect_column_values_to_be_in_set: 1 row not in [N1]\n"
        "ERROR: failed to reproduce 'validate'"
    )
    failed = StageFailed("validate", 2, output)
    assert failed.bad_input
    assert "validation failed" in str(failed)
    assert "depot: expect_column_values_to_be_in_set" in str(failed)
    assert "failed to reproduce" not in str(failed)
    assert not StageFailed("train", 1, "Traceback ...\nMemoryError").bad_input
