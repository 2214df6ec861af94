"""What `mlops release` does without the release flow: its state, status, promote, rollback.

Kept apart from the flow so that `mlops release status`, `promote` and
`rollback` answer without importing Prefect: a rollback is what an operator
runs when a promotion went wrong, and it should take a moment, not seconds.

Every promotion, by hand or by the release flow, goes through the service's
`POST /admin/promote`, which moves the traffic policy and the registry
aliases together; `promote` here adds the project's copy of the registry
state (reports/registry.json, the package stage's input).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

from flows import paths
from flows.adapters.service_client import PolicyStatus
from pipelines import io
from pipelines.config import Runtime
from pipelines.errors import UserError
from services.policy import TrafficPolicy
from services.promotion import PromotionResult
from services.registry_state import RegistryState

STATE_FILE = paths.RELEASE_STATE_FILE
ROLLBACK_BY = "rollback"
"""`changed_by` of a rollback's policy change: a second rollback sees it and does nothing."""


class ReleaseError(UserError, RuntimeError):
    """The release cannot start or go on; the message says why and what to do."""


class PolicyClient(Protocol):
    """The service's admin routes (flows.adapters.service_client.ServiceClient)."""

    def status(self, history: int = 10) -> PolicyStatus:
        """The policy in force and its latest changes, newest first."""
        ...

    def set_policy(self, **update: Any) -> TrafficPolicy:
        """Change the mode or the challenger's weight; the policy now in force."""
        ...

    def promote(self, version: str, reason: str, changed_by: str) -> PromotionResult:
        """Make `version` champion, policy and registry aliases together."""
        ...


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class StageEntry:
    """One step of a release: the stage it entered, when and why."""

    stage: str
    at: str
    """ISO time."""
    reason: str


@dataclass
class ReleaseState:
    """Where a release is and why: state/release/state.json, rewritten at every step."""

    champion: str
    challenger: str
    started_at: str
    updated_at: str
    stage: str | None = None
    """None before the first stage; then shadow, ab, promoted, rejected, timed_out, failed,
    rolled_back."""
    challenger_threshold: float | None = None
    previous_champion: str | None = None
    """The champion a promotion replaced (what a rollback brings back)."""
    reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    """JSON evidence by name: shadow, ab, policy_changes, registry, rollback_registry."""
    stages: list[StageEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (the state file)."""
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ReleaseState:
        """Read the state file's JSON."""
        values = dict(payload)
        values["stages"] = [StageEntry(**s) for s in values.get("stages", [])]
        return cls(**values)

    def describe(self) -> list[str]:
        """What `mlops release status` prints about the release flow."""
        lines = [
            f"release flow: v{self.challenger} against champion v{self.champion}: "
            f"{self.stage} (started {self.started_at[:19]}, updated {self.updated_at[:19]})",
            f"  why: {self.reason}",
        ]
        shadow = self.evidence.get("shadow")
        if shadow:
            agreement = shadow.get("agreement")
            lines.append(
                f"  shadow: {shadow['scored']} scored of {shadow['requests']}, agreement "
                f"{'n/a' if agreement is None else f'{agreement:.1%}'}, {shadow['errors']} "
                f"errors, {shadow['shed']} shed; p99 champion "
                f"{shadow['champion_latency']['p99_ms']} ms, challenger "
                f"{shadow['challenger_latency']['p99_ms']} ms"
            )
        ab = self.evidence.get("ab")
        if ab:
            lines.append(f"  A/B: {ab['decision']}: {ab['reason']}")
        lines += [f"  {s.at[:19]}  {s.stage:<11} {s.reason}" for s in self.stages]
        return lines


def read_state(path: Path) -> ReleaseState | None:
    """The release state file, or None when no release ran yet."""
    return ReleaseState.from_json(io.read_json(path)) if path.is_file() else None


def describe_state(state: ReleaseState | None) -> list[str]:
    """What `mlops release status` prints about the release flow (or that none ran)."""
    return ["release flow: no release yet"] if state is None else state.describe()


def promote(
    client: PolicyClient, root: Path, version: str, reason: str, changed_by: str
) -> PromotionResult:
    """Make `version` champion through the service; rewrite reports/registry.json after it.

    The one way a champion changes: `mlops release promote`, `mlops release
    rollback` and the release flow all call this.
    """
    done = client.promote(version, reason, changed_by)
    if done.registry is not None:
        io.write_json(root / paths.REGISTRY_REPORT, done.registry.to_json())
    return done


def rollback_target(status: PolicyStatus, state: ReleaseState | None) -> str | None:
    """The champion a rollback brings back; the current one when there is nothing to undo.

    After a release that promoted the serving champion: the champion it
    replaced. Otherwise the champion before the current one in the policy
    history (the service records its packaged roles first), unless the current
    one was itself put back by a rollback: then a second rollback does nothing.
    None when no other champion ever served.
    """
    current = status.policy.champion
    if state is not None and state.stage == "promoted" and state.challenger == current:
        return state.previous_champion
    for newer, older in pairwise(status.history):
        if older.policy.champion not in (None, current) and newer.policy.champion == current:
            return current if newer.changed_by == ROLLBACK_BY else older.policy.champion
    return None


def rollback(
    client: PolicyClient, root: Path, reason: str
) -> tuple[PromotionResult | None, list[str]]:
    """Bring the previous champion back at once, policy and registry; notes on what happened.

    None (and a note) when there is no previous champion to bring back.
    """
    status = client.status(history=500)
    state = read_state(root / STATE_FILE)
    target = rollback_target(status, state)
    current = status.policy.champion
    if target is None:
        return None, [f"nothing to roll back: no champion before v{current} in the history"]
    done = promote(client, root, target, reason, ROLLBACK_BY)
    notes = [done.note]
    if done.changed and state is not None and state.stage == "promoted":
        now = utc_now().isoformat()
        state.stage, state.updated_at = "rolled_back", now
        state.reason = f"{reason}; champion v{target} back, v{current} challenger"
        if done.registry is not None:
            state.evidence["rollback_registry"] = done.registry.to_json()
        state.stages.append(StageEntry("rolled_back", now, reason))
        io.write_json(root / STATE_FILE, state.to_json())
    return done, notes


def challenger_threshold(root: Path, runtime: Runtime, version: str) -> float:
    """A version's decision threshold: from reports/registry.json, else its registry tag."""
    recorded = root / paths.REGISTRY_REPORT
    if recorded.is_file():
        state = RegistryState.from_json(io.read_json(recorded))
        for entry in (state.champion, state.challenger):
            if entry is not None and entry.version == str(version):
                return entry.threshold
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from flows.adapters import tracking

    tracking.connect(root, runtime)
    try:
        tags = MlflowClient().get_model_version(runtime.model_name, version).tags
        return float(tags["threshold"])
    except (MlflowException, KeyError, ValueError) as exc:
        raise ReleaseError(
            f"no decision threshold for {runtime.model_name} v{version} in "
            f"{paths.REGISTRY_REPORT} or the registry's `threshold` tag: {exc}"
        ) from None
