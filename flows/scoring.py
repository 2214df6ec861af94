"""Batch scoring adapter: a registered model scores a CSV or Parquet file, chunk by chunk.

On the Dask engine (`MLOPS_ENGINE=dask`) the file is scored in partitions,
one Prefect task each (see `flows.adapters.fanout` and `pipelines.partitioned`).
The model comes from the MLflow registry (an alias or a version number) and
its decision threshold from that version's `threshold` tag, so a file is
scored exactly as the evaluated model would score it. The scoring itself is
`pipelines.predict`, the files `pipelines.tables`; this module only finds the
model and shows progress.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from flows.adapters import registry, tracking
from pipelines.config import Runtime, load
from pipelines.errors import UserError
from pipelines.lgbm import prefer_passive_openmp
from pipelines.mapping import engine_mapper
from pipelines.partitioned import PARTITION_ROWS, score_partitioned
from pipelines.predict import ScoredFile, score_table
from pipelines.schema import build_schema
from pipelines.tables import CHUNK_ROWS, file_kind, open_table


class ModelNotFound(UserError, LookupError):
    """No registry version carries the alias or number asked for, or it lacks its threshold."""


@dataclass(frozen=True)
class ScoringResult:
    """One batch scoring run: rows written, time spent scoring, the model version used."""

    rows: int
    rejected: int
    """Rows left out because they cannot be scored (only with skip_invalid)."""
    seconds: float
    """Wall time of reading, checking, scoring and writing; loading the model excluded."""
    version: str
    output: Path
    rejected_path: Path | None

    @property
    def rows_per_second(self) -> float:
        """Rows scored per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def find_version(
    root: Path, runtime: Runtime, alias: str = "champion", version: str | None = None
) -> registry.RegisteredVersion:
    """The registry version asked for (`version`, else `alias`); its threshold tag is checked."""
    name = runtime.model_name
    missing = (
        f"model {name!r} has no version {version}"
        if version
        else f"no model has alias {alias!r}: run `mlops train` first"
    )
    uri = runtime.resolved_tracking_uri(root)
    store = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if store is not None and not store.is_file():  # connecting would create an empty store
        raise ModelNotFound(f"{missing} (there is no registry at {store})")
    tracking.connect(root, runtime)
    found = (
        registry.numbered_version(name, version) if version else registry.alias_version(name, alias)
    )
    if found is None:
        raise ModelNotFound(missing)
    try:
        float(found.tags["threshold"])
    except (KeyError, ValueError):
        raise ModelNotFound(
            f"{name} version {found.version} has no usable 'threshold' tag "
            f"({found.tags.get('threshold')!r}): register models with `mlops train`"
        ) from None
    return found


def score_file(
    root: Path,
    input_path: Path,
    output_path: Path,
    *,
    alias: str = "champion",
    version: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    partition_rows: int = PARTITION_ROWS,
    skip_invalid: bool = False,
    quiet: bool = False,
    runtime: Runtime | None = None,
) -> ScoringResult:
    """Score `input_path` into `output_path` with a registered model.

    The input's type and columns and the output's type are checked before the
    model is loaded. With `runtime.engine` dask the file is scored in
    partitions of `partition_rows` on the Dask cluster (same rows, same
    scores), otherwise in one pass here. A progress bar goes to stderr when it
    is a terminal and `quiet` is false (on Dask it moves when the parts are in).
    """
    prefer_passive_openmp()  # before LightGBM starts its threads
    schema = build_schema(load(root))
    table = open_table(input_path, schema, chunk_rows)
    file_kind(output_path)
    runtime = runtime or Runtime()
    registered = find_version(root, runtime, alias, version)
    model = tracking.load_version(runtime.model_name, registered.version)
    threshold = float(registered.tags["threshold"])
    start = time.perf_counter()
    score = (
        partial(
            score_partitioned,
            run=engine_mapper(runtime, "score-partition"),
            partition_rows=partition_rows,
        )
        if runtime.engine == "dask"
        else score_table
    )
    with tqdm(
        total=table.rows,
        unit="rows",
        unit_scale=True,
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
    ) as bar:
        scored = score(
            model,
            table,
            output_path,
            schema,
            threshold,
            registered.version,
            skip_invalid=skip_invalid,
            progress=bar.update,
        )
    return _result(scored, time.perf_counter() - start, registered.version)


def _result(scored: ScoredFile, seconds: float, version: str) -> ScoringResult:
    return ScoringResult(
        scored.rows, scored.rejected, seconds, version, scored.output, scored.rejected_path
    )
