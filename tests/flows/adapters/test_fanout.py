"""The fan-out work on a Dask LocalCluster of 2 workers gives what one process gives."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipelines.config import Runtime
from pipelines.features import FeatureEncoder, featurize
from pipelines.mapping import engine_mapper, local_map
from pipelines.split import split_by_time
from pipelines.tune import search_lgbm
from tests.conftest import tiny_deliveries

pytestmark = pytest.mark.integration

DASK = Runtime(engine="dask", dask_workers=2)


@pytest.fixture
def on_server(prefect_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process and the Dask workers it starts report to the session's Prefect server."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    with temporary_settings({PREFECT_API_URL: prefect_server}):
        yield prefect_server
        APILogWorker.drain_all(timeout=10)  # the flows' logs, while the server still runs


def worker_pid(_: object) -> int:
    return os.getpid()


def test_local_engine_maps_here() -> None:
    assert engine_mapper(Runtime(), "x") is local_map
    assert engine_mapper(Runtime(), "x")(worker_pid, [1, 2]) == [os.getpid()] * 2


def test_dask_engine_runs_items_in_worker_processes_in_order(on_server: str) -> None:
    pids = engine_mapper(DASK, "pid")(worker_pid, list(range(6)))
    assert len(pids) == 6 and os.getpid() not in pids
    assert engine_mapper(DASK, "square")(pow_two, [3, 1, 2]) == [9, 1, 4]


def test_a_running_cluster_is_used_by_its_scheduler_address(on_server: str) -> None:
    """`MLOPS_DASK_ADDRESS`: no cluster is started; the work goes to the one already running."""
    from distributed import LocalCluster

    env = {"PREFECT_API_URL": on_server}  # whoever starts the workers points them at the API
    with LocalCluster(n_workers=1, processes=True, dashboard_address=None, env=env) as cluster:
        [worker] = cluster.scheduler_info["workers"]
        address = Runtime(engine="dask", dask_address=cluster.scheduler_address)
        assert engine_mapper(address, "where")(worker_address, [1, 2]) == [worker] * 2


def worker_address(_: object) -> str:
    from distributed import get_worker

    return str(get_worker().address)


def pow_two(x: int) -> int:
    return x * x


def test_search_on_dask_gives_the_same_model(on_server: str, config, schema) -> None:
    frame = featurize(tiny_deliveries(n=1500, seed=4), schema)
    splits = split_by_time(frame, "pickup_time", "delayed", 0.2, 0.2)
    train = config.params.train
    params = train.model_copy(
        update={
            "lgbm": train.lgbm.model_copy(update={"n_estimators": 30}),
            "search": train.search.model_copy(update={"max_trials": 4}),
        }
    )
    encoder = FeatureEncoder.from_schema(schema)
    here = search_lgbm(splits, schema, encoder, params, 0.83)
    there = search_lgbm(splits, schema, encoder, params, 0.83, engine_mapper(DASK, "trial"))
    assert there[2].equals(here[2])  # every trial's settings and validation scores
    assert there[1] == here[1]
    assert trees(there[0]) == trees(here[0])


def trees(model) -> str:
    """The fitted trees, without the parameters section (num_threads differs by process)."""
    return model.booster_.model_to_string().split("\nparameters:")[0]


def test_segment_drift_on_dask_gives_the_same_figures(on_server: str, schema) -> None:
    from monitoring.segments import segment_drift
    from monitoring.window import current_frame
    from tests.monitoring.factories import log_rows, reference, shifted

    ref = reference(tiny_deliveries(n=2400, seed=0), schema)
    cur = current_frame(log_rows(shifted(tiny_deliveries(n=2400, seed=1)), schema), schema)
    args = (ref, cur, schema, "area_type", 0.3, 300, 100_000)
    here = segment_drift(*args)
    there = segment_drift(*args, run=engine_mapper(DASK, "segment"))
    assert there == here and len(here.segments) == 3


@pytest.mark.e2e
def test_train_stage_on_dask_gives_the_same_trials_and_model(tmp_path, prefect_server) -> None:
    """`dvc repro train` with MLOPS_ENGINE=dask: the stage fans its trials out, same files."""
    from pipelines.io import read_joblib
    from tests.conftest import BIN, copy_project, run

    def small(params: dict) -> None:
        params["generate"]["rows"] = 6000
        params["train"]["lgbm"]["n_estimators"] = 40
        params["train"]["search"]["max_trials"] = 4

    root = copy_project(tmp_path / "proj", small)
    local = run([str(BIN / "dvc"), "repro", "train"], root, timeout=600)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    trials = (root / "reports" / "trials.csv").read_text()
    model = read_joblib(root / "models" / "lgbm.joblib")

    env = {"MLOPS_ENGINE": "dask", "MLOPS_DASK_WORKERS": "2", "PREFECT_API_URL": prefect_server}
    fanned = run(
        [str(BIN / "dvc"), "repro", "--force", "--single-item", "train"], root, env=env, timeout=600
    )
    assert fanned.returncode == 0, fanned.stdout[-3000:] + fanned.stderr[-3000:]
    assert "search-trial-fan-out" in fanned.stdout + fanned.stderr  # the Prefect flow ran
    assert (root / "reports" / "trials.csv").read_text() == trials
    assert trees(read_joblib(root / "models" / "lgbm.joblib").estimator) == trees(model.estimator)
