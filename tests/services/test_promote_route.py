"""POST /admin/promote through the app; PUT /admin/policy no longer swaps roles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pipelines.config import ServeParams
from services.app import ServiceState, create_app
from services.router import PolicyError
from tests.services.promotion_fakes import FakeRegistry
from tests.services.test_app import ADMIN, CLIENT, KEYS


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry("1", "2")


@pytest.fixture
def client(schema, make_router, registry):
    router = make_router(mode="ab", weight=0.5)
    state = ServiceState(router=router, keys=KEYS, registry=registry)
    with TestClient(create_app(schema, ServeParams(), state)) as c:
        c.router_ = router  # type: ignore[attr-defined]
        yield c


def test_promote_moves_the_registry_and_the_policy_then_changes_nothing(client, registry) -> None:
    got = client.post("/admin/promote", json={"version": "2", "reason": "won"}, headers=ADMIN)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["changed"] is True
    assert "champion v2, challenger v1" in body["note"]
    assert (body["policy"]["mode"], body["policy"]["champion"], body["policy"]["challenger"]) == (
        "champion",
        "2",
        "1",
    )
    assert body["policy"]["challenger_weight"] == 0.0
    assert body["registry"] == {
        "model_name": "parcel-delay",
        "champion": {"version": "2", "fingerprint": "", "threshold": 0.4},
        "challenger": {"version": "1", "fingerprint": "", "threshold": 0.3},
    }
    assert registry.roles == ("2", "1")
    assert client.get("/ready").json()["champion"] == "2"
    history = client.get("/admin/policy", headers=ADMIN).json()["history"]
    assert (history[0]["changed_by"], history[0]["reason"]) == ("admin", "won")

    again = client.post("/admin/promote", json={"version": "2"}, headers=ADMIN)
    assert again.status_code == 200, again.text
    assert again.json()["changed"] is False
    assert again.json()["policy"] == body["policy"]
    assert registry.calls == [("2", "1")]
    assert len(client.get("/admin/policy", headers=ADMIN).json()["history"]) == len(history)


def test_put_policy_refuses_to_swap_roles_and_still_changes_the_mode(client) -> None:
    swap = {"mode": "champion", "champion": "2", "challenger": "1"}
    got = client.put("/admin/policy", json=swap, headers=ADMIN)
    assert got.status_code == 409
    assert "POST /admin/promote" in got.json()["detail"]
    assert client.get("/ready").json()["champion"] == "1"
    same_roles = {"mode": "shadow", "champion": "1", "challenger": "2"}
    assert client.put("/admin/policy", json=same_roles, headers=ADMIN).status_code == 200
    assert client.put("/admin/policy", json={"mode": "champion"}, headers=ADMIN).status_code == 200
    assert client.get("/ready").json() == {
        "ready": True,
        "mode": "champion",
        "champion": "1",
        "challenger": "2",
    }


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"version": "2"}, 401),
        (CLIENT, {"version": "2"}, 403),
        (ADMIN, {"version": "9"}, 404),
        (ADMIN, {"version": 2}, 422),
        (ADMIN, {"version": "2", "mode": "ab"}, 422),
        (ADMIN, {"version": "../2"}, 422),
    ],
)
def test_promote_refusals_change_nothing(client, registry, headers, body, status) -> None:
    got = client.post("/admin/promote", json=body, headers=headers)
    assert got.status_code == status, got.text
    assert client.get("/ready").json()["champion"] == "1"
    assert registry.calls == []


def test_an_unreachable_registry_is_a_503_and_nothing_changes(client, registry) -> None:
    registry.unreachable = True
    got = client.post("/admin/promote", json={"version": "2"}, headers=ADMIN)
    assert got.status_code == 503
    assert "connection refused" in got.json()["detail"]
    assert client.get("/ready").json()["mode"] == "ab"


def test_a_policy_that_cannot_be_applied_is_a_409_and_the_aliases_go_back(
    client, registry, monkeypatch
) -> None:
    def refuse(*args, **kwargs):
        raise PolicyError("the policy store says no")

    monkeypatch.setattr(client.router_, "set_policy", refuse)
    got = client.post("/admin/promote", json={"version": "2"}, headers=ADMIN)
    assert got.status_code == 409
    assert got.json()["detail"] == "the policy store says no"
    assert registry.calls == [("2", "1"), ("1", "2")]
    assert registry.roles == ("1", "2")


def test_without_a_registry_the_policy_moves_alone(schema, make_router) -> None:
    state = ServiceState(router=make_router(), keys=KEYS)
    with TestClient(create_app(schema, ServeParams(), state)) as c:
        got = c.post("/admin/promote", json={"version": "2"}, headers=ADMIN)
    assert got.status_code == 200, got.text
    assert got.json()["registry"] is None
    assert "aliases were not moved" in got.json()["note"]
    assert (got.json()["policy"]["champion"], got.json()["policy"]["challenger"]) == ("2", "1")


def test_a_version_only_the_registry_holds_is_fetched_and_promoted(
    schema, make_router, trained
) -> None:
    from services.served_model import ServedModel

    def fetch(version: str) -> ServedModel:
        if version != "7":
            raise LookupError(f"parcel-delay v{version} from the registry: not found")
        return ServedModel.build("7", 0.45, trained["logreg"], schema)

    registry = FakeRegistry("1", "2")
    state = ServiceState(router=make_router(fetch=fetch), keys=KEYS, registry=registry)
    with TestClient(create_app(schema, ServeParams(), state)) as c:
        missing = c.post("/admin/promote", json={"version": "8"}, headers=ADMIN)
        got = c.post("/admin/promote", json={"version": "7"}, headers=ADMIN)
    assert missing.status_code == 404
    assert "parcel-delay v8 from the registry: not found" in missing.json()["detail"]
    assert got.status_code == 200, got.text
    assert registry.roles == ("7", "1")
    assert (got.json()["policy"]["champion"], got.json()["policy"]["challenger"]) == ("7", "1")
