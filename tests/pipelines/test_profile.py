"""Profiling a table for `mlops init`: roles with reasons, ranges, categories, what to leave out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.profile import baseline_rules, numeric_range, profile_frame


def table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A small table: odd column names, nulls, a wide category, an id, a user, a leak."""
    rng = np.random.default_rng(seed)
    rain = rng.gamma(1.0, 4.0, n)
    churned = (rain + rng.normal(0, 3, n) > 8).astype("int64")
    rain[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "row id": [f"R{i}" for i in range(n)],
            "user_id": [f"U{i % 90}" for i in range(n)],
            "signed at": pd.date_range("2024-01-01 07:00", periods=n, freq="5h").astype(str),
            "rain.mm": rain,
            "température": rng.normal(10, 5, n),
            "1st code": rng.choice([f"c{i}" for i in range(60)], n),
            "plan": rng.choice(["basic", "plus", None], n, p=[0.6, 0.35, 0.05]),
            "comment": [f"free text {i}" for i in range(n)],
            "refund_amount": np.where(churned == 1, rng.uniform(1, 9, n), np.nan),
            "constant": 1.0,
            "churned": churned,
        }
    )


def test_roles_are_guessed_with_their_reasons() -> None:
    profile = profile_frame(table())
    assert profile.target.column == "churned"
    assert profile.time.column == "signed at" and "date-time" in profile.time.reason
    assert profile.id.column == "row id" and "unique" in profile.id.reason
    assert profile.key.column == "user_id" and "90 distinct" in profile.key.reason


def test_features_get_ranges_categories_and_null_shares() -> None:
    profile = profile_frame(table())
    assert set(profile.numeric) == {"rain.mm", "température"}
    rain = profile.numeric["rain.mm"]
    assert rain.min == 0 and 0.05 < rain.null_share < 0.15
    assert set(profile.categorical) == {"1st code", "plan"}
    code = profile.categorical["1st code"]
    assert code.open and code.distinct == 60  # many values: new ones will come
    plan = profile.categorical["plan"]
    assert not plan.open and set(plan.values) == {"basic", "plus"} and plan.null_share > 0


def test_columns_no_model_should_see_are_left_out_with_why() -> None:
    ignored = profile_frame(table()).ignored
    assert "identifier or free text" in ignored["comment"]
    assert "single value" in ignored["constant"]
    assert "separates the target alone" in ignored["refund_amount"]  # filled only when churned


def test_rare_values_go_to_the_other_bucket() -> None:
    frame = table(2000)
    frame.loc[:4, "plan"] = "legacy"  # 5 rows: rare
    plan = profile_frame(frame).categorical["plan"]
    assert plan.open and "legacy" not in plan.values


def test_roles_can_be_given_and_bad_ones_are_named() -> None:
    frame = table()
    assert profile_frame(
        frame, target="churned", time="signed at", id_column="row id"
    ).id.reason == ("given with --id")
    with pytest.raises(DataError, match="--target 'plan' must hold 0/1"):
        profile_frame(frame, target="plan")
    with pytest.raises(DataError, match="--id 'user_id' is not unique"):
        profile_frame(frame, id_column="user_id")
    with pytest.raises(DataError, match="no date-time column found"):
        profile_frame(frame.drop(columns="signed at"))
    with pytest.raises(DataError, match="no column is unique"):
        profile_frame(frame.drop(columns=["row id", "comment"]))


def test_unusable_column_names_are_refused_saying_how_to_rename() -> None:
    with pytest.raises(DataError, match=r"'rain \(mm\)' cannot be used[\s\S]*rename"):
        profile_frame(table().rename(columns={"rain.mm": "rain (mm)"}))


def test_ranges_get_a_margin_and_stay_non_negative() -> None:
    assert numeric_range(pd.Series([0.0, 100.0])) == (0, 110)
    assert numeric_range(pd.Series([-10.0, 10.0])) == (-12, 12)
    assert numeric_range(pd.Series([0.21, 0.94])) == (0.137, 1.02)


def test_baseline_rules_come_from_the_separating_features() -> None:
    frame = table()
    rules = baseline_rules(frame, profile_frame(frame))
    assert rules["rain.mm"] == {"above": pytest.approx(frame["rain.mm"].quantile(0.75), rel=0.01)}
    assert len(rules) <= 3
