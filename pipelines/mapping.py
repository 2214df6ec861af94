"""How core functions fan work out: they take a mapper and call it like `map`.

A mapper runs `fn` on every item and returns the results in item order. The
default runs them here, one after another. Other engines are plugins: a
package names a factory `(runtime, name) -> Mapper` under the entry-point
group `mlops.engines` (this project registers `dask`, which runs each item as
a Prefect task on Dask, in pyproject.toml). Core code and stage entry points
ask for `engine_mapper(runtime, name)` and never import the engine, so the
same code gives the same results on every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from pipelines.errors import UserError

if TYPE_CHECKING:
    from pipelines.config import Runtime

T = TypeVar("T")
R = TypeVar("R")

Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]
"""`mapper(fn, items) -> [fn(item) for item in items]`, wherever the work runs."""
ENGINE_GROUP = "mlops.engines"


def local_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """Every item in turn, in this process."""
    return [fn(item) for item in items]


def engine_mapper(runtime: Runtime, name: str) -> Mapper:
    """The mapper of `runtime.engine`; `name` labels the work (e.g. Prefect task names)."""
    if runtime.engine == "local":
        return local_map
    found = entry_points(group=ENGINE_GROUP, name=runtime.engine)
    if not found:
        raise UserError(
            f"MLOPS_ENGINE={runtime.engine}: no package registers this engine under the "
            f"entry-point group {ENGINE_GROUP!r} (is the project installed? `uv sync`)"
        )
    factory = next(iter(found)).load()
    mapper: Mapper = factory(runtime, name)
    return mapper
