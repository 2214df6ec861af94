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


def test_promote_moves_the_aliases_of_a_real_registry(tmp_path, schema, make_router) -> None:
    from fastapi.testclient import TestClient
    from mlflow import MlflowClient

    from pipelines.config import ServeParams
    from services.app import ServiceState, create_app
    from services.registry_models import RegistryAliases
    from tests.services.test_app import ADMIN, KEYS

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("parcel-delay")
    for threshold in (0.3, 0.4):
        client.create_model_version(
            "parcel-delay", str(tmp_path), tags={"threshold": repr(threshold)}
        )
    client.set_registered_model_alias("parcel-delay", "champion", "1")
    client.set_registered_model_alias("parcel-delay", "challenger", "2")
    state = ServiceState(
        router=make_router(), keys=KEYS, registry=RegistryAliases(uri, "parcel-delay")
    )

    with TestClient(create_app(schema, ServeParams(), state)) as app:
        got = app.post("/admin/promote", json={"version": "2"}, headers=ADMIN)
        again = app.post("/admin/promote", json={"version": "2"}, headers=ADMIN)

    assert got.status_code == 200, got.text
    assert str(client.get_model_version_by_alias("parcel-delay", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("parcel-delay", "challenger").version) == "1"
    assert got.json()["registry"] == {
        "model_name": "parcel-delay",
        "champion": {"version": "2", "fingerprint": "", "threshold": 0.4},
        "challenger": {"version": "1", "fingerprint": "", "threshold": 0.3},
    }
    assert (got.json()["policy"]["champion"], got.json()["policy"]["challenger"]) == ("2", "1")
    assert again.json()["changed"] is False
    assert RegistryAliases(uri, "parcel-delay").set_roles("2", None).challenger is None
    assert "challenger" not in client.get_registered_model("parcel-delay").aliases


def test_a_registry_without_the_model_is_named(tmp_path) -> None:
    from services.registry_models import RegistryAliases
    from services.registry_state import RegistryUnavailable

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(RegistryUnavailable, match="parcel-delay"):
        RegistryAliases(uri, "parcel-delay").read_state()
