"""Which registry version each role alias names: the contract between registry, package and service.

Plain data (no MLflow import): the CLI's quick commands and the package step
read it from reports/registry.json; services/registry_models.py reads it from
the MLflow registry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ROLES = ("champion", "challenger")
FINGERPRINT_TAG = "mlops.fingerprint"
"""Registry version tag: identity of the training result (models, metrics, data)."""


@dataclass(frozen=True)
class RoleEntry:
    """The version an alias names, with what packaging and serving need from it."""

    version: str
    fingerprint: str
    threshold: float
    """The decision threshold chosen on validation (the version's `threshold` tag)."""


@dataclass(frozen=True)
class RegistryState:
    """Which version each alias names: reports/registry.json, the package stage's input."""

    model_name: str
    champion: RoleEntry | None
    challenger: RoleEntry | None

    def role(self, name: str) -> RoleEntry | None:
        """The entry of `champion` or `challenger`."""
        entry: RoleEntry | None = getattr(self, name)
        return entry

    def to_json(self) -> dict[str, Any]:
        """The JSON form (reports/registry.json)."""
        return {
            "model_name": self.model_name,
            "champion": None if self.champion is None else asdict(self.champion),
            "challenger": None if self.challenger is None else asdict(self.challenger),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> RegistryState:
        """Read the JSON form back."""
        entries = {r: None if payload.get(r) is None else RoleEntry(**payload[r]) for r in ROLES}
        return cls(payload["model_name"], entries["champion"], entries["challenger"])


class RegistryUnavailable(RuntimeError):
    """The registry cannot be read or changed now (unreachable, or the model is missing)."""
