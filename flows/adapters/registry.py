"""MLflow model registry adapter: register a version, move an alias, look versions up.

The registry snapshot (which version each alias names) is
`services.registry_state.RegistryState`, the package stage's input.
mlflow is imported inside each function: it takes seconds to import and the
CLI must stay fast. The tracking URI must already be set (`tracking.connect`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.registry_models import read_registry_state
from services.registry_state import RegistryState


@dataclass(frozen=True)
class RegisteredVersion:
    """A registry version with the tags the release logic reads."""

    version: str
    tags: dict[str, str]


def alias_version(model_name: str, alias: str) -> RegisteredVersion | None:
    """The registry version carrying `alias`, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        mv = MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    return RegisteredVersion(version=str(mv.version), tags=dict(mv.tags))


def numbered_version(model_name: str, version: str) -> RegisteredVersion | None:
    """The registry version with this number, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        mv = MlflowClient().get_model_version(model_name, version)
    except MlflowException:
        return None
    return RegisteredVersion(version=str(mv.version), tags=dict(mv.tags))


def register(model_uri: str, model_name: str, tags: dict[str, str]) -> str:
    """Create a registry version of `model_uri`; return its number."""
    import mlflow

    return str(mlflow.register_model(model_uri, model_name, tags=tags).version)


def set_alias(model_name: str, alias: str, version_number: str) -> None:
    """Point `alias` at a version (one row per alias in the store: a single write)."""
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(model_name, alias, version_number)


def snapshot(model_name: str) -> RegistryState:
    """Which version each alias names now, with its fingerprint and threshold."""
    return read_registry_state(model_name)
