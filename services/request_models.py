"""Request and response models of the prediction API, generated from the one schema.

Adding a column to params.yaml adds it here: numbers get their allowed range,
closed categories their allowed values, open ones bounded printable text, and
unknown fields are refused, so a wrong request is answered 422 with the field
named before any model sees it. A feature whose null policy allows nulls may be
null or left out; any other feature must be given. Inputs are strict:

- the time column is an ISO 8601 string (no Unix numbers) within `data.time_range`;
- ids and the routing key are printable text of at most 128 characters;
- the outcome of feedback is JSON `true`/`false`, or the integers 1/0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

from pipelines.config.data import MAX_CATEGORY
from pipelines.schema import Schema

ISO_EXAMPLE = "2025-12-20T17:30:00Z"


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must hold printable characters only (no control characters)")
    return value


Id = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
"""An id or key: 1-128 printable characters."""
Category = Annotated[str, Field(min_length=1, max_length=MAX_CATEGORY), AfterValidator(_printable)]
"""A value of an open category: printable text (an unlisted one scores as the other bucket)."""


def _iso_text(value: Any) -> datetime:
    """A datetime from an ISO 8601 string only (not a number, not any other form)."""
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 string such as {ISO_EXAMPLE!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date-time such as {ISO_EXAMPLE!r}") from None


def _within(bounds: tuple[datetime, datetime] | None) -> AfterValidator:
    """A check that a time (naive: UTC) lies within `bounds` (naive UTC), inclusive."""

    def check(value: datetime) -> datetime:
        if bounds is None:
            return value
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        low, high = bounds
        if not low <= utc <= high:
            raise ValueError(
                f"must lie between {low:%Y-%m-%d} and {high:%Y-%m-%d} (params.yaml data.time_range)"
            )
        return value

    return AfterValidator(check)


def _strict_outcome(value: Any) -> bool:
    """JSON true/false, or the integers 1/0: nothing else ("yes", "true", 1.0) is an outcome."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("must be true or false (or 1 or 0)")


Outcome = Annotated[bool, BeforeValidator(_strict_outcome)]


def _feature_fields(schema: Schema) -> dict[str, Any]:
    """The raw features as request fields: required unless their null policy allows nulls."""
    fields: dict[str, Any] = {}
    for num in schema.numeric:
        number = Annotated[
            float,
            Field(ge=num.min, le=num.max, allow_inf_nan=False, strict=True),
        ]
        described = f"{num.min}..{num.max}" + ("; null allowed" if num.allows_nulls else "")
        fields[num.name] = (
            (number | None, Field(None, description=described))
            if num.allows_nulls
            else (number, Field(description=described))
        )
    for cat in schema.categorical:
        kind: Any = Category if cat.open else Literal[cat.categories]
        described = (
            "Text; values not listed count as other" if cat.open else "One of the listed values"
        )
        fields[cat.name] = (
            (kind | None, Field(None, description=described + "; null allowed"))
            if cat.allows_nulls
            else (kind, Field(description=described))
        )
    return fields


def delivery_model(schema: Schema) -> type[BaseModel]:
    """One delivery as a caller sends it: ids, the time column and every raw feature."""
    when = Annotated[datetime, BeforeValidator(_iso_text), _within(schema.time_range)]
    fields: dict[str, Any] = {
        schema.id_column: (Id | None, Field(None, description="Delivery id (for feedback)")),
        schema.time_column: (
            when,
            Field(description="ISO 8601 string (naive times are UTC), within data.time_range"),
        ),
    }
    if schema.key_column:
        fields[schema.key_column] = (
            Id | None,
            Field(None, description="Routing key: the same key always meets the same model"),
        )
    fields.update(_feature_fields(schema))
    return create_model(
        "Delivery",
        __config__=ConfigDict(extra="forbid", strict=False, frozen=True),
        **fields,
    )


class Reason(BaseModel):
    """A feature that raised this delivery's risk, with its SHAP contribution (log-odds)."""

    feature: str
    contribution: float


class Prediction(BaseModel):
    """The answer for one delivery."""

    request_id: str
    delivery_id: str | None
    delay_probability: float
    delayed: bool
    """True when the probability reaches the model's decision threshold."""
    threshold: float
    model_version: str
    variant: Literal["champion", "challenger"]
    reasons: list[Reason] | None = None


class BatchPrediction(BaseModel):
    """The answers for a batch, in request order."""

    predictions: list[Prediction]


def batch_model(schema: Schema, delivery: type[BaseModel], max_rows: int) -> type[BaseModel]:
    """A batch request: `{"deliveries": [...]}` with at most `max_rows` items."""
    return create_model(
        "DeliveryBatch",
        __config__=ConfigDict(extra="forbid"),
        deliveries=(list[delivery], Field(min_length=1, max_length=max_rows)),  # type: ignore[valid-type]
    )


class _FeedbackBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: Id | None = None
    delivery_id: Id | None = None

    @model_validator(mode="after")
    def _has_an_id(self) -> _FeedbackBase:
        if self.request_id is None and self.delivery_id is None:
            raise ValueError("give request_id or delivery_id to join the outcome to its prediction")
        return self


def feedback_model(schema: Schema) -> type[BaseModel]:
    """A true outcome, named after the target: `{"request_id": "..", "delayed": true}`."""
    fields: dict[str, Any] = {
        schema.target: (Outcome, Field(description="The true outcome: true/false (or 1/0)"))
    }
    return create_model("Feedback", __base__=_FeedbackBase, **fields)


class PolicyUpdate(BaseModel):
    """An admin's change of traffic policy; unset fields keep their current value."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["champion", "shadow", "ab", "canary"]
    challenger_weight: Annotated[float, Field(ge=0, le=1)] | None = None
    """Share of keys for the challenger; canary defaults to project.yaml release.canary.share."""
    salt: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    champion: Id | None = None
    """The champion in force: roles change through POST /admin/promote, not here."""
    challenger: Id | None = None
    """The challenger in force: a new one comes through PUT /admin/models/challenger."""
    reason: str = Field("", max_length=500)
    changed_by: Annotated[str, Field(min_length=1, max_length=64)] = "admin-api"


class ChallengerUpdate(BaseModel):
    """A packaged model (BentoML store tag, from reports/package.json) to hold as challenger."""

    model_config = ConfigDict(extra="forbid")

    tag: Annotated[
        str, Field(min_length=3, max_length=200, pattern=r"^[a-z0-9][a-z0-9._-]*:[a-z0-9._-]+$")
    ]
    version: Annotated[str | None, Field(pattern=r"^[0-9]{1,9}$")] = None
    """Its registry version: fetched from the registry when this replica's store lacks the tag."""
    reason: str = Field("", max_length=500)
    changed_by: Annotated[str, Field(min_length=1, max_length=64)] = "admin-api"


class PromoteRequest(BaseModel):
    """A registry version to make champion; the current champion becomes challenger."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: Annotated[str, Field(pattern=r"^[0-9]{1,9}$")]
    """Registry version: loaded here, or fetched from the registry when one is configured."""
    reason: str = Field("", max_length=500)
    changed_by: Annotated[str, Field(min_length=1, max_length=64)] = "admin"
