"""The API catalog: every public RPC and its HTTP bindings, read from the descriptor set (shared by
the edge and the generators under tools/).

The edge has no per-method code: `make gen` writes `gen/meetmesh.binpb` (a buf image with imports
and source info) and this module turns it into routes at start-up. A service is *public* when its
package is `meetmesh.<service>.v1` without an `internal` component and at least one of its methods
carries a `google.api.http` annotation; internal services, and any method whose contract says only
services may call it, are never routed. Each RPC carries its access policy from the contract
(`meetmesh.options.v1.access`), which admission, the generators and the reference read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from services.kit.httprule import HEAD_SEGMENTS, PathTemplate, parse_template, path_head
from services.kit.policy import MethodPolicy, internal_package, method_policy

_HTTP_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class HttpBinding:
    """One `google.api.http` rule (the main one or an additional binding)."""

    http_method: str  # upper case
    template: PathTemplate
    body: str  # "", "*" or a top-level field name
    response_body: str


@dataclass(frozen=True)
class Rpc:
    """One public RPC."""

    service: str  # upstream service key, e.g. "user"
    full_service: str  # e.g. "meetmesh.user.v1.UserService"
    name: str  # e.g. "GetUser"
    input: descriptor.Descriptor
    output: descriptor.Descriptor
    client_streaming: bool
    server_streaming: bool
    bindings: tuple[HttpBinding, ...]
    policy: MethodPolicy
    comment: str = ""

    @cached_property
    def path(self) -> str:
        """The gRPC path, `/meetmesh.user.v1.UserService/GetUser`."""
        return f"/{self.full_service}/{self.name}"

    def new_input(self) -> Message:
        return message_factory.GetMessageClass(self.input)()

    def new_output(self) -> Message:
        return message_factory.GetMessageClass(self.output)()


@dataclass(frozen=True)
class Target:
    """The RPC a request names: by its gRPC path (gRPC-web), or by an HTTP binding (JSON) with the
    path's variables."""

    rpc: Rpc
    binding: HttpBinding | None = None
    variables: dict[str, str] = field(default_factory=dict)


Route = tuple[HttpBinding, Rpc]
# One HTTP method's bindings: by the path head they need, and those that can match any path.
_Indexed = tuple[dict[tuple[str, ...], list[Route]], list[Route]]


@dataclass
class Catalog:
    """Public RPCs by gRPC path, and HTTP bindings by HTTP method (most specific first)."""

    pool: descriptor_pool.DescriptorPool
    rpcs: dict[str, Rpc] = field(default_factory=dict)
    routes: dict[str, list[tuple[HttpBinding, Rpc]]] = field(default_factory=dict)
    #: ``routes`` indexed by HTTP method and the path's first segments (httprule.path_head): the
    #: bindings a path can match, most specific first. Built at the first match.
    _index: dict[str, _Indexed] | None = field(default=None, repr=False)

    def match(self, http_method: str, raw_path: str) -> tuple[HttpBinding, Rpc, dict[str, str]] | None:
        if self._index is None:
            self._index = {verb: _index_routes(routes) for verb, routes in self.routes.items()}
        indexed = self._index.get(http_method)
        if indexed is None:
            return None
        by_head, loose = indexed
        for binding, rpc in by_head.get(path_head(raw_path), loose):
            variables = binding.template.match(raw_path)
            if variables is not None:
                return binding, rpc, variables
        return None

    def allowed_methods(self, raw_path: str) -> list[str]:
        """HTTP methods that some binding accepts for this path (for 405 answers)."""
        return sorted(
            verb
            for verb, routes in self.routes.items()
            if any(b.template.match(raw_path) is not None for b, _ in routes)
        )


def _index_routes(routes: list[Route]) -> _Indexed:
    """One HTTP method's bindings (most specific first) by the path head they need; those whose
    template starts with fewer literal segments (``loose``) can match any path and join every list,
    each list keeping the order of ``routes``."""
    loose = [route for route in routes if len(route[0].template.head) < HEAD_SEGMENTS]
    heads = {route[0].template.head for route in routes if len(route[0].template.head) == HEAD_SEGMENTS}
    loose_heads = {route[0].template.head for route in loose}
    by_head = {
        head: [route for route in routes if route[0].template.head in (head, *loose_heads)] for head in heads
    }
    return by_head, loose


def service_key(package: str) -> str | None:
    """`meetmesh.user.v1` -> `user`; None for packages the edge never routes."""
    parts = package.split(".")
    if len(parts) != 3 or parts[0] != "meetmesh" or not parts[2].startswith("v") or internal_package(package):
        return None
    return parts[1]


def _bindings(rule: http_pb2.HttpRule) -> list[HttpBinding]:
    out = []
    pattern = rule.WhichOneof("pattern")
    if pattern in _HTTP_VERBS:
        verb, template = pattern.upper(), getattr(rule, pattern)
    elif pattern == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        verb = template = ""
    if verb:
        out.append(HttpBinding(verb, parse_template(template), rule.body, rule.response_body))
    for extra in rule.additional_bindings:
        out.extend(_bindings(extra))
    return out


def _comments(fdp: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(loc.path): loc.leading_comments.strip()
        for loc in fdp.source_code_info.location
        if loc.leading_comments
    }


def build_catalog(fds: descriptor_pb2.FileDescriptorSet) -> Catalog:
    """Builds the catalog from a FileDescriptorSet (a buf image parses as one)."""
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    catalog = Catalog(pool)
    for fdp in fds.file:
        key = service_key(fdp.package)
        if key is None:
            continue
        comments = _comments(fdp)
        for s_index, svc in enumerate(fdp.service):
            rules = {m.name: m.options.Extensions[annotations_pb2.http] for m in svc.method}
            if not any(r.WhichOneof("pattern") for r in rules.values()):
                continue
            full_service = f"{fdp.package}.{svc.name}"
            svc_desc = pool.FindServiceByName(full_service)
            for m_index, method in enumerate(svc.method):
                md = svc_desc.methods_by_name[method.name]
                policy = method_policy(md)
                if policy.internal:
                    continue
                rpc = Rpc(
                    service=key,
                    full_service=full_service,
                    name=method.name,
                    input=md.input_type,
                    output=md.output_type,
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                    bindings=tuple(_bindings(rules[method.name])),
                    policy=policy,
                    comment=comments.get((6, s_index, 2, m_index), ""),
                )
                catalog.rpcs[rpc.path] = rpc
                for binding in rpc.bindings:
                    catalog.routes.setdefault(binding.http_method, []).append((binding, rpc))
    for routes in catalog.routes.values():
        routes.sort(key=lambda route: route[0].template.specificity, reverse=True)
    return catalog


def load_catalog(path: Path) -> Catalog:
    """Reads a descriptor set file (`gen/meetmesh.binpb`)."""
    return build_catalog(descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()))
