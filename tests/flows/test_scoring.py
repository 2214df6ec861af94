"""`mlops score` against a real MLflow registry (SQLite) in a temporary project."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.adapters.tool_env import QUIET_ENV
from pipelines.io import write_joblib
from pipelines.predict import score_chunks
from tests.conftest import BIN, ROOT, run, tiny_deliveries
from tests.pipelines.test_predict import train_tiny_model

pytestmark = pytest.mark.integration

THRESHOLD = 0.42
# Logs the model as the training flow does (pyfunc wrapper, pinned requirements, no
# input example), registers it with its threshold tag and gives it the alias champion.
REGISTER = """
import sys
from pathlib import Path

import mlflow

from flows.adapters import registry, tracking
from flows.adapters.mlflow_model import ARTIFACT_KEY, DelayModelPyfunc
from pipelines.config import Runtime

root, model_path, threshold = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
runtime = Runtime()
tracking.connect(root, runtime)
with mlflow.start_run(run_name="test-model"):
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=DelayModelPyfunc(),
        artifacts={ARTIFACT_KEY: model_path},
        pip_requirements=tracking.PIP_REQUIREMENTS,
    )
version = registry.register(info.model_uri, runtime.model_name, {"threshold": repr(threshold)})
registry.set_alias(runtime.model_name, "champion", version)
print(version)
"""


def environment(root: Path) -> dict[str, str]:
    """The project's own store, whatever the developer's MLOPS_* environment says."""
    return {
        **QUIET_ENV,
        "MLOPS_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLOPS_MODEL_NAME": "parcel-delay",
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory, config, schema):
    """A project root with params, project and a registry whose champion is a tiny model."""
    root = tmp_path_factory.mktemp("scoring")
    for name in ("params.yaml", "project.yaml"):
        shutil.copy2(ROOT / name, root / name)
    model = train_tiny_model(config, schema)
    write_joblib(root / "model.joblib", model)
    done = run(
        [sys.executable, "-c", REGISTER, str(root), str(root / "model.joblib"), repr(THRESHOLD)],
        root,
        env=environment(root),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "1"
    return root, model


def mlops(root: Path, *args: str):
    return run(
        [str(BIN / "mlops"), "--root", str(root), "score", *args],
        root,
        env=environment(root),
        timeout=300,
    )


def expected_scores(model, schema, frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(list(score_chunks(model, [frame], schema, THRESHOLD, "1")), ignore_index=True)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_score_writes_the_champions_scores(project, schema, tmp_path, kind) -> None:
    root, model = project
    frame = tiny_deliveries(n=40, seed=9)
    source, target = tmp_path / f"in.{kind}", tmp_path / "out" / f"scores.{kind}"
    frame.to_csv(source, index=False) if kind == "csv" else frame.to_parquet(source, index=False)

    done = mlops(root, "--input", str(source), "--output", str(target), "--chunk-rows", "16")

    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.stdout.strip()
    assert summary.startswith("scored 40 rows in ")
    assert "rows/s) with model version 1 -> " in summary and str(target) in summary
    written = pd.read_csv(target) if kind == "csv" else pd.read_parquet(target)
    expected = expected_scores(model, schema, frame)
    assert written["delivery_id"].tolist() == expected["delivery_id"].tolist()
    np.testing.assert_allclose(written["delay_probability"], expected["delay_probability"])
    # the threshold is the registered version's tag, not a default
    assert written["delayed_predicted"].tolist() == expected["delayed_predicted"].tolist()
    assert written["model_version"].astype(str).unique().tolist() == ["1"]


def test_bad_row_exits_2_naming_the_column_and_writes_nothing(project, tmp_path) -> None:
    root, _ = project
    frame = tiny_deliveries(n=40, seed=9).astype({"depot": object})
    frame.loc[29, "depot"] = "ZZ9"  # in the second chunk: the first was already scored
    frame.to_csv(tmp_path / "in.csv", index=False)
    target = tmp_path / "scores.parquet"

    done = mlops(
        root,
        "--input",
        str(tmp_path / "in.csv"),
        "--output",
        str(target),
        "--quiet",
        "--chunk-rows",
        "16",
    )

    assert done.returncode == 2
    assert "column 'depot': 1 unknown category, e.g. 'ZZ9' (row 30)" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_missing_alias_exits_2_saying_what_to_do(project, tmp_path) -> None:
    root, _ = project
    tiny_deliveries(n=4).to_csv(tmp_path / "in.csv", index=False)
    done = mlops(
        root,
        "--input",
        str(tmp_path / "in.csv"),
        "--output",
        str(tmp_path / "o.csv"),
        "--alias",
        "challenger",
    )
    assert done.returncode == 2
    assert "no model has alias 'challenger': run `mlops train` first" in done.stderr
    assert not (tmp_path / "o.csv").exists()


def test_dask_engine_scores_in_partitions_to_the_same_file(
    project, tmp_path, prefect_server: str
) -> None:
    """`MLOPS_ENGINE=dask`: partitions on a LocalCluster of 2 workers; the file equals one pass."""
    root, _ = project
    frame = tiny_deliveries(n=45, seed=9).astype({"depot": object})
    frame.loc[[3, 40], "depot"] = "ZZ9"
    frame.to_csv(tmp_path / "in.csv", index=False)
    args = ["--input", str(tmp_path / "in.csv"), "--quiet", "--skip-invalid"]
    one = mlops(root, *args, "--output", str(tmp_path / "one.parquet"))
    assert one.returncode == 0, one.stderr[-3000:]
    output = ["--output", str(tmp_path / "parts.parquet"), "--partition-rows", "10"]
    parts = run(
        [str(BIN / "mlops"), "--root", str(root), "score", *args, *output],
        root,
        env={
            **environment(root),
            "MLOPS_ENGINE": "dask",
            "MLOPS_DASK_WORKERS": "2",
            "PREFECT_API_URL": prefect_server,
        },
        timeout=300,
    )
    assert parts.returncode == 0, parts.stderr[-3000:]
    assert "scored 43 rows" in parts.stdout and "2 rows rejected" in parts.stdout
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "parts.parquet"), pd.read_parquet(tmp_path / "one.parquet")
    )
    rejected = [pd.read_csv(tmp_path / f"{n}.parquet.rejected.csv") for n in ("one", "parts")]
    pd.testing.assert_frame_equal(*rejected)
    assert rejected[0]["row"].tolist() == [4, 41]
