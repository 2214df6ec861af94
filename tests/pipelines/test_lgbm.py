"""LightGBM's threads sleep between parallel regions unless the environment chose otherwise."""

import os

import pytest

from pipelines.lgbm import prefer_passive_openmp


def test_passive_wait_policy_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    prefer_passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_a_chosen_wait_policy_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    prefer_passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
