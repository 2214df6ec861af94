"""The rule-based baseline: what an experienced dispatcher would flag by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.config import Rule
from pipelines.features import FeatureEncoder


@dataclass(frozen=True)
class RuleBaseline:
    """Risk score = share of rules that fire; an ML model must beat this to ship."""

    columns: tuple[int, ...]
    above: tuple[float | None, ...]
    equals_code: tuple[int | None, ...]

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, 2) scores; column 1 is the share of rules fired."""
        fired = np.zeros(len(matrix), dtype="float64")
        for column, above, code in zip(self.columns, self.above, self.equals_code, strict=True):
            values = matrix[:, column]
            fired += values > above if above is not None else values == code
        score = fired / len(self.columns)
        return np.column_stack([1 - score, score])


def build_baseline(rules: dict[str, Rule], encoder: FeatureEncoder) -> RuleBaseline:
    """Compile params' rules against the encoder's matrix layout."""
    names = encoder.feature_names
    columns: list[int] = []
    above: list[float | None] = []
    equals_code: list[int | None] = []
    for name, rule in rules.items():
        columns.append(names.index(name))
        above.append(rule.above)
        if rule.equals is None:
            equals_code.append(None)
        else:
            cats = encoder.categories[encoder.categorical.index(name)]
            if rule.equals not in cats:
                raise ValueError(
                    f"train.baseline.rules.{name}.equals: {rule.equals!r} not in {cats}"
                )
            equals_code.append(cats.index(rule.equals))
    return RuleBaseline(tuple(columns), tuple(above), tuple(equals_code))
