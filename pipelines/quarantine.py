"""Quarantine: a batch that failed its checks, kept aside with the report that says why.

Nothing is moved or deleted: the batch is copied (a source file as it is, or
the frame as Parquet) into `quarantine/<time>-<hash>/` with its report, so it
can be looked at and fixed while the models and registry stay as they were.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines import io

if TYPE_CHECKING:
    import pandas as pd

REPORT = "validation.json"


def quarantine(
    folder: Path | str,
    report: dict[str, Any],
    source: Path | None = None,
    frame: pd.DataFrame | None = None,
    name: str = "batch.parquet",
) -> Path:
    """Copy `source` (or write `frame` as `name`) and `report` into a new quarantine folder."""
    if source is not None:
        digest = hashlib.md5(source.read_bytes(), usedforsecurity=False).hexdigest()[:10]
    else:
        digest = hashlib.md5(repr(report).encode(), usedforsecurity=False).hexdigest()[:10]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = Path(folder) / f"{stamp}-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copy2(source, target / source.name)
    elif frame is not None:
        try:
            io.write_parquet(target / name, frame)
        except (ValueError, TypeError):  # mixed types Parquet cannot hold: keep them as text
            io.write_csv(target / Path(name).with_suffix(".csv"), frame)
    io.write_json(target / REPORT, report)
    return target
