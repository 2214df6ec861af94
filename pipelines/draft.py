"""From a `Profile` to params.yaml and project.yaml: what `mlops init` writes and says.

`draft` returns the new `data` section and the other keys that must follow the
data (baseline rules, monotone features, target rate, the framing's target,
the privacy allow-list, slices, drift settings), keeping every current value
that still fits the new columns. Plain dictionaries; `pipelines.config.writing`
puts them into the files, keeping the rest and its comments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.profile import Profile

Key = tuple[str, ...]
_TIME_SUFFIXES = ("_time", " time", ".time", "_at", "_date", " date", "_ts", "time", "date")


@dataclass(frozen=True)
class Draft:
    """The drafted configuration and the report of how it was inferred."""

    data: dict[str, Any]
    """The new params.yaml `data` section."""
    params: dict[Key, Any] = field(default_factory=dict)
    """Other params.yaml keys to set (path -> value)."""
    project: dict[Key, Any] = field(default_factory=dict)
    """project.yaml keys to set (path -> value)."""
    comments: dict[Key, str] = field(default_factory=dict)
    """End-of-line comments for written keys (the reason of each guess)."""
    inferred: list[str] = field(default_factory=list)
    decide: list[str] = field(default_factory=list)
    """What a person must decide (privacy, acceptance criteria, slices...)."""


def _get(tree: dict[str, Any], key: Key, default: Any = None) -> Any:
    node: Any = tree
    for part in key:
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _number(value: float) -> float | int:
    """An integral float as an int (a YAML bound reads `500`, not `500.0`)."""
    return int(value) if float(value).is_integer() else value


def null_policy(share: float, numeric: bool) -> dict[str, Any] | None:
    """The policy of a column with `share` nulls: allowed up to 1.5x that (+1 point)."""
    if share <= 0:
        return None
    limit = min(1.0, math.ceil((share * 1.5 + 0.01) * 100) / 100)
    return {"max_share": limit, "impute": "median" if numeric else "most_frequent"}


def time_features(profile: Profile, current: dict[str, Any] | None = None) -> dict[str, str]:
    """Derived features: hour (when times have one), weekday, month (two years or more).

    With the same time column as `current` (params.yaml's data section), the names
    it gives the same parts are kept.
    """
    current = current or {}
    named = {}
    if current.get("time_column") == profile.time.column:
        named = {part: name for name, part in (current.get("time_features") or {}).items()}
    column = profile.time.column or "time"
    base = column
    for suffix in _TIME_SUFFIXES:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    parts = ["weekday"] + (["month"] if profile.time_span_days >= 730 else [])
    parts = (["hour"] if profile.has_time_of_day else []) + parts
    return {named.get(part, f"{base}_{part}"): part for part in parts}


def _time_range(profile: Profile) -> dict[str, str]:
    low = profile.time_min or pd.Timestamp("2000-01-01")
    high = profile.time_max or pd.Timestamp.now()
    upper = "now+1y"
    if high > pd.Timestamp.now() + pd.Timedelta(days=365):
        upper = f"{high.year + 2}-01-01"
    return {"min": f"{low.year - 1}-01-01", "max": upper}


def data_section(
    profile: Profile, source: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """The params.yaml `data` section the profile describes (`source`: source/path/sql)."""
    oracle = current.get("oracle_column")
    ignored = [c for c in profile.ignored if c != oracle]
    before = {
        n: (s if isinstance(s, list) else s.get("values", []))
        for n, s in (current.get("categorical") or {}).items()
    }
    numeric = {}
    for name, num in profile.numeric.items():
        entry: dict[str, Any] = {"min": _number(num.min), "max": _number(num.max)}
        if (nulls := null_policy(num.null_share, numeric=True)) is not None:
            entry["nulls"] = nulls
        numeric[name] = entry
    categorical: dict[str, Any] = {}
    for name, cat in profile.categorical.items():
        nulls = null_policy(cat.null_share, numeric=False)
        values = list(cat.values)
        if set(before.get(name, [])) == set(values):  # the same values: keep their order
            values = list(before[name])
        if not cat.open and nulls is None:
            categorical[name] = values
            continue
        spec: dict[str, Any] = {"values": values}
        spec["unknown"] = "other" if cat.open else "reject"
        if nulls is not None:
            spec["nulls"] = nulls
        categorical[name] = spec
    return {
        **source,
        "labelled_dir": current.get("labelled_dir", "data/source/labelled"),
        "id_column": profile.id.column,
        "time_column": profile.time.column,
        "key_column": profile.key.column,
        "oracle_column": oracle if oracle in profile.ignored else None,
        "time_range": _time_range(profile),
        "ignore_columns": ignored,
        "numeric": numeric,
        "categorical": categorical,
        "time_features": time_features(profile, current),
    }


def _rules_fit(rules: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether params' current baseline rules still name features of the right kind and values."""
    if not rules:
        return False
    numbers = {*data["numeric"], *data["time_features"]}
    for name, rule in rules.items():
        if name in numbers:
            if not {"above", "below"} & set(rule or {}):
                return False
            continue
        spec = data["categorical"].get(name)
        if spec is None:
            return False
        values = spec if isinstance(spec, list) else spec["values"]
        wanted = [rule["equals"]] if "equals" in rule else rule.get("in") or [None]
        if any(v not in values for v in wanted):
            return False
    return True


def _target_rate(profile: Profile, current: dict[str, Any]) -> dict[str, float] | None:
    """A new validate.target_rate when the current one would not hold this data's rate."""
    rate = profile.positive_rate
    low, high = current.get("min", 0.0), current.get("max", 1.0)
    if low <= rate / 2 and rate * 1.5 <= high:
        return None
    return {"min": round(max(rate / 3, 0.001), 3), "max": round(min(rate * 2 + 0.05, 0.999), 3)}


def draft(
    profile: Profile,
    source: dict[str, Any],
    params: dict[str, Any],
    project: dict[str, Any],
    rules: dict[str, dict],
) -> Draft:
    """The configuration the profile asks for, keeping what still fits of `params` and `project`.

    Args:
        profile: What `profile_frame` found.
        source: `source`, `path` and `sql` of the new data section.
        params: params.yaml as it is (a plain dict).
        project: project.yaml as it is (a plain dict).
        rules: Baseline rules drafted from the data (`profile.baseline_rules`), used when
            the current ones no longer fit.
    """
    data = data_section(profile, source, params.get("data", {}))
    features = [*data["numeric"], *data["categorical"], *data["time_features"]]
    categories = {
        n: (s if isinstance(s, list) else s["values"]) for n, s in data["categorical"].items()
    }
    closed = [
        n for n, s in data["categorical"].items() if isinstance(s, list) or s["unknown"] == "reject"
    ]
    changes: dict[Key, Any] = {}
    current_rules = _get(params, ("train", "baseline", "rules"), {})
    kept_rules = _rules_fit(current_rules, data)
    if not kept_rules:
        changes[("train", "baseline", "rules")] = rules
    monotone = _get(params, ("train", "lgbm", "monotone_increasing"), [])
    changes[("train", "lgbm", "monotone_increasing")] = [
        m for m in monotone if m in data["numeric"]
    ]
    rate = _target_rate(profile, _get(params, ("validate", "target_rate"), {}))
    if rate is not None:
        changes[("validate", "target_rate")] = rate
    min_rows = _get(params, ("validate", "min_rows"), 500)
    if profile.rows < 2 * min_rows:
        changes[("validate", "min_rows")] = max(50, profile.rows // 4)
    slices = [s for s in _get(project, ("acceptance", "slices"), []) if s in closed]
    segment = _get(project, ("monitoring", "segment_by"))
    ignore = [f for f in _get(project, ("monitoring", "drift_ignore"), []) if f in features]
    ignore += [f for f in data["time_features"] if f not in ignore]
    project_changes: dict[Key, Any] = {
        ("framing", "target"): profile.target.column,
        ("requirements", "privacy", "allowed_features"): features,
        ("acceptance", "slices"): slices,
        ("monitoring", "drift_ignore"): ignore,
        ("monitoring", "segment_by"): segment
        if segment in categories and segment not in ignore
        else None,
    }
    comments: dict[Key, str] = {
        ("id_column",): profile.id.reason,
        ("time_column",): profile.time.reason,
        ("key_column",): profile.key.reason,
    }
    result = Draft(data, changes, project_changes, comments)
    _report(result, profile, kept_rules, closed)
    return result


def _report(result: Draft, profile: Profile, kept_rules: bool, closed: list[str]) -> None:
    """Fill the draft's two lists: what was inferred, what a person must decide."""
    data, said = result.data, result.inferred
    said.append(
        f"{profile.rows} rows; target {profile.target.column!r} ({profile.target.reason}), "
        f"{profile.positive_rate:.1%} positive"
    )
    said.append(
        f"time: {profile.time.column!r} ({profile.time.reason}); "
        f"features {', '.join(data['time_features'])}"
    )
    said.append(f"id: {profile.id.column!r} ({profile.id.reason})")
    said.append(f"key: {profile.key.column!r} ({profile.key.reason})")
    for name, num in profile.numeric.items():
        nulls = f", {num.null_share:.1%} null" if num.null_share else ""
        said.append(f"numeric {name!r}: {num.min:g}..{num.max:g}{nulls}")
    for name, cat in profile.categorical.items():
        kind = "open (unlisted -> other)" if cat.open else "closed"
        nulls = f", {cat.null_share:.1%} null" if cat.null_share else ""
        listed = f"{len(cat.values)} of {cat.distinct} values listed"
        said.append(f"categorical {name!r}: {listed}, {kind}{nulls}")
    said += [f"ignored {name!r}: {why}" for name, why in profile.ignored.items()]
    said.append(
        "baseline rules: " + ("kept from params.yaml" if kept_rules else "drafted from the data")
    )
    decide = result.decide
    decide.append(
        "privacy: project.yaml requirements.privacy.allowed_features now lists every feature; "
        "remove any a model must not see (names, precise locations, anything sensitive)"
    )
    decide.append(
        "acceptance: project.yaml acceptance (min_recall, min_precision, gains) were kept; "
        "set them for this problem"
    )
    slices = result.project[("acceptance", "slices")]
    decide.append(
        f"slices: acceptance.slices = {slices}; closed categories to judge by: {closed or 'none'}"
    )
    decide.append("framing: project.yaml name, requirements and framing texts describe the example")
    ignored = [n for n, why in profile.ignored.items() if "separates" in why or "score" in why]
    if ignored:
        decide.append(
            f"leakage: left out {ignored}; put back only what is known at prediction time"
        )


@dataclass(frozen=True)
class InitResult:
    """What `mlops init` did: the draft, whether it was written, the backups of the old files."""

    draft: Draft
    written: bool
    backups: list[Path] = field(default_factory=list)

    def text(self) -> str:
        """The report `mlops init` prints."""
        lines = ["inferred:", *(f"  {line}" for line in self.draft.inferred)]
        lines += ["decide before `mlops train`:", *(f"  - {line}" for line in self.draft.decide)]
        if self.written:
            lines.append(
                "wrote params.yaml (data section and the keys that follow it) and "
                "project.yaml (framing.target, privacy, slices, drift settings)"
            )
            lines += [f"  previous file kept as {b.name}" for b in self.backups]
            lines.append("check with `mlops config`, then run `mlops train`")
        else:
            lines.append("dry run: nothing written")
        return "\n".join(lines)


def read_source(
    root: Path, data: Path | None, query: str | None, url: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows to profile and the data section's source keys, from a file or a query."""
    if query is not None:
        from pipelines.config import SqlSource
        from pipelines.sql import read_query

        sql = SqlSource(query=query, **({"url": url} if url else {}))
        return read_query(sql, root), {"source": "sql", "path": None, "sql": sql.model_dump()}
    assert data is not None
    from pipelines.ingest import read_table

    full = data if data.is_absolute() else Path.cwd() / data
    if not full.exists() and (root / data).exists():  # relative to the project instead
        full = root / data
    try:
        named = str(full.resolve().relative_to(root.resolve()))
    except ValueError:
        named = str(full.resolve())
    return read_table(full), {"source": "file", "path": named, "sql": None}


def init_project(
    root: Path,
    frame: pd.DataFrame,
    source: dict[str, Any],
    target: str | None = None,
    time: str | None = None,
    id_column: str | None = None,
    write: bool = True,
) -> InitResult:
    """Profile `frame`, draft the configuration, check it and (unless not `write`) write it."""
    import yaml

    from pipelines.config import writing
    from pipelines.profile import baseline_rules, profile_frame

    profile = profile_frame(frame, target, time, id_column)
    if source.get("sql") is not None and not source["sql"].get("freshness_key"):
        source = {**source, "sql": {**source["sql"], "freshness_key": profile.time.column}}
    params = yaml.safe_load((root / "params.yaml").read_text())
    project = yaml.safe_load((root / "project.yaml").read_text())
    result = draft(profile, source, params, project, baseline_rules(frame, profile))
    path = source.get("path")
    if path and not str(path).startswith("data/source/"):
        result.decide.append(
            f"the data file {path} is outside data/source/: move it there so that DVC "
            "reruns the pipeline when it changes (and update data.path)"
        )
    texts = writing.render(root, result.data, result.params, result.project, result.comments)
    backups = writing.write(root, *texts) if write else []
    return InitResult(result, write, backups)
