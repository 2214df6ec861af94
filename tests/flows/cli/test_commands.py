from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.main import build_parser, main
from tests.conftest import ROOT

HEAVY = (
    "mlflow",
    "prefect",
    "great_expectations",
    "evidently",
    "lightgbm",
    "dvc",
    "sklearn",
    "bentoml",
    "pandas",
)


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from flows.cli.main import build_parser\n"
        "build_parser().format_help()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_commands() -> None:
    text = build_parser().format_help()
    for command in ("train", "experiment", "experiments", "config"):
        assert command in text


def test_config_reports_the_features(capsys) -> None:
    assert main(["--root", str(ROOT), "config"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "depot_load" in out


def test_config_schema_is_json(capsys) -> None:
    assert main(["--root", str(ROOT), "config", "--schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert {"params.yaml", "project.yaml"} == set(schemas)


def test_config_error_exits_2_naming_the_key(tmp_path: Path, capsys) -> None:
    (tmp_path / "params.yaml").write_text(
        (ROOT / "params.yaml").read_text().replace("valid_share: 0.15", "valid_share: -1")
    )
    (tmp_path / "project.yaml").write_text((ROOT / "project.yaml").read_text())
    assert main(["--root", str(tmp_path), "config"]) == 2
    assert "split.valid_share" in capsys.readouterr().err


def test_experiment_rejects_unknown_param_keys(tmp_path: Path, capsys) -> None:
    from flows.experiments import check_overrides
    from pipelines.config import ConfigError

    with pytest.raises(ConfigError, match=r"params.yaml has no key 'train.lgbm.leaves'"):
        check_overrides(["train.lgbm.leaves=3"], ROOT)
    with pytest.raises(ConfigError, match=r"expected <section>.<key>=<value>"):
        check_overrides(["num_leaves"], ROOT)
    check_overrides(["train.lgbm.num_leaves=63"], ROOT)


def test_bad_environment_exits_2_naming_each_variable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLOPS_ENGINE", "spark")
    monkeypatch.setenv("MLOPS_DASK_WORKERS", "0")
    assert main(["--root", str(ROOT), "config"]) == 2
    err = capsys.readouterr().err
    assert "MLOPS_ENGINE: Input should be 'local' or 'dask'" in err
    assert "MLOPS_DASK_WORKERS: Input should be greater than or equal to 1" in err


def test_experiments_prints_a_header_and_one_row_each(monkeypatch, capsys) -> None:
    import flows.experiments
    from flows.experiments import ExperimentRow

    rows = [ExperimentRow("l15", "lgbm", 0.41234, 0.8, None, True, "run1")]
    monkeypatch.setattr(flows.experiments, "list_experiments", lambda root, limit: rows)
    assert main(["--root", str(ROOT), "experiments"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name  chosen  holdout_precision_at_recall  holdout_recall  holdout_roc_auc  "
        "gate_passed  run_id",
        "l15  lgbm  0.412  0.800  None  True  run1",
    ]


def _project(tmp_path: Path) -> Path:
    for name in ("params.yaml", "project.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "data" / "source").mkdir(parents=True)
    return tmp_path


def test_init_profiles_a_csv_writes_both_files_and_says_what_to_decide(
    tmp_path: Path, capsys
) -> None:
    from pipelines.config import load
    from tests.pipelines.test_profile import table

    root = _project(tmp_path)
    table().to_csv(root / "data" / "source" / "table.csv", index=False)

    code = main(["--root", str(root), "init", "--data", str(root / "data/source/table.csv")])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "target 'churned'" in out and "decide before `mlops train`" in out
    assert "privacy:" in out and "acceptance:" in out and "slices:" in out
    assert load(root).params.data.path == "data/source/table.csv"
    assert len(list(root.glob("*.bak"))) == 2


def test_init_from_a_query_sets_a_sql_source_keyed_by_time(tmp_path: Path, capsys) -> None:
    from pipelines.config import load
    from tests.pipelines.test_profile import table
    from tests.pipelines.test_sql import duckdb_file

    root = _project(tmp_path)
    duckdb_file(root / "data" / "source" / "example.duckdb", table())
    query = "select * from deliveries"

    assert main(["--root", str(root), "init", "--sql", query, "--target", "churned"]) == 0

    sql = load(root).params.data.sql
    assert sql is not None and sql.query == query and sql.freshness_key == "signed at"
    assert sql.url == "duckdb:///data/source/example.duckdb"


def test_init_refuses_what_it_cannot_decide_with_exit_2(tmp_path: Path, capsys) -> None:
    from tests.pipelines.test_profile import table

    root = _project(tmp_path)
    path = root / "data" / "source" / "t.parquet"
    table().rename(columns={"rain.mm": "rain (mm)"}).to_parquet(path)
    before = (root / "params.yaml").read_text()
    assert main(["--root", str(root), "init", "--data", str(path)]) == 2
    assert "'rain (mm)' cannot be used" in capsys.readouterr().err
    assert (root / "params.yaml").read_text() == before
