"""`mlops replay`: a user's own rows, in time order, then their outcomes, to the real app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli.main import main
from flows.tools.replay import build_replay_traffic, replay
from pipelines.ingest import DataError
from tests.conftest import ROOT, tiny_deliveries
from tests.flows.test_release import KEYS, build_router, cli_env, serve
from tests.services import conftest as service_fixtures

trained = service_fixtures.trained


def shuffled(n: int = 30) -> pd.DataFrame:
    """Rows out of time order, with a missing outcome and the generator's extra columns."""
    frame = tiny_deliveries(n=n, seed=4).sample(frac=1.0, random_state=2).reset_index(drop=True)
    frame["delayed"] = frame["delayed"].astype("Int64")
    frame.loc[3, "delayed"] = pd.NA
    return frame


def test_replay_sends_the_api_fields_in_time_order_and_keeps_the_outcomes(schema) -> None:
    frame = shuffled()
    traffic = build_replay_traffic(frame, schema, 1, label_share=1.0, seed=0, source="rows.csv")
    times = [b[schema.time_column] for b in traffic.bodies]
    assert times == sorted(times)
    expected = {schema.id_column, schema.key_column, *schema.input_columns}
    assert all(set(b) == expected for b in traffic.bodies)
    by_id = frame.set_index(schema.id_column)
    first = traffic.bodies[0][schema.id_column]
    assert traffic.outcomes[0] == (by_id.loc[first, "delayed"] == 1)
    unknown = traffic.bodies.index(
        next(b for b in traffic.bodies if b[schema.id_column] == frame.loc[3, schema.id_column])
    )
    assert traffic.outcomes[unknown] is None and traffic.labelled[unknown] is False
    assert sum(traffic.labelled) == len(frame) - 1
    assert all(isinstance(b["distance_km"], float) for b in traffic.bodies)


def test_replay_keeps_nulls_null_and_names_missing_columns(schema) -> None:
    frame = shuffled().assign(precip_mm=np.nan)
    traffic = build_replay_traffic(frame, schema, 1, 0.5, 0, "rows.csv")
    assert all(b["precip_mm"] is None for b in traffic.bodies)
    with pytest.raises(DataError, match=r"rows.csv: missing column\(s\) 'depot'"):
        build_replay_traffic(frame.drop(columns="depot"), schema, 1, 0.5, 0, "rows.csv")


@pytest.mark.integration
def test_replay_runs_the_rows_against_the_app(
    tmp_path: Path, schema, trained, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    rows = tmp_path / "rows.parquet"
    shuffled(40).to_parquet(rows, index=False)
    router = build_router(schema, f"sqlite:///{tmp_path / 'log.db'}", trained["lgbm"], None)
    with serve(schema, router) as url:
        result = replay(url, KEYS.api_key, rows, rate=50, outcome_delay=0.1, root=ROOT)
        assert router.flush(20)
        log = router.log.read_predictions()
        cli_env(monkeypatch, tmp_path)
        args = ["--url", url, "--rate", "40", "--limit", "5", "--input", str(rows)]
        code = main(["--root", str(ROOT), "replay", *args])
    assert result.sent == result.answered == 40, result.summary()
    assert result.errors == {} and result.feedback_errors == {}
    assert result.feedback_sent == 39  # one row's outcome is unknown
    assert len(log) == 40 and int(log["outcome"].notna().sum()) == 39
    assert code == 0
    assert "sent rows.parquet: 5/5" in capsys.readouterr().out
