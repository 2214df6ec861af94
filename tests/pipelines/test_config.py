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
