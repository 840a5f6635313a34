"""The gRPC reference at ``/docs/grpc``, rendered from the descriptor set the edge loads.

Every service of the contract is listed, public and internal, with every method including the
streaming ones: its kind, request and response, the comment from the proto, who may call it (the
``meetmesh.options.v1.access`` option, through ``services.kit.policy``), where it is reachable and
a ``buf curl`` example (gRPC-web through the edge for public methods; native gRPC to the service's
own port for internal ones, which the edge never routes). The page has no scripts and no external
resources; icons are inline SVG.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import Any

from buf.validate import validate_pb2
from google.api import field_behavior_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool

from services.edge.reference import LOCK_SVG
from services.kit.policy import internal_package, method_policy

_STYLE = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 max-width:1040px;margin:0 auto;padding:0 1.25rem 4rem;color:#1b1f24;line-height:1.5}
header{display:flex;gap:1.5rem;align-items:center;border-bottom:1px solid #d0d7de;padding:1rem 0}
header a{color:#0a5bb5}
h1{font-size:1.6rem;margin:.2rem 0}
h2{font-size:1.3rem;margin-top:2.5rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h3{font-size:1.05rem;margin:0 0 .3rem}
.method{border:1px solid #d0d7de;border-radius:8px;padding:.8rem 1rem;margin:1rem 0}
.kind{display:inline-block;font-size:.8rem;font-weight:600;border-radius:4px;padding:0 .4rem;
 margin-left:.5rem;background:#ddf4ff;color:#0a3069}
.kind.stream{background:#fff1e5;color:#7a2e0e}
.internal{background:#ffebe9;color:#82071e}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.86rem}
code{background:#f3f5f7;padding:0 .25rem;border-radius:3px}
pre{background:#f3f5f7;padding:.6rem .8rem;border-radius:6px;overflow-x:auto;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.4rem 0}
dt{font-weight:600;color:#3d444d}
dd{margin:0}
nav ul{columns:2;padding-left:1.2rem}
svg{vertical-align:-2px}
a{color:#0a5bb5}
"""

_LOCK = LOCK_SVG

_KINDS = {
    (False, False): "unary",
    (False, True): "server stream",
    (True, False): "client stream",
    (True, True): "bidirectional stream",
}


def _comments(fdp: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(loc.path): " ".join(line.strip() for line in loc.leading_comments.strip().splitlines())
        for loc in fdp.source_code_info.location
        if loc.leading_comments
    }


def _required(field: descriptor.FieldDescriptor) -> bool:
    options = field.GetOptions()
    behaviors = options.Extensions[field_behavior_pb2.field_behavior]
    if field_behavior_pb2.REQUIRED in behaviors:
        return True
    rules = options.Extensions[validate_pb2.field]
    if rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE:
        return False
    return bool(rules.required) or (
        rules.HasField("string") and (rules.string.min_len > 0 or rules.string.email)
    )


def _placeholder(field: descriptor.FieldDescriptor, depth: int) -> Any:
    if field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return "2026-12-02T09:00:00Z"
        if field.message_type.full_name == "google.protobuf.FieldMask":
            return "title"
        return example_message(field.message_type, depth + 1)
    if field.enum_type is not None:
        values = [v.name for v in field.enum_type.values if v.number != 0]
        return values[0] if values else 0
    if field.type == field.TYPE_STRING:
        return (
            _sample_name(field.GetOptions().Extensions[validate_pb2.field].string.pattern)
            or field.name.upper()
        )
    if field.type == field.TYPE_BOOL:
        return True
    if field.type == field.TYPE_BYTES:
        return "BASE64"
    return 1


def _sample_name(pattern: str) -> str:
    """``meetings/MEETING/participants/PARTICIPANT`` from a resource name's pattern, else ""."""
    segments = pattern.removeprefix("^").removesuffix("$").replace("[^/]+", "*").split("/")
    if len(segments) < 2 or not segments[0].isalpha():
        return ""
    out = []
    for i, segment in enumerate(segments):
        if segment.isalpha():
            out.append(segment)
        elif i > 0:
            out.append(segments[i - 1].removesuffix("s").upper())
    return "/".join(out)


def example_message(message: descriptor.Descriptor, depth: int = 0) -> dict[str, Any]:
    """A request body for examples: the required fields with placeholders (names from patterns)."""
    out: dict[str, Any] = {}
    if depth > 2:
        return out
    for field in message.fields:
        if _required(field) or (depth == 0 and field.name in ("name", "parent")):
            value = _placeholder(field, depth)
            out[field.json_name] = [value] if field.is_repeated else value
    return out


def _who(method: descriptor.MethodDescriptor) -> str:
    policy = method_policy(method)
    who = html.escape(policy.describe()).replace("`", "")
    if policy.internal and policy.services:
        who += ": " + ", ".join(f"<code>{html.escape(s)}</code>" for s in sorted(policy.services))
    if policy.needs_access_token:
        who = f'{_LOCK} {who} <span class="sr">(send <code>authorization: Bearer &lt;token&gt;</code>)</span>'
    return who


def _curl(
    method: descriptor.MethodDescriptor,
    internal: bool,
    edge_url: str,
    service_url: Callable[[str], str],
) -> str:
    body = json.dumps(example_message(method.input_type))
    path = f"{method.containing_service.full_name}/{method.name}"
    policy = method_policy(method)
    lines = ["buf curl --schema gen/meetmesh.binpb"]
    if internal or method.client_streaming:
        lines.append("  --protocol grpc --http2-prior-knowledge")
        target = service_url(method.containing_service.file.package)
    else:
        lines.append("  --protocol grpcweb")
        target = edge_url
    if policy.internal:
        lines.append('  -H "authorization: Bearer $SERVICE_TOKEN"')
    elif policy.needs_access_token:
        lines.append('  -H "authorization: Bearer $TOKEN"')
    if method.client_streaming:
        lines.append("  -d @-   # one JSON message per line on stdin, e.g. " + body)
    else:
        lines.append(f"  -d '{body}'")
    lines.append(f"  {target}/{path}")
    return " \\\n".join(lines)


def _services(
    pool: descriptor_pool.DescriptorPool, files: Iterable[descriptor_pb2.FileDescriptorProto]
) -> Any:
    for fdp in files:
        if not fdp.package.startswith("meetmesh.") or not fdp.service:
            continue
        comments = _comments(fdp)
        for s_index, svc in enumerate(fdp.service):
            yield fdp, s_index, pool.FindServiceByName(f"{fdp.package}.{svc.name}"), comments


_INTRO = " ".join(
    [
        "Every service of the contract, generated from the descriptors. Public services answer",
        "gRPC-web and JSON through the edge and native gRPC on their own ports; internal services",
        "(<code>meetmesh.&lt;service&gt;.internal.v1</code>) take native gRPC from other meetmesh",
        "services only, with a service credential. Browsers cannot stream from the client over",
        "gRPC-web: client and bidirectional streams need native gRPC (signaling also has a WebSocket",
        "at <code>/rtc</code>). The examples use <a href='https://buf.build/docs/curl/usage/'>buf curl</a>",
        "with the descriptor set from <code>make gen</code>; <code>$TOKEN</code> is an access token",
        "from <code>meetmesh login</code> (<code>~/.config/meetmesh/credentials/</code>) or the Login call.",
    ]
)


def render_grpc_reference(
    fds: descriptor_pb2.FileDescriptorSet, edge_url: str, service_url: Callable[[str], str]
) -> bytes:
    """The page. ``service_url(package)`` says where a package's service listens (native gRPC)."""
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    e = html.escape
    toc: list[str] = []
    sections: list[str] = []
    for fdp, s_index, service, comments in sorted(
        _services(pool, fds.file), key=lambda item: (internal_package(item[0].package), item[2].full_name)
    ):
        internal = internal_package(fdp.package)
        anchor = service.full_name
        badge = ' <span class="kind internal">internal</span>' if internal else ""
        toc.append(f'<li><a href="#{e(anchor)}">{e(service.full_name)}</a>{badge}</li>')
        where = (
            f"native gRPC on the service's own port ({e(service_url(fdp.package))}); the edge never routes it"
            if internal
            else f"gRPC-web and JSON through the edge ({e(edge_url)}), native gRPC on the service's port"
        )
        parts = [
            f'<section><h2 id="{e(anchor)}">{e(service.full_name)}{badge}</h2>',
            f"<p>{e(comments.get((6, s_index), ''))}</p><p>Reachable: {where}.</p>",
        ]
        for m_index, method in enumerate(service.methods):
            kind = _KINDS[(method.client_streaming, method.server_streaming)]
            stream = " stream" if kind != "unary" else ""
            parts.append(
                f'<div class="method" id="{e(service.full_name)}.{e(method.name)}">'
                f'<h3>{e(method.name)}<span class="kind{stream}">{e(kind)}</span></h3>'
                f"<p>{e(comments.get((6, s_index, 2, m_index), ''))}</p><dl>"
                f"<dt>Path</dt><dd><code>/{e(service.full_name)}/{e(method.name)}</code></dd>"
                f"<dt>Request</dt><dd><code>{e(method.input_type.full_name)}</code></dd>"
                f"<dt>Response</dt><dd><code>{e(method.output_type.full_name)}</code></dd>"
                f"<dt>Who may call</dt><dd>{_who(method)}</dd></dl>"
                f"<pre>{e(_curl(method, internal, edge_url, service_url))}</pre></div>"
            )
        parts.append("</section>")
        sections.append("".join(parts))
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>meetmesh gRPC reference</title><style>{_STYLE}"
        ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}</style></head><body>"
        "<header><h1>meetmesh gRPC reference</h1><a href='/docs'>HTTP API reference (try it)</a>"
        "<a href='/openapi.json'>OpenAPI document</a></header><main>"
        f"<p>{_INTRO}</p>"
        f"<nav aria-label='Services'><ul>{''.join(toc)}</ul></nav>{''.join(sections)}</main></body></html>"
    )
    return page.encode()
