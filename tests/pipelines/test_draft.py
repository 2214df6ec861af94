"""`mlops init`'s drafting and writing: the data section, what follows it, comments kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.config import load
from pipelines.draft import init_project, null_policy
from pipelines.generate import generate_deliveries
from tests.conftest import ROOT
from tests.pipelines.test_profile import table


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    for name in ("params.yaml", "project.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


SOURCE = {"source": "file", "path": "data/source/table.csv", "sql": None}


def test_init_on_a_small_table_writes_a_configuration_that_loads(project_dir: Path) -> None:
    before = (project_dir / "params.yaml").read_text()

    result = init_project(project_dir, table(), SOURCE)

    config = load(project_dir)  # both files valid and consistent
    data = config.params.data
    assert (data.source, data.path) == ("file", "data/source/table.csv")
    assert (data.id_column, data.time_column, data.key_column) == ("row id", "signed at", "user_id")
    assert data.oracle_column is None
    assert data.numeric["rain.mm"].nulls.impute == "median"
    assert data.categorical["1st code"].unknown == "other"
    assert set(data.ignore_columns) == {"comment", "constant", "refund_amount"}
    assert config.project.framing.target == "churned"
    assert set(config.project.requirements.privacy.allowed_features) == {
        *data.numeric,
        *data.categorical,
        *data.time_features,
    }
    assert config.project.acceptance.slices == []  # the example's slices are gone
    assert config.project.acceptance.min_recall == 0.80  # acceptance kept: the user decides
    assert set(config.params.train.baseline.rules) <= {*data.numeric, *data.categorical}
    # the rest of the files and their comments are kept; the previous files are backed up
    text = (project_dir / "params.yaml").read_text()
    assert "# Every tunable number of the pipeline" in text
    assert "scenario: none                # none | winter" in text
    assert "max_categories: 30          # one-hot columns" in text
    assert "# the only date-time column" in text
    backups = sorted(project_dir.glob("params.yaml.*.bak"))
    assert [b.read_text() for b in backups] == [before]
    assert result.written and "privacy:" in result.text() and "slices:" in result.text()


def test_a_dry_run_writes_nothing(project_dir: Path) -> None:
    before = (project_dir / "params.yaml").read_text()
    result = init_project(project_dir, table(), SOURCE, write=False)
    assert (project_dir / "params.yaml").read_text() == before
    assert not list(project_dir.glob("*.bak"))
    assert "dry run: nothing written" in result.text()


def test_init_on_the_example_reproduces_todays_data_section(project_dir: Path) -> None:
    today = yaml.safe_load((ROOT / "params.yaml").read_text())["data"]
    frame = generate_deliveries(rows=20000, seed=7, start="2025-01-01", days=365, scenario="none")

    init_project(project_dir, frame, SOURCE)

    data = yaml.safe_load((project_dir / "params.yaml").read_text())["data"]
    for key in ("id_column", "time_column", "key_column", "oracle_column", "ignore_columns"):
        assert data[key] == today[key], key
    assert data["time_features"] == today["time_features"]
    assert list(data["numeric"]) == list(today["numeric"])
    for name, bounds in data["numeric"].items():
        observed = frame[name]
        assert bounds["min"] <= observed.min() and observed.max() <= bounds["max"]
        assert "nulls" not in bounds
    assert set(data["categorical"]) == set(today["categorical"])
    for name, values in data["categorical"].items():
        assert values == today["categorical"][name], name  # closed lists, today's order
    project = yaml.safe_load((project_dir / "project.yaml").read_text())
    assert project["acceptance"]["slices"] == ["area_type", "depot", "service_tier"]
    assert project["monitoring"]["segment_by"] == "area_type"
    assert (project_dir / "params.yaml").read_text().count("rules:") == 1
    assert load(project_dir).params.train.baseline.rules.keys() == {
        "precip_mm",
        "depot_load",
        "traffic_index",
        "distance_km",
        "area_type",
    }  # today's hand-written rules still fit, so they are kept


def test_values_yaml_would_misread_are_quoted(project_dir: Path) -> None:
    frame = table()
    frame["answer"] = ["yes", "no", "on"] * 200
    frame["2024"] = frame["température"]  # a name YAML reads as a number
    init_project(project_dir, frame, SOURCE)
    data = load(project_dir).params.data
    assert set(data.categorical["answer"].values) == {"yes", "no", "on"}
    assert "2024" in data.numeric


def test_null_policy_allows_half_again_the_observed_share() -> None:
    assert null_policy(0.0, numeric=True) is None
    assert null_policy(0.11, numeric=True) == {"max_share": 0.18, "impute": "median"}
    assert null_policy(0.9, numeric=False) == {"max_share": 1.0, "impute": "most_frequent"}
