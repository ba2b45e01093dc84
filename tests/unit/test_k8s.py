"""k8s/: every overlay renders with kustomize, validates offline against the Kubernetes
schemas, follows our own policies, and its generated files match their sources."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml

from edgeops import container, k8s
from kemi_app.settings import DEFAULTS

OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.30"
# Prometheus Operator kinds: not in the Kubernetes schemas, checked by the tests below instead.
CRD_KINDS = {"PodMonitor", "PrometheusRule"}
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}
# Where hostNetwork is intended: SIP and RTP need the node's addresses; on one machine (dev)
# Redis shares the host's loopback with them.
HOST_NETWORK = {"dev": {"edge", "rtpengine", "redis"}, "production": {"edge", "rtpengine"}}
PLACEHOLDER = "replace-me"


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl missing: scripts/setup.sh installs kubernetes-client"
    out = subprocess.run(
        [kubectl, "kustomize", str(k8s.K8S / "overlays" / overlay)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def objects(overlay: str, kinds: set[str]) -> list[dict[str, Any]]:
    return [o for o in render(overlay) if o["kind"] in kinds]


def pod_specs(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    return [(o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objects(overlay, WORKLOADS)]


def containers(overlay: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, spec, c) for name, spec in pod_specs(overlay) for c in spec["containers"]]


def test_generated_files_match_their_sources() -> None:
    for path, generate in k8s.GENERATED.items():
        assert path.read_text() == generate(), f"{path.name} is stale: run python -m edgeops.k8s"


def test_config_map_and_secret_carry_every_setting() -> None:
    for overlay in OVERLAYS:
        config = next(o for o in objects(overlay, {"ConfigMap"}) if o["metadata"]["name"].startswith("edge-config"))
        secret = next(o for o in objects(overlay, {"Secret"}) if o["metadata"]["name"].startswith("edge-secrets"))
        env_names = {e["name"] for _, _, c in containers(overlay) for e in c.get("env", [])}
        assert set(config["data"]) == set(DEFAULTS) - set(k8s.SECRET_SETTINGS)
        assert set(secret["data"]) | {"REDIS_URL"} == set(k8s.SECRET_SETTINGS)
        assert "REDIS_URL" in env_names  # built from the Redis Service and the secret password


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_schemas(overlay: str) -> None:
    for obj in render(overlay):
        if obj["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_resources_and_a_security_context(overlay: str) -> None:
    for name, spec, c in containers(overlay):
        where = f"{overlay}/{name}/{c['name']}"
        assert c.get("readinessProbe") and c.get("livenessProbe"), where
        for bound in ("requests", "limits"):
            assert set(c["resources"][bound]) == {"cpu", "memory"}, where
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], where
        assert sc["readOnlyRootFilesystem"] is True, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_host_network_only_where_intended(overlay: str) -> None:
    on_host = {name for name, spec in pod_specs(overlay) if spec.get("hostNetwork")}
    assert on_host == HOST_NETWORK[overlay]
    for name, spec in pod_specs(overlay):
        if spec.get("hostNetwork"):  # or Service names would not resolve
            assert spec["dnsPolicy"] == "ClusterFirstWithHostNet", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlay: str) -> None:
    for _, _, c in containers(overlay):
        image = c["image"]
        assert re.search(r":[\w][\w.-]*$", image.rsplit("/", 1)[-1]), f"{image} has no tag"
        assert not image.endswith(":latest"), image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_references_are_defined_before_use(overlay: str) -> None:
    config_keys = {k for o in objects(overlay, {"ConfigMap", "Secret"}) for k in o.get("data", {})}
    for name, _, c in containers(overlay):
        defined = set(config_keys) if c.get("envFrom") else set()
        for e in c.get("env", []):
            for ref in re.findall(r"\$\((\w+)\)", e.get("value", "")):
                assert ref in defined, f"{overlay}/{name}: {e['name']} uses $({ref}) before it is set"
            defined.add(e["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_in_the_repository(overlay: str) -> None:
    import base64

    for secret in objects(overlay, {"Secret"}):
        for key, value in secret["data"].items():
            assert base64.b64decode(value).decode().startswith(PLACEHOLDER), key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_disruption_budget_and_a_prestop_drain(overlay: str) -> None:
    budgets = [o["spec"]["selector"]["matchLabels"] for o in objects(overlay, {"PodDisruptionBudget"})]
    for workload in objects(overlay, WORKLOADS):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(sel.items() <= labels.items() for sel in budgets), workload["metadata"]["name"]
    for name, spec, c in containers(overlay):
        if name in ("edge", "rtpengine"):
            assert c["lifecycle"]["preStop"]["exec"]["command"], name
            assert spec["terminationGracePeriodSeconds"] > 600, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_admin_port_only_from_the_monitoring_namespace(overlay: str) -> None:
    policy = next(o for o in objects(overlay, {"NetworkPolicy"}) if o["metadata"]["name"] == "edge")
    admin_port = int(DEFAULTS["EDGE_ADMIN_PORT"][0])
    for rule in policy["spec"]["ingress"]:
        if any(p["port"] == admin_port for p in rule["ports"]):
            assert rule["from"] == [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "monitoring"}}}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_operator_objects(overlay: str) -> None:
    alerts = yaml.safe_load(k8s.ALERTS.read_text())
    (rule,) = objects(overlay, {"PrometheusRule"})
    assert rule["spec"]["groups"] == alerts["groups"]
    # Each PodMonitor selects pods that name its port, and the job it yields is one the
    # alerts use (job="agent-edge", job="rtpengine").
    pods = {o["metadata"]["name"]: o["spec"]["template"] for o in objects(overlay, WORKLOADS)}
    for monitor in objects(overlay, {"PodMonitor"}):
        selector = monitor["spec"]["selector"]["matchLabels"]
        (template,) = [t for t in pods.values() if selector.items() <= t["metadata"]["labels"].items()]
        job = template["metadata"]["labels"][monitor["spec"]["jobLabel"]]
        assert f'job="{job}"' in k8s.ALERTS.read_text()
        ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports


def test_prestop_counts_calls_and_sessions_in_metrics() -> None:
    text = "\n".join([
        "# HELP edge_calls_active answered calls",
        "edge_calls_active 2.0",
        "edge_calls_early 1.0",
        "edge_calls_total{org=\"a\"} 9.0",
        'rtpengine_sessions{type="own"} 3',
    ])
    assert container.in_use(text, container.DRAIN_GAUGES["edge"]) == 3
    assert container.in_use(text, container.DRAIN_GAUGES["rtpengine"]) == 3
    assert container.in_use("edge_calls_active 0.0\n", container.DRAIN_GAUGES["edge"]) == 0


@pytest.mark.parametrize("name", ["edge", "rtpengine"])
def test_containerfiles_use_the_local_debian_base_and_a_non_root_user(name: str) -> None:
    text = (k8s.K8S / "images" / f"{name}.Containerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and line[0] not in "# "]
    assert [arg for op, arg in instructions if op == "FROM"] == ["${BASE}"]  # no registry
    (user,) = [arg for op, arg in instructions if op == "USER"]
    assert not user.startswith("0") and "root" not in user
    assert "org.agent-edge.packages" in text
    copied = [arg.split()[0] for op, arg in instructions if op == "COPY"]
    assert not any(src in (".", "var") or src.startswith("var/") for src in copied), copied
