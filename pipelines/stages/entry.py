"""What every stage entry point shares: argv parsing, config loading, clean failures.

Exit codes: 0 done, 2 bad input (config or data; retrying will not help),
anything else a crash.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pipelines.config import Config, ConfigError, load
from pipelines.ingest import DataError

BAD_INPUT = 2


def run_stage(
    description: str,
    paths: Sequence[str],
    body: Callable[[argparse.Namespace, Config], None],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse `--<path>` arguments, load the config, run `body`; bad input exits 2 with a message."""
    parser = argparse.ArgumentParser(description=description)
    for name in paths:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    try:
        body(args, load("."))
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    return 0
