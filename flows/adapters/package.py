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
from dataclasses import asdict, dataclass, field
from importlib.metadata import version as installed
from pathlib import Path

from flows import paths
from flows.adapters import registry, tracking
from flows.adapters.tool_env import prepare_env
from pipelines import io
from pipelines.config import Runtime, load
from pipelines.errors import UserError
from services.pins import PackageReport, PinnedModel
from services.registry_state import ROLES, RoleEntry

BENTO_NAME = "parcel-delay-service"
SERVICE = "services.bento_service:DelayService"
INCLUDE = ["services/**/*.py", str(paths.PINS), "pipelines/**/*.py", "params.yaml", "project.yaml"]
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
    """What the package step built or found, and whether it was there already."""

    report: PackageReport
    reused: bool
    notes: list[str] = field(default_factory=list)


def model_tag(model_name: str, version: str, fingerprint: str) -> str:
    """The BentoML model tag of a registry version: stable for the same version and training."""
    return f"{model_name}:v{version}-{(fingerprint or 'nofp')[:12]}".lower()


def store_model(model_name: str, entry: RoleEntry) -> tuple[str, bool]:
    """Copy a registry version into the BentoML model store unless it is there; (tag, created)."""
    import bentoml

    tag = model_tag(model_name, entry.version, entry.fingerprint)
    try:
        bentoml.models.get(tag)
        return tag, False
    except bentoml.exceptions.NotFound:
        pass
    model = tracking.load_version(model_name, entry.version)
    metadata = {
        "registry_model": model_name,
        "registry_version": entry.version,
        "threshold": entry.threshold,
        "fingerprint": entry.fingerprint,
        "family": model.name,
        "features": model.feature_names,
    }
    with bentoml.models.create(
        tag, labels={"registry_version": entry.version}, metadata=metadata
    ) as m:
        io.write_joblib(Path(m.path) / "model.joblib", model)
    return tag, True


def _shipped_files(root: Path) -> list[Path]:
    """The project files a Bento ships (INCLUDE, without the pins written at build time)."""
    found = {p for pattern in INCLUDE if pattern != str(paths.PINS) for p in root.glob(pattern)}
    return sorted(p for p in found if p.is_file() and "__pycache__" not in p.parts)


def _content_hash(root: Path, pins: dict[str, PinnedModel]) -> str:
    pinned = {role: asdict(pins[role]) if role in pins else None for role in ROLES}
    digest = hashlib.sha256(json.dumps(pinned, sort_keys=True).encode())
    for path in _shipped_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_bento(root: Path, pins: dict[str, PinnedModel]) -> tuple[str, bool]:
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
        tags = {role: pins[role].tag if role in pins else None for role in ROLES}
        io.write_json(ctx / paths.PINS, tags)
        with _service_from(ctx):
            bento = bentoml.bentos.build(
                SERVICE,
                name=BENTO_NAME,
                version=version,
                build_ctx=str(ctx),
                include=INCLUDE,
                labels={
                    role: f"v{pins[role].version}" if role in pins else "none" for role in ROLES
                },
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
    root = Path(root).resolve()
    runtime = runtime or Runtime()
    load(root)  # the Bento ships params.yaml and project.yaml: refuse broken ones here
    tracking.connect(root, runtime)
    state = registry.snapshot(runtime.model_name)
    if state.champion is None:
        raise PackageError(
            f"no version of {runtime.model_name!r} has the alias 'champion': "
            "run `mlops train` first"
        )
    notes: list[str] = []
    pins: dict[str, PinnedModel] = {}
    for role in ROLES:
        entry = state.role(role)
        if entry is None:
            continue
        tag, created = store_model(runtime.model_name, entry)
        stored = "stored as" if created else "already in store as"
        notes.append(f"{role}: v{entry.version} {stored} {tag}")
        pins[role] = PinnedModel(tag, entry.version, entry.threshold)
    bento, reused = build_bento(root, pins)
    report = PackageReport(bento, pins, SERVICE)
    io.write_json(root / paths.PACKAGE, report.to_json())
    return Packaged(report, reused, notes)


def describe(packaged: Packaged) -> str:
    """What `mlops package` and the package stage print."""
    built = "unchanged" if packaged.reused else "built"
    return "\n".join(
        [f"bento {packaged.report.bento} ({built})"] + [f"  {n}" for n in packaged.notes]
    )


def main(argv: list[str] | None = None) -> int:
    """DVC stage entry point: package from the project in the current directory."""
    prepare_env(Path.cwd())
    try:
        result = package(Path.cwd())
    except UserError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return exc.exit_code
    print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
