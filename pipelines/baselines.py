"""The rule-based baseline: what an experienced person would flag by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.config import Rule
from pipelines.features import FeatureEncoder


@dataclass(frozen=True)
class RuleBaseline:
    """Risk score = share of rules that fire; an ML model must beat this to ship.

    Rule i reads matrix column `columns[i]` and fires when the value is above
    `above[i]`, below `below[i]`, equals the code `equals_code[i]` or is one of
    `in_codes[i]` (exactly one is set). A null (NaN) never fires. Baselines
    pickled before `below` and `in_codes` existed load with both empty.
    """

    columns: tuple[int, ...]
    above: tuple[float | None, ...]
    equals_code: tuple[int | None, ...]
    below: tuple[float | None, ...] = ()
    in_codes: tuple[tuple[int, ...] | None, ...] = ()

    def fired(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, rules) booleans: which rule fires on which row."""
        n = len(self.columns)
        below = self.below or (None,) * n
        in_codes = self.in_codes or (None,) * n
        out = np.zeros((len(matrix), n), dtype=bool)
        for i, column in enumerate(self.columns):
            values = matrix[:, column]
            with np.errstate(invalid="ignore"):  # NaN compares False: a null never fires
                if self.above[i] is not None:
                    out[:, i] = values > self.above[i]
                elif below[i] is not None:
                    out[:, i] = values < below[i]
                elif (codes := in_codes[i]) is not None:
                    out[:, i] = np.isin(values, codes)
                else:
                    out[:, i] = values == self.equals_code[i]
        return out

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, 2) scores; column 1 is the share of rules fired."""
        score = self.fired(matrix).sum(axis=1) / len(self.columns)
        return np.column_stack([1 - score, score])


def _code(encoder: FeatureEncoder, name: str, value: str) -> int:
    cats = encoder.categories[encoder.categorical.index(name)]
    if value not in cats:
        raise ValueError(f"train.baseline.rules.{name}: {value!r} not in {cats}")
    return cats.index(value)


def build_baseline(rules: dict[str, Rule], encoder: FeatureEncoder) -> RuleBaseline:
    """Compile params' rules against the encoder's matrix layout."""
    names = encoder.feature_names
    columns: list[int] = []
    above: list[float | None] = []
    below: list[float | None] = []
    equals_code: list[int | None] = []
    in_codes: list[tuple[int, ...] | None] = []
    for name, rule in rules.items():
        columns.append(names.index(name))
        above.append(rule.above)
        below.append(rule.below)
        equals_code.append(None if rule.equals is None else _code(encoder, name, rule.equals))
        in_codes.append(
            None if rule.in_ is None else tuple(_code(encoder, name, v) for v in rule.in_)
        )
    return RuleBaseline(
        tuple(columns), tuple(above), tuple(equals_code), tuple(below), tuple(in_codes)
    )
