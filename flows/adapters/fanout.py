"""Fan-out adapter: map a plain function over items, here or on Dask through Prefect.

`Runtime.engine` decides. `local` runs the items one after another in this
process. `dask` runs each item as a Prefect task on Prefect's DaskTaskRunner:
a LocalCluster of `Runtime.dask_workers` processes, or the running cluster at
`Runtime.dask_address`. Core functions receive the `Mapper` and never see
Prefect or Dask, so one code path gives the same results on either engine.

The function and its items travel to the workers by pickle: give a
module-level function (or a `functools.partial` of one) and picklable items.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from pipelines.config import Runtime
from pipelines.mapping import Mapper

T = TypeVar("T")
R = TypeVar("R")


def dask_mapper(runtime: Runtime, name: str) -> Mapper:
    """The `dask` engine (entry point `mlops.engines`); `name` labels the Prefect flow and tasks."""
    return partial(dask_map, runtime=runtime, name=name)


def prefect_api_url() -> str:
    """The Prefect API this process reports to, starting the temporary server if that is it.

    Workers and stage subprocesses get this URL so that they report to the
    same server instead of each starting a temporary one of their own.
    """
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        return str(configured)
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    return server.api_url


def task_runner(runtime: Runtime) -> Any:
    """Prefect's DaskTaskRunner on the configured cluster."""
    from prefect_dask import DaskTaskRunner  # imports distributed, which sets its log level

    # cluster chatter, not results (the dashboard it announces is switched off)
    for name in ("distributed", "prefect.task_runner.dask"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if runtime.dask_address:
        return DaskTaskRunner(address=runtime.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": runtime.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "env": {"PREFECT_API_URL": prefect_api_url(), "DASK_LOGGING__DISTRIBUTED": "warning"},
        },
    )


def dask_map(fn: Callable[[T], R], items: Sequence[T], *, runtime: Runtime, name: str) -> list[R]:
    """Each item as one Prefect task on the Dask cluster; results in the order of `items`."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    # inputs are frames and models: hashing them for a cache key costs time and buys nothing
    unit = task(name=name, cache_policy=NO_CACHE)(fn)

    work = list(items)  # captured, not a flow parameter: parameters are stored by the API

    @flow(name=f"{name}-fan-out", task_runner=task_runner(runtime))
    def fan_out() -> list[Any]:
        return [future.result() for future in unit.map(work)]

    return fan_out()
