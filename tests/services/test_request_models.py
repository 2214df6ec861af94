"""Request models from the schema: strict times, ids and outcomes; nulls and open categories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.request_models import delivery_model, feedback_model
from tests.conftest import open_schema


def body(**changes: Any) -> dict[str, Any]:
    out = {
        "delivery_id": "D1",
        "customer_id": "C42",
        "pickup_time": "2025-12-20T17:30:00",
        "distance_km": 42.0,
        "weight_kg": 3.2,
        "volume_l": 12,
        "precip_mm": 8.5,
        "temperature_c": -2,
        "traffic_index": 0.7,
        "depot_load": 1.3,
        "service_tier": "express",
        "depot": "R2",
        "area_type": "rural",
        "weather": "snow",
        "carrier": "swiftship",
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not ...}


def refused(model: type, payload: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    [error] = caught.value.errors()
    return ".".join(str(p) for p in error["loc"]), error["msg"]


def test_a_good_request_passes(schema) -> None:
    row = delivery_model(schema).model_validate(body())
    assert row.pickup_time == datetime(2025, 12, 20, 17, 30)


@pytest.mark.parametrize(
    "value", ["2025-12-20T17:30:00Z", "2025-12-20T18:30:00+01:00", "2025-12-20", "2025-12-20 17:30"]
)
def test_iso_8601_times_pass(schema, value: str) -> None:
    assert delivery_model(schema).model_validate(body(pickup_time=value))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1766251800, "ISO 8601 string"),
        (1766251800.0, "ISO 8601 string"),
        ("20 Dec 2025", "ISO 8601 date-time"),
        ("2100-01-01T00:00:00", "between 2000-01-01 and"),
        ("1900-06-01T00:00:00", "between 2000-01-01 and"),
    ],
)
def test_other_times_are_refused_naming_the_field(schema, value: Any, message: str) -> None:
    field, msg = refused(delivery_model(schema), body(pickup_time=value))
    assert field == "pickup_time" and message in msg


@pytest.mark.parametrize("field", ["delivery_id", "customer_id"])
@pytest.mark.parametrize("value", ["D1\x00", "line\nbreak", "bell\x07", "x" * 129, ""])
def test_ids_and_keys_are_printable_and_bounded(schema, field: str, value: str) -> None:
    assert refused(delivery_model(schema), body(**{field: value}))[0] == field


def test_unicode_ids_are_fine(schema) -> None:
    assert delivery_model(schema).model_validate(body(delivery_id="Lieferung-ä-東京"))


@pytest.mark.parametrize("value", [True, False, 1, 0])
def test_outcomes_are_booleans_or_zero_one(schema, value: Any) -> None:
    feedback = feedback_model(schema).model_validate({"delivery_id": "D1", "delayed": value})
    assert feedback.delayed is bool(value)


@pytest.mark.parametrize("value", ["yes", "true", "1", 1.0, 2, None])
def test_other_outcomes_are_refused(schema, value: Any) -> None:
    field, _ = refused(feedback_model(schema), {"delivery_id": "D1", "delayed": value})
    assert field == "delayed"


def test_nulls_only_where_the_policy_allows_them(schema) -> None:
    gappy = delivery_model(open_schema(schema))
    assert gappy.model_validate(body(precip_mm=None)).precip_mm is None
    assert gappy.model_validate(body(precip_mm=...)).precip_mm is None  # left out: null
    assert gappy.model_validate(body(depot=None)).depot is None
    assert refused(gappy, body(distance_km=None))[0] == "distance_km"
    assert refused(gappy, body(weather=None))[0] == "weather"
    assert refused(delivery_model(schema), body(precip_mm=None))[0] == "precip_mm"


def test_open_categories_take_new_text_and_closed_ones_refuse_it(schema) -> None:
    gappy = delivery_model(open_schema(schema))
    assert gappy.model_validate(body(depot="NEW-7")).depot == "NEW-7"
    assert refused(gappy, body(depot="bad\x01"))[0] == "depot"
    assert refused(gappy, body(depot="x" * 201))[0] == "depot"
    assert refused(gappy, body(depot=7))[0] == "depot"
    assert refused(delivery_model(schema), body(depot="NEW-7"))[0] == "depot"
    assert refused(gappy, body(weather="hail"))[0] == "weather"


def test_the_openapi_schema_says_what_is_nullable(schema) -> None:
    spec = delivery_model(open_schema(schema)).model_json_schema()
    assert "precip_mm" not in spec["required"] and "distance_km" in spec["required"]
    assert {"type": "null"} in spec["properties"]["precip_mm"]["anyOf"]
    assert spec["properties"]["depot"]["anyOf"][0]["type"] == "string"


def test_aware_times_are_checked_in_utc(schema) -> None:
    model = delivery_model(schema)
    late = datetime.now(UTC).replace(year=datetime.now(UTC).year + 2).isoformat()
    assert refused(model, body(pickup_time=late))[0] == "pickup_time"
