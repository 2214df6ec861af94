"""Atomic file writes and the few readers the stages share.

Every file another step reads is written to a temporary file in the same
folder and renamed into place, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import DataError

if TYPE_CHECKING:  # pandas and joblib take seconds to import; JSON readers need neither
    import pandas as pd


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes 0600 files; outputs are read by other tools and users
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _write_with(target: Path | str, writer: Callable[[Path], object]) -> Path:
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_json(target: Path | str, payload: Any) -> Path:
    """Write `payload` as indented JSON, atomically."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    return _write_with(target, lambda tmp: tmp.write_text(text))


def write_text(target: Path | str, text: str) -> Path:
    """Write `text`, atomically."""
    return _write_with(target, lambda tmp: tmp.write_text(text))


def write_parquet(target: Path | str, frame: pd.DataFrame) -> Path:
    """Write `frame` to Parquet without its index, with page checksums, atomically."""
    return _write_with(
        target, lambda tmp: frame.to_parquet(tmp, index=False, write_page_checksum=True)
    )


def read_parquet(path: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file, verifying its page checksums where it has them.

    A file that cannot be read (not Parquet, truncated, flipped bytes) raises
    DataError naming it.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns, page_checksum_verification=True)
        return table.to_pandas()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path}: cannot be read as parquet: {exc}") from exc


def write_csv(target: Path | str, frame: pd.DataFrame) -> Path:
    """Write `frame` to CSV without its index, atomically."""
    return _write_with(target, lambda tmp: frame.to_csv(tmp, index=False))


def write_joblib(target: Path | str, obj: Any) -> Path:
    """Serialise a fitted model with joblib, atomically (only ever loaded from our own files)."""
    import joblib

    return _write_with(target, lambda tmp: joblib.dump(obj, tmp))


def read_json(path: Path | str) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(Path(path).read_text())


def read_joblib(path: Path | str) -> Any:
    """Load a model written by `write_joblib` (our own artifacts only: joblib unpickles)."""
    import joblib

    return joblib.load(path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
