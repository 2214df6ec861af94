"""Writing params.yaml and project.yaml back: a new data section, a few keys, comments kept.

The files are edited round trip (ruamel.yaml): every section and comment that
is not replaced stays as it was. The result is checked like `load` checks it
(both files, cross-checked) before anything is written; then each previous
file is copied to `<name>.<time>.bak` and the new one written atomically.
"""

from __future__ import annotations

import io as text_io
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines import io
from pipelines.config.loading import PARAMS_FILE, PROJECT_FILE, ConfigError, cross_check
from pipelines.config.params import Params
from pipelines.config.project import Project

Key = tuple[str, ...]


def _plain(value: Any) -> Any:
    """`value` quoted when PyYAML (YAML 1.1, which `load` uses) would read it as no string."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str):
        try:
            same = yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = False
        return value if same and value.strip() == value else DoubleQuotedScalarString(value)
    return value


def _node(value: Any, flow: bool = False) -> Any:
    """Plain data as ruamel nodes: mappings and lists in flow style when `flow`."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, Mapping):
        node = CommentedMap((_plain(k), _node(v, flow)) for k, v in value.items())
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_node(v, flow) for v in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    return _plain(value)


NOTES = {
    "source": "generator | file (`path`) | sql (`sql`: url, query, freshness_key)",
    "labelled_dir": "production rows with outcomes, exported by monitoring; appended",
    "key_column": "request key for sticky A/B assignment (null: none)",
    "oracle_column": "known true probability (simulated data only; null for real data)",
    "time_range": "times outside are refused (ISO dates or now+-N[yd])",
    "ignore_columns": "in the source, never a feature (identifiers, free text, leakage...)",
    "time_features": "derived from the time column (hour | weekday | month)",
}
"""End-of-line comments of the data section's keys, where no reason is given."""
BEFORE = {
    "numeric": "name: allowed range (inclusive); nulls: {max_share, impute: median | mean | zero}",
    "categorical": (
        "name: [values] (others refused) or {values, unknown: other (-> __other__) | reject,\n"
        "nulls: {max_share, impute: most_frequent | other}}"
    ),
}
"""Comment lines written above those keys."""


def data_node(data: Mapping[str, Any], comments: Mapping[Key, str]) -> Any:
    """The `data` section as a ruamel mapping: one line per column, flow style inside."""
    from ruamel.yaml.comments import CommentedMap

    out = CommentedMap()
    for key, value in data.items():
        nested = key in ("numeric", "categorical", "time_features")
        if nested and isinstance(value, Mapping):
            inner = CommentedMap((_plain(k), _node(v, flow=True)) for k, v in value.items())
            out[key] = inner
        else:
            out[key] = _node(value, flow=key in ("time_range", "ignore_columns", "sql"))
        note = comments.get((key,)) or NOTES.get(key)
        if note:
            out.yaml_add_eol_comment(note, key)
        if key in BEFORE:
            out.yaml_set_comment_before_after_key(key, before=BEFORE[key], indent=2)
    return out


def _set(tree: Any, key: Key, value: Any) -> None:
    """Set `key` to `value`, in the style (flow or block) of the value it replaces."""
    from ruamel.yaml.comments import CommentedMap

    node = tree
    for part in key[:-1]:
        if part not in node or node[part] is None:
            node[part] = CommentedMap()
        node = node[part]
    last = key[-1]
    old = node.get(last)
    flow = bool(getattr(old, "fa", None) and old.fa.flow_style())
    if last == "rules" and isinstance(value, Mapping):  # one rule per line, each in flow style
        node[last] = CommentedMap((_plain(k), _node(v, flow=True)) for k, v in value.items())
    else:
        node[last] = _node(value, flow=flow or last == "target_rate")


def _dump(yaml_rt: Any, tree: Any) -> str:
    """The tree as text, a blank line between a nested section and the next top-level key."""
    stream = text_io.StringIO()
    yaml_rt.dump(tree, stream)
    out: list[str] = []
    lines = stream.getvalue().splitlines()
    for line in lines:
        top = bool(line) and not line[0].isspace() and not line.startswith("#")
        if top and out and out[-1][:1].isspace() and out[-1].strip():
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def _yaml() -> Any:
    """A round-trip YAML that writes the project's style: 2-space maps, indented lists, `null`."""
    from ruamel.yaml import YAML

    yaml_rt = YAML()
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 100
    yaml_rt.indent(mapping=2, sequence=4, offset=2)
    yaml_rt.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml_rt


def render(
    root: Path,
    data: Mapping[str, Any],
    params: Mapping[Key, Any],
    project: Mapping[Key, Any],
    comments: Mapping[Key, str],
) -> tuple[str, str]:
    """The new texts of params.yaml and project.yaml (nothing written); ConfigError if invalid."""
    yaml_rt = _yaml()
    trees = {}
    for name in (PARAMS_FILE, PROJECT_FILE):
        path = root / name
        if not path.is_file():
            raise ConfigError(f"{path}: file not found (init edits the project's files)")
        trees[name] = yaml_rt.load(path.read_text())
    trees[PARAMS_FILE]["data"] = data_node(data, comments)
    for key, value in params.items():
        _set(trees[PARAMS_FILE], key, value)
    for key, value in project.items():
        _set(trees[PROJECT_FILE], key, value)
    texts = (_dump(yaml_rt, trees[PARAMS_FILE]), _dump(yaml_rt, trees[PROJECT_FILE]))
    check(*texts)
    return texts


def check(params_text: str, project_text: str) -> None:
    """ConfigError naming every problem of the two texts, as `load` would."""
    from pydantic import ValidationError

    parsed = []
    for name, text, model in (
        (PARAMS_FILE, params_text, Params),
        (PROJECT_FILE, project_text, Project),
    ):
        try:
            parsed.append(model.model_validate(yaml.safe_load(text)))
        except ValidationError as exc:
            lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise ConfigError(f"drafted {name} is not valid:\n" + "\n".join(lines)) from None
    problems = cross_check(*parsed)  # type: ignore[arg-type]
    if problems:
        raise ConfigError(
            "drafted params.yaml / project.yaml disagree:\n  " + "\n  ".join(problems)
        )


def write(root: Path, params_text: str, project_text: str) -> list[Path]:
    """Back up both files (`<name>.<time>.bak`), then write the new texts; the backups' paths."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backups = []
    for name, text in ((PARAMS_FILE, params_text), (PROJECT_FILE, project_text)):
        path = root / name
        backup = root / f"{name}.{stamp}.bak"
        shutil.copy2(path, backup)
        backups.append(backup)
        io.write_text(path, text)
    return backups
