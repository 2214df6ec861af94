"""The registry adapter on a real MLflow store (SQLite under tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_versions_aliases_and_the_snapshot(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    from flows.adapters import registry, tracking
    from pipelines.config import Runtime
    from services.registry_state import RegistryState, RoleEntry

    runtime = Runtime(tracking_uri=None, model_name="registry-test")  # tmp_path/mlflow.db
    previous = mlflow.get_tracking_uri()
    try:
        tracking.connect(tmp_path, runtime)
        MlflowClient().create_registered_model("registry-test")
        assert registry.alias_version("registry-test", "champion") is None
        assert registry.snapshot("registry-test") == RegistryState("registry-test", None, None)
        version = registry.register(
            str(tmp_path), "registry-test", {"threshold": "0.25", tracking.FINGERPRINT_TAG: "fp1"}
        )
        assert version == "1"
        assert registry.numbered_version("registry-test", "2") is None
        found = registry.numbered_version("registry-test", "1")
        assert found is not None and found.tags["threshold"] == "0.25"
        registry.set_alias("registry-test", "champion", version)
        assert registry.alias_version("registry-test", "champion") == found
        assert registry.snapshot("registry-test") == RegistryState(
            "registry-test", RoleEntry("1", "fp1", 0.25), None
        )
    finally:
        mlflow.set_tracking_uri(previous)
