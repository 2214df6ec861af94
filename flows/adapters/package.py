"""Package: the registry's champion (and challenger, when there is one) plus the service as a Bento.

The models go into the BentoML model store under tags made of their registry
version and training fingerprint, and the Bento's version is a hash of those
tags and of every file it ships, so the same inputs always give the same tags
and packaging twice builds nothing new. Also the `package` DVC stage:
`python -m flows.adapters.package` (exit 2 when there is nothing valid to package).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

from flows import paths
from flows.adapters.tool_env import prepare_env
from pipelines import io
from pipelines.config import ConfigError, Runtime, load
from pipelines.errors import UserError

BENTO_NAME = "parcel-delay-service"
SERVICE = "services.bento_service:DelayService"
INCLUDE = ["services/*.py", str(paths.PINS), "pipelines/**/*.py", "params.yaml", "project.yaml"]
PACKAGES = [
    "bentoml",
    "fastapi",
    "lightgbm",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "pydantic",
    "pydantic-settings",
    "prometheus-client",
    "sqlalchemy",
    "psycopg",
    "psycopg-binary",
    "pyyaml",
    "joblib",
]


class PackageError(UserError, ValueError):
    """Nothing valid to package (no champion, or the registry disagrees with registry.json)."""


@dataclass(frozen=True)
class Packaged:
    """What the package step built or found: the Bento and the models pinned in it."""

    bento: str
    models: dict[str, dict[str, Any]]
    """Role -> {tag, version, threshold}."""
    reused: bool
    notes: list[str] = field(default_factory=list)


def model_tag(model_name: str, version: str, fingerprint: str) -> str:
    """The BentoML model tag of a registry version: stable for the same version and training."""
    return f"{model_name}:v{version}-{(fingerprint or 'nofp')[:12]}".lower()


def store_model(model_name: str, entry: dict[str, Any]) -> tuple[str, bool]:
    """Copy a registry version into the BentoML model store unless it is there; (tag, created)."""
    import bentoml

    from flows.adapters import tracking

    tag = model_tag(model_name, entry["version"], entry.get("fingerprint", ""))
    try:
        bentoml.models.get(tag)
        return tag, False
    except bentoml.exceptions.NotFound:
        pass
    model = tracking.load_version(model_name, entry["version"])
    metadata = {
        "registry_model": model_name,
        "registry_version": entry["version"],
        "threshold": float(entry["threshold"]),
        "fingerprint": entry.get("fingerprint", ""),
        "family": model.name,
        "features": model.feature_names,
    }
    with bentoml.models.create(
        tag, labels={"registry_version": entry["version"]}, metadata=metadata
    ) as m:
        io.write_joblib(Path(m.path) / "model.joblib", model)
    return tag, True


def _shipped_files(root: Path) -> list[Path]:
    """The project files a Bento ships (INCLUDE, without the pins written at build time)."""
    found = {p for pattern in INCLUDE if pattern != str(paths.PINS) for p in root.glob(pattern)}
    return sorted(p for p in found if p.is_file() and "__pycache__" not in p.parts)


def _content_hash(root: Path, pins: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(pins, sort_keys=True).encode())
    for path in _shipped_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_bento(root: Path, pins: dict[str, Any]) -> tuple[str, bool]:
    """Build the Bento with these pins (or find the identical one); (tag, reused).

    The build runs in a clean copy of the shipped files, so nothing else in the
    project (model stores, data, state) can end up in, or recurse into, the Bento.
    """
    import bentoml

    version = _content_hash(root, pins)
    tag = f"{BENTO_NAME}:{version}"
    try:
        bentoml.bentos.get(tag)
        return tag, True
    except bentoml.exceptions.NotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="bento-ctx-") as tmp:
        ctx = Path(tmp)
        for path in _shipped_files(root):
            target = ctx / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        io.write_json(ctx / paths.PINS, {role: p["tag"] if p else None for role, p in pins.items()})
        with _service_from(ctx):
            bento = bentoml.bentos.build(
                SERVICE,
                name=BENTO_NAME,
                version=version,
                build_ctx=str(ctx),
                include=INCLUDE,
                labels={role: f"v{p['version']}" if p else "none" for role, p in pins.items()},
                python={
                    "packages": [f"{p}=={installed(p)}" for p in PACKAGES],
                    "lock_packages": False,
                },
                docker={"python_version": "3.11"},
            )
    return str(bento.tag), False


@contextlib.contextmanager
def _service_from(ctx: Path) -> Iterator[None]:
    """Make the build import the service from `ctx`, whatever this process imported already.

    BentoML imports the service module to build it; with this checkout's
    `services` package already imported (loading a registry model does that),
    the service would come from the checkout and look for its pins there.
    """
    ours = {n: m for n, m in sys.modules.items() if n == "services" or n.startswith("services.")}
    for name in ours:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "services" or n.startswith("services.")]:
            del sys.modules[name]
        sys.modules.update(ours)


def package(root: Path | str = ".", runtime: Runtime | None = None) -> Packaged:
    """Pin the registry's champion and challenger into a Bento; write reports/package.json."""
    from flows.adapters import registry, tracking

    root = Path(root).resolve()
    runtime = runtime or Runtime()
    load(root)  # the Bento ships params.yaml and project.yaml: refuse broken ones here
    tracking.connect(root, runtime)
    state = registry.snapshot(runtime.model_name).to_json()
    if state["champion"] is None:
        raise PackageError(
            f"no version of {runtime.model_name!r} has the alias 'champion': "
            "run `mlops train` first"
        )
    notes: list[str] = []
    pins: dict[str, dict[str, Any] | None] = {}
    for role in ("champion", "challenger"):
        entry = state[role]
        if entry is None:
            pins[role] = None
            continue
        tag, created = store_model(runtime.model_name, entry)
        notes.append(
            f"{role}: v{entry['version']} {'stored as' if created else 'already in store as'} {tag}"
        )
        pins[role] = {"tag": tag, "version": entry["version"], "threshold": entry["threshold"]}
    bento, reused = build_bento(root, pins)
    result = Packaged(
        bento=bento, models={k: v for k, v in pins.items() if v}, reused=reused, notes=notes
    )
    io.write_json(
        root / paths.PACKAGE, {"bento": result.bento, "models": result.models, "service": SERVICE}
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """DVC stage entry point: package from the project in the current directory."""
    prepare_env(Path.cwd())
    try:
        result = package(Path.cwd())
    except (PackageError, ConfigError) as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 2
    print(f"bento {result.bento} ({'unchanged' if result.reused else 'built'})")
    for note in result.notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
