"""infra/: the production profile's compose stack and Kubernetes manifests, read and cross-checked.

Docker cannot run here, so nothing is started: the files are parsed and checked
against each other and against the repository. The compose stack has every
service, each long-running one health-checked and restarted, each one-shot job
run once and waited for, every image pinned, state in named volumes, credentials
only as ${VAR} references that infra/.env.example lists, mounts that exist. The
Kubernetes manifests agree with each other (selectors, ports, probes, references)
and with the kustomization. `docker compose config` and `kubectl kustomize` render
the files too when those tools exist (skipped, with the reason, otherwise).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipelines.config import Runtime
from tests.conftest import ROOT

INFRA = ROOT / "infra"
COMPOSE_FILE = INFRA / "docker-compose.yml"
ENV_EXAMPLE = INFRA / ".env.example"
K8S = INFRA / "k8s"
PROMETHEUS_LOCAL = INFRA / "prometheus" / "prometheus.yml"
PROMETHEUS_COMPOSE = INFRA / "prometheus" / "prometheus.compose.yml"
POSTGRES_INIT = INFRA / "postgres" / "initdb"

LONG_RUNNING = {
    "postgres",
    "minio",
    "mlflow",
    "prefect-server",
    "prefect-worker",
    "service",
    "exporter",
    "prometheus",
    "pushgateway",
    "alertmanager",
    "grafana",
}
INIT_JOBS = {"minio-init", "model-init"}
STATEFUL = {"postgres", "minio", "prometheus", "grafana"}
DATABASES = {"mlflow", "prefect", "predictions"}
BUCKETS = {"mlflow-artifacts", "dvc"}
PART_OF = "parcel-delay-mlops"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SOURCE_DIRS = ("pipelines", "flows", "services", "monitoring")


# ------------------------------------------------------------------ helpers


def strings(node: Any) -> Iterator[str]:
    """Every string (keys and values) of a parsed YAML document: what compose interpolates."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def unescaped(text: str) -> str:
    """`text` without compose's `$$` escapes (a literal `$` for the container's shell)."""
    return text.replace("$$", "")


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def option(cmd: list[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in a command line."""
    for i, part in enumerate(cmd):
        if part == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    return None


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume of a service (short or long syntax)."""
    found = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            found.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            found.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
    return found


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def repo_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository file a container path comes from, through the service's bind mounts."""
    target = PurePosixPath(container_path)
    for source, mount, _ in mounts(service):
        if not is_bind(source):
            continue
        mount_path = PurePosixPath(mount)
        if target == mount_path or mount_path in target.parents:
            return (INFRA / source / target.relative_to(mount_path)).resolve()
    return None


def image_is_pinned(image: str) -> bool:
    """A digest, or a tag that is not `latest` (a registry port is not a tag)."""
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return False
    tag = name.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest" and "$" not in tag


def dockerfile_bases(path: Path) -> list[str]:
    """The images a Dockerfile builds FROM (or copies from), its own stage names left out."""
    stages: set[str] = set()
    bases = []
    for line in path.read_text().splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            args = [w for w in words[1:] if not w.startswith("--")]
            bases.append(args[0])
            if len(args) >= 3 and args[1].upper() == "AS":
                stages.add(args[2])
        elif words[:1] == ["COPY"]:
            bases += [w.split("=", 1)[1] for w in words if w.startswith("--from=")]
    return [b for b in bases if b not in stages]


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line.strip())
        if match:
            values[match[1]] = match[2]
    return values


def known_env_names() -> set[str]:
    """MLOPS_* names the project reads: Runtime's settings and the literal names in the code."""
    names = {"MLOPS_" + field.upper() for field in Runtime.model_fields}
    for directory in SOURCE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            names |= set(re.findall(r"MLOPS_[A-Z_]+", path.read_text()))
    return names


def docker_compose_available() -> str | None:
    """None when `docker compose` answers, else why not."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).strip().splitlines()
        return f"`docker compose` is not available ({detail[0] if detail else 'no output'})"
    return None


# ------------------------------------------------------------------ compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_every_service_of_the_production_profile_is_there(services: dict[str, Any]) -> None:
    assert set(services) == LONG_RUNNING | INIT_JOBS


def test_long_running_services_are_health_checked_and_restarted(
    services: dict[str, Any],
) -> None:
    for name in LONG_RUNNING:
        service = services[name]
        check = service.get("healthcheck") or {}
        test = check.get("test")
        assert isinstance(test, list), f"{name}: no healthcheck (exec form expected)"
        assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck {test}"
        assert not check.get("disable"), name
        assert service.get("restart") in ("always", "unless-stopped"), name


def test_one_shot_jobs_run_once_and_their_dependents_wait_for_success(
    services: dict[str, Any],
) -> None:
    for name in INIT_JOBS:
        service = services[name]
        assert "healthcheck" not in service, name
        # quoted in the YAML: a bare `no` is the boolean false, which compose refuses
        assert service.get("restart") == "no", name
    waited_for: set[str] = set()
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs the long form (conditions)"
        for dependency, spec in depends.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = (
                "service_completed_successfully" if dependency in INIT_JOBS else "service_healthy"
            )
            assert spec.get("condition") == expected, f"{name} -> {dependency}: {spec}"
            if dependency in INIT_JOBS:
                waited_for.add(dependency)
    assert waited_for == INIT_JOBS


def test_every_image_is_pinned_or_built_from_this_repository(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            build = {"context": build} if isinstance(build, str) else build
            context = (INFRA / build["context"]).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            assert ROOT in (context, *context.parents), f"{name}: context outside the repo"
            for base in dockerfile_bases(dockerfile):
                assert image_is_pinned(base), f"{dockerfile.relative_to(ROOT)}: FROM {base}"
        else:
            assert "image" in service, name
        if "image" in service:
            assert image_is_pinned(service["image"]), f"{name}: {service['image']}"


def test_the_project_image_leaves_state_and_secrets_out_of_the_build() -> None:
    ignored = (INFRA / "Dockerfile.dockerignore").read_text().split()
    for entry in (".git", ".venv", ".secrets", "infra/.env", "mlflow.db", "state", ".dvc/cache"):
        assert entry in ignored, entry


def test_stateful_services_keep_their_state_in_named_volumes(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        named = {source for source, _, _ in mounts(service) if not is_bind(source)}
        assert named <= declared, f"{name}: undeclared volumes {named - declared}"
        used |= named
        if name in STATEFUL:
            assert named, f"{name} keeps its state in no named volume"
    assert used == declared, f"declared but unused: {declared - used}"


def test_mounted_paths_exist_in_the_repository(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for source, target, read_only in mounts(service):
            if not is_bind(source):
                continue
            path = (INFRA / source).resolve()
            assert source.startswith("./"), f"{name}: {source} is not relative to infra/"
            assert path.exists(), f"{name}: {source} -> {target}: {path} missing"
            assert read_only, f"{name}: configuration mount {source} should be read-only"


def test_no_literal_secrets(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert VAR_REF.fullmatch(value), f"{name}: {key} is not a ${{VAR}} reference"
        for text in strings(service):
            # a reference may hold spaces (`${VAR:?message}`): reduce each one to `${}` first
            text = VAR_REF.sub("${}", unescaped(text))
            for match in re.finditer(r"[a-z][a-z0-9+.-]*://[^\s\"'/]+", text):
                if "@" not in match[0]:
                    continue
                userinfo = match[0].split("://", 1)[1].rsplit("@", 1)[0]
                for part in userinfo.split(":"):
                    assert part == "${}", f"{name}: credentials in {match[0]}"


def test_every_interpolated_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    used: dict[str, set[str]] = {}
    for text in strings(compose):
        text = unescaped(text)
        # every `$` left is an interpolation, and only the braced form is used
        assert text.count("$") == len(VAR_REF.findall(text)), f"bare $ in {text!r}"
        for var, operator, _ in VAR_REF.findall(text):
            used.setdefault(var, set()).add(operator)
    example = env_example()
    assert set(used) == set(example), (
        f"missing from .env.example: {sorted(set(used) - set(example))}; "
        f"unused: {sorted(set(example) - set(used))}"
    )
    for var, operators in used.items():
        if SECRET_NAME.search(var):
            assert operators == {":?"}, f"{var}: a credential must be required (${{{var}:?...}})"
            assert example[var].startswith("change-me"), f"{var}: placeholder expected"
        if ":?" in operators:
            assert example[var], f"{var} is required and has no example value"


def test_env_file_is_ignored_and_the_example_is_not() -> None:
    if (ROOT / ".git").exists() and shutil.which("git"):
        ignored = subprocess.run(["git", "check-ignore", "-q", "infra/.env"], cwd=ROOT, check=False)
        example = subprocess.run(
            ["git", "check-ignore", "-q", "infra/.env.example"], cwd=ROOT, check=False
        )
        assert ignored.returncode == 0, "infra/.env is not git-ignored"
        assert example.returncode == 1, "infra/.env.example is git-ignored"
    else:
        assert "/infra/.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_environment_names_are_ones_the_project_reads(services: dict[str, Any]) -> None:
    known = known_env_names()
    names = {key for service in services.values() for key in environment(service)}
    for doc in k8s_documents():
        if doc["kind"] == "ConfigMap":
            names |= set(doc["data"])
        for container in containers(doc):
            names |= {env["name"] for env in container.get("env") or []}
    unknown = {n for n in names if n.startswith("MLOPS_")} - known
    assert not unknown, f"set but read by nothing: {sorted(unknown)}"


def test_project_processes_and_their_addresses(services: dict[str, Any]) -> None:
    serve = command(services["service"])
    assert serve[:2] == ["mlops", "serve"]
    assert option(serve, "--host") == "0.0.0.0"
    service_port = option(serve, "--port") or "3000"
    assert service_port in services["service"]["healthcheck"]["test"][-1]
    assert services["service"]["healthcheck"]["test"][-1].endswith("/ready")

    exporter = command(services["exporter"])
    assert exporter[:2] == ["mlops", "exporter"]
    assert option(exporter, "--host") == "0.0.0.0"
    assert option(exporter, "--port") == "9108"

    worker = services["prefect-worker"]
    assert command(worker) == ["mlops", "orchestrate"]
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"

    # the addresses the project processes are given are the servers' own
    prefect_port = option(command(services["prefect-server"]), "--port")
    mlflow_port = option(command(services["mlflow"]), "--port")
    for name in ("service", "prefect-worker", "model-init"):
        env = environment(services[name])
        assert env["PREFECT_API_URL"] == f"http://prefect-server:{prefect_port}/api", name
        assert env["MLOPS_TRACKING_URI"] == f"http://mlflow:{mlflow_port}", name
        assert env["MLOPS_SERVICE_URL"] == f"http://service:{service_port}", name
        assert env["MLOPS_PREDICTION_LOG_URL"].startswith("postgresql+psycopg://"), name
    # the runner and the service share the BentoML store (challengers are hot-loaded by
    # tag); the runner and the exporter share state/ (state/metrics, the *.prom files)
    bento_home = environment(services["service"])["BENTOML_HOME"]
    for name in ("service", "prefect-worker", "model-init"):
        assert ("bentoml", bento_home) in {(s, t) for s, t, _ in mounts(services[name])}, name
    for name in ("prefect-worker", "exporter"):
        assert ("mlops-state", "/app/state") in {(s, t) for s, t, _ in mounts(services[name])}


def test_postgres_creates_every_database_the_stack_connects_to(services: dict[str, Any]) -> None:
    created = set()
    for script in POSTGRES_INIT.iterdir():
        created |= set(re.findall(r"CREATE DATABASE (\w+)", script.read_text()))
    assert created == DATABASES
    assert repo_path(services["postgres"], "/docker-entrypoint-initdb.d") == POSTGRES_INIT
    wanted = set()
    for service in services.values():
        for text in strings(service):
            wanted |= set(re.findall(r"@postgres:5432/(\w+)", text))
    assert wanted == DATABASES
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_minio_init_creates_the_buckets_the_stack_uses(services: dict[str, Any]) -> None:
    script = " ".join(command(services["minio-init"]))
    made = set(re.findall(r"mc mb (?:--ignore-existing )?\w+/([\w.-]+)", script))
    assert made == BUCKETS
    destination = environment(services["mlflow"])["MLFLOW_ARTIFACTS_DESTINATION"]
    assert urlsplit(destination).netloc in made
    assert services["mlflow"]["depends_on"]["minio-init"]


def scrape_targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


def test_prometheus_compose_config_mirrors_the_local_one(services: dict[str, Any]) -> None:
    local = yaml.safe_load(PROMETHEUS_LOCAL.read_text())
    stack = yaml.safe_load(PROMETHEUS_COMPOSE.read_text())
    assert stack["global"] == local["global"]
    assert stack["rule_files"] == local["rule_files"]
    targets = scrape_targets(stack)
    # alerts.yml and the dashboards select on these job names
    assert set(scrape_targets(local)) | {"pushgateway"} == set(targets)
    assert targets["parcel-delay-service"] == ["service:3000"]
    assert targets["mlops-monitoring"] == ["exporter:9108"]
    assert targets["pushgateway"] == ["pushgateway:9091"]
    jobs = {job["job_name"]: job for job in stack["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    managers = [t for am in stack["alerting"]["alertmanagers"] for t in am["static_configs"]]
    assert [t for sc in managers for t in sc["targets"]] == ["alertmanager:9093"]
    for target in [*(t for ts in targets.values() for t in ts), "alertmanager:9093"]:
        assert target.split(":")[0] in services, target
    # Prometheus reads this file, and its rules, through the mount
    prometheus = services["prometheus"]
    config = option(command(prometheus), "--config.file")
    assert config is not None
    assert repo_path(prometheus, config) == PROMETHEUS_COMPOSE.resolve()
    for rules in stack["rule_files"]:
        assert (PROMETHEUS_COMPOSE.parent / rules).is_file()


def test_promtool_accepts_the_compose_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool not installed (run `make test-tools`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_and_grafana_read_their_configuration(services: dict[str, Any]) -> None:
    alertmanager = services["alertmanager"]
    config = option(command(alertmanager), "--config.file")
    assert config is not None
    path = repo_path(alertmanager, config)
    assert path == (INFRA / "alertmanager" / "alertmanager.yml").resolve()

    grafana = services["grafana"]
    env = environment(grafana)
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD")
    datasources = repo_path(grafana, "/etc/grafana/provisioning/datasources")
    assert datasources is not None
    (source,) = [
        ds for f in datasources.glob("*.yml") for ds in yaml.safe_load(f.read_text())["datasources"]
    ]
    assert source["uid"] == "prometheus"  # every dashboard's datasource uid
    assert urlsplit(source["url"]).hostname in services
    providers = repo_path(grafana, "/etc/grafana/provisioning/dashboards")
    assert providers is not None
    for provider_file in providers.glob("*.yml"):
        for provider in yaml.safe_load(provider_file.read_text())["providers"]:
            dashboards = repo_path(grafana, provider["options"]["path"])
            assert dashboards == (INFRA / "grafana" / "dashboards").resolve()
            assert list(dashboards.glob("*.json"))


def test_makefile_brings_the_stack_up_and_down() -> None:
    text = (ROOT / "Makefile").read_text()
    for target in ("stack-up", "stack-down"):
        assert re.search(rf"^{target}:.*## \S", text, re.MULTILINE), f"{target} lacks ## help"
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    compose = "docker compose -f infra/docker-compose.yml --env-file infra/.env"
    for target, expected in (("stack-up", "up -d --build --wait"), ("stack-down", "down")):
        plan = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        assert f"{compose} {expected}" in plan, plan


def test_docker_compose_accepts_the_stack() -> None:
    reason = docker_compose_available()
    if reason is not None:
        pytest.skip(f"{reason}: the compose file is only checked by parsing here")
    result = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(ENV_EXAMPLE),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ kubernetes


def k8s_documents() -> list[dict[str, Any]]:
    """Every manifest of the kustomization (multi-document files included)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / resource).read_text()) if d]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_documents() if d["kind"] == kind}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] != "Deployment":
        return []
    return doc["spec"]["template"]["spec"]["containers"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or a Service's port (name or number) as one of the container's ports."""
    for declared in container.get("ports") or []:
        if port in (declared.get("name"), declared["containerPort"]):
            return int(declared["containerPort"])
    raise AssertionError(f"port {port!r} is not a port of container {container['name']}")


SECRET_EXAMPLE = K8S / "secret.example.yaml"


def test_kustomization_lists_every_manifest_but_the_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    for resource in resources:
        assert (K8S / resource).is_file(), resource
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(resources) == manifests - {SECRET_EXAMPLE.name}
    assert all(d["kind"] != "Secret" for d in k8s_documents())
    for doc in k8s_documents():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
    for image in kustomization["images"]:
        assert image_is_pinned(f"{image['newName']}:{image['newTag']}"), image


def test_every_resource_is_labelled_consistently() -> None:
    for doc in [*k8s_documents(), yaml.safe_load(SECRET_EXAMPLE.read_text())]:
        labels = doc["metadata"].get("labels") or {}
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == PART_OF, where
        assert labels.get("app.kubernetes.io/name"), where
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["metadata"]["labels"]
            assert pod["app.kubernetes.io/name"] == labels["app.kubernetes.io/name"], where
            assert pod["app.kubernetes.io/part-of"] == PART_OF, where


def test_deployments_select_their_pods_and_set_resources() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    images = {image["name"] for image in kustomization["images"]}
    for name, deployment in by_kind("Deployment").items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selects(selector, deployment["spec"]["template"]["metadata"]["labels"]), name
        for container in containers(deployment):
            assert image_is_pinned(container["image"]), container["image"]
            assert container["image"].split(":")[0] in images, container["image"]
            resources = container.get("resources") or {}
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound) or {}), f"{name} {bound}"


def test_service_deployment_probes_and_scrape_annotations() -> None:
    deployment = by_kind("Deployment")["parcel-delay-service"]
    assert deployment["spec"]["replicas"] == 2
    (container,) = containers(deployment)
    assert container["command"][:2] == ["mlops", "serve"]
    port = int(option(container["command"], "--port") or 3000)
    assert option(container["command"], "--host") == "0.0.0.0"
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert resolve_port(container, get["port"]) == port, probe
    if "startupProbe" in container:
        assert resolve_port(container, container["startupProbe"]["httpGet"]["port"]) == port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_service_targets_the_service_pods_and_port() -> None:
    (service,) = by_kind("Service").values()
    matched = [
        d
        for d in by_kind("Deployment").values()
        if selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
    ]
    assert [d["metadata"]["name"] for d in matched] == ["parcel-delay-service"]
    (container,) = containers(matched[0])
    for port in service["spec"]["ports"]:
        assert resolve_port(container, port["targetPort"]) == 3000
    assert (
        service["metadata"]["name"]
        in by_kind("ConfigMap")["mlops-config"]["data"]["MLOPS_SERVICE_URL"]
    )


def test_autoscaler_and_disruption_budget_cover_the_service() -> None:
    deployments = by_kind("Deployment")
    (hpa,) = by_kind("HorizontalPodAutoscaler").values()
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == "parcel-delay-service"
    deployment = deployments[target["name"]]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    # utilization is measured against the request
    assert all(c["resources"]["requests"]["cpu"] for c in containers(deployment))

    (pdb,) = by_kind("PodDisruptionBudget").values()
    assert pdb["apiVersion"] == "policy/v1"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_worker_runs_the_prefect_deployments() -> None:
    worker = by_kind("Deployment")["prefect-worker"]
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"]["type"] == "Recreate"
    (container,) = containers(worker)
    assert container["command"] == ["mlops", "orchestrate"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["PREFECT_API_URL"]["valueFrom"]["configMapKeyRef"]
    assert (ref["name"], ref["key"]) == ("mlops-config", "PREFECT_API_URL")
    assert "livenessProbe" in container


def test_references_between_manifests_resolve() -> None:
    config_maps = by_kind("ConfigMap")
    claims = by_kind("PersistentVolumeClaim")
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    secret_keys = set(secret["stringData"])
    for name, deployment in by_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for volume in pod.get("volumes") or []:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
        volume_names = {v["name"] for v in pod.get("volumes") or []}
        for container in containers(deployment):
            for source in container.get("envFrom") or []:
                assert source["configMapRef"]["name"] in config_maps, name
            for mount in container.get("volumeMounts") or []:
                assert mount["name"] in volume_names, name
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                if "configMapKeyRef" in value_from:
                    ref = value_from["configMapKeyRef"]
                    assert ref["key"] in config_maps[ref["name"]]["data"], env["name"]
                elif "secretKeyRef" in value_from:
                    ref = value_from["secretKeyRef"]
                    assert ref["name"] == secret["metadata"]["name"], env["name"]
                    assert ref["key"] in secret_keys, env["name"]
                elif SECRET_NAME.search(env["name"]):
                    pytest.fail(f"{name}: {env['name']} set inline, not from the Secret")
    assert secret_keys == {"api-key", "admin-key", "prediction-log-url"}


def test_secret_example_documents_how_to_create_the_secret() -> None:
    text = SECRET_EXAMPLE.read_text()
    secret = yaml.safe_load(text)
    assert "kubectl -n mlops create secret generic mlops-secrets" in text
    for key in secret["stringData"]:
        assert f"--from-literal={key}=" in text, key
    for value in secret["stringData"].values():
        assert "change-me" in value, "placeholders only"


def test_kubectl_kustomize_renders_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests are only checked by parsing here")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["kind"] for d in rendered) == sorted(d["kind"] for d in k8s_documents())
    assert {d["metadata"].get("namespace") for d in rendered} == {"mlops"}
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    for doc in rendered:
        for container in containers(doc):
            assert container["image"] == f"{image['newName']}:{image['newTag']}"
