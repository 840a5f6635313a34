"""Writes the OpenAPI 3 document for every `google.api.http` binding of the public services.

    python tools/gen_openapi.py [--descriptors gen/meetmesh.binpb] [--out gen/openapi/openapi.json]

Schemas follow the canonical proto3 JSON mapping (lowerCamelCase names, 64-bit integers as
strings, enums by name, well-known types in their JSON forms). Path variables bound to resource
names (`{name=users/*}`) become one path parameter per wildcard, named after the collection
before it (`/v1/users/{user}`), so that any OpenAPI client builds the right URL. Security
requirements and `x-meetmesh-access` (who may call) come from each method's
`meetmesh.options.v1.access` option.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import protovalidate
from buf.validate import validate_pb2
from google.api import field_behavior_pb2
from google.protobuf import descriptor, message_factory
from google.protobuf.descriptor import FieldDescriptor

from services.kit.catalog import HttpBinding, Rpc, load_catalog

REPO = Path(__file__).resolve().parents[1]
_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
_UINT64 = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}
_WKT: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {
        "type": "string",
        "pattern": r"^([a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*)?"
        r"(,[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*)*$",
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
}
# Request strings never hold U+0000 (the kit refuses it: no store keeps it).
_TEXT: dict[str, Any] = {"type": "string", "not": {"pattern": "\\x00"}}
STATUS_SCHEMA = {
    "type": "object",
    "description": "A google.rpc.Status: the gRPC code, a message and typed details.",
    "properties": {
        "code": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 16},
        "message": {"type": "string"},
        "details": {"type": "array", "items": _WKT["google.protobuf.Any"]},
    },
}


def _rules(f: FieldDescriptor) -> validate_pb2.FieldRules:
    rules: validate_pb2.FieldRules = f.GetOptions().Extensions[validate_pb2.field]
    return rules


_STRING_FORMATS = {"email": "email", "uri": "uri", "uuid": "uuid"}
_NUMBER_KINDS = (
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
    "double",
    "float",
)


def _constrain(schema: dict[str, Any], f: FieldDescriptor) -> dict[str, Any]:
    """The field's buf.validate rules as JSON Schema keywords (the API checks the same rules)."""
    if "$ref" in schema:
        return schema
    rules = _rules(f)
    out = dict(schema)
    kind = rules.WhichOneof("type")
    if kind == "string":
        s = rules.string
        if s.HasField("min_len"):
            out["minLength"] = s.min_len
        if s.HasField("max_len"):
            out["maxLength"] = s.max_len
        if s.HasField("pattern"):
            out["pattern"] = s.pattern
        allowed = list(getattr(s, "in"))
        if allowed:
            out["enum"] = allowed
        well_known = s.WhichOneof("well_known")
        if well_known in _STRING_FORMATS:
            out["format"] = _STRING_FORMATS[well_known]
    elif kind in _NUMBER_KINDS and out.get("type") in ("integer", "number"):
        n = getattr(rules, kind)
        lower, upper = n.WhichOneof("greater_than"), n.WhichOneof("less_than")
        if lower:
            out["minimum"] = getattr(n, lower)
            if lower == "gt":
                out["exclusiveMinimum"] = True
        if upper:
            out["maximum"] = getattr(n, upper)
            if upper == "lt":
                out["exclusiveMaximum"] = True
    elif kind == "enum" and "enum" in out:
        excluded = set(rules.enum.not_in)
        out["enum"] = [v.name for v in f.enum_type.values if v.number not in excluded] or out["enum"]
    return out


def _repeated_constraints(rules: validate_pb2.FieldRules) -> dict[str, Any]:
    if rules.WhichOneof("type") != "repeated":
        return {}
    r, out = rules.repeated, {}
    if r.HasField("min_items"):
        out["minItems"] = r.min_items
    if r.HasField("max_items"):
        out["maxItems"] = r.max_items
    return out


def _zero_rejected(desc: descriptor.Descriptor) -> set[str]:
    """Fields whose absent (zero) value protovalidate rejects: the API needs them, so the schema
    says they are required (`POST /v1/users:register {}` is invalid by the schema as by the API)."""
    try:
        protovalidate.validate(message_factory.GetMessageClass(desc)())
    except protovalidate.ValidationError as exc:
        return {
            v.proto.field.elements[0].field_name for v in exc.violations if len(v.proto.field.elements) == 1
        }
    return set()


def required_fields(desc: descriptor.Descriptor, *, request: bool) -> set[str]:
    """Field names a request must carry: rejected when absent, or (for a request message itself,
    not a resource shared with responses) marked `google.api.field_behavior = REQUIRED`."""
    names = _zero_rejected(desc)
    if request:
        names |= {f.name for f in desc.fields if field_behavior_pb2.REQUIRED in _behaviors(f)}
    return names


def _ref(full_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{full_name}"}


def _behaviors(f: FieldDescriptor) -> set[int]:
    return set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])


class SchemaBuilder:
    """Component schemas for every message reachable from the bindings."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"google.rpc.Status": STATUS_SCHEMA}

    def scalar(self, f: FieldDescriptor) -> dict[str, Any]:
        t = f.type
        if t == FieldDescriptor.TYPE_MESSAGE:
            return self.message(f.message_type)
        if t == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in f.enum_type.values]}
        if t == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if t == FieldDescriptor.TYPE_STRING:
            return dict(_TEXT)
        if t == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        if t in _INT32:
            return {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
        if t in _UINT32:
            return {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
        if t in _INT64:
            return {"type": "string", "format": "int64", "pattern": r"^-?[0-9]{1,18}$"}
        if t in _UINT64:
            return {"type": "string", "format": "uint64", "pattern": r"^[0-9]{1,19}$"}
        return {"type": "number", "format": "double" if t == FieldDescriptor.TYPE_DOUBLE else "float"}

    def field(self, f: FieldDescriptor) -> dict[str, Any]:
        if f.is_repeated and f.message_type is not None and f.message_type.GetOptions().map_entry:
            schema: dict[str, Any] = {
                "type": "object",
                "additionalProperties": self.scalar(f.message_type.fields_by_name["value"]),
            }
        elif f.is_repeated:
            schema = {"type": "array", "items": _constrain(self.scalar(f), f)}
            schema.update(_repeated_constraints(_rules(f)))
        else:
            schema = _constrain(self.scalar(f), f)
        behaviors = _behaviors(f)
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            schema = (
                {"allOf": [schema], "readOnly": True} if "$ref" in schema else {**schema, "readOnly": True}
            )
        if field_behavior_pb2.INPUT_ONLY in behaviors:
            schema = (
                {"allOf": [schema], "writeOnly": True} if "$ref" in schema else {**schema, "writeOnly": True}
            )
        return schema

    def message(self, desc: descriptor.Descriptor) -> dict[str, Any]:
        if desc.full_name in _WKT:
            return dict(_WKT[desc.full_name])
        if desc.full_name.startswith("google.protobuf.") and desc.full_name.endswith("Value"):
            return {**self.scalar(desc.fields_by_name["value"]), "nullable": True}
        if desc.full_name not in self.components:
            self.components[desc.full_name] = {}  # placeholder for recursion
            self.components[desc.full_name] = self.object(desc, exclude=set())
        return _ref(desc.full_name)

    def object(
        self, desc: descriptor.Descriptor, exclude: set[str], *, request: bool = False
    ) -> dict[str, Any]:
        """A message's schema; `request` for a request message itself (its REQUIRED fields count)."""
        fields = [f for f in desc.fields if f.name not in exclude]
        required = required_fields(desc, request=request)
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {f.json_name: self.field(f) for f in fields},
        }
        if any(f.name in required for f in fields):
            schema["required"] = [f.json_name for f in fields if f.name in required]
        return schema


def _param_name(previous_literal: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", previous_literal.rstrip("s") or "id")
    name, n = base, 2
    while name in used:
        name, n = f"{base}{n}", n + 1
    used.add(name)
    return name


def _segment_patterns(inner: str, field: FieldDescriptor | None) -> list[str | None]:
    """Per-wildcard patterns from the field's own pattern when it follows the template
    (`^users/[a-z0-9-]{1,64}$` for `users/*` gives `^[a-z0-9-]{1,64}$`)."""
    segments = inner.split("/")
    blank: list[str | None] = [None] * len(segments)
    if field is None or _rules(field).WhichOneof("type") != "string" or not _rules(field).string.pattern:
        return blank
    pattern = _rules(field).string.pattern
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return blank
    parts = pattern[1:-1].split("/")
    if len(parts) != len(segments):
        return blank
    out: list[str | None] = []
    for segment, part in zip(segments, parts, strict=True):
        if segment in ("*", "**"):
            out.append(f"^{part}$")
        elif segment != part:
            return blank
        else:
            out.append(None)
    return out


def _field_at(desc: descriptor.Descriptor, path: str) -> FieldDescriptor | None:
    field = None
    for part in path.split("."):
        field = desc.fields_by_name.get(part) if desc is not None else None
        if field is None:
            return None
        desc = field.message_type
    return field


def openapi_path(binding: HttpBinding, request: descriptor.Descriptor) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path and its path parameters (each carries `x-field-path`)."""
    params: list[dict[str, Any]] = []
    used: set[str] = set()

    def expand(match: re.Match[str]) -> str:
        field_path, inner = match.group(1), match.group(2)
        if inner is None:
            used.add(field_path)
            params.append(
                {
                    "name": field_path,
                    "in": "path",
                    "required": True,
                    "x-field-path": field_path,
                    "schema": {**_TEXT, "minLength": 1},
                }
            )
            return "{" + field_path + "}"
        out, previous = [], ""
        patterns = _segment_patterns(inner, _field_at(request, field_path))
        for segment, pattern in zip(inner.split("/"), patterns, strict=True):
            if segment in ("*", "**"):
                name = _param_name(previous, used)
                params.append(
                    {
                        "name": name,
                        "in": "path",
                        "required": True,
                        "x-field-path": field_path,
                        "description": f"Part of `{field_path}` (`{inner}`).",
                        "schema": {
                            **_TEXT,
                            "minLength": 1,
                            **({"pattern": pattern} if pattern else {}),
                        },
                    }
                )
                out.append("{" + name + "}")
            else:
                out.append(segment)
                previous = segment
        return "/".join(out)

    return re.sub(r"\{([A-Za-z0-9_.]+)(?:=([^}]*))?\}", expand, binding.template.text), params


def _query_params(rpc: Rpc, bound: set[str], builder: SchemaBuilder) -> list[dict[str, Any]]:
    params = []
    required = required_fields(rpc.input, request=True)

    def walk(desc: descriptor.Descriptor, prefix: str, depth: int) -> None:
        for f in desc.fields:
            path = prefix + f.name
            if path in bound or field_behavior_pb2.OUTPUT_ONLY in _behaviors(f):
                continue
            is_message = f.type == FieldDescriptor.TYPE_MESSAGE
            if is_message and f.message_type.full_name not in _WKT and not f.is_repeated:
                if depth < 2:
                    walk(f.message_type, path + ".", depth + 1)
                continue
            if is_message and (f.is_repeated or f.message_type.full_name not in _WKT):
                continue
            schema = builder.field(f)
            param = {"name": path, "in": "query", "required": path in required, "schema": schema}
            if f.is_repeated:
                param.update(style="form", explode=True)
            params.append(param)

    walk(rpc.input, "", 0)
    return params


def operation(
    rpc: Rpc, binding: HttpBinding, builder: SchemaBuilder, index: int
) -> tuple[str, dict[str, Any]]:
    path, path_params = openapi_path(binding, rpc.input)
    bound = {p["x-field-path"] for p in path_params}
    op: dict[str, Any] = {
        "operationId": f"{rpc.full_service.rsplit('.', 1)[-1]}_{rpc.name}" + (f"_{index}" if index else ""),
        "tags": [rpc.full_service],
        "summary": rpc.comment.split("\n")[0] if rpc.comment else rpc.name,
        "description": rpc.comment,
        "x-grpc-method": rpc.path,
        "parameters": path_params,
    }
    if binding.body == "*":
        top_bound = {b.split(".")[0] for b in bound}
        required = required_fields(rpc.input, request=True) - top_bound
        op["requestBody"] = {
            "required": bool(required),
            "content": {
                "application/json": {"schema": builder.object(rpc.input, exclude=top_bound, request=True)}
            },
        }
    elif binding.body:
        body_field = rpc.input.fields_by_name[binding.body]
        body_schema = builder.field(body_field)
        if rpc.name.startswith("Create") and body_field.message_type is not None:
            # AIP-203: a resource's REQUIRED fields are required when creating it (an update
            # names its fields in the mask), so only the create body says so.
            on_create = [
                f.json_name
                for f in body_field.message_type.fields
                if field_behavior_pb2.REQUIRED in _behaviors(f)
            ]
            if on_create:
                body_schema = {"allOf": [body_schema], "required": on_create}
        op["requestBody"] = {
            "required": body_field.name in required_fields(rpc.input, request=True),
            "content": {"application/json": {"schema": body_schema}},
        }
        op["parameters"] = path_params + _query_params(rpc, bound | {binding.body}, builder)
    else:
        op["parameters"] = path_params + _query_params(rpc, bound, builder)
    reply = builder.message(rpc.output)
    if binding.response_body:
        reply = builder.field(rpc.output.fields_by_name[binding.response_body])
    media = "application/x-ndjson" if rpc.server_streaming else "application/json"
    op["responses"] = {
        "200": {
            "description": "OK" + (" (one JSON message per line)" if rpc.server_streaming else ""),
            "content": {media: {"schema": reply}},
        },
        "default": {
            "description": "An error as a google.rpc.Status",
            "content": {"application/json": {"schema": _ref("google.rpc.Status")}},
        },
    }
    # Who may call, from the contract's `meetmesh.options.v1.access` option.
    access: dict[str, Any] = {"caller": rpc.policy.caller_name}
    if rpc.policy.grant:
        access["grant"] = rpc.policy.grant
    op["x-meetmesh-access"] = access
    if rpc.policy.needs_access_token:
        op["security"] = [{"bearerAuth": []}]
    return path, op


def build_openapi(descriptor_set: Path) -> dict[str, Any]:
    catalog = load_catalog(descriptor_set)
    builder = SchemaBuilder()
    paths: dict[str, dict[str, Any]] = {}
    for rpc in sorted(catalog.rpcs.values(), key=lambda r: r.path):
        for index, binding in enumerate(rpc.bindings):
            path, op = operation(rpc, binding, builder, index)
            paths.setdefault(path, {})[binding.http_method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "meetmesh API",
            "version": "v1",
            "description": "JSON/REST bindings of the public meetmesh services, "
            "transcoded to gRPC by the edge.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(builder.components.items())),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--descriptors", type=Path, default=REPO / "gen" / "meetmesh.binpb")
    parser.add_argument("--out", type=Path, default=REPO / "gen" / "openapi" / "openapi.json")
    args = parser.parse_args(argv)
    document = build_openapi(args.descriptors)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
