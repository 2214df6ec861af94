"""One promote: registry aliases and traffic policy move together, or neither does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines.config import Runtime
from services.assembly import registry_aliases
from services.policy import TrafficPolicy
from services.promotion import promote
from services.registry_models import RegistryAliases
from services.registry_state import RegistryUnavailable
from services.router import PolicyError
from tests.services.promotion_fakes import FakeRegistry, FakeService

AB = TrafficPolicy(mode="ab", challenger_weight=0.5, salt="s7", champion="1", challenger="2")


@dataclass
class Case:
    """A promotion from champion v1 / challenger v2 (A/B, salt s7) in policy and registry."""

    name: str
    version: str
    policy: tuple[str | None, str | None]
    """Champion and challenger of the policy afterwards."""
    aliases: tuple[str | None, str | None] | None
    """Champion and challenger aliases afterwards; None: no registry."""
    changed: bool = True
    note: str = ""
    raises: type[Exception] | None = None
    registry: dict[str, object] = field(default_factory=dict)
    """FakeRegistry settings: initial aliases, unreachable, fail_writes."""
    refuse: str | None = None
    """The service refuses every policy change with this PolicyError."""
    fetchable: tuple[str, ...] = ()


CASES = [
    Case("challenger becomes champion", "2", ("2", "1"), ("2", "1"), note="in the registry"),
    Case("a fetchable third version", "7", ("7", "1"), ("7", "1"), fetchable=("7",)),
    Case("already champion", "1", ("1", "2"), ("1", "2"), changed=False, note="already"),
    Case("no registry: policy alone", "2", ("2", "1"), None, note="aliases were not moved"),
    Case(
        "registry behind a promoted policy",
        "1",
        ("1", "2"),
        ("1", "2"),
        note="registry aliases moved to match",
        registry={"champion": "2", "challenger": "1"},
    ),
    Case(
        "policy refused: aliases back",
        "2",
        ("1", "2"),
        ("1", "2"),
        raises=PolicyError,
        refuse="no room",
    ),
    Case(
        "registry unreachable: nothing changes",
        "2",
        ("1", "2"),
        ("1", "2"),
        raises=RegistryUnavailable,
        registry={"unreachable": True},
    ),
    Case(
        "registry refuses the move: nothing changes",
        "2",
        ("1", "2"),
        ("1", "2"),
        raises=RegistryUnavailable,
        registry={"fail_writes": 1},
    ),
    Case("unknown version: nothing changes", "9", ("1", "2"), ("1", "2"), raises=LookupError),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_promote_moves_aliases_and_policy_together(case: Case) -> None:
    service = FakeService(AB, fetchable=case.fetchable)
    service.refuse = case.refuse
    registry = None
    if case.aliases is not None:
        settings = dict(case.registry)
        registry = FakeRegistry(settings.pop("champion", "1"), settings.pop("challenger", "2"))
        for name, value in settings.items():
            setattr(registry, name, value)

    if case.raises is not None:
        with pytest.raises(case.raises):
            promote(case.version, service, registry, "ops", "why")
        assert service.policy == AB and service.changes == []
    else:
        result = promote(case.version, service, registry, "ops", "why")
        assert result.changed is case.changed
        assert case.note in result.note
        assert result.policy == service.policy
        if result.registry is not None:
            assert (result.registry.champion.version, result.registry.challenger.version) == (  # type: ignore[union-attr]
                case.aliases
            )
    assert service.roles == case.policy
    if registry is not None:
        registry.unreachable = False
        assert registry.roles == case.aliases


def test_the_promoted_policy_is_champion_only_with_the_salt_and_the_reason() -> None:
    service, registry = FakeService(AB), FakeRegistry()
    result = promote("2", service, registry, "ops", "v2 won the A/B test")
    policy, changed_by, reason = service.changes[0]
    assert policy == TrafficPolicy(mode="champion", salt="s7", champion="2", challenger="1")
    assert (changed_by, reason) == ("ops", "v2 won the A/B test")
    assert result.to_json()["registry"]["champion"] == {
        "version": "2",
        "fingerprint": "",
        "threshold": 0.4,
    }
    assert registry.calls == [("2", "1")]


def test_a_repeated_promotion_changes_nothing_the_second_time() -> None:
    service, registry = FakeService(AB), FakeRegistry()
    first = promote("2", service, registry)
    again = promote("2", service, registry)
    assert (first.changed, again.changed) == (True, False)
    assert again.note == "v2 is already the champion"
    assert len(service.changes) == 1 and registry.calls == [("2", "1")]
    assert again.policy == first.policy and again.registry == first.registry


def test_aliases_that_cannot_be_put_back_are_named() -> None:
    service, registry = FakeService(AB), FakeRegistry()
    service.refuse = "no room"

    def moved_then_unreachable(champion: str | None, challenger: str | None):
        registry.set_roles = failing  # type: ignore[method-assign]
        return FakeRegistry.set_roles(registry, champion, challenger)

    def failing(champion: str | None, challenger: str | None):
        raise RegistryUnavailable("connection refused")

    registry.set_roles = moved_then_unreachable  # type: ignore[method-assign]
    with pytest.raises(RegistryUnavailable, match="by hand") as caught:
        promote("2", service, registry)
    assert "no room" in str(caught.value)
    assert "champion v1, challenger v2" in str(caught.value)


def test_the_service_gets_a_registry_from_the_profile_or_the_project_store(
    tmp_path: Path,
) -> None:
    assert registry_aliases(Runtime(tracking_uri=None), tmp_path) is None
    assert not (tmp_path / "mlflow.db").exists()  # never created
    (tmp_path / "mlflow.db").touch()
    local = registry_aliases(Runtime(tracking_uri=None, model_name="m"), tmp_path)
    assert isinstance(local, RegistryAliases)
    assert local.tracking_uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert local.model_name == "m"
    remote = registry_aliases(Runtime(tracking_uri="http://mlflow:5000"), tmp_path / "x")
    assert remote is not None and remote.tracking_uri == "http://mlflow:5000"
