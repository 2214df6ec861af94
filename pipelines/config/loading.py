"""Loading params.yaml, project.yaml and the runtime profile, and checking them together.

Every error names the file and the key that is wrong, so a user editing
either file sees at once what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.config.base import Frozen
from pipelines.config.data import OTHER, check_column_name
from pipelines.config.params import Params
from pipelines.config.project import Project
from pipelines.config.runtime import Runtime
from pipelines.errors import UserError

PARAMS_FILE = "params.yaml"
PROJECT_FILE = "project.yaml"


class ConfigError(UserError, ValueError):
    """A configuration file is missing, unreadable or holds a wrong value."""


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def _explain(path: Path, exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  {key}: {err['msg']}")
    return ConfigError(f"{path}: invalid configuration\n" + "\n".join(lines))


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Parse and check params.yaml."""
    path = Path(path)
    try:
        return Params.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


def load_runtime() -> Runtime:
    """The runtime profile from MLOPS_* environment variables; ConfigError names each bad one."""
    try:
        return Runtime()
    except ValidationError as exc:
        lines = [
            f"  MLOPS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("environment: invalid MLOPS_* setting\n" + "\n".join(lines)) from None


def load_project(path: Path | str = PROJECT_FILE) -> Project:
    """Parse and check project.yaml."""
    path = Path(path)
    try:
        return Project.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


class Config(Frozen):
    """params.yaml and project.yaml together; build it with `load`, which cross-checks them."""

    params: Params
    project: Project


def cross_check(params: Params, project: Project) -> list[str]:
    """Problems that only show when both files are read together."""
    data, allowed = params.data, set(project.requirements.privacy.allowed_features)
    features = [*data.numeric, *data.categorical, *data.time_features]
    problems = [
        f"params.yaml data.*.{name} is a model feature but not in "
        f"project.yaml requirements.privacy.allowed_features"
        for name in features
        if name not in allowed
    ]
    reserved = {
        data.id_column,
        data.time_column,
        project.framing.target,
        data.key_column,
        data.oracle_column,
        *data.ignore_columns,
    }
    problems += [
        f"params.yaml data.*.{name} is also the id, time, target, key, oracle or an ignored column"
        for name in features
        if name in reserved
    ]
    try:
        check_column_name(project.framing.target)
    except ValueError as exc:
        problems.append(f"project.yaml framing.target: {exc}")
    problems += [
        f"project.yaml acceptance.slices.{name} is not a categorical column in params.yaml"
        for name in project.acceptance.slices
        if name not in data.categorical
    ]
    segment = project.monitoring.segment_by
    if segment is not None and (
        segment not in data.categorical or segment in project.monitoring.drift_ignore
    ):
        problems.append(
            f"project.yaml monitoring.segment_by: {segment!r} is not a categorical column in "
            "params.yaml that monitoring compares (see monitoring.drift_ignore)"
        )
    problems += [
        f"params.yaml train.lgbm.monotone_increasing.{name} is not a numeric feature"
        for name in params.train.lgbm.monotone_increasing
        if name not in data.numeric
    ]
    problems += _rule_problems(params)
    problems += [
        f"project.yaml monitoring.drift_ignore.{name} is not a feature in params.yaml"
        for name in project.monitoring.drift_ignore
        if name not in features
    ]
    if params.evaluate.recall_target < project.acceptance.min_recall:
        problems.append(
            "params.yaml evaluate.recall_target is below project.yaml acceptance.min_recall"
        )
    return problems


def _rule_problems(params: Params) -> list[str]:
    """Baseline rules that name no feature, or compare it the wrong way."""
    data, problems = params.data, []
    numbers = {*data.numeric, *data.time_features}
    for name, rule in params.train.baseline.rules.items():
        key = f"params.yaml train.baseline.rules.{name}"
        if name not in numbers and name not in data.categorical:
            problems.append(f"{key} is not a feature")
        elif name in numbers and (rule.equals is not None or rule.in_ is not None):
            problems.append(f"{key}: a number takes 'above' or 'below'")
        elif name in data.categorical:
            spec = data.categorical[name]
            levels = [*spec.values, *([OTHER] if spec.unknown == "other" else [])]
            wanted = [rule.equals] if rule.equals is not None else rule.in_
            if wanted is None:
                problems.append(f"{key}: a category takes 'equals' or 'in'")
            else:
                problems += [
                    f"{key}: {value!r} is not a value of data.categorical.{name}"
                    for value in wanted
                    if value not in levels
                ]
    return problems


def load(root: Path | str = ".") -> Config:
    """Load both files from the project root and check them against each other."""
    root = Path(root)
    params = load_params(root / PARAMS_FILE)
    project = load_project(root / PROJECT_FILE)
    problems = cross_check(params, project)
    if problems:
        raise ConfigError("params.yaml / project.yaml disagree:\n  " + "\n  ".join(problems))
    return Config(params=params, project=project)
