"""In-memory ports for promotion tests: a registry's aliases and a service's policy."""

from __future__ import annotations

from services.policy import TrafficPolicy
from services.registry_state import RegistryState, RegistryUnavailable, RoleEntry
from services.router import PolicyError

THRESHOLDS = {"1": 0.3, "2": 0.4, "7": 0.45}


class FakeRegistry:
    """Aliases in memory; `unreachable` fails every call, `fail_writes` every alias move."""

    def __init__(self, champion: str | None = "1", challenger: str | None = "2") -> None:
        self.champion, self.challenger = champion, challenger
        self.unreachable = False
        self.fail_writes = 0  # how many of the next set_roles calls fail
        self.calls: list[tuple[str | None, str | None]] = []

    def _entry(self, version: str | None) -> RoleEntry | None:
        return None if version is None else RoleEntry(version, "", THRESHOLDS[version])

    def read_state(self) -> RegistryState:
        if self.unreachable:
            raise RegistryUnavailable("model registry http://mlflow:5000: connection refused")
        champion, challenger = self._entry(self.champion), self._entry(self.challenger)
        return RegistryState("parcel-delay", champion, challenger)

    def set_roles(self, champion: str | None, challenger: str | None) -> RegistryState:
        if self.unreachable or self.fail_writes:
            self.fail_writes = max(0, self.fail_writes - 1)
            raise RegistryUnavailable("model registry http://mlflow:5000: connection refused")
        self.calls.append((champion, challenger))
        self.champion, self.challenger = champion, challenger
        return self.read_state()

    @property
    def roles(self) -> tuple[str | None, str | None]:
        return self.champion, self.challenger


class FakeService:
    """The policy in force and the versions held; `refuse` makes every policy change fail."""

    def __init__(
        self,
        policy: TrafficPolicy,
        loaded: tuple[str, ...] = ("1", "2"),
        fetchable: tuple[str, ...] = (),
    ) -> None:
        self.policy = policy
        self.loaded, self.fetchable = set(loaded), set(fetchable)
        self.refuse: str | None = None
        self.changes: list[tuple[TrafficPolicy, str, str]] = []

    def ensure_version(self, version: str, role: str = "champion") -> None:
        if version in self.loaded:
            return
        if version not in self.fetchable:
            raise LookupError(f"version {version} is not loaded here")
        self.loaded.add(version)

    def set_policy(self, policy: TrafficPolicy, changed_by: str, reason: str) -> TrafficPolicy:
        if self.refuse:
            raise PolicyError(self.refuse)
        self.changes.append((policy, changed_by, reason))
        self.policy = policy
        return policy

    @property
    def roles(self) -> tuple[str | None, str | None]:
        return self.policy.champion, self.policy.challenger
