"""The dev overlay run for real with `podman kube play`: the images built from Debian
packages (scripts/build-images.sh, cached in var/images), two sipp agents registered
through the edge pod, a call with media through the rtpengine pod, /health and /metrics.

podman 4.3 runs Deployments, ConfigMaps and Secrets, so the rendered overlay is adapted
(k8s_for_podman): the rtpengine DaemonSet and the Redis StatefulSet become one-replica
Deployments with the same pod template (Redis' volume claim an emptyDir), objects podman
has no use for (Namespace, Service, PodDisruptionBudget, NetworkPolicy, Prometheus
Operator kinds) are dropped, containerPorts are left out (informational with hostNetwork; podman
4.3 refuses port mappings on the host network), probes too (podman turns a liveness probe into a
curl inside the container, and the images carry no curl: the test polls /health itself),
fieldRef env vars (status.hostIP) are dropped (the dev overlay does not use them), the
secrets become literal env values (podman 4.3 stores a Secret from the YAML as YAML and
then fails to read it back as JSON, and crashes on Secret volumes), the
TLS Secret volume becomes an emptyDir (nothing reads the PEM: the image starts no
haproxy), and
ports move to a free block so a running edge or another test run never collides.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeops.k8s import K8S
from kemi_app.settings import PROJECT_ROOT
from tests.conftest import pick_port_base
from tests.integration.helpers import PASSWORDS, register
from tests.integration.rtp import packets_from, pause, play, wait_for
from tests.sipp import Sipp

PODMAN = str(PROJECT_ROOT / "scripts" / "podman-edge")
UNUSED_KINDS = {
    "Secret", "Namespace", "Service", "PodDisruptionBudget", "NetworkPolicy", "PodMonitor", "PrometheusRule",
}
MEDIA_PORT_OFFSET = 10000  # tests/sipp.py gives every sipp -mp port+10000
SECRETS = {"EDGE_API_TOKEN": "test-token", "EDGE_AUTH_SECRET": "test-nonce-secret", "EDGE_REDIS_PASSWORD": "test-redis"}

pytestmark = pytest.mark.skipif(not shutil.which("podman"), reason="podman missing: scripts/setup.sh installs it")


def ports_for(base: int) -> dict[str, str]:
    return {
        "EDGE_SIP_PORT": str(base), "EDGE_WS_PORT": str(base + 1), "EDGE_ADMIN_PORT": str(base + 2),
        "REDIS_PORT": str(base + 3), "EDGE_RTPENGINE_NG": f"127.0.0.1:{base + 4}",
        "EDGE_RTPENGINE_HTTP": f"127.0.0.1:{base + 5}", "EDGE_WSS_PORT": str(base + 6),
        "EDGE_RTP_PORT_MIN": str(base + 20100), "EDGE_RTP_PORT_MAX": str(base + 21099),
    }


def k8s_for_podman(docs: list[dict[str, Any]], ports: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    """The rendered dev overlay as podman kube play runs it (see the module docstring)."""
    redis_url = f"redis://:{SECRETS['EDGE_REDIS_PASSWORD']}@127.0.0.1:{ports['REDIS_PORT']}/0"
    out = []
    for doc in copy.deepcopy(docs):
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in UNUSED_KINDS:
            continue
        if kind == "ConfigMap":
            doc["data"].update({k: v for k, v in ports.items() if k in doc["data"]})
            doc["data"].update({"EDGE_CHILDREN": "2", "EDGE_SHM_MB": "128"})
        elif kind in ("DaemonSet", "StatefulSet", "Deployment"):
            spec = doc["spec"]
            doc["kind"] = "Deployment"
            doc["spec"] = {"replicas": 1, "selector": spec["selector"], "template": spec["template"]}
            pod = spec["template"]["spec"]
            for claim in spec.get("volumeClaimTemplates", []):
                pod.setdefault("volumes", []).append({"name": claim["metadata"]["name"], "emptyDir": {}})
            # podman makes each volume a named volume: one per pod and run, or pods share them.
            for volume in pod.get("volumes", []):
                volume["name"] = f"{prefix}-{name}-{volume['name']}"
            for c in pod["containers"]:
                for mount in c.get("volumeMounts", []):
                    mount["name"] = f"{prefix}-{name}-{mount['name']}"
            for volume in pod.get("volumes", []):
                if "secret" in volume:  # podman 4.3 crashes on Secret volumes; the image starts no haproxy
                    volume.pop("secret")
                    volume["emptyDir"] = {}
            for c in pod["containers"]:
                c.pop("livenessProbe", None)
                c.pop("readinessProbe", None)
                c.pop("ports", None)  # informational on the host network; podman would map them
                env = [e for e in c.get("env", []) if "valueFrom" not in e]
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        env.append({"name": e["name"], "value": SECRETS[ref["key"]]})
                if any("secretRef" in source for source in c.get("envFrom", [])):
                    env = [{"name": k, "value": v} for k, v in SECRETS.items()] + env
                    c["envFrom"] = [source for source in c["envFrom"] if "secretRef" not in source]
                for e in env:
                    if e["name"] in ports:
                        e["value"] = ports[e["name"]]
                    elif e["name"] == "REDIS_URL":
                        e["value"] = redis_url
                c["env"] = env
                c["command"] = [arg.replace("port 6379", f"port {ports['REDIS_PORT']}") for arg in c.get("command", [])]
                if not c["command"]:
                    del c["command"]
        out.append(doc)
    return out


def render_dev() -> list[dict[str, Any]]:
    text = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / "dev")],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(text) if d]


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except OSError as e:
        return getattr(e, "code", 0), str(e)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    subprocess.run([str(PROJECT_ROOT / "scripts" / "build-images.sh")], check=True, timeout=1800,
                   capture_output=True)
    base = pick_port_base()
    ports = ports_for(base)
    workdir = tmp_path_factory.mktemp("k8s")
    manifest = workdir / "dev.yaml"
    manifest.write_text(yaml.safe_dump_all(k8s_for_podman(render_dev(), ports, f"k8s{base}")))
    # Not from the repository root: podman would take ./edge for a directory to build `edge` from.
    podman = functools.partial(subprocess.run, cwd=workdir, timeout=300, capture_output=True, text=True)
    try:
        started = podman([PODMAN, "kube", "play", str(manifest)])
        assert started.returncode == 0, started.stderr
        admin = f"http://127.0.0.1:{ports['EDGE_ADMIN_PORT']}"
        if not wait_for(lambda: http_get(admin + "/health")[0] == 200, 120, 1.0):
            pytest.fail(f"the edge pod never answered /health 200: {http_get(admin + '/health')}\n{pod_logs()}")
        yield ports
    finally:
        podman([PODMAN, "kube", "down", str(manifest)])
        volumes = podman([PODMAN, "volume", "ls", "-q", "--filter", f"name=k8s{base}-"]).stdout.split()
        if volumes:
            podman([PODMAN, "volume", "rm", "-f", *volumes])


def pod_logs() -> str:
    names = subprocess.run([PODMAN, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
    return "\n".join(
        f"--- {n}\n" + subprocess.run([PODMAN, "logs", "--tail", "30", n], capture_output=True, text=True).stderr
        for n in names.split()
    )


def test_dev_overlay_carries_a_call_with_media(played: dict[str, str], tmp_path: Path) -> None:
    sip_port = int(played["EDGE_SIP_PORT"])
    sipp = Sipp(f"127.0.0.1:{sip_port}", tmp_path, port_base=sip_port + 20)
    ng = played["EDGE_RTPENGINE_NG"]
    callee = sipp.next_port()
    result = register(sipp, "1002", callee)
    assert result.ok, result.output + result.errors
    phone = sipp.start("uas_echo.xml", [], port=callee, values={"ring_ms": 200, "offer_check": ""},
                       extra=["-rtp_echo"])
    caller = sipp.next_port()
    result = register(sipp, "1001", caller)
    assert result.ok, result.output + result.errors
    proc = sipp.start("uac_media.xml", [["1001", "demo.test", PASSWORDS["1001"], "1002"]], port=caller,
                      values={"steps": play() + pause(3000), "bye_cseq": 3},
                      extra=["-au", "1001", "-ap", PASSWORDS["1001"]])
    media = (caller + MEDIA_PORT_OFFSET, callee + MEDIA_PORT_OFFSET)
    both_ways = wait_for(lambda: min(packets_from(ng).get(p, 0) for p in media) >= 25, 10)
    seen = packets_from(ng)
    assert proc.wait(60) == 0, proc.communicate()[0]
    assert phone.wait(60) == 0, phone.communicate()[0]
    assert both_ways, f"the rtpengine pod did not relay both ways: {seen}"

    admin = f"http://127.0.0.1:{played['EDGE_ADMIN_PORT']}"
    status, body = http_get(admin + "/health")
    assert status == 200, body
    status, metrics = http_get(admin + "/metrics")
    assert status == 200
    assert 'edge_registrations_total{org="demo",status="200"}' in metrics
    assert "edge_calls_total{" in metrics
    rtp_status, _ = http_get(f"http://{played['EDGE_RTPENGINE_HTTP']}/metrics")
    assert rtp_status == 200
