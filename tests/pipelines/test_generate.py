from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load
from pipelines.generate import SCENARIOS, delay_logit, generate_deliveries
from pipelines.schema import Schema, build_schema

ROWS = 50_000
COLUMNS = {
    "delivery_id": "object",
    "customer_id": "object",
    "pickup_time": "datetime64[ns]",
    "distance_km": "float64",
    "weight_kg": "float64",
    "volume_l": "float64",
    "precip_mm": "float64",
    "temperature_c": "float64",
    "weather": "object",
    "traffic_index": "float64",
    "depot_load": "float64",
    "service_tier": "object",
    "depot": "object",
    "area_type": "object",
    "carrier": "object",
    "dest_postcode": "object",
    "true_delay_prob": "float64",
    "delayed": "int64",
}
MONOTONE = ("precip_mm", "depot_load", "traffic_index", "distance_km")


@pytest.fixture(scope="module")
def project_schema() -> Schema:
    return build_schema(load(Path(__file__).parents[2]))


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return generate_deliveries(ROWS, seed=7)


@pytest.fixture(scope="module")
def drifted() -> dict[str, pd.DataFrame]:
    return {name: generate_deliveries(ROWS, seed=7, scenario=name) for name in SCENARIOS[1:]}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_same_seed_gives_identical_frame() -> None:
    pd.testing.assert_frame_equal(
        generate_deliveries(3_000, seed=3), generate_deliveries(3_000, seed=3)
    )


def test_different_seed_gives_different_frame() -> None:
    a, b = generate_deliveries(3_000, seed=3), generate_deliveries(3_000, seed=4)
    assert not a["distance_km"].equals(b["distance_km"])
    assert set(a["delivery_id"]).isdisjoint(b["delivery_id"])


def test_columns_and_dtypes_are_exact(base: pd.DataFrame) -> None:
    assert {name: str(dtype) for name, dtype in base.dtypes.items()} == COLUMNS
    assert list(base.columns) == list(COLUMNS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_value_is_within_the_params_ranges_and_categories(
    scenario: str, project_schema: Schema
) -> None:
    frame = generate_deliveries(20_000, seed=11, scenario=scenario)
    assert set(project_schema.required_columns) <= set(frame.columns)
    for column in project_schema.numeric:
        values = frame[column.name]
        assert values.notna().all(), column.name
        assert values.between(column.min, column.max).all(), column.name
    for column in project_schema.categorical:
        assert set(frame[column.name]) <= set(column.categories), column.name
    assert frame["true_delay_prob"].gt(0).all()
    assert frame["true_delay_prob"].lt(1).all()
    assert set(frame["delayed"].unique()) == {0, 1}


def test_ids_are_unique_and_customers_repeat(base: pd.DataFrame) -> None:
    assert base["delivery_id"].is_unique
    assert base["delivery_id"].str.fullmatch(r"DLV\d{12}").all()
    assert base["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert base["dest_postcode"].str.fullmatch(r"\d{5}").all()
    distinct = base["customer_id"].nunique()
    assert ROWS / 4 < distinct < ROWS / 2  # about a third: repeat customers exist


def test_area_type_follows_the_depot(base: pd.DataFrame) -> None:
    share = pd.crosstab(base["depot"].str[0], base["area_type"], normalize="index")
    assert share.loc["N", "urban"] > 0.7
    assert share.loc["C", "urban"] > 0.7
    assert share.loc["S", "suburban"] > 0.6
    assert share.loc["R", "rural"] > 0.7
    assert 0.002 < (base["depot"] == "R3").mean() < 0.01


def test_rows_are_sorted_by_pickup_time_within_the_window() -> None:
    frame = generate_deliveries(5_000, seed=1, start="2024-03-10", days=30)
    times = frame["pickup_time"]
    assert times.is_monotonic_increasing
    assert times.min() >= pd.Timestamp("2024-03-10")
    assert times.max() < pd.Timestamp("2024-04-09")
    assert times.dt.hour.between(7, 20).mean() > 0.9
    assert (times.dt.weekday < 5).mean() > 0.8


def test_weather_fits_the_temperature_and_season(base: pd.DataFrame) -> None:
    assert base.loc[base["weather"] == "snow", "temperature_c"].max() < 1
    assert (base["weather"] == "storm").mean() < 0.05
    month = base["pickup_time"].dt.month
    assert (
        base.loc[month == 1, "temperature_c"].mean() < base.loc[month == 7, "temperature_c"].mean()
    )
    assert base.loc[month == 12, "depot_load"].mean() > base.loc[month == 9, "depot_load"].mean()


def test_delay_rate_is_eight_to_twelve_percent(base: pd.DataFrame) -> None:
    assert 0.08 <= base["delayed"].mean() <= 0.12


def test_true_probability_is_the_sigmoid_of_the_logit(base: pd.DataFrame) -> None:
    expected = sigmoid(delay_logit(base, "none"))
    np.testing.assert_allclose(base["true_delay_prob"], expected, rtol=1e-9, atol=1e-6)


def test_true_probabilities_separate_delays_well(base: pd.DataFrame) -> None:
    order = np.argsort(-base["true_delay_prob"].to_numpy(), kind="stable")
    hits = np.cumsum(base["delayed"].to_numpy()[order])
    at_recall = int(np.searchsorted(hits, 0.8 * hits[-1]))
    assert hits[at_recall] / (at_recall + 1) >= 0.42  # precision at recall 0.80


def test_winter_brings_rain_snow_and_delays(base: pd.DataFrame, drifted) -> None:
    winter = drifted["winter"]
    assert set(winter["pickup_time"].dt.month) <= {12, 1, 2}
    assert winter["precip_mm"].mean() > 1.5 * base["precip_mm"].mean()
    assert winter["temperature_c"].mean() < base["temperature_c"].mean() - 5
    assert (
        winter["weather"].isin(["snow", "storm"]).mean()
        > base["weather"].isin(["snow", "storm"]).mean()
    )
    assert winter["delayed"].mean() > base["delayed"].mean() + 0.03


def test_rural_depot_takes_a_quarter_of_volume_on_long_rural_routes(
    base: pd.DataFrame, drifted
) -> None:
    rural = drifted["rural_depot"]
    r3 = rural[rural["depot"] == "R3"]
    assert len(r3) / len(rural) > 0.15
    assert (r3["area_type"] == "rural").mean() > 0.7
    assert r3["distance_km"].median() > 2 * base["distance_km"].median()


def test_holiday_backlog_raises_load_delays_and_parcels_per_customer(
    base: pd.DataFrame, drifted
) -> None:
    backlog = drifted["holiday_backlog"]
    assert backlog["depot_load"].mean() > base["depot_load"].mean() + 0.25
    assert backlog["delayed"].mean() > base["delayed"].mean() + 0.05
    assert backlog["customer_id"].nunique() < 0.7 * base["customer_id"].nunique()


def test_carrier_change_worsens_swiftship_but_keeps_features(base: pd.DataFrame, drifted) -> None:
    changed = drifted["carrier_change"]
    before, after = base["carrier"] == "swiftship", changed["carrier"] == "swiftship"
    assert after.mean() == pytest.approx(before.mean(), abs=0.01)
    assert changed.loc[after, "distance_km"].mean() == pytest.approx(
        base.loc[before, "distance_km"].mean(), rel=0.05
    )
    assert changed.loc[after, "precip_mm"].mean() == pytest.approx(
        base.loc[before, "precip_mm"].mean(), rel=0.05
    )
    assert changed.loc[after, "delayed"].mean() > base.loc[before, "delayed"].mean() + 0.04
    others = changed["carrier"] != "swiftship"
    assert changed.loc[others, "true_delay_prob"].mean() == pytest.approx(
        base.loc[base["carrier"] != "swiftship", "true_delay_prob"].mean(), rel=0.1
    )


def test_dest_postcode_has_no_effect_on_the_outcome(base: pd.DataFrame) -> None:
    shuffled = base.assign(
        dest_postcode=base["dest_postcode"].sample(frac=1, random_state=0).values
    )
    np.testing.assert_array_equal(delay_logit(shuffled, "none"), delay_logit(base, "none"))
    postcode = base["dest_postcode"].astype(int)
    assert abs(np.corrcoef(postcode, base["true_delay_prob"])[0, 1]) < 0.03


@pytest.mark.parametrize("column", MONOTONE)
@pytest.mark.parametrize("scenario", ["none", "carrier_change"])
def test_raising_a_risk_feature_never_lowers_the_logit(
    base: pd.DataFrame, column: str, scenario: str
) -> None:
    sample = base.iloc[:5_000]
    before = delay_logit(sample, scenario)
    rng = np.random.default_rng(0)
    for scale in (0.001, 0.05, 0.5, 5.0, 50.0):
        bumped = sample.assign(**{column: sample[column] + rng.uniform(0, scale, len(sample))})
        assert (delay_logit(bumped, scenario) >= before).all(), (column, scale)


def test_heavier_rain_raises_the_risk_somewhere(base: pd.DataFrame) -> None:
    sample = base.iloc[:5_000]
    wetter = sample.assign(precip_mm=sample["precip_mm"] + 5)
    assert (delay_logit(wetter, "none") > delay_logit(sample, "none")).mean() > 0.5


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"rows": 0}, "rows"),
        ({"rows": -5}, "rows"),
        ({"days": 0}, "days"),
        ({"seed": -1}, "seed"),
        ({"scenario": "summer"}, "scenario"),
        ({"start": "not a date"}, "start"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        generate_deliveries(**{"rows": 10, "seed": 1, **kwargs})


def test_unknown_scenario_error_lists_the_allowed_ones(base: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="holiday_backlog"):
        generate_deliveries(10, seed=1, scenario="summer")
    with pytest.raises(ValueError, match="scenario"):
        delay_logit(base.iloc[:10], "summer")
