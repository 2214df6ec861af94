from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from flows.adapters.dvc import RemoteProblem, StageFailed, pull, push, stage_names
from tests.conftest import BIN, ROOT, git, run


def test_stages_run_in_dag_order() -> None:
    assert stage_names(ROOT) == [
        "ingest",
        "validate",
        "featurize",
        "split",
        "train",
        "evaluate",
        "package",
    ]


def test_bad_input_failures_are_not_retryable() -> None:
    output = (
        "Running stage 'validate'\nerror: data/raw/x.parquet: validation failed\n"
        "  - depot: expect_column_values_to_be_in_set: 1 row not in [N1]\n"
        "ERROR: failed to reproduce 'validate'"
    )
    failed = StageFailed("validate", 2, output)
    assert failed.bad_input
    assert "validation failed" in str(failed)
    assert "depot: expect_column_values_to_be_in_set" in str(failed)
    assert "failed to reproduce" not in str(failed)
    assert not StageFailed("train", 1, "Traceback ...\nMemoryError").bad_input


# ------------------------------------------------------------------ remotes


@pytest.fixture
def tracked_repo(tmp_path: Path) -> Path:
    """A git + DVC repo with the project's DVC config and one tracked file."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    run([str(BIN / "dvc"), "init", "-q"], root)
    for name in ("config", ".gitignore"):
        shutil.copy2(ROOT / ".dvc" / name, root / ".dvc" / name)
    (root / "data.csv").write_text("a,b\n1,2\n")
    assert run([str(BIN / "dvc"), "add", "-q", "data.csv"], root).returncode == 0
    return root


def forget(root: Path) -> None:
    """Lose the workspace copy and the cache, as a fresh checkout would."""
    (root / "data.csv").unlink()
    shutil.rmtree(root / ".dvc" / "cache")


@pytest.mark.integration
def test_default_remote_is_a_directory_that_restores_a_fresh_checkout(tracked_repo) -> None:
    root = tracked_repo
    assert "1 file pushed" in push(root)
    assert any((root / ".dvc" / "storage").rglob("*"))
    assert push(root) == "Everything is up to date."
    forget(root)
    pull(root)
    assert (root / "data.csv").read_text() == "a,b\n1,2\n"


@pytest.mark.integration
def test_remote_url_from_the_environment_goes_to_the_local_config(tracked_repo, tmp_path) -> None:
    root, elsewhere = tracked_repo, tmp_path / "shared-store"
    committed = (root / ".dvc" / "config").read_text()
    push(root, str(elsewhere))
    assert any(elsewhere.rglob("*")) and not (root / ".dvc" / "storage").exists()
    assert (root / ".dvc" / "config").read_text() == committed
    assert str(elsewhere) in (root / ".dvc" / "config.local").read_text()
    forget(root)
    pull(root, str(elsewhere))
    assert (root / "data.csv").is_file()


def test_object_store_url_without_its_plugin_names_the_package(tmp_path) -> None:
    if importlib.util.find_spec("dvc_s3") is not None:
        pytest.skip("dvc-s3 is installed here: the missing-plugin message cannot show")
    with pytest.raises(RemoteProblem, match=r"MLOPS_DVC_REMOTE=s3://bucket/dvc: .*`uv add dvc-s3`"):
        push(tmp_path, "s3://bucket/dvc")


@pytest.mark.integration
def test_no_remote_at_all_is_said_not_raised(tmp_path) -> None:
    git(tmp_path, "init", "-q")
    run([str(BIN / "dvc"), "init", "-q"], tmp_path)
    assert push(tmp_path).startswith("no DVC remote configured")
