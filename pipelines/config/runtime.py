"""The runtime profile: where things run, from MLOPS_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Runtime(BaseSettings):
    """Where things run: read from MLOPS_* environment variables, local defaults otherwise."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", frozen=True, extra="ignore")

    tracking_uri: str | None = None
    """MLflow tracking URI; None means sqlite:///<project root>/mlflow.db."""
    experiment_name: str = "parcel-delay"
    model_name: str = "parcel-delay"
    """Name of the registered model that carries the champion/challenger aliases."""
    prediction_log_url: str | None = None
    """SQLAlchemy URL of the prediction log; None means SQLite under <root>/serving/."""
    api_key: str | None = None
    """Key that predict and feedback require (or from the secrets file)."""
    admin_key: str | None = None
    """Key that the traffic-policy routes require (or from the secrets file)."""
    secrets_file: str | None = None
    """File with `api_key=` and `admin_key=` lines; None means <root>/.secrets/serving.env."""
    service_url: str = "http://127.0.0.1:3000"
    """Where the CLI finds the running service."""
    dvc_remote: str | None = None
    """DVC remote URL (s3://bucket/path, a directory); None: .dvc/config's default, .dvc/storage."""
    engine: Literal["local", "dask"] = "local"
    """Fan-out work (search trials, scoring partitions, drift per segment): here, or on Dask."""
    dask_address: str | None = None
    """Scheduler of a running Dask cluster (tcp://host:8786); None starts a LocalCluster."""
    dask_workers: int = Field(default=2, ge=1)
    """Worker processes of the LocalCluster started when there is no `dask_address`."""

    def resolved_tracking_uri(self, root: Path) -> str:
        """The tracking URI to use, with the embedded SQLite default under `root`."""
        return self.tracking_uri or f"sqlite:///{(root / 'mlflow.db').resolve()}"
