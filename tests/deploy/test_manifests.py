"""The deployment files: fresh from their generators, and valid against the Compose specification's
JSON schema and (strictly) the Kubernetes OpenAPI schemas. No Docker or cluster runs here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tools import gen_deploy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.35.0"


@pytest.mark.parametrize("relative", sorted(gen_deploy.render()))
def test_generated_file_is_fresh(relative: str) -> None:
    path = DEPLOY / relative
    assert path.is_file(), f"{relative} is missing: python tools/gen_deploy.py"
    stale = f"{relative} is stale: python tools/gen_deploy.py"
    assert path.read_text() == gen_deploy.render()[relative], stale


def test_compose_file_validates_against_the_compose_spec() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    # and the schema does catch a mistake
    broken = {**document, "services": {"user": {"image": "x", "restart": 3}}}
    assert list(validator.iter_errors(broken))


def test_compose_runs_every_part() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    expected = {
        "envoy", "web", "user", "meeting", "signaling", "media", "ai", "notification", "triton",
        "postgres", "redis", "mongo", "minio", "prometheus", "alertmanager", "grafana", "jaeger",
        "victorialogs",
    }  # fmt: skip
    assert expected <= set(services)


def kubernetes_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "meetmesh.yaml").read_text()) if d]


def test_kubernetes_manifests_validate_strictly() -> None:
    problems = []
    for document in kubernetes_documents():
        try:
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{document['kind']}/{document['metadata']['name']}: {error.message}")
    assert not problems, "\n".join(problems)
    # strict: an unknown field is an error
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_kubernetes_shape() -> None:
    docs = kubernetes_documents()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for stateless in gen_deploy.STATELESS:
        assert ("PodDisruptionBudget", stateless) in kinds
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for name in gen_deploy.SERVICES:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert "grpc" in container["readinessProbe"]  # readiness from gRPC health
    media_ports = deployments["media"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert (
        sum(p["protocol"] == "UDP" for p in media_ports)
        == gen_deploy.MEDIA_UDP[1] - gen_deploy.MEDIA_UDP[0] + 1
    )
    triton = deployments["triton"]["spec"]["template"]["spec"]
    assert triton["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert ("Secret", "meetmesh") in kinds
    assert ("NetworkPolicy", "default-deny") in kinds
