from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.config import ConfigError, load, load_params, load_project
from tests.conftest import ROOT


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    for name in ("params.yaml", "project.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_shipped_files_load(config) -> None:
    assert config.project.acceptance.min_recall == 0.80
    assert config.params.data.source == "generator"


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"params.yaml: file not found"):
        load_params(tmp_path / "params.yaml")


def test_broken_yaml_is_named(tmp_path: Path) -> None:
    (tmp_path / "project.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"project.yaml: not valid YAML"):
        load_project(tmp_path / "project.yaml")


def test_wrong_type_names_the_key(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["split"].update(valid_share="lots"))
    with pytest.raises(ConfigError, match=r"split\.valid_share"):
        load(project_dir)


def test_missing_field_names_the_key(project_dir: Path) -> None:
    edit(project_dir / "project.yaml", lambda d: d["acceptance"].pop("min_recall"))
    with pytest.raises(ConfigError, match=r"acceptance\.min_recall: Field required"):
        load(project_dir)


def test_unknown_key_is_rejected(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["train"].update(lerning_rate=0.1))
    with pytest.raises(ConfigError, match=r"train\.lerning_rate: Extra inputs are not permitted"):
        load(project_dir)


def test_out_of_range_share_is_rejected(project_dir: Path) -> None:
    edit(project_dir / "project.yaml", lambda d: d["acceptance"].update(min_precision=1.5))
    with pytest.raises(ConfigError, match=r"acceptance\.min_precision"):
        load(project_dir)


def test_feature_outside_privacy_allow_list_is_rejected(project_dir: Path) -> None:
    edit(
        project_dir / "params.yaml",
        lambda d: d["data"]["categorical"].update(dest_postcode=["10000"]),
    )
    with pytest.raises(
        ConfigError, match=r"dest_postcode is a model feature but not in project.yaml"
    ):
        load(project_dir)


def test_slice_must_be_a_categorical_column(project_dir: Path) -> None:
    edit(project_dir / "project.yaml", lambda d: d["acceptance"].update(slices=["distance_km"]))
    with pytest.raises(ConfigError, match=r"acceptance.slices.distance_km"):
        load(project_dir)


@pytest.mark.parametrize("segment", ["distance_km", "nope"])
def test_segment_column_must_be_a_compared_category(project_dir: Path, segment: str) -> None:
    edit(project_dir / "project.yaml", lambda d: d["monitoring"].update(segment_by=segment))
    with pytest.raises(ConfigError, match=rf"monitoring.segment_by: '{segment}' is not"):
        load(project_dir)


def test_file_source_needs_a_path(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["data"].update(source="file", path=None))
    with pytest.raises(
        ConfigError, match=r"data: Value error, source is 'file' but path is not set"
    ):
        load(project_dir)


def test_recall_target_below_the_floor_is_rejected(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["evaluate"].update(recall_target=0.5))
    with pytest.raises(ConfigError, match=r"recall_target is below"):
        load(project_dir)


def test_inverted_range_is_rejected(project_dir: Path) -> None:
    edit(
        project_dir / "params.yaml",
        lambda d: d["data"]["numeric"].update(distance_km={"min": 10, "max": 1}),
    )
    with pytest.raises(ConfigError, match=r"data\.numeric\.distance_km.*min \(10.0\) is above max"):
        load(project_dir)


def test_config_is_frozen(config) -> None:
    with pytest.raises(ValueError):
        config.params.split.valid_share = 0.5  # type: ignore[misc]


# ------------------------------------------------------------ data policies


def test_short_forms_keep_meaning_no_nulls_and_a_closed_list(config) -> None:
    data = config.params.data
    assert data.numeric["precip_mm"].nulls is None
    assert data.categorical["depot"].unknown == "reject"
    assert data.categorical["depot"].nulls is None
    assert data.categorical["depot"].values[:2] == ["N1", "N2"]


def test_null_policies_and_open_categories_load(project_dir: Path) -> None:
    def change(d: dict) -> None:
        d["data"]["numeric"]["precip_mm"] = {
            "min": 0,
            "max": 120,
            "nulls": {"max_share": 0.15, "impute": "mean"},
        }
        d["data"]["categorical"]["depot"] = {
            "values": ["N1", "N2"],
            "unknown": "other",
            "nulls": {"max_share": 0.05, "impute": "other"},
        }

    edit(project_dir / "params.yaml", change)
    data = load(project_dir).params.data
    assert data.numeric["precip_mm"].nulls.max_share == 0.15
    assert data.numeric["precip_mm"].nulls.impute == "mean"
    assert data.categorical["depot"].unknown == "other"
    assert data.categorical["depot"].nulls.impute == "other"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"values": ["a"], "nulls": {"max_share": 0.1, "impute": "other"}}, "needs unknown: other"),
        ({"values": ["a", "a"]}, "listed twice"),
        ({"values": ["__other__"], "unknown": "other"}, "bucket of open categories"),
        ({"values": ["a"], "unknown": "maybe"}, "unknown"),
        ({"values": ["a"], "nulls": {"max_share": 1.5}}, "max_share"),
    ],
)
def test_bad_category_policies_name_the_key(project_dir: Path, spec: dict, message: str) -> None:
    edit(project_dir / "params.yaml", lambda d: d["data"]["categorical"].update(depot=spec))
    with pytest.raises(ConfigError, match=rf"data\.categorical\.depot[\s\S]*{message}"):
        load(project_dir)


def test_yaml_booleans_among_categories_are_refused_with_a_hint(project_dir: Path) -> None:
    (project_dir / "params.yaml").write_text(
        (project_dir / "params.yaml")
        .read_text()
        .replace("area_type: [urban, suburban, rural]", "area_type: [yes, no]")
    )
    with pytest.raises(ConfigError, match=r"YAML boolean: quote category values"):
        load(project_dir)


def test_number_codes_among_categories_are_text(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["data"]["categorical"].update(depot=[101, 7]))
    assert load(project_dir).params.data.categorical["depot"].values == ["101", "7"]


@pytest.mark.parametrize("name", ["distance (km)", " distance", "dist\tkm", "_hidden", "a/b"])
def test_unusable_column_names_are_refused_saying_how_to_rename(project_dir: Path, name) -> None:
    def change(d: dict) -> None:
        d["data"]["numeric"][name] = d["data"]["numeric"].pop("distance_km")

    edit(project_dir / "params.yaml", change)
    with pytest.raises(ConfigError, match=r"cannot be used[\s\S]*rename it in the source"):
        load(project_dir)


@pytest.mark.parametrize("name", ["precip mm", "precip.mm", "précip_mm", "1st_precip"])
def test_odd_but_usable_column_names_load(project_dir: Path, name: str) -> None:
    def params(d: dict) -> None:
        d["data"]["numeric"][name] = d["data"]["numeric"].pop("precip_mm")
        d["train"]["baseline"]["rules"][name] = d["train"]["baseline"]["rules"].pop("precip_mm")
        lgbm = d["train"]["lgbm"]
        lgbm["monotone_increasing"] = [
            name if m == "precip_mm" else m for m in lgbm["monotone_increasing"]
        ]

    def project(d: dict) -> None:
        allowed = d["requirements"]["privacy"]["allowed_features"]
        allowed[allowed.index("precip_mm")] = name

    edit(project_dir / "params.yaml", params)
    edit(project_dir / "project.yaml", project)
    assert name in load(project_dir).params.data.numeric


def test_time_range_takes_dates_and_relative_bounds(project_dir: Path) -> None:
    from datetime import datetime

    edit(
        project_dir / "params.yaml",
        lambda d: d["data"].update(time_range={"min": "now-30y", "max": "2100-01-01"}),
    )
    low, high = load(project_dir).params.data.time_range.resolve(datetime(2026, 1, 1))
    assert low.year == 1996 and high == datetime(2100, 1, 1)


@pytest.mark.parametrize("bound", ["yesterday", "now+1w", "2100-13-01"])
def test_bad_time_bounds_are_named(project_dir: Path, bound: str) -> None:
    edit(project_dir / "params.yaml", lambda d: d["data"].update(time_range={"max": bound}))
    with pytest.raises(ConfigError, match=r"data\.time_range\.max"):
        load(project_dir)


def test_sql_source_needs_its_query(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["data"].update(source="sql"))
    with pytest.raises(ConfigError, match=r"source is 'sql' but sql"):
        load(project_dir)
    edit(project_dir / "params.yaml", lambda d: d["data"].update(sql={"query": "select 1"}))
    assert load(project_dir).params.data.sql.url == "duckdb:///data/source/example.duckdb"


def test_an_ignored_column_cannot_be_a_feature(project_dir: Path) -> None:
    edit(project_dir / "params.yaml", lambda d: d["data"].update(ignore_columns=["depot"]))
    with pytest.raises(ConfigError, match=r"data\.\*\.depot is also the id, time"):
        load(project_dir)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"area_type": {"below": 3}}, "a category takes 'equals' or 'in'"),
        ({"distance_km": {"in": ["1"]}}, "a number takes 'above' or 'below'"),
        ({"area_type": {"in": ["rural", "moon"]}}, "'moon' is not a value"),
        ({"depot_load": {"above": 1, "below": 2}}, "exactly one of"),
    ],
)
def test_baseline_rules_are_checked_against_the_features(project_dir, rule, message) -> None:
    edit(project_dir / "params.yaml", lambda d: d["train"]["baseline"].update(rules=rule))
    with pytest.raises(ConfigError, match=message):
        load(project_dir)


def test_baseline_rules_below_and_in_load(project_dir: Path) -> None:
    rules = {"temperature_c": {"below": -5}, "area_type": {"in": ["rural", "suburban"]}}
    edit(project_dir / "params.yaml", lambda d: d["train"]["baseline"].update(rules=rules))
    loaded = load(project_dir).params.train.baseline.rules
    assert loaded["temperature_c"].below == -5
    assert loaded["area_type"].to_json() == {"in": ["rural", "suburban"]}


def test_an_unquoted_date_is_refused_because_dvc_cannot_read_it(project_dir: Path) -> None:
    text = (project_dir / "params.yaml").read_text()
    (project_dir / "params.yaml").write_text(text.replace('{min: "2000-01-01"', "{min: 2000-01-01"))
    with pytest.raises(ConfigError, match=r'time_range\.min[\s\S]*quote the date \("2000-01-01"\)'):
        load(project_dir)
