"""The ingest stage: each source validated alone; labelled rows join a valid main batch only."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.ingest import IngestReport
from pipelines.stages.ingest import main
from tests.conftest import ROOT, tiny_deliveries

ARGS = ["--out", "raw.parquet", "--report", "ingest.json", "--quarantine", "quarantine"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A project folder (the cwd) whose main source is `data/source/main.csv`."""

    def make(main_rows: pd.DataFrame | None, labelled: dict[str, pd.DataFrame] | None = None):
        for name in ("params.yaml", "project.yaml"):
            shutil.copy(ROOT / name, tmp_path / name)
        params = yaml.safe_load((tmp_path / "params.yaml").read_text())
        params["data"].update(source="file", path="data/source/main.csv")
        params["validate"]["min_rows"] = 50
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        source = tmp_path / "data" / "source"
        (source / "labelled").mkdir(parents=True)
        if main_rows is not None:
            main_rows.to_csv(source / "main.csv", index=False)
        for name, rows in (labelled or {}).items():
            rows.to_parquet(source / "labelled" / name)
        monkeypatch.chdir(tmp_path)
        return tmp_path

    return make


def good(n: int = 200, seed: int = 0) -> pd.DataFrame:
    frame = tiny_deliveries(n, seed)
    frame["delayed"] = (np.arange(n) % 5 == 0).astype("int64")
    return frame


def labelled_rows(n: int = 30) -> pd.DataFrame:
    rows = good(n, seed=9).drop(columns=["true_delay_prob", "dest_postcode"])
    rows["delivery_id"] = [f"P{i}" for i in range(n)]
    return rows.assign(pickup_time=rows["pickup_time"].astype(str))


def quarantined(root: Path) -> list[Path]:
    return sorted(p for p in (root / "quarantine").rglob("*") if p.is_file())


def test_a_valid_main_batch_gets_its_labelled_rows_appended(project, capsys) -> None:
    root = project(good(), {"a.parquet": labelled_rows()})

    assert main(ARGS) == 0

    raw = pd.read_parquet(root / "raw.parquet")
    assert len(raw) == 230
    report = IngestReport.from_json(json.loads((root / "ingest.json").read_text()))
    assert [(f.role, f.rows) for f in report.files] == [("main", 200), ("labelled", 30)]
    assert report.files[1].name == "data/source/labelled/a.parquet"
    assert len(report.content_hash) == 64
    assert "+ 30 labelled production rows" in capsys.readouterr().out


def test_an_empty_main_file_with_labelled_rows_present_is_refused(project, capsys) -> None:
    root = project(good().iloc[0:0], {"a.parquet": labelled_rows(300)})

    assert main(ARGS) == 2

    err = capsys.readouterr().err
    assert "data/source/main.csv: the main batch failed validation" in err
    assert "the batch is empty" in err
    assert not (root / "raw.parquet").exists()
    names = {p.name for p in quarantined(root)}
    assert names == {"main.csv", "validation.json"}


def test_a_mistyped_main_file_is_a_named_failure_not_a_traceback(project, capsys) -> None:
    bad = good()
    bad["weight_kg"] = bad["weight_kg"].astype(object)
    bad.loc[3, "weight_kg"] = "heavy"
    root = project(bad, {"a.parquet": labelled_rows()})

    assert main(ARGS) == 2

    err = capsys.readouterr().err
    assert "weight_kg" in err and "'heavy'" in err and "Traceback" not in err
    assert not (root / "raw.parquet").exists()


def test_a_bad_labelled_file_is_quarantined_and_nothing_is_ingested(project, capsys) -> None:
    broken = labelled_rows().assign(depot="ZZ9")
    root = project(good(), {"a.parquet": labelled_rows(), "b.parquet": broken})

    assert main(ARGS) == 2

    err = capsys.readouterr().err
    assert "data/source/labelled/b.parquet: labelled rows failed validation" in err
    assert "'ZZ9'" in err
    assert not (root / "raw.parquet").exists()
    assert {p.name for p in quarantined(root)} == {"b.parquet", "validation.json"}
    assert (root / "data" / "source" / "labelled" / "b.parquet").is_file()  # nothing lost


def test_labelled_rows_may_be_few_and_of_one_class(project) -> None:
    root = project(good(), {"a.parquet": labelled_rows(3).assign(delayed=1)})
    assert main(ARGS) == 0
    assert len(pd.read_parquet(root / "raw.parquet")) == 203


def test_a_corrupt_parquet_source_is_named(project, capsys) -> None:
    root = project(good())
    (root / "data" / "source" / "labelled" / "c.parquet").write_bytes(b"PAR1 not really")
    assert main(ARGS) == 2
    assert "c.parquet: cannot be read as parquet" in capsys.readouterr().err
