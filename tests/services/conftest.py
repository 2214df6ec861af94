"""Models and routers for the serving tests: two real models trained on tiny data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipelines.features import FeatureEncoder, featurize
from pipelines.lgbm import fit_lgbm, lgbm_settings
from pipelines.model import DelayModel
from pipelines.train import fit_logreg
from services.metrics import ServingMetrics
from services.policy import CanaryWatch, Guardrails, TrafficPolicy
from services.prediction_log.policy_store import PolicyStore
from services.prediction_log.writer import PredictionLog
from services.router import Router
from services.served_model import ServedModel
from tests.conftest import tiny_deliveries


@pytest.fixture(scope="session")
def trained(config, schema) -> dict[str, DelayModel]:
    """A LightGBM (champion) and a logistic regression (challenger) on 600 rows."""
    frame = featurize(tiny_deliveries(n=600, seed=11), schema)
    encoder = FeatureEncoder.from_schema(schema)
    matrix, y = encoder.encode(frame), frame["delayed"].to_numpy()
    lgbm_params = config.params.train.lgbm.model_copy(update={"n_estimators": 30})
    lgbm = fit_lgbm(matrix, y, encoder, lgbm_settings(lgbm_params, encoder, seed=1))
    logreg = fit_logreg(matrix, y, encoder, config.params.train.logreg)
    return {
        "lgbm": DelayModel("lgbm", lgbm, encoder),
        "logreg": DelayModel("logreg", logreg, encoder),
    }


@pytest.fixture
def rows(deliveries, schema) -> Callable[..., list[dict[str, Any]]]:
    """Validated request rows (as the API hands them to the router)."""

    def make(n: int = 20, seed: int = 0) -> list[dict[str, Any]]:
        frame = deliveries(n, seed=seed)
        columns = [schema.id_column, schema.key_column, *schema.input_columns]
        records = frame[columns].to_dict("records")
        for r in records:
            r[schema.time_column] = r[schema.time_column].to_pydatetime()
        return records

    return make


@pytest.fixture
def make_router(tmp_path: Path, schema, trained) -> Iterator[Callable[..., Router]]:
    """Build started routers on a SQLite log in tmp_path; all are closed after the test."""
    made: list[Router] = []

    def make(
        challenger: Any = "logreg",
        mode: str = "champion",
        weight: float = 0.0,
        shadow_capacity: int = 1000,
        guardrails: Guardrails | None = None,
        url: str | None = None,
        fetch: Callable[[str], ServedModel] | None = None,
    ) -> Router:
        champion = ServedModel.build("1", 0.5, trained["lgbm"], schema)
        models = {"1": champion}
        if challenger is not None:
            estimator = trained[challenger].estimator if isinstance(challenger, str) else challenger
            model = DelayModel("challenger", estimator, trained["logreg"].encoder)
            models["2"] = ServedModel.build("2", 0.5, model, schema)
        url = url or f"sqlite:///{tmp_path / 'serving' / 'predictions.db'}"
        log, policies = PredictionLog(url, flush_interval_s=0.05), PolicyStore(url)
        log.open()
        policies.open()
        packaged = TrafficPolicy(champion="1", challenger="2" if challenger is not None else None)
        router = Router(
            schema,
            models,
            packaged,
            log,
            policies,
            ServingMetrics(CollectorRegistry()),
            CanaryWatch(guardrails or Guardrails(0.02, 50.0, 20, 100)),
            shadow_capacity=shadow_capacity,
            refresh_seconds=0.2,
            fetch=fetch,
        )
        router.start()
        if mode != "champion":
            router.set_policy(
                TrafficPolicy(mode=mode, challenger_weight=weight), "test", "set up by the test"
            )
        made.append(router)
        return router

    yield make
    for router in made:
        router.close()
