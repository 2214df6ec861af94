"""How core functions fan work out: they take a mapper and call it like `map`.

A mapper runs `fn` on every item and returns the results in item order. The
default runs them here, one after another; `flows.fanout` supplies one that
runs them as Prefect tasks on Dask. Either way the core code is the same, so
the results are too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]
"""`mapper(fn, items) -> [fn(item) for item in items]`, wherever the work runs."""


def local_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """Every item in turn, in this process."""
    return [fn(item) for item in items]
