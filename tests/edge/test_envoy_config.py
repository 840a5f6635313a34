"""The generated Envoy config, loaded with the `envoy-data-plane` types (strict: unknown fields fail).

Envoy itself cannot be installed here, so this checks the config structurally: it parses as an
Envoy v3 Bootstrap, every public RPC has a route, no internal service is reachable, and the
descriptor set it names is the generated one.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic.warnings import PydanticDeprecatedSince212

from services.kit.catalog import load_catalog, service_key
from tests.edge.contract import token_free_methods
from tools.gen_envoy import MOUNT, build_envoy

REPO = Path(__file__).resolve().parents[2]
ENVOY = REPO / "envoy" / "envoy.yaml"
DESCRIPTORS = REPO / "gen" / "meetmesh.binpb"
_TYPED_CONFIG_MODULES = [
    "filters.http.cors.v3",
    "filters.http.grpc_web.v3",
    "filters.http.jwt_authn.v3",
    "filters.http.local_ratelimit.v3",
    "filters.http.grpc_json_transcoder.v3",
    "filters.http.router.v3",
    "filters.network.http_connection_manager.v3",
    "access_loggers.stream.v3",
    "transport_sockets.tls.v3",
    "upstreams.http.v3",
]


@pytest.fixture(scope="module")
def bootstrap() -> Any:
    """The Bootstrap type. envoy-data-plane 2.2 trips a pydantic 2.12 deprecation on import (not ours)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PydanticDeprecatedSince212)
        for module in _TYPED_CONFIG_MODULES:  # registers the types that typed_config `@type`s name
            importlib.import_module(f"envoy_data_plane.envoy.extensions.{module}")
        return importlib.import_module("envoy_data_plane.envoy.config.bootstrap.v3").Bootstrap


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load(ENVOY.read_text())


def _manager(config: dict[str, Any]) -> dict[str, Any]:
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def _filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f["typed_config"] for f in _manager(config)["http_filters"] if f["name"] == name)


def test_parses_as_an_envoy_bootstrap(bootstrap: Any, config: dict[str, Any]) -> None:
    parsed = bootstrap.from_dict(config)
    ports = {listener.address.socket_address.port_value for listener in parsed.static_resources.listeners}
    assert ports == {8800, 8443}
    https = next(x for x in parsed.static_resources.listeners if x.name == "https")
    assert https.filter_chains[0].transport_socket.name == "envoy.transport_sockets.tls"
    filters = [f["name"] for f in _manager(config)["http_filters"]]
    assert filters == [
        "envoy.filters.http.cors",
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]


def test_unknown_fields_are_rejected(bootstrap: Any) -> None:
    broken = yaml.safe_load(ENVOY.read_text())
    _filter(broken, "envoy.filters.http.grpc_json_transcoder")["no_such_option"] = True
    with pytest.raises(KeyError, match="no_such_option"):
        bootstrap.from_dict(broken)


def test_every_public_rpc_is_routed_to_its_service(config: dict[str, Any]) -> None:
    catalog = load_catalog(DESCRIPTORS)
    routes = {
        r["match"].get("path"): r for r in _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    }
    assert catalog.rpcs, "the descriptor set has no public RPCs"
    for path, rpc in catalog.rpcs.items():
        assert routes[path]["route"]["cluster"] == rpc.service
        expected_timeout = "0s" if rpc.server_streaming else "30s"
        assert routes[path]["route"]["timeout"] == expected_timeout
    assert routes["/rtc"]["route"] == {"cluster": "signaling_ws", "timeout": "0s", "idle_timeout": "3600s"}
    assert _manager(config)["upgrade_configs"] == [{"upgrade_type": "websocket"}]


def test_no_internal_service_is_reachable(config: dict[str, Any]) -> None:
    catalog = load_catalog(DESCRIPTORS)
    public_services = {rpc.service for rpc in catalog.rpcs.values()}
    clusters = {c["name"] for c in config["static_resources"]["clusters"]}
    assert clusters == public_services | {"user_jwks", "signaling_ws"}
    for route in _manager(config)["route_config"]["virtual_hosts"][0]["routes"]:
        path = route["match"].get("path", "")
        if path.startswith("/meetmesh."):
            package = path[1:].split("/")[0].rsplit(".", 1)[0]
            assert service_key(package) in public_services
            assert "internal" not in path
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert sorted(transcoder["services"]) == sorted({rpc.full_service for rpc in catalog.rpcs.values()})
    # A package that is internal by name never becomes a route, whatever its annotations.
    assert service_key("meetmesh.ai.internal.v1") is None


def test_http2_clusters_have_health_checks(config: dict[str, Any]) -> None:
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] in ("user_jwks", "signaling_ws"):
            continue
        options = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
        assert "http2_protocol_options" in options["explicit_http_config"]
        assert cluster["health_checks"][0]["grpc_health_check"] == {"service_name": ""}


def test_transcoder_names_the_generated_descriptor_set(config: dict[str, Any]) -> None:
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    named = transcoder["proto_descriptor"]
    assert named.startswith(MOUNT + "/")
    local = REPO / "envoy" / named.removeprefix(MOUNT + "/")
    assert local.read_bytes() == DESCRIPTORS.read_bytes()
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["print_options"]["stream_newline_delimited"] is True


def test_jwt_rules_guard_every_non_anonymous_rpc(config: dict[str, Any]) -> None:
    rules = _filter(config, "envoy.filters.http.jwt_authn")["rules"]
    by_path = {r["match"]["path"]: r for r in rules if "path" in r["match"]}
    token_free = token_free_methods(DESCRIPTORS)
    for path in load_catalog(DESCRIPTORS).rpcs:
        assert ("requires" in by_path[path]) == (path not in token_free)
    provider = _filter(config, "envoy.filters.http.jwt_authn")["providers"]["meetmesh"]
    assert provider["remote_jwks"]["http_uri"]["uri"].endswith("/.well-known/jwks.json")


def test_config_is_fresh() -> None:
    """`make gen` output matches what is committed (regenerated here the same way)."""
    config = build_envoy(load_catalog(DESCRIPTORS), lambda s: s)
    committed = yaml.safe_load(ENVOY.read_text())
    assert committed == yaml.safe_load(yaml.safe_dump(config, sort_keys=False))


def test_rate_limit_before_jwt_and_slow_client_deadlines(config: dict[str, Any]) -> None:
    """As the built-in edge (issue 11): limit first, then authenticate; header and idle deadlines."""
    manager = _manager(config)
    names = [f["name"] for f in manager["http_filters"]]
    assert names.index("envoy.filters.http.local_ratelimit") < names.index("envoy.filters.http.jwt_authn")
    assert manager["request_headers_timeout"] == "10s"
    assert manager["common_http_protocol_options"] == {"idle_timeout": "5s"}
