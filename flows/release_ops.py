"""What `mlops release` does without the release flow: status, rollback, the registry side.

Kept apart from the flow so that `mlops release status` and `mlops release
rollback` answer without importing Prefect: a rollback is what an operator
runs when a promotion went wrong, and it should take a moment, not seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from flows import paths
from flows.adapters.service_client import previous_champion
from pipelines import io
from pipelines.config import Runtime
from pipelines.errors import UserError

STATE_FILE = paths.RELEASE_STATE_FILE


class ReleaseError(UserError, RuntimeError):
    """The release cannot start or go on; the message says why and what to do."""


class PolicyClient(Protocol):
    """The service's admin route (flows.adapters.service_client.ServiceClient)."""

    def status(self, history: int = 10) -> dict[str, Any]:
        """The policy in force and its latest changes, newest first."""
        ...

    def set_policy(self, **update: Any) -> dict[str, Any]:
        """Apply a policy change; the policy now in force."""
        ...


class RegistryOps(Protocol):
    """What the release needs from the model registry."""

    def threshold(self, version: str) -> float:
        """The decision threshold of a registry version."""
        ...

    def set_roles(self, champion: str, challenger: str | None) -> dict[str, Any]:
        """Point the champion/challenger aliases at these versions; the registry state."""
        ...


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def read_state(path: Path) -> dict[str, Any] | None:
    """The release state file, or None when no release ran yet."""
    return io.read_json(path) if path.is_file() else None


class MlflowRegistry:
    """RegistryOps over the MLflow registry and reports/registry.json (imports mlflow lazily)."""

    def __init__(self, root: Path, runtime: Runtime) -> None:
        """The registry of the project at `root`."""
        self.root, self.runtime = root, runtime

    def threshold(self, version: str) -> float:
        """From reports/registry.json when it names the version, else from the MLflow tag."""
        recorded = self.root / paths.REGISTRY_REPORT
        if recorded.is_file():
            state = io.read_json(recorded)
            for role in ("champion", "challenger"):
                entry = state.get(role) or {}
                if str(entry.get("version")) == str(version) and "threshold" in entry:
                    return float(entry["threshold"])
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        from flows.adapters import tracking

        tracking.connect(self.root, self.runtime)
        try:
            tags = MlflowClient().get_model_version(self.runtime.model_name, version).tags
            return float(tags["threshold"])
        except (MlflowException, KeyError, ValueError) as exc:
            raise ReleaseError(
                f"no decision threshold for {self.runtime.model_name} v{version} in "
                f"{paths.REGISTRY_REPORT} or the registry's `threshold` tag: {exc}"
            ) from None

    def set_roles(self, champion: str, challenger: str | None) -> dict[str, Any]:
        """Move the aliases, then rewrite reports/registry.json (the training flow's step)."""
        from mlflow import MlflowClient

        from flows.adapters import registry, tracking
        from flows.training import record_registry

        tracking.connect(self.root, self.runtime)
        name = self.runtime.model_name
        registry.set_alias(name, "champion", champion)
        if challenger is None:
            MlflowClient().delete_registered_model_alias(name, "challenger")
        else:
            registry.set_alias(name, "challenger", challenger)
        return record_registry.fn(self.root, self.runtime).to_json()


def rollback(
    client: PolicyClient,
    registry: Callable[[], RegistryOps],
    state_path: Path,
    reason: str,
) -> tuple[dict[str, Any], list[str]]:
    """Bring the previous champion back at once; the registry too when a release promoted.

    The previous champion is the state file's when the last release promoted the
    champion now serving, else the policy history's.

    Args:
        client: The service's admin route.
        registry: Makes the RegistryOps (only called when the aliases must move).
        state_path: The release state file.
        reason: Kept in the policy history.

    Returns:
        The policy now in force and notes on what else changed.
    """
    status = client.status(history=200)
    current = status["policy"]
    state = read_state(state_path)
    promoted = (
        state is not None
        and state.get("stage") == "promoted"
        and state.get("challenger") == current["champion"]
        and state.get("previous_champion")
    )
    before = (
        state["previous_champion"]
        if promoted and state is not None
        else previous_champion(status["history"], current["champion"])
    )
    if before is None:
        return client.set_policy(mode="champion", reason=reason), []
    policy = client.set_policy(
        mode="champion", champion=before, challenger=current["champion"], reason=reason
    )
    if not promoted or state is None:
        return policy, []
    note = f"registry: champion alias back on v{before}, challenger on v{current['champion']}"
    state["evidence"]["rollback_registry"] = registry().set_roles(before, current["champion"])
    now = utc_now().isoformat()
    state.update(stage="rolled_back", reason=f"{reason}; {note}", updated_at=now)
    state["stages"].append({"stage": "rolled_back", "at": now, "reason": reason})
    io.write_json(state_path, state)
    return policy, [note]


def describe_state(state: dict[str, Any] | None) -> list[str]:
    """What `mlops release status` prints about the release flow."""
    if state is None:
        return ["release flow: no release yet"]
    lines = [
        f"release flow: v{state['challenger']} against champion v{state['champion']}: "
        f"{state['stage']} (started {state['started_at'][:19]}, "
        f"updated {state['updated_at'][:19]})",
        f"  why: {state['reason']}",
    ]
    shadow = state["evidence"].get("shadow")
    if shadow:
        agreement = shadow.get("agreement")
        lines.append(
            f"  shadow: {shadow['scored']} scored of {shadow['requests']}, agreement "
            f"{'n/a' if agreement is None else f'{agreement:.1%}'}, {shadow['errors']} errors, "
            f"{shadow['shed']} shed; p99 champion {shadow['champion_latency']['p99_ms']} ms, "
            f"challenger {shadow['challenger_latency']['p99_ms']} ms"
        )
    ab = state["evidence"].get("ab")
    if ab:
        lines.append(f"  A/B: {ab['decision']}: {ab['reason']}")
    lines += [f"  {s['at'][:19]}  {s['stage']:<11} {s['reason']}" for s in state["stages"]]
    return lines
