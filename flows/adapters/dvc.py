"""DVC adapter: run stages with `dvc repro` as a subprocess, read what DVC recorded.

DVC's Python `Repo` is internal API (treeverse/dvc#7071); the CLI is the
stable interface, and a subprocess keeps DVC's import cost out of callers.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from flows.adapters.fanout import prefect_api_url
from pipelines.config import Runtime
from pipelines.errors import UserError

PROFILE_REMOTE = "profile"
"""The remote `MLOPS_DVC_REMOTE` becomes, written to .dvc/config.local (never committed)."""
PLUGINS = {"s3": "dvc_s3", "gs": "dvc_gs", "azure": "dvc_azure", "ssh": "dvc_ssh"}
"""URL scheme -> the DVC plugin module that scheme needs (not dependencies of the project)."""
BAD_INPUT_EXIT = 2  # pipelines.stages.entry.BAD_INPUT: config or data error, retrying won't help
_EXITED = re.compile(r"exited with (\d+)")


@dataclass(frozen=True)
class StageRun:
    """What happened to one stage: ran, or was skipped because nothing it depends on changed."""

    stage: str
    ran: bool
    output: str


class StageFailed(UserError, RuntimeError):
    """A stage's command failed; `bad_input` means the data or config is at fault."""

    def __init__(self, stage: str, stage_exit: int | None, output: str) -> None:
        self.stage, self.stage_exit, self.output = stage, stage_exit, output
        self.exit_code = 2 if stage_exit == BAD_INPUT_EXIT else 1
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        detail = _stage_message(lines) or "\n".join(lines[-8:])
        super().__init__(f"stage {stage!r} failed (exit {stage_exit}):\n{detail}")

    @property
    def bad_input(self) -> bool:
        """True when the stage rejected its input: retrying will not help."""
        return self.stage_exit == BAD_INPUT_EXIT


def _stage_message(lines: list[str]) -> str:
    """The stage's own `error:` message, up to where DVC's own `ERROR:` lines begin."""
    start = next((i for i, ln in enumerate(lines) if ln.startswith("error:")), None)
    if start is None:
        return ""
    end = next((i for i, ln in enumerate(lines) if i > start and ln.startswith("ERROR")), None)
    return "\n".join(lines[start:end])


def dvc_env() -> dict[str, str]:
    """Environment for DVC: this interpreter's bin first on PATH (stage `python` = our venv)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    if Runtime().engine == "dask":  # stages that fan out report to this process's Prefect API
        env["PREFECT_API_URL"] = prefect_api_url()
    return env


def dvc(*args: str, root: Path | str = ".") -> subprocess.CompletedProcess[str]:
    """Run the DVC CLI in `root` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=dvc_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def stage_names(root: Path | str = ".") -> list[str]:
    """Stages of dvc.yaml in the order they are written (which is their run order)."""
    stages = yaml.safe_load((Path(root) / "dvc.yaml").read_text())["stages"]
    return list(stages)


def repro(stage: str, root: Path | str = ".", force: bool = False) -> StageRun:
    """Reproduce one stage (its upstream must be current); DVC skips it if nothing changed."""
    args = ["repro", "--single-item", stage] + (["--force"] if force else [])
    done = dvc(*args, root=root)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        found = _EXITED.search(output)
        raise StageFailed(stage, int(found.group(1)) if found else done.returncode, output)
    return StageRun(stage=stage, ran=f"Running stage '{stage}'" in output, output=output)


def locked_hashes(root: Path | str = ".") -> dict[str, str]:
    """Output path -> content hash, as recorded in dvc.lock (empty before the first run)."""
    lock = Path(root) / "dvc.lock"
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {
        out["path"]: out.get("md5", "")
        for stage in stages.values()
        for out in stage.get("outs", [])
    }


class RemoteProblem(UserError, RuntimeError):
    """The DVC remote cannot be used: a plugin is missing, or DVC refused."""


def require_plugin(url: str | None) -> None:
    """RemoteProblem when the remote URL's scheme needs a DVC plugin that is not installed."""
    scheme = urlsplit(url or "").scheme
    plugin = PLUGINS.get(scheme)
    if plugin is not None and importlib.util.find_spec(plugin) is None:
        package = plugin.replace("_", "-")
        raise RemoteProblem(
            f"MLOPS_DVC_REMOTE={url}: DVC needs its {scheme} plugin, which is not installed "
            f"(`uv add {package}`)"
        )


def use_remote(root: Path | str, url: str | None) -> list[str]:
    """`--remote` arguments for push and pull: none (the default remote), or `url` as `profile`.

    Raises RemoteProblem when the URL's scheme needs a DVC plugin that is not installed.
    """
    if not url:
        return []
    require_plugin(url)
    _checked("remote", "add", "--local", "--force", PROFILE_REMOTE, url, root=root)
    return ["--remote", PROFILE_REMOTE]


def push(root: Path | str = ".", url: str | None = None) -> str:
    """Push the pipeline's outputs and run cache to the remote; DVC's last line of output."""
    remote = use_remote(root, url)
    return _checked("push", *remote, "--run-cache", root=root)


def pull(root: Path | str = ".", url: str | None = None) -> str:
    """Fetch what the remote holds of the current dvc.lock (missing files are fine)."""
    remote = use_remote(root, url)
    return _checked("pull", *remote, "--run-cache", "--allow-missing", root=root)


def _checked(*args: str, root: Path | str) -> str:
    done = dvc(*args, root=root)
    output = done.stdout + done.stderr
    lines = [ln for ln in output.splitlines() if ln.strip()]
    if done.returncode != 0:
        if "no remote specified" in output:
            return "no DVC remote configured: nothing copied (`dvc remote add -d NAME URL`)"
        raise RemoteProblem(f"dvc {args[0]} failed:\n" + "\n".join(lines[-8:]))
    return lines[-1].strip() if lines else ""
