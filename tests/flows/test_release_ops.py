"""Promote and rollback: one way to change the champion, repeatable without harm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.adapters.service_client import PolicyChange, PolicyStatus
from flows.release_ops import (
    ROLLBACK_BY,
    STATE_FILE,
    ReleaseState,
    StageEntry,
    promote,
    read_state,
    rollback,
    rollback_target,
)
from pipelines import io
from services.policy import TrafficPolicy
from services.registry_state import RegistryState, RoleEntry
from tests.flows.test_release import FakeService


def history(*changes: tuple[str, str | None, str]) -> list[PolicyChange]:
    """(champion, challenger, changed_by), newest first, as the admin route lists them."""
    start = datetime(2026, 11, 25, tzinfo=UTC)
    return [
        PolicyChange(
            start - timedelta(minutes=i), by, "", TrafficPolicy(champion=champion, challenger=chal)
        )
        for i, (champion, chal, by) in enumerate(changes)
    ]


def status(champion: str, *changes: tuple[str, str | None, str]) -> PolicyStatus:
    return PolicyStatus(TrafficPolicy(champion=champion), history(*changes))


def released(stage: str) -> ReleaseState:
    """A release of v2 against champion v1 that ended in `stage`."""
    return ReleaseState(
        "1",
        "2",
        "t0",
        "t1",
        stage=stage,
        previous_champion="1",
        stages=[StageEntry(stage, "t1", "")],
    )


@pytest.mark.parametrize(
    ("now", "state", "target"),
    [
        (status("2", ("2", "1", "release-flow"), ("1", "2", "package")), released("promoted"), "1"),
        # no release state: the champion before the current one
        (status("2", ("2", "1", "admin-cli"), ("1", "2", "package")), None, "1"),
        (
            status("2", ("2", "3", "admin-api"), ("2", "1", "admin-cli"), ("1", None, "x")),
            None,
            "1",
        ),
        # the rollback itself made the champion: a second rollback keeps v1
        (status("1", ("1", "2", ROLLBACK_BY), ("2", "1", "release-flow")), None, "1"),
        # a rejected challenger is never what a rollback brings
        (status("1", ("1", "2", "release-flow"), ("1", "2", "package")), None, None),
        (status("1"), None, None),
    ],
)
def test_rollback_target(now: PolicyStatus, state: ReleaseState | None, target: str | None) -> None:
    assert rollback_target(now, state) == target


def test_promote_rewrites_the_registry_report(tmp_path: Path) -> None:
    class Registered(FakeService):
        def promote(self, version: str, reason: str, changed_by: str):  # type: ignore[no-untyped-def]
            done = super().promote(version, reason, changed_by)
            state = RegistryState("m", RoleEntry(version, "fp", 0.3), RoleEntry("1", "fp1", 0.2))
            return type(done)(done.policy, done.changed, done.note, state)

    service = Registered()
    done = promote(service, tmp_path, "2", "better", "admin-cli")
    assert done.changed and done.policy.champion == "2" and done.policy.challenger == "1"
    written = RegistryState.from_json(io.read_json(tmp_path / "reports" / "registry.json"))
    assert written == done.registry


def test_rollback_twice_brings_back_the_previous_champion_once(tmp_path: Path) -> None:
    service = FakeService()
    promote(service, tmp_path, "2", "release", "release-flow")
    io.write_json(tmp_path / STATE_FILE, released("promoted").to_json())

    first, _ = rollback(service, tmp_path, "v2 misbehaves")
    assert first is not None and first.changed
    assert (service.policy.champion, service.policy.challenger) == ("1", "2")
    state = read_state(tmp_path / STATE_FILE)
    assert state is not None and state.stage == "rolled_back"

    second, notes = rollback(service, tmp_path, "pressed again")
    assert second is not None and not second.changed
    assert "already champion" in notes[0]
    assert (service.policy.champion, service.policy.challenger) == ("1", "2")
    assert service.aliases == [("2", "1"), ("1", "2")]


def test_rollback_without_a_previous_champion_changes_nothing(tmp_path: Path) -> None:
    service = FakeService()
    done, notes = rollback(service, tmp_path, "why not")
    assert done is None and "nothing to roll back" in notes[0]
    assert service.history == []


def test_release_state_round_trips_through_json() -> None:
    state = released("promoted")
    state.evidence["ab"] = {"decision": "promote", "reason": "non-inferior"}
    assert ReleaseState.from_json(state.to_json()) == state
