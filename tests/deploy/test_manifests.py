"""The deployment files: checked offline by the maintained checkers (``scripts/check-deploy``:
kubernetes-validate against the Kubernetes API's schemas, checkov's policies on the manifests and
the Dockerfile), and against the code they deploy: every setting they name is one valuesbot
reads, every path they probe or route is one the server answers, and the stop fits in the grace
periods they give."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bot.app import App
from bot.settings import TEAMS_PREFIX, Settings
from bot.web import build_web_app

ROOT = Path(__file__).parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose.yaml"
SETTINGS = {f.alias for f in Settings.model_fields.values() if f.alias}


def manifests() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return found


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [
        m for m in manifests() if m["kind"] == kind and name in (None, m["metadata"]["name"])
    ]
    return found


@pytest.mark.slow
def test_the_checkers_find_nothing_wrong() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "check-deploy")],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode == 0, output
    assert "every resource matches its schema" in output
    assert output.count("Failed checks: 0,") == 2  # the manifests and the Dockerfile
    assert "check-deploy: every check passed" in output


def test_every_manifest_has_its_namespace_and_the_kustomization_lists_them_all() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    for manifest in manifests():
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == kustomization["namespace"]


def test_every_setting_named_is_one_valuesbot_reads() -> None:
    config = one("ConfigMap")["data"]
    example = [
        line.split("=", 1)[0]
        for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    compose = yaml.safe_load(COMPOSE.read_text())
    named = [*config, *example, *compose["x-valuesbot"]["environment"]]
    unknown = [
        n
        for n in named
        if n not in SETTINGS and not n.startswith(TEAMS_PREFIX) and n != "POSTGRES_PASSWORD"
    ]
    assert unknown == []
    Settings.from_env(config)  # and the values are valid


# What stays inside the cluster: metrics and the probes.
INSIDE = frozenset({"/metrics", "/healthz", "/readyz", "/livez"})
# Where the platforms reach the bot (mounted by the adapters when they are configured).
PLATFORM_PATHS = frozenset(
    {"/slack/events", "/slack/install", "/slack/oauth_redirect", "/api/messages"}
)


def _served_paths(web_app: web.Application) -> set[str]:
    """Every path template the server answers (``/case-studies/{id}`` as written)."""
    return {route.resource.canonical for route in web_app.router.routes() if route.resource}


def _routed(path: str, ingress: list[dict[str, Any]]) -> bool:
    """Whether the ingress sends ``path`` (a route's template) to the bot."""
    for rule in ingress:
        given = rule["path"]
        if rule["pathType"] == "Exact" and given == path:
            return True
        # Kubernetes' Prefix matches whole path elements: "/digest" is "/digest" and "/digest/...".
        if rule["pathType"] == "Prefix" and (
            path == given or path.startswith(given.rstrip("/") + "/")
        ):
            return True
    return False


async def test_the_probes_and_routes_are_paths_the_server_answers(app: App) -> None:
    routes = _served_paths(build_web_app(app)) | PLATFORM_PATHS
    deployment = one("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["ports"][0]["containerPort"] == Settings().port
    ingress = [p for rule in one("Ingress")["spec"]["rules"] for p in rule["http"]["paths"]]
    # Every path the ingress names leads to something the server answers ...
    for rule in ingress:
        assert any(_routed(route, [rule]) for route in routes), rule["path"]
    # ... every page and platform endpoint is reachable (a feature's new page too), and nothing
    # inside is.
    assert sorted(r for r in routes - INSIDE if not _routed(r, ingress)) == []
    assert [r for r in INSIDE if _routed(r, ingress)] == []
    assert "EXPOSE 3978" in (ROOT / "Dockerfile").read_text()


def test_the_stop_fits_in_the_grace_periods() -> None:
    grace = float(one("ConfigMap")["data"]["VALUESBOT_SHUTDOWN_GRACE"])
    pod = one("Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pause + grace < pod["terminationGracePeriodSeconds"]
    assert Settings().shutdown_grace < 30  # Kubernetes' default terminationGracePeriodSeconds
    bot = yaml.safe_load(COMPOSE.read_text())["services"]["bot"]
    assert Settings().shutdown_grace < int(bot["stop_grace_period"].removesuffix("s"))


def test_the_pilot_migrates_first_and_keeps_its_database_in_a_volume() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["bot"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["bot"]["command"] == ["serve"]
    assert compose["x-valuesbot"]["env_file"] == ".env"
    assert "database:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "database" in compose["volumes"]


def test_secrets_are_referenced_not_written() -> None:
    assert not [m for m in manifests() if m["kind"] == "Secret"]
    for workload in (one("Deployment"), one("Job")):
        pod = workload["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert {"secretRef": {"name": "valuesbot"}} in container["envFrom"]
            assert "env" not in container
