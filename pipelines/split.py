"""Time-ordered split into train, validation and the gold holdout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines import io
from pipelines.errors import DataError

SPLIT_NAMES = ("train", "valid", "holdout")


@dataclass(frozen=True)
class Splits:
    """Three disjoint slices of time: train (oldest), valid, holdout (latest, the gold set)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame


def split_by_time(
    frame: pd.DataFrame, time_column: str, target: str, valid_share: float, holdout_share: float
) -> Splits:
    """Order rows by time and cut them so that the model is always judged on the future."""
    ordered = frame.sort_values(time_column, kind="stable").reset_index(drop=True)
    n = len(ordered)
    train_end = round(n * (1 - valid_share - holdout_share))
    valid_end = round(n * (1 - holdout_share))
    splits = Splits(
        train=ordered.iloc[:train_end].reset_index(drop=True),
        valid=ordered.iloc[train_end:valid_end].reset_index(drop=True),
        holdout=ordered.iloc[valid_end:].reset_index(drop=True),
    )
    for name in SPLIT_NAMES:
        part = getattr(splits, name)
        if part[target].nunique() < 2:
            raise DataError(
                f"split {name!r} ({len(part)} rows) holds a single class of {target!r}; "
                "use more rows or larger shares"
            )
    return splits


def read_splits(folder: Path | str) -> Splits:
    """The three slices as written by the split stage."""
    folder = Path(folder)
    return Splits(*(io.read_parquet(folder / f"{name}.parquet") for name in SPLIT_NAMES))
