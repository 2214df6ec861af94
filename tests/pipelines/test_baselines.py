"""The rule baseline: above, below, equals and in; a null never fires a rule."""

from __future__ import annotations

import pickle

import numpy as np

from pipelines.baselines import RuleBaseline, build_baseline
from pipelines.config import Rule
from pipelines.features import FeatureEncoder


def encoder() -> FeatureEncoder:
    return FeatureEncoder(
        numeric=("rain", "temp"), categorical=("area",), categories=(("city", "town", "farm"),)
    )


def test_each_kind_of_rule_fires_on_its_condition_and_never_on_null() -> None:
    rules = {
        "rain": Rule(above=5.0),
        "temp": Rule(below=0.0),
        "area": Rule.model_validate({"in": ["town", "farm"]}),
    }
    baseline = build_baseline(rules, encoder())
    matrix = np.array(
        [
            [9.0, -3.0, 2.0],  # every rule fires
            [1.0, 10.0, 0.0],  # none
            [np.nan, np.nan, np.nan],  # nulls: none
            [6.0, 5.0, 1.0],  # rain and area
        ]
    )
    fired = baseline.fired(matrix)
    assert fired.tolist() == [[True, True, True], [False] * 3, [False] * 3, [True, False, True]]
    np.testing.assert_allclose(baseline.predict_proba(matrix)[:, 1], [1, 0, 0, 2 / 3])


def test_equals_still_works_and_a_baseline_pickled_before_below_and_in_loads() -> None:
    old = object.__new__(RuleBaseline)
    old.__dict__.update({"columns": (0, 2), "above": (5.0, None), "equals_code": (None, 2)})
    again = pickle.loads(pickle.dumps(old))
    matrix = np.array([[9.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(again.predict_proba(matrix)[:, 1], [1.0, 0.0])
    built = build_baseline({"rain": Rule(above=5.0), "area": Rule(equals="farm")}, encoder())
    np.testing.assert_array_equal(built.predict_proba(matrix), again.predict_proba(matrix))
