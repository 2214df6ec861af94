"""A user's own table by configuration: `mlops init`, `mlops train`, `mlops score`, end to end.

The table is the generator's output under other column names (spaces, dots,
unicode, a leading digit), without a key column, with nulls in two columns and
a category of 150 store codes whose later period brings new ones; the next
season, scored after training, brings more new codes and more nulls.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.generate import generate_deliveries
from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.e2e

NAMES = {
    "delivery_id": "order id",
    "pickup_time": "ordered at",
    "distance_km": "distance.km",
    "weight_kg": "2nd weight kg",
    "precip_mm": "précipitation mm",
    "temperature_c": "temp_C",
    "traffic_index": "traffic index",
    "delayed": "late",
}
NULLS = ("temp_C", "traffic index")
STORES = [f"S{i:03d}" for i in range(150)]


def own_table(rows: int, seed: int, new_stores: list[str], null_share: float) -> pd.DataFrame:
    """Generated rows renamed, without a key, with nulls and a store-code category."""
    frame = generate_deliveries(rows=rows, seed=seed, start="2025-01-01", days=365)
    frame = frame.drop(columns=["customer_id"]).rename(columns=NAMES)
    rng = np.random.default_rng(seed)
    for column in NULLS:
        frame.loc[rng.random(rows) < null_share, column] = np.nan
    stores = rng.choice(STORES, rows).astype(object)
    later = np.flatnonzero(frame["ordered at"] >= frame["ordered at"].quantile(0.9))
    if new_stores:  # the later period brings codes seen a few times only
        picked = rng.choice(later, len(later) // 50, replace=False)  # ~10 rows per code
        stores[picked] = rng.choice(new_stores, len(picked))
    frame["store code"] = stores
    return frame


def mlops(root: Path, api_url: str, *args: str):
    return run(
        [str(BIN / "mlops"), "--root", str(root), *args],
        root,
        env={"PREFECT_API_URL": api_url, "BENTOML_HOME": str(root / ".bentoml")},
        timeout=900,
    )


def small(params: dict) -> None:
    params["train"]["lgbm"]["n_estimators"] = 120
    params["train"]["search"]["max_trials"] = 2


def test_own_table_from_init_to_registered_model_to_scores(
    tmp_path: Path, prefect_server: str
) -> None:
    root = copy_project(tmp_path / "proj", small)
    source = root / "data" / "source" / "orders.csv"
    own_table(20000, 7, ["S900", "S901", "S902", "S903"], 0.1).to_csv(source, index=False)

    init = mlops(root, prefect_server, "init", "--data", str(source), "--target", "late")
    assert init.returncode == 0, init.stderr[-3000:]
    assert "decide before `mlops train`" in init.stdout
    assert "key: None" in init.stdout  # no key column: requests route by id
    data = yaml.safe_load((root / "params.yaml").read_text())["data"]
    stores = data["categorical"]["store code"]
    assert stores["unknown"] == "other" and set(stores["values"]) == set(STORES)
    for column in NULLS:
        assert 0.1 < data["numeric"][column]["nulls"]["max_share"] < 0.2
    assert data["key_column"] is None and data["id_column"] == "order id"

    first = mlops(root, prefect_server, "train")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "validation: passed" in first.stdout
    assert "registry: version 1 has alias 'champion'" in first.stdout, first.stdout
    with sqlite3.connect(root / "mlflow.db") as db:
        aliases = dict(db.execute("select alias, version from registered_model_aliases"))
    assert aliases == {"champion": 1}
    report = json.loads((root / "reports" / "validation.json").read_text())
    for column in NULLS:
        assert 0.08 < report["null_shares"][column] < 0.12, report["null_shares"]
    assert report["null_shares"]["précipitation mm"] == 0.0
    assert report["other_shares"]["store code"] > 0  # the rare late codes went to other

    season = own_table(3000, 8, ["S950", "S951", "S952"], 0.2)
    season["ordered at"] = pd.to_datetime(season["ordered at"]) + pd.DateOffset(years=1)
    season = season.drop(columns=["late"])
    season.to_csv(tmp_path / "season.csv", index=False)
    out = tmp_path / "scores.csv"
    scored = mlops(
        root,
        prefect_server,
        "score",
        "--input",
        str(tmp_path / "season.csv"),
        "--output",
        str(out),
        "--quiet",
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    scores = pd.read_csv(out)
    assert len(scores) == 3000
    assert scores["delay_probability"].between(0, 1).all()
    unseen = season["store code"].isin(["S950", "S951", "S952"])
    nulls = season[list(NULLS)].isna().any(axis=1)
    assert unseen.sum() > 0 and nulls.sum() > 0
    assert set(scores["order id"]) >= set(season.loc[unseen | nulls, "order id"])
