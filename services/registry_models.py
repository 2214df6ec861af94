"""The MLflow registry as the service sees it: versions on demand, and the role aliases.

Replicas share the traffic policy (the policy store), not their memory: when
the release flow hot-loads a challenger into one replica, or promotes it, the
others read a policy naming a version they never packaged. With a tracking
server configured they fetch that version from the MLflow registry (the
model and its `threshold` tag), as `mlops package` would have. A promotion
moves the `champion`/`challenger` aliases (RegistryAliases) with the policy.
MLflow is imported only when the registry is used, never on the request path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines import io
from pipelines.model import DelayModel
from pipelines.schema import Schema
from services.registry_state import (
    FINGERPRINT_TAG,
    ROLES,
    RegistryState,
    RegistryUnavailable,
    RoleEntry,
)
from services.served_model import ServedModel

if TYPE_CHECKING:
    from mlflow import MlflowClient


def read_registry_state(model_name: str, client: MlflowClient | None = None) -> RegistryState:
    """The versions the aliases name now.

    Without a `client`, mlflow's tracking and registry URIs must already be set.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    entries: dict[str, RoleEntry | None] = {}
    for role in ROLES:
        try:
            mv = client.get_model_version_by_alias(model_name, role)
        except MlflowException:
            entries[role] = None
            continue
        tags = dict(mv.tags)
        entries[role] = RoleEntry(
            str(mv.version), tags.get(FINGERPRINT_TAG, ""), float(tags["threshold"])
        )
    return RegistryState(model_name, entries["champion"], entries["challenger"])


def download_model(model_name: str, version: str) -> DelayModel:
    """The DelayModel of a registry version (mlflow's tracking and registry URIs already set)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model_name}/{version}", dst_path=tmp
            )
        )
        files = list((local / "artifacts").glob("*.joblib"))
        if not files:
            raise FileNotFoundError(f"{model_name} v{version}: no model (.joblib) artifact")
        model = io.read_joblib(files[0])
    if not isinstance(model, DelayModel):
        raise ValueError(f"{model_name} v{version}: the artifact is a {type(model).__name__}")
    return model


class RegistryFetch:
    """Loads a registry version as a ServedModel: the Router's `fetch`."""

    def __init__(self, tracking_uri: str, model_name: str, schema: Schema) -> None:
        """Versions of `model_name` in the registry at `tracking_uri`, checked against `schema`."""
        self.tracking_uri, self.model_name, self.schema = tracking_uri, model_name, schema

    def __call__(self, version: str) -> ServedModel:
        """The version ready to answer; LookupError when the registry has no usable version."""
        import mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        mlflow.set_tracking_uri(self.tracking_uri)  # the registry follows it
        try:
            tags: dict[str, Any] = dict(
                MlflowClient().get_model_version(self.model_name, version).tags
            )
            threshold = float(tags["threshold"])
            model = download_model(self.model_name, version)
        except (MlflowException, KeyError, ValueError, FileNotFoundError) as exc:
            raise LookupError(f"{self.model_name} v{version} from the registry: {exc}") from None
        metadata = {"registry_version": version, "threshold": threshold, "source": "registry"}
        return ServedModel.build(version, threshold, model, self.schema, metadata)


class RegistryAliases:
    """The `champion`/`challenger` aliases of one registered model: read and moved together.

    The registry side of a promotion (services.promotion.RegistryPort). Every
    failure, whatever its cause, is a RegistryUnavailable naming the registry.
    """

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        """The model `model_name` in the registry at `tracking_uri` (the registry follows it)."""
        self.tracking_uri, self.model_name = tracking_uri, model_name

    def _client(self) -> MlflowClient:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _unavailable(self, exc: Exception) -> RegistryUnavailable:
        return RegistryUnavailable(
            f"model registry {self.tracking_uri} ({self.model_name}): {type(exc).__name__}: {exc}"
        )

    def read_state(self) -> RegistryState:
        """The versions the aliases name now; RegistryUnavailable if the model cannot be read."""
        try:
            client = self._client()
            client.get_registered_model(self.model_name)  # fails loud, unlike a missing alias
            return read_registry_state(self.model_name, client)
        except Exception as exc:
            raise self._unavailable(exc) from None

    def set_roles(self, champion: str | None, challenger: str | None) -> RegistryState:
        """Point the aliases at these versions (None removes the alias); the state after."""
        try:
            client = self._client()
            for alias, version in (("champion", champion), ("challenger", challenger)):
                if version is not None:
                    client.set_registered_model_alias(self.model_name, alias, version)
                elif alias in client.get_registered_model(self.model_name).aliases:
                    client.delete_registered_model_alias(self.model_name, alias)
            return read_registry_state(self.model_name, client)
        except Exception as exc:
            raise self._unavailable(exc) from None
