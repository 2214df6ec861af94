"""Training lifecycle from a fresh checkout: real DVC, MLflow store and Prefect server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.e2e


def small(params: dict) -> None:
    params["generate"]["rows"] = 20000
    params["train"]["lgbm"]["n_estimators"] = 120
    params["train"]["search"]["max_trials"] = 2


def mlops(root: Path, api_url: str, *args: str):
    return run(
        [str(BIN / "mlops"), "--root", str(root), *args],
        root,
        env={"PREFECT_API_URL": api_url, "BENTOML_HOME": str(root / ".bentoml")},
        timeout=900,
    )


def aliases(root: Path) -> dict[str, int]:
    with sqlite3.connect(root / "mlflow.db") as db:
        return dict(db.execute("select alias, version from registered_model_aliases").fetchall())


def test_fresh_clone_trains_gates_registers_and_survives_a_bad_batch(
    tmp_path: Path, prefect_server: str
) -> None:
    root = copy_project(tmp_path / "proj", small)

    first = mlops(root, prefect_server, "train")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "will start" not in first.stdout + first.stderr, first.stderr[-3000:]  # no retries
    assert "rows ingested: 20000" in first.stdout
    assert "validation: passed" in first.stdout
    assert "registry: version 1 has alias 'champion'" in first.stdout, first.stdout
    evaluation = json.loads((root / "metrics" / "evaluation.json").read_text())
    assert evaluation["gate"]["passed"]
    assert set(evaluation["candidates"]) == {"baseline", "logreg", "lgbm"}
    assert 0.5 < evaluation["oracle_roc_auc"] <= 1
    assert aliases(root) == {"champion": 1}
    for figure in ("roc", "pr", "confusion", "calibration", "shap_summary", "importance"):
        assert (root / "reports" / "figures" / f"{figure}.png").is_file()
    packaged = json.loads((root / "reports" / "package.json").read_text())
    assert packaged["models"]["champion"]["tag"].startswith("parcel-delay:v1-")
    assert "challenger" not in packaged["models"]
    # the outputs went to the default DVC remote, a directory a fresh checkout can pull from
    assert "DVC remote: " in first.stdout and "pushed" in first.stdout
    assert any((root / ".dvc" / "storage").rglob("*"))

    again = mlops(root, prefect_server, "train")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stages run: none (everything up to date)" in again.stdout
    assert "DVC remote:" not in again.stdout  # nothing new to copy
    assert "already registered" in again.stdout
    assert aliases(root) == {"champion": 1}
    # same registry, same code: the same Bento, nothing rebuilt
    repackaged = mlops(root, prefect_server, "package")
    assert repackaged.returncode == 0, repackaged.stderr[-3000:]
    assert f"bento {packaged['bento']} (unchanged)" in repackaged.stdout

    params_before = (root / "params.yaml").read_text()
    exp = mlops(root, prefect_server, "experiment", "-S", "train.lgbm.num_leaves=15", "-n", "l15")
    assert exp.returncode == 0, exp.stderr[-3000:]
    assert "experiment l15" in exp.stdout
    assert (root / "params.yaml").read_text() == params_before
    listed = mlops(root, prefect_server, "experiments")
    assert "l15" in listed.stdout
    assert aliases(root) == {"champion": 1}

    # one training param changed: DVC sees only `train` as changed (evaluate follows its outputs)
    (root / "params.yaml").write_text(params_before.replace("C: 1.0", "C: 0.5"))
    status = run([str(BIN / "dvc"), "status", "--json"], root)
    assert set(json.loads(status.stdout)) == {"train"}, status.stdout
    (root / "params.yaml").write_text(params_before)

    # a corrupted batch: the user's file has an unknown depot and a text distance
    bad = pd.read_parquet(root / "data" / "raw" / "deliveries.parquet").head(2000)
    bad = bad.astype({"distance_km": object, "depot": object})
    bad.loc[5, "depot"] = "ZZ9"
    bad.loc[7, "distance_km"] = "far"
    bad.to_csv(root / "data" / "source" / "batch.csv", index=False)
    params = (root / "params.yaml").read_text()
    params = params.replace("source: generator", "source: file").replace(
        "path: null", "path: data/source/batch.csv"
    )
    (root / "params.yaml").write_text(params)
    models_before = (root / "models" / "lgbm.joblib").read_bytes()

    failed = mlops(root, prefect_server, "train")
    assert failed.returncode == 2
    assert "validation failed" in failed.stderr
    assert "depot" in failed.stderr
    assert "distance_km" in failed.stderr
    assert "data/source/batch.csv: the main batch failed validation" in failed.stderr
    # stopped at ingest, before any labelled rows could join it: the file and its report
    [folder] = list((root / "quarantine").iterdir())
    assert (folder / "batch.csv").is_file(), "the bad batch is quarantined"
    report = json.loads((folder / "validation.json").read_text())
    assert not report["success"]
    assert {f["column"] for f in report["failures"]} == {"depot", "distance_km"}
    assert (root / "models" / "lgbm.joblib").read_bytes() == models_before
    assert aliases(root) == {"champion": 1}
