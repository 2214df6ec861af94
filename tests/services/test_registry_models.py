"""A replica fetches a registry version it lacks: real MLflow registry (SQLite) in tmp_path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pipelines.io import write_joblib
from services.registry_models import RegistryFetch
from tests.conftest import run, tiny_deliveries
from tests.flows.test_scoring import REGISTER, environment
from tests.pipelines.test_predict import train_tiny_model

pytestmark = pytest.mark.integration


def test_a_registered_version_is_fetched_with_its_threshold(
    tmp_path, config, schema, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # mlflow sets it: restored after the test
    model = train_tiny_model(config, schema)
    write_joblib(tmp_path / "model.joblib", model)
    done = run(
        [sys.executable, "-c", REGISTER, str(tmp_path), str(tmp_path / "model.joblib"), "0.37"],
        tmp_path,
        env=environment(tmp_path),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fetch = RegistryFetch(f"sqlite:///{tmp_path / 'mlflow.db'}", "parcel-delay", schema)

    served = fetch("1")

    assert (served.version, served.threshold) == ("1", 0.37)
    assert served.metadata["source"] == "registry"
    frame = tiny_deliveries(n=25, seed=3)
    rows = frame[[schema.id_column, *schema.input_columns]].to_dict("records")
    np.testing.assert_allclose(
        served.predict(served.encode(rows)), model.predict_matrix(served.encode(rows))
    )
    with pytest.raises(LookupError, match="parcel-delay v9 from the registry"):
        fetch("9")
