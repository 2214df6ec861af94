"""The models of params.yaml: data, stages and serving limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from pipelines.config.base import Frozen, Ratio, Share


class NumericRange(Frozen):
    """Inclusive range a numeric column must stay in."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> NumericRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class DataParams(Frozen):
    """Where the data comes from and what its columns are."""

    source: Literal["generator", "file"]
    path: str | None = None
    labelled_dir: str | None = "data/source/labelled"
    """Labelled production rows (Parquet) that monitoring exports for retraining; appended."""
    id_column: str
    time_column: str
    key_column: str | None = None
    oracle_column: str | None = None
    numeric: dict[str, NumericRange] = Field(default_factory=dict)
    categorical: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(default_factory=dict)
    time_features: dict[str, Literal["hour", "weekday", "month"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DataParams:
        if self.source == "file" and not self.path:
            raise ValueError("source is 'file' but path is not set")
        overlap = set(self.numeric) & set(self.categorical)
        if overlap:
            raise ValueError(f"columns listed as numeric and categorical: {sorted(overlap)}")
        if not self.numeric and not self.categorical:
            raise ValueError("no numeric or categorical columns are listed")
        for name, values in self.categorical.items():
            if len(set(values)) != len(values):
                raise ValueError(f"categorical.{name} lists a value twice")
        return self


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


class ValidateParams(Frozen):
    """Batch-level expectations beyond the column schema."""

    min_rows: Annotated[int, Field(gt=0)]
    max_rows: Annotated[int, Field(gt=0)]
    target_rate: TargetRate


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
    """One baseline rule: fires when a numeric is above, or a category equals, a value."""

    above: float | None = None
    equals: str | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        if (self.above is None) == (self.equals is None):
            raise ValueError("a rule needs exactly one of 'above' or 'equals'")
        return self


class BaselineParams(Frozen):
    """The rule-based baseline ("manual before ML")."""

    rules: dict[str, Rule] = Field(min_length=1)


class LogRegParams(Frozen):
    """Logistic regression hyperparameters."""

    C: Annotated[float, Field(gt=0)]
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: Annotated[int, Field(gt=0)] = 500


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
