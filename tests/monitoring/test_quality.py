"""Live quality per variant, worked out by hand on small frames."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.quality import calibration, expected_calibration_error, variant_quality
from monitoring.summary import CalibrationBin


def window(rows: list[tuple[str, str, float, bool, int | None]]) -> pd.DataFrame:
    variant, version, probability, decision, outcome = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "variant": variant,
            "model_version": version,
            "probability": probability,
            "decision": decision,
            "outcome": pd.array(outcome, dtype="Int64"),
        }
    )


def test_recall_precision_and_rates_count_labelled_rows_only():
    frame = window(
        [
            ("champion", "3", 0.95, True, 1),  # hit
            ("champion", "3", 0.15, False, 1),  # miss
            ("champion", "3", 0.62, True, 0),  # false alarm
            ("champion", "3", 0.05, False, 0),
            ("champion", "3", 0.91, True, 1),  # hit
            ("champion", "3", 0.02, False, None),
            ("champion", "3", 0.70, True, None),
            ("champion", "3", 0.10, False, None),
        ]
    )
    q = variant_quality(frame)["champion"]
    assert q.model_version == "3"
    assert (q.rows, q.labelled) == (8, 5)
    assert q.recall == pytest.approx(2 / 3)
    assert q.precision == pytest.approx(2 / 3)
    assert q.positive_rate == pytest.approx(3 / 5)
    assert q.predicted_positive_rate == pytest.approx(4 / 8)
    assert q.mean_probability == pytest.approx(
        sum([0.95, 0.15, 0.62, 0.05, 0.91, 0.02, 0.7, 0.1]) / 8
    )


def test_calibration_bins_are_equal_width_and_only_non_empty():
    bins = calibration([0.05, 0.15, 0.12, 0.95, 1.0, 0.1], [0, 1, 0, 1, 1, 0])
    assert bins == [
        CalibrationBin("0.0-0.1", pytest.approx(0.05), 0.0, 1),
        CalibrationBin(
            "0.1-0.2",
            pytest.approx((0.15 + 0.12 + 0.1) / 3),
            pytest.approx(1 / 3),
            3,
        ),
        CalibrationBin("0.9-1.0", pytest.approx(0.975), 1.0, 2),
    ]
    gaps = 1 * 0.05 + 3 * abs(0.37 / 3 - 1 / 3) + 2 * 0.025
    assert expected_calibration_error(bins) == pytest.approx(gaps / 6)


def test_a_perfectly_calibrated_bin_has_no_error():
    bins = calibration([0.25] * 4, [1, 0, 0, 0])
    assert expected_calibration_error(bins) == pytest.approx(0.0)


def test_without_labelled_rows_the_outcome_figures_are_null_not_zero():
    frame = window([("challenger", "4", 0.8, True, None), ("challenger", "4", 0.1, False, None)])
    q = variant_quality(frame)["challenger"]
    assert q.labelled == 0
    for name in ("recall", "precision", "positive_rate", "calibration_error"):
        assert getattr(q, name) is None, name
    assert q.calibration == []
    assert q.predicted_positive_rate == 0.5
    assert q.mean_probability == pytest.approx(0.45)


def test_undefined_denominators_are_null():
    no_delay = window([("champion", "3", 0.9, True, 0), ("champion", "3", 0.1, False, 0)])
    q = variant_quality(no_delay)["champion"]
    assert q.recall is None  # no delayed row to find
    assert q.precision == 0.0  # one alarm, false
    assert q.positive_rate == 0.0

    no_alarm = window([("champion", "3", 0.2, False, 1), ("champion", "3", 0.1, False, 0)])
    q = variant_quality(no_alarm)["champion"]
    assert q.recall == 0.0
    assert q.precision is None  # nothing flagged


def test_each_variant_is_scored_on_its_own_rows_champion_first():
    frame = window(
        [
            ("challenger", "4", 0.9, True, 1),
            ("champion", "3", 0.9, True, 0),
            ("champion", "2", 0.2, False, 1),
            ("champion", "3", 0.7, True, 1),
        ]
    )
    quality = variant_quality(frame)
    assert list(quality) == ["champion", "challenger"]
    assert quality["champion"].model_version == "3"  # the version that answered most rows
    assert quality["champion"].recall == pytest.approx(1 / 2)
    assert quality["challenger"].recall == 1.0
    assert quality["challenger"].rows == 1
