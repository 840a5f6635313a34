"""A readable API reference page rendered from the OpenAPI document (no scripts, no CDN).

Each operation says who may call it, from the `x-meetmesh-access` extension the generator copies
from the method's `meetmesh.options.v1.access` option."""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
.op{margin:1.2rem 0;padding:.8rem 1rem;border:1px solid #e4e4e4;border-radius:6px}
.verb{display:inline-block;min-width:4.5rem;font-weight:600;font-family:monospace}
code{background:#f5f5f5;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #e4e4e4;padding:.2rem .5rem;text-align:left}
.lock{color:#a60}
"""


# An inline icon: an emoji lock drew a missing-glyph box where no emoji font is installed.
LOCK_SVG = (
    '<svg width="12" height="12" viewBox="0 0 16 16" aria-hidden="true" focusable="false">'
    '<path fill="currentColor" d="M4 7V5a4 4 0 1 1 8 0v2h.5A1.5 1.5 0 0 1 14 8.5v5A1.5 1.5 0 0 1 12.5 15h-9'
    'A1.5 1.5 0 0 1 2 13.5v-5A1.5 1.5 0 0 1 3.5 7H4Zm1.5 0h5V5a2.5 2.5 0 0 0-5 0v2Z"/></svg>'
)


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return str(ref.rsplit("/", 1)[-1] if ref else schema.get("type", "object"))


_WHO = {
    "anonymous": "anyone, no token needed",
    "user": "a signed-in user",
    "admin": "admins only",
    "participant": "participants of the meeting",
}


def _who(access: dict[str, Any]) -> str:
    who = _WHO.get(str(access.get("caller", "")), str(access.get("caller", "unspecified")))
    if access.get("grant"):
        who += f" holding the <code>{html.escape(str(access['grant']))}</code> grant"
    return who


def _operation(path: str, verb: str, op: dict[str, Any]) -> str:
    e = html.escape
    secured = bool(op.get("security"))
    access = op.get("x-meetmesh-access", {})
    parts = [
        '<div class="op">',
        f'<div><span class="verb">{e(verb.upper())}</span><code>{e(path)}</code>'
        + (
            f' <span class="lock" title="needs an access token">{LOCK_SVG} bearer token</span>'
            if secured
            else ""
        )
        + "</div>",
        f"<p>{e(op.get('description') or op.get('summary') or '')}</p>",
        f"<div>gRPC: <code>{e(op.get('operationId', ''))}</code></div>",
        f'<div class="who">Who may call: {_who(access)}</div>' if access else "",
    ]
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
            f"<td>{e(_schema_name(p.get('schema', {})))}</td><td>{e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>{rows}</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        parts.append(f"<div>Body: <code>{e(_schema_name(body))}</code></div>")
    ok = op.get("responses", {}).get("200", {}).get("content", {})
    for media, content in ok.items():
        parts.append(
            f"<div>Returns ({e(media)}): <code>{e(_schema_name(content.get('schema', {})))}</code></div>"
        )
    parts.append("</div>")
    return "".join(parts)


def render_reference(openapi: bytes) -> bytes:
    doc = json.loads(openapi)
    info = doc.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in doc.get("paths", {}).items():
        for verb, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                tag = (op.get("tags") or ["API"])[0]
                by_tag.setdefault(tag, []).append(_operation(path, verb, op))
    sections = "".join(f"<h2>{html.escape(tag)}</h2>{''.join(ops)}" for tag, ops in sorted(by_tag.items()))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(info.get('title', 'API'))}"
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(info.get('title', 'API'))}</h1>"
        f"<p>{html.escape(info.get('description', ''))}</p>"
        "<p>Every operation is also callable over gRPC-web at "
        "<code>/&lt;package.Service&gt;/&lt;Method&gt;</code>."
        " Errors are a JSON <code>google.rpc.Status</code>. The machine-readable document is "
        "<a href='/openapi.json'>/openapi.json</a>.</p>"
        f"{sections}</body></html>"
    )
    return page.encode()
