from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pipelines.config import ServeParams
from services.app import ServiceState, create_app
from services.auth import Keys

KEYS = Keys(api_key="client-key-0123456789", admin_key="admin-key-0123456789")
CLIENT = {"Authorization": f"Bearer {KEYS.api_key}"}
ADMIN = {"X-API-Key": KEYS.admin_key}


@pytest.fixture
def client(schema, make_router):
    router = make_router()
    state = ServiceState(router=router, keys=KEYS)
    app = create_app(schema, ServeParams(max_batch_rows=5, max_body_bytes=4096), state)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.router_ = router  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def body(rows):
    row = rows(3)[0]
    row["pickup_time"] = row["pickup_time"].isoformat()
    return row


def test_predict_and_feedback_round_trip(client, body) -> None:
    answer = client.post("/predict?reasons=true", json=body, headers=CLIENT)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["variant"] == "champion"
    assert got["model_version"] == "1"
    assert got["delivery_id"] == body["delivery_id"]
    assert len(got["reasons"]) == 3
    fb = client.post(
        "/feedback", json={"request_id": got["request_id"], "delayed": True}, headers=CLIENT
    )
    assert fb.status_code == 202, fb.text
    router = client.router_
    assert router.flush(10)
    log = router.log.read_predictions()
    assert log.loc[log["request_id"] == got["request_id"], "outcome"].tolist() == [1]


def test_batch_answers_in_order(client, rows) -> None:
    batch = rows(4)
    for r in batch:
        r["pickup_time"] = r["pickup_time"].isoformat()
    got = client.post("/predict/batch", json={"deliveries": batch}, headers=CLIENT)
    assert got.status_code == 200, got.text
    assert [p["delivery_id"] for p in got.json()["predictions"]] == [
        r["delivery_id"] for r in batch
    ]


def test_health_ready_metrics_and_docs(client, body) -> None:
    assert client.get("/health").json() == {"status": "alive"}
    ready = client.get("/ready").json()
    assert ready["ready"] is True
    assert ready["champion"] == "1"
    client.post("/predict", json=body, headers=CLIENT)
    text = client.get("/metrics").text
    assert 'mlops_predictions_total{model_version="1",variant="champion"} 1.0' in text
    assert 'mlops_requests_total{route="predict",status="200"} 1.0' in text
    schema = client.get("/openapi.json").json()
    assert "distance_km" in json.dumps(schema["components"]["schemas"]["Delivery"])


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({}, "/predict", 401),
        ({"Authorization": "Bearer wrong-key-wrong-key"}, "/predict", 401),
        ({"Authorization": "Basic abc"}, "/predict", 401),
        (CLIENT, "/admin/policy", 403),
        ({}, "/admin/policy", 401),
    ],
)
def test_keys_are_required(client, body, headers, path, status) -> None:
    if path == "/predict":
        got = client.post(path, json=body, headers=headers)
    else:
        got = client.put(path, json={"mode": "shadow"}, headers=headers)
    assert got.status_code == status


def _raw(body: dict, **change) -> str:
    return json.dumps({**body, **change})


BAD = [
    ("malformed json", lambda b: '{"distance_km": 3,', "(body)", 422),
    (
        "missing field",
        lambda b: json.dumps({k: v for k, v in b.items() if k != "depot"}),
        "depot",
        422,
    ),
    ("extra field", lambda b: _raw(b, dest_postcode="10115"), "dest_postcode", 422),
    ("wrong type", lambda b: _raw(b, weight_kg="heavy"), "weight_kg", 422),
    ("string number", lambda b: _raw(b, weight_kg="2.5"), "weight_kg", 422),
    (
        "NaN",
        lambda b: _raw(b).replace('"precip_mm": ' + json.dumps(b["precip_mm"]), '"precip_mm": NaN'),
        "precip_mm",
        422,
    ),
    (
        "infinity",
        lambda b: _raw(b).replace(
            '"distance_km": ' + json.dumps(b["distance_km"]), '"distance_km": Infinity'
        ),
        "distance_km",
        422,
    ),
    ("out of range", lambda b: _raw(b, distance_km=10_000), "distance_km", 422),
    ("unknown category", lambda b: _raw(b, depot="ZZ9"), "depot", 422),
    ("bad time", lambda b: _raw(b, pickup_time="yesterday"), "pickup_time", 422),
    ("null feature", lambda b: _raw(b, traffic_index=None), "traffic_index", 422),
    ("not an object", lambda b: "[1, 2, 3]", "(body)", 422),
    ("oversized body", lambda b: _raw(b, delivery_id="x" * 5000), "(body)", 413),
]


@pytest.mark.parametrize(("case", "make", "field", "status"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_gets_4xx_naming_the_field(client, body, case, make, field, status) -> None:
    got = client.post(
        "/predict", content=make(body), headers={**CLIENT, "Content-Type": "application/json"}
    )
    assert got.status_code == status, got.text
    fields = [e["field"] for e in got.json()["detail"]]
    assert field in fields, got.text


def test_batch_over_the_limit_is_refused(client, rows) -> None:
    batch = rows(6)
    for r in batch:
        r["pickup_time"] = r["pickup_time"].isoformat()
    got = client.post("/predict/batch", json={"deliveries": batch}, headers=CLIENT)
    assert got.status_code == 422
    assert got.json()["detail"][0]["field"] == "deliveries"


def test_feedback_needs_an_id(client) -> None:
    got = client.post("/feedback", json={"delayed": True}, headers=CLIENT)
    assert got.status_code == 422
    assert "request_id or delivery_id" in got.text


def test_admin_changes_policy_and_history_records_it(client) -> None:
    got = client.put("/admin/policy", json={"mode": "canary", "reason": "try v2"}, headers=ADMIN)
    assert got.status_code == 200, got.text
    assert got.json()["policy"]["challenger_weight"] == 0.05
    history = client.get("/admin/policy", headers=ADMIN).json()["history"]
    assert history[0]["reason"] == "try v2"
    assert history[0]["changed_by"] == "admin-api"


@pytest.mark.parametrize(
    ("update", "status"),
    [
        ({"mode": "ab"}, 422),
        ({"mode": "ab", "challenger_weight": 1.5}, 422),
        ({"mode": "shadow", "champion": "9"}, 409),
        ({"mode": "warp"}, 422),
    ],
)
def test_bad_policy_changes_are_refused(client, update, status) -> None:
    assert client.put("/admin/policy", json=update, headers=ADMIN).status_code == status
    assert client.get("/ready").json()["mode"] == "champion"


def test_a_packaged_model_becomes_challenger_without_restart(schema, make_router, trained, body):
    from services.served_model import ServedModel

    router = make_router(challenger=None)

    def load(tag: str) -> ServedModel:
        if tag != "parcel-delay:v7-abc":
            raise LookupError("not in the store")
        return ServedModel.build("7", 0.4, trained["logreg"], schema)

    state = ServiceState(router=router, keys=KEYS, load_model=load)
    with TestClient(create_app(schema, ServeParams(), state)) as client:
        missing = client.put("/admin/models/challenger", json={"tag": "x:y"}, headers=ADMIN)
        assert missing.status_code == 404
        bad = client.put("/admin/models/challenger", json={"tag": "../etc"}, headers=ADMIN)
        assert bad.status_code == 422
        got = client.put(
            "/admin/models/challenger", json={"tag": "parcel-delay:v7-abc"}, headers=ADMIN
        )
        assert got.status_code == 200, got.text
        assert got.json()["policy"]["challenger"] == "7"
        assert (
            client.put("/admin/policy", json={"mode": "shadow"}, headers=ADMIN).status_code == 200
        )
        assert client.post("/predict", json=body, headers=CLIENT).json()["variant"] == "champion"
        assert (
            client.put(
                "/admin/models/challenger", json={"tag": "parcel-delay:v7-abc"}, headers=CLIENT
            ).status_code
            == 403
        )


def test_a_challenger_missing_from_the_store_comes_from_the_registry(
    schema, make_router, trained
) -> None:
    """A pod packaged before the challenger existed: the admin call names its registry version."""
    from services.served_model import ServedModel

    def fetch(version: str) -> ServedModel:
        if version != "7":
            raise LookupError(f"parcel-delay v{version} from the registry: not found")
        return ServedModel.build("7", 0.4, trained["logreg"], schema)

    def no_store(tag: str) -> ServedModel:
        raise LookupError(f"{tag} is not in this store")

    router = make_router(challenger=None, fetch=fetch)
    state = ServiceState(router=router, keys=KEYS, load_model=no_store)
    tag = "parcel-delay:v7-abc"
    with TestClient(create_app(schema, ServeParams(), state)) as client:
        unknown = {"tag": "parcel-delay:v8-abc", "version": "8"}
        missing = client.put("/admin/models/challenger", json=unknown, headers=ADMIN)
        assert missing.status_code == 404
        assert "not in this store; parcel-delay v8 from the registry" in missing.json()["detail"]
        no_version = client.put("/admin/models/challenger", json={"tag": tag}, headers=ADMIN)
        assert no_version.status_code == 404
        got = client.put(
            "/admin/models/challenger", json={"tag": tag, "version": "7"}, headers=ADMIN
        )
        assert got.status_code == 200, got.text
        assert got.json()["policy"]["challenger"] == "7"
        bad = client.put(
            "/admin/models/challenger", json={"tag": tag, "version": "7; drop"}, headers=ADMIN
        )
        assert bad.status_code == 422


def test_a_failing_champion_is_a_counted_500(schema, make_router, body) -> None:
    from pipelines.model import DelayModel
    from services.served_model import ServedModel
    from tests.services.faulty_models import Exploding

    router = make_router()
    broken = DelayModel("lgbm", Exploding(), router.models["1"].model.encoder)
    router.models["1"] = ServedModel.build("1", 0.5, broken, schema)  # the artefact breaks
    state = ServiceState(router=router, keys=KEYS)
    with TestClient(create_app(schema, ServeParams(), state), raise_server_exceptions=False) as c:
        got = c.post("/predict", json=body, headers=CLIENT)
        assert got.status_code == 500
        assert got.json() == {"detail": "internal error"}
        text = c.get("/metrics").text
    assert 'mlops_requests_total{route="predict",status="500"} 1.0' in text
