"""Writes the production Envoy config (`envoy/envoy.yaml`) from the descriptor set and the port table.

    python tools/gen_envoy.py [--descriptors gen/meetmesh.binpb] [--out-dir envoy] [--hosts service|local]

Envoy then does what the built-in edge does: gRPC-web, JSON transcoding (public services only),
CORS, JWT checks (JWKS from the user service), a local rate limit, and the `/rtc` WebSocket. The
descriptor set is copied beside the config (`envoy/meetmesh.binpb`); mount `envoy/` at
`/etc/envoy` and the TLS files at `/etc/envoy/tls/`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from services.kit import Endpoint
from services.kit.catalog import Catalog, load_catalog
from services.kit.config import default_endpoint
from services.kit.cors import ALLOWED_HEADERS, ALLOWED_METHODS, EXPOSED_HEADERS, MAX_AGE

REPO = Path(__file__).resolve().parents[1]
MOUNT = "/etc/envoy"
DESCRIPTOR_NAME = "meetmesh.binpb"


CORS_ORIGINS = ["http://localhost:8800", "https://localhost:8443"]
_T = "type.googleapis.com/envoy.extensions."


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(name: str, host: str, port: int, *, http2: bool) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _T + "upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
        cluster["health_checks"] = [
            {
                "timeout": "1s",
                "interval": "5s",
                "unhealthy_threshold": 3,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": ""},
            }
        ]
    return cluster


def _template_regex(template: str) -> str:
    """A `google.api.http` template as an RE2 regex over the path (query string allowed)."""
    from services.kit.httprule import parse_template

    pattern = parse_template(template).regex.pattern
    return re.sub(r"\(\?P<v\d+>", "(", pattern) + r"(\?.*)?"


def _routes(catalog: Catalog) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = [
        {
            "match": {"path": "/rtc"},
            "route": {"cluster": "signaling_ws", "timeout": "0s", "idle_timeout": "3600s"},
        }
    ]
    for rpc in sorted(catalog.rpcs.values(), key=lambda r: r.path):
        if rpc.client_streaming:
            continue
        route: dict[str, Any] = {"cluster": rpc.service}
        if rpc.server_streaming:
            route.update(timeout="0s", idle_timeout="3600s")
        else:
            route.update(timeout="30s", max_stream_duration={"grpc_timeout_header_max": "300s"})
        routes.append({"name": rpc.path, "match": {"path": rpc.path}, "route": route})
    routes.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {
                "status": 404,
                "body": {"inline_string": '{"code":5,"message":"no route for this path"}'},
            },
        }
    )
    return routes


def _jwt_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """Per-RPC requirements on both the gRPC path and every JSON binding (checked before transcoding),
    from each method's `meetmesh.options.v1.access` option."""
    rules = []
    for rpc in sorted(catalog.rpcs.values(), key=lambda r: (r.policy.needs_access_token, r.path)):
        requires: dict[str, Any] = (
            {"requires": {"provider_name": "meetmesh"}} if rpc.policy.needs_access_token else {}
        )
        rules.append({"match": {"path": rpc.path}, **requires})
        for binding in rpc.bindings:
            rules.append(
                {
                    "match": {
                        "safe_regex": {"regex": _template_regex(binding.template.text)},
                        "headers": [{"name": ":method", "string_match": {"exact": binding.http_method}}],
                    },
                    **requires,
                }
            )
    return rules


def _http_filters(catalog: Catalog, public: list[str]) -> list[dict[str, Any]]:
    # The rate limit comes before the JWT check, so requests without a valid token are limited too.
    return [
        {"name": "envoy.filters.http.cors", "typed_config": {"@type": _T + "filters.http.cors.v3.Cors"}},
        {
            "name": "envoy.filters.http.grpc_web",
            "typed_config": {"@type": _T + "filters.http.grpc_web.v3.GrpcWeb"},
        },
        {
            "name": "envoy.filters.http.local_ratelimit",
            "typed_config": {
                "@type": _T + "filters.http.local_ratelimit.v3.LocalRateLimit",
                "stat_prefix": "edge_rate_limit",
                "token_bucket": {"max_tokens": 1000, "tokens_per_fill": 500, "fill_interval": "1s"},
                "filter_enabled": {
                    "runtime_key": "edge_rate_limit_enabled",
                    "default_value": {"numerator": 100, "denominator": "HUNDRED"},
                },
                "filter_enforced": {
                    "runtime_key": "edge_rate_limit_enforced",
                    "default_value": {"numerator": 100, "denominator": "HUNDRED"},
                },
                "rate_limited_as_resource_exhausted": True,
                "response_headers_to_add": [
                    {
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                        "header": {"key": "retry-after", "value": "1"},
                    }
                ],
            },
        },
        {
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": _T + "filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {
                    "meetmesh": {
                        "remote_jwks": {
                            "http_uri": {
                                "uri": f"http://user:{default_endpoint('user').http_port}/.well-known/jwks.json",
                                "cluster": "user_jwks",
                                "timeout": "2s",
                            },
                            "cache_duration": "300s",
                        },
                        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                        "forward": True,
                    }
                },
                "rules": _jwt_rules(catalog),
            },
        },
        {
            "name": "envoy.filters.http.grpc_json_transcoder",
            "typed_config": {
                "@type": _T + "filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                "proto_descriptor": f"{MOUNT}/{DESCRIPTOR_NAME}",
                "services": public,
                "convert_grpc_status": True,
                "print_options": {
                    "add_whitespace": False,
                    "always_print_primitive_fields": False,
                    "always_print_enums_as_ints": False,
                    "preserve_proto_field_names": False,
                    "stream_newline_delimited": True,
                },
                "request_validation_options": {
                    "reject_unknown_method": False,
                    "reject_unknown_query_parameters": True,
                },
            },
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": _T + "filters.http.router.v3.Router"},
        },
    ]


def _connection_manager(catalog: Catalog, public: list[str]) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": _T + "filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "edge",
            "codec_type": "AUTO",
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "stream_idle_timeout": "3600s",
            # Slow and idle clients, as the built-in edge (docs/security.md): headers within 10 s,
            # idle connections closed after 5 s.
            "request_headers_timeout": "10s",
            "common_http_protocol_options": {"idle_timeout": "5s"},
            "access_log": [
                {
                    "name": "envoy.access_loggers.stdout",
                    "typed_config": {
                        "@type": _T + "access_loggers.stream.v3.StdoutAccessLog",
                        "log_format": {
                            "json_format": {
                                "method": "%REQ(:METHOD)%",
                                "route": "%ROUTE_NAME%",
                                "status": "%RESPONSE_CODE%",
                                "grpc_status": "%GRPC_STATUS_NUMBER%",
                                "duration_ms": "%DURATION%",
                            }
                        },
                    },
                }
            ],
            "route_config": {
                "name": "meetmesh",
                "virtual_hosts": [
                    {
                        "name": "meetmesh",
                        "domains": ["*"],
                        "typed_per_filter_config": {
                            "envoy.filters.http.cors": {
                                "@type": _T + "filters.http.cors.v3.CorsPolicy",
                                "allow_origin_string_match": [{"exact": o} for o in CORS_ORIGINS],
                                "allow_methods": ALLOWED_METHODS,
                                "allow_headers": ALLOWED_HEADERS,
                                "expose_headers": EXPOSED_HEADERS,
                                "max_age": MAX_AGE,
                            }
                        },
                        "routes": _routes(catalog),
                    }
                ],
            },
            "http_filters": _http_filters(catalog, public),
        },
    }


def build_envoy(
    catalog: Catalog, host_of: Any, endpoint_of: Callable[[str], Endpoint] = default_endpoint
) -> dict[str, Any]:
    """The config; `endpoint_of` gives a service's ports (the port table unless told otherwise)."""
    public = sorted({rpc.full_service for rpc in catalog.rpcs.values()})
    services = sorted({rpc.service for rpc in catalog.rpcs.values()})
    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _T + "transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": f"{MOUNT}/tls/tls.crt"},
                        "private_key": {"filename": f"{MOUNT}/tls/tls.key"},
                    }
                ],
            },
        },
    }
    clusters = [_cluster(s, host_of(s), endpoint_of(s).grpc_port, http2=True) for s in services]
    clusters.append(_cluster("user_jwks", host_of("user"), default_endpoint("user").http_port, http2=False))
    clusters.append(
        _cluster("signaling_ws", host_of("signaling"), default_endpoint("signaling").http_port, http2=False)
    )
    manager = _connection_manager(catalog, public)  # one object: YAML writes it once, then an alias
    return {
        "admin": {"address": _address("127.0.0.1", 9901)},
        "static_resources": {
            "listeners": [
                {
                    "name": "http",
                    "address": _address("0.0.0.0", 8800),
                    "filter_chains": [{"filters": [manager]}],
                },
                {
                    "name": "https",
                    "address": _address("0.0.0.0", 8443),
                    "filter_chains": [{"filters": [manager], "transport_socket": tls}],
                },
            ],
            "clusters": clusters,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--descriptors", type=Path, default=REPO / "gen" / "meetmesh.binpb")
    parser.add_argument("--out-dir", type=Path, default=REPO / "envoy")
    parser.add_argument(
        "--hosts",
        choices=["service", "local"],
        default="service",
        help="upstream hosts: the service's name (compose/k8s DNS) or 127.0.0.1",
    )
    args = parser.parse_args(argv)
    catalog = load_catalog(args.descriptors)
    config = build_envoy(catalog, (lambda s: s) if args.hosts == "service" else (lambda s: "127.0.0.1"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    header = "# Generated by tools/gen_envoy.py from gen/meetmesh.binpb (make gen). Do not edit.\n"
    (args.out_dir / "envoy.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False, width=110))
    shutil.copyfile(args.descriptors, args.out_dir / DESCRIPTOR_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
