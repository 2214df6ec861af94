"""Drift per segment: the window and the reference cut by one categorical feature.

A model can drift in one depot, area or carrier while the whole window looks
fine. Each segment with enough rows on both sides is compared with the same
scipy tests as the whole window (`monitoring.drift.scipy_drift`), the
segment's own column left out; segments are independent, so they go through
a mapper (see `pipelines.mapping`) and run in parallel on Dask when the flow
says so. Segments are reported and exported; retraining stays on the whole
window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import pandas as pd

from monitoring.drift import scipy_drift
from monitoring.summary import SegmentDrift, SegmentFigures
from pipelines.mapping import Mapper, local_map
from pipelines.schema import Schema


@dataclass(frozen=True)
class SegmentTest:
    """What every segment's test needs besides its own rows."""

    schema: Schema
    """The compared features, the segment column already left out."""
    drift_share: float
    max_rows: int
    seed: int
    model_version: str | None
    """Only this version's served scores count for prediction drift."""


def _segment_drift(test: SegmentTest, frames: tuple[pd.DataFrame, pd.DataFrame]) -> SegmentFigures:
    reference, current = frames
    result = scipy_drift(
        reference,
        current,
        test.schema,
        test.drift_share,
        test.max_rows,
        test.seed,
        test.model_version,
    )
    drift = result.drift
    return SegmentFigures(
        rows=len(current),
        reference_rows=len(reference),
        share=drift.share,
        dataset_drift=drift.dataset_drift,
        drifted_features=sorted(f for f, r in drift.features.items() if r.drifted),
        prediction_drift=result.prediction_drift,
    )


def segment_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: Schema,
    column: str,
    drift_share: float,
    min_rows: int,
    max_rows: int,
    seed: int = 0,
    model_version: str | None = None,
    run: Mapper = local_map,
) -> SegmentDrift:
    """Drift of every segment of `column`, each tested through `run`.

    Args:
        reference: The drift reference (featurised training rows, `delay_probability`).
        current: The window from `window.current_frame`.
        schema: The compared schema; `column` must be one of its categorical features.
        column: The feature whose values are the segments.
        drift_share: A segment drifted when at least this share of its features did.
        min_rows: Segments with fewer rows in the window or the reference are skipped.
        max_rows: Each side of a segment is sampled to this many rows (seeded) when larger.
        seed: Seed of the sampling.
        model_version: Only this version's served scores count for prediction drift.
        run: The mapper the segments' tests go through.

    Returns:
        The column, `min_rows`, each tested value's figures and each skipped value's
        reason, values in the schema's category order.
    """
    if column not in schema.categorical_names:
        raise ValueError(
            f"segment column {column!r} is not a categorical feature of the compared schema "
            f"({', '.join(schema.categorical_names) or 'none'})"
        )
    compared = replace(schema, categorical=tuple(c for c in schema.categorical if c.name != column))
    test = SegmentTest(compared, drift_share, max_rows, seed, model_version)
    values = next(c.levels for c in schema.categorical if c.name == column)  # other too
    ref_groups = dict(tuple(reference.groupby(reference[column].astype(str), observed=True)))
    cur_groups = dict(tuple(current.groupby(current[column].astype(str), observed=True)))
    tested, skipped = [], {}
    for value in values:
        ref, cur = ref_groups.get(value), cur_groups.get(value)
        ref_rows, cur_rows = len(ref) if ref is not None else 0, len(cur) if cur is not None else 0
        if min(ref_rows, cur_rows) < min_rows:
            skipped[value] = (
                f"{cur_rows} rows in the window, {ref_rows} in the reference (< {min_rows})"
            )
        else:
            tested.append((value, (ref, cur)))
    results = run(partial(_segment_drift, test), [frames for _, frames in tested])
    return SegmentDrift(
        column=column,
        min_rows=min_rows,
        segments={value: result for (value, _), result in zip(tested, results, strict=True)},
        skipped=skipped,
    )
