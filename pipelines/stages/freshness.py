"""Record the SQL source's state before a plain `dvc repro` (not a DVC stage).

`mlops train` (the training flow) does this itself before the stages. With
`data.source: sql`, `python -m pipelines.stages.freshness && dvc repro` reruns
the ingest stage when the query's row count or freshness key changed; for
other sources it does nothing. See `pipelines.sql`.
"""

from __future__ import annotations

import argparse
import json

from pipelines.config import Config
from pipelines.sql import FRESHNESS_FILE, write_freshness
from pipelines.stages.entry import run_stage


def _freshness(args: argparse.Namespace, config: Config) -> None:
    state = write_freshness(config.params.data)
    if state is None:
        print("freshness: the source is not SQL; nothing to record")
    else:
        print(f"freshness: {json.dumps(state, sort_keys=True)} -> {FRESHNESS_FILE}")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", [], _freshness, argv)


if __name__ == "__main__":
    raise SystemExit(main())
