"""The one base of the errors a person can act on.

Raised where the problem is found, with a message that names the file, key,
column or step and what to do. The `mlops` command prints such an error
without a traceback and exits with its `exit_code`; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says what and where."""

    exit_code: int = 2
    """2: the input or the state is at fault and retrying will not help; 1: try again later."""


class DataError(UserError, ValueError):
    """The input data cannot be used; the message names the file and column."""
