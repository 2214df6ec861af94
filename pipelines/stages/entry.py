"""What every stage entry point shares: argv parsing, config loading, clean failures.

Exit codes: 0 done, 2 bad input (config or data; retrying will not help),
1 a source that cannot be reached now, anything else a crash.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pipelines.config import Config, load
from pipelines.errors import UserError

BAD_INPUT = 2


def run_stage(
    description: str,
    paths: Sequence[str],
    body: Callable[[argparse.Namespace, Config], None],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse `--<path>` arguments, load the config, run `body`; a UserError exits with its code."""
    parser = argparse.ArgumentParser(description=description)
    for name in paths:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    try:
        body(args, load("."))
    except UserError as exc:  # bad config or data (2), or a source down for now (1)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
