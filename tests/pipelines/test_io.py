from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import io


def test_atomic_write_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    io.write_json(target, {"x": 1})
    io.write_json(target, {"x": 2})
    assert io.read_json(target) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    io.write_json(target, {"x": 1})
    with pytest.raises(TypeError):
        io.write_json(target, {"x": object()})
    assert io.read_json(target) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_crash_inside_atomic_block_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_writes_get_the_usual_file_mode(tmp_path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        path = io.write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_parquet_is_written_with_checksums_and_flipped_bytes_are_named(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from pipelines.errors import DataError

    target = tmp_path / "batch.parquet"
    frame = pd.DataFrame(
        {"x": np.arange(2000, dtype="float64"), "s": [f"v{i}" for i in range(2000)]}
    )
    io.write_parquet(target, frame)
    pd.testing.assert_frame_equal(io.read_parquet(target), frame)
    with pq.ParquetFile(target) as parquet:  # a page's header carries its CRC
        assert parquet.metadata.num_rows == 2000
    data = bytearray(target.read_bytes())
    for i in range(200, 216):  # inside the first data page
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"batch\.parquet: cannot be read as parquet"):
        io.read_parquet(target)
