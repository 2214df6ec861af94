"""The models of params.yaml: data, stages and serving limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from pipelines.config.base import Frozen, Ratio, Share
from pipelines.config.data import DataParams


class GenerateParams(Frozen):
    """Size, seed and scenario of the synthetic courier data."""

    rows: Annotated[int, Field(gt=0)]
    seed: int
    start: str
    days: Annotated[int, Field(gt=0)]
    scenario: Literal["none", "winter", "rural_depot", "holiday_backlog", "carrier_change"]


class TargetRate(Frozen):
    """Allowed share of positive rows in a batch."""

    min: Ratio
    max: Ratio


class Leakage(Frozen):
    """A feature that alone separates the target almost perfectly is taken for leakage."""

    max_auc: Annotated[float, Field(gt=0.5, le=1)] = 0.98
    """Largest single-feature ROC AUC allowed (its values, or whether it is null); 1 disables."""
    min_class_rows: Annotated[int, Field(ge=1)] = 30
    """Checked only when each class has at least this many rows (fewer: AUC is noise)."""


class NearConstant(Frozen):
    """A feature whose commonest value fills nearly every row carries no signal."""

    max_top_share: Annotated[float, Field(gt=0, le=1)] = 0.99
    """Validation fails when one value covers at least this share of the non-null rows."""


class ValidateParams(Frozen):
    """Batch-level expectations beyond the column schema."""

    min_rows: Annotated[int, Field(gt=0)]
    max_rows: Annotated[int, Field(gt=0)]
    target_rate: TargetRate
    leakage: Leakage = Field(default_factory=Leakage)
    near_constant: NearConstant = Field(default_factory=NearConstant)


class SplitParams(Frozen):
    """Shares of the time-ordered validation and gold holdout slices."""

    valid_share: Share
    holdout_share: Share

    @model_validator(mode="after")
    def _leaves_training(self) -> SplitParams:
        if self.valid_share + self.holdout_share >= 0.9:
            raise ValueError("valid_share + holdout_share leaves under 10% for training")
        return self


class Rule(Frozen):
    """One baseline rule: a number above or below a value, a category equal to one or in a list.

    A null never fires a rule.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    above: float | None = None
    below: float | None = None
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        given = [k for k in ("above", "below", "equals", "in_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a rule needs exactly one of 'above', 'below', 'equals' or 'in'")
        return self

    def to_json(self) -> dict[str, object]:
        """The rule as params.yaml writes it (only its condition)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class BaselineParams(Frozen):
    """The rule-based baseline ("manual before ML")."""

    rules: dict[str, Rule] = Field(min_length=1)


class LogRegParams(Frozen):
    """Logistic regression hyperparameters."""

    C: Annotated[float, Field(gt=0)]
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: Annotated[int, Field(gt=0)] = 500
    max_categories: Annotated[int, Field(ge=2)] = 30
    """One-hot columns per category at most: the rarest levels share one (high cardinality)."""
    min_frequency: Annotated[int, Field(ge=1)] = 20
    """Levels with fewer training rows join that shared column."""


class LgbmParams(Frozen):
    """LightGBM hyperparameters; the search varies some of them."""

    n_estimators: Annotated[int, Field(gt=0)]
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    num_leaves: Annotated[int, Field(ge=2)]
    min_child_samples: Annotated[int, Field(ge=1)]
    subsample: Annotated[float, Field(gt=0, le=1)]
    colsample_bytree: Annotated[float, Field(gt=0, le=1)]
    reg_lambda: Annotated[float, Field(ge=0)]
    class_weight: Literal["balanced"] | None = "balanced"
    monotone_increasing: list[str] = Field(default_factory=list)


class SearchParams(Frozen):
    """Grid of LightGBM values tried, at most `max_trials` of them."""

    num_leaves: list[int] = Field(default_factory=list)
    learning_rate: list[float] = Field(default_factory=list)
    max_trials: Annotated[int, Field(ge=1)] = 6


class TrainParams(Frozen):
    """Everything the train stage reads."""

    seed: int
    baseline: BaselineParams
    logreg: LogRegParams
    lgbm: LgbmParams
    search: SearchParams


class EvaluateParams(Frozen):
    """Threshold choice and reporting."""

    recall_target: Annotated[float, Field(gt=0, le=1)]
    min_slice_positives: Annotated[int, Field(ge=1)]
    calibration_bins: Annotated[int, Field(ge=2)] = 10
    top_features: Annotated[int, Field(ge=1)] = 15


class ServeParams(Frozen):
    """Limits and background work of the prediction service."""

    max_batch_rows: Annotated[int, Field(ge=1)] = 1000
    """A batch request with more deliveries than this is refused (413)."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 2_000_000
    reasons_top_k: Annotated[int, Field(ge=1)] = 3
    shadow_queue: Annotated[int, Field(ge=1)] = 1000
    """Shadow jobs waiting at most; more are shed (counted), never queued behind the answer."""
    log_batch_rows: Annotated[int, Field(ge=1)] = 500
    log_flush_seconds: Annotated[float, Field(gt=0)] = 0.5
    policy_refresh_seconds: Annotated[float, Field(gt=0)] = 2.0
    """How often a replica rereads the traffic policy other replicas or the CLI may have set."""


class Params(Frozen):
    """The whole of params.yaml."""

    data: DataParams
    generate: GenerateParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    serve: ServeParams = Field(default_factory=ServeParams)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
