"""flows/paths.py names the files dvc.yaml declares: the two never drift apart."""

from pathlib import Path

import pytest
import yaml

from flows import paths
from pipelines.split import SPLIT_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _declared(kind: str) -> set[str]:
    """Every path dvc.yaml lists under `kind` (outs, metrics or deps) of any stage."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    found = set()
    for stage in stages.values():
        for entry in stage.get(kind, []):
            found.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return found


@pytest.mark.parametrize(
    "path",
    [
        paths.RAW_DATA,
        paths.SPLIT_DIR,
        paths.MODELS_DIR,
        paths.TRIALS,
        paths.PLOTS_DIR,
        paths.FIGURES_DIR,
        paths.EVALUATION,
        paths.INGEST_REPORT,
        paths.VALIDATION_REPORT,
        paths.PACKAGE,
    ],
)
def test_every_stage_output_the_flows_read_is_declared_in_dvc_yaml(path: Path) -> None:
    assert str(path) in _declared("outs") | _declared("metrics")


def test_the_registry_report_is_the_package_stage_input() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert str(paths.REGISTRY_REPORT) in stages["package"]["deps"]


def test_split_files_are_the_ones_the_split_stage_writes() -> None:
    assert [paths.SPLIT_DIR / f"{name}.parquet" for name in SPLIT_NAMES] == [
        paths.TRAIN_SPLIT,
        paths.VALID_SPLIT,
        paths.HOLDOUT_SPLIT,
    ]


def test_stage_commands_write_where_the_paths_say() -> None:
    """Each output is also an argument of its stage's command (the stage code has no paths)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for entry in stage.get("outs", []) + stage.get("metrics", []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            if name != "package":  # the package stage writes its report where flows.paths says
                assert path in stage["cmd"], f"{name}: {path} not in its command"
