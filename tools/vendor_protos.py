"""Vendor the third-party protos that meetmesh's contracts import.

No schema registry is reachable, so the files come from pinned Python packages:

* ``google/api/*.proto`` and ``google/rpc/*.proto`` are copied from ``googleapis-common-protos``;
* ``buf/validate/validate.proto`` is rebuilt from the file descriptor embedded in the
  ``protovalidate`` wheel (the wheel ships no ``.proto`` source). The rebuilt file has the same
  packages, messages, field numbers, extensions and rule options, so descriptors compiled
  against it are byte-compatible with upstream; upstream comments are not carried over.

Run ``python tools/vendor_protos.py`` (``make vendor``) after changing those pins.
"""

from __future__ import annotations

import pathlib
import shutil
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEST = ROOT / "protos_vendor"

GOOGLE_FILES = [
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/api/field_behavior.proto",
    "google/api/resource.proto",
    "google/api/client.proto",
    "google/api/launch_stage.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
    "google/rpc/code.proto",
]

_TYPES = {v: k.removeprefix("TYPE_").lower() for k, v in descriptor_pb2.FieldDescriptorProto.Type.items()}
_LABELS = {1: "optional", 2: "required", 3: "repeated"}
_MAX = 536870911


def _copy_google() -> None:
    import google.api

    site = pathlib.Path(google.api.__path__[0]).parent.parent
    for rel in GOOGLE_FILES:
        target = DEST / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(site / rel, target)


def _range(start: int, end: int) -> str:
    end -= 1
    if end >= _MAX:
        return f"{start} to max"
    return str(start) if start == end else f"{start} to {end}"


class _Printer:
    def __init__(self, fdp: descriptor_pb2.FileDescriptorProto, pool: descriptor_pool.DescriptorPool):
        self.fdp = fdp
        self.pool = pool
        self.out: list[str] = []
        self.predefined = pool.FindExtensionByName("buf.validate.predefined")

    def line(self, depth: int, text: str) -> None:
        self.out.append("  " * depth + text if text else "")

    def field_options(self, field: descriptor_pb2.FieldDescriptorProto) -> str:
        opts = []
        if field.HasField("json_name") and field.json_name != _lower_camel(field.name):
            opts.append(f'json_name = "{field.json_name}"')
        if field.options.deprecated:
            opts.append("deprecated = true")
        raw = field.options.SerializeToString()
        if raw:
            cls = message_factory.GetMessageClass(
                self.pool.FindMessageTypeByName("google.protobuf.FieldOptions")
            )
            parsed = cls.FromString(raw)
            if parsed.HasExtension(self.predefined):
                body = text_format.MessageToString(parsed.Extensions[self.predefined], as_one_line=True)
                opts.append(f"(buf.validate.predefined) = {{{body}}}")
        return f" [{', '.join(opts)}]" if opts else ""

    def field(self, depth: int, field: descriptor_pb2.FieldDescriptorProto, in_oneof: bool) -> None:
        typ = field.type_name or _TYPES[field.type]
        label = "" if in_oneof else _LABELS[field.label] + " "
        if self.fdp.syntax == "proto3" and field.label == 1 and not field.proto3_optional:
            label = ""
        self.line(depth, f"{label}{typ} {field.name} = {field.number}{self.field_options(field)};")

    def message(self, depth: int, msg: descriptor_pb2.DescriptorProto) -> None:
        self.line(depth, f"message {msg.name} {{")
        for nested in msg.enum_type:
            self.enum(depth + 1, nested)
        for nested in msg.nested_type:
            self.message(depth + 1, nested)
        oneof_fields: dict[int, list[descriptor_pb2.FieldDescriptorProto]] = {}
        for f in msg.field:
            if f.HasField("oneof_index") and not f.proto3_optional:
                oneof_fields.setdefault(f.oneof_index, []).append(f)
        emitted: set[int] = set()
        for f in msg.field:
            if f.HasField("oneof_index") and not f.proto3_optional:
                idx = f.oneof_index
                if idx in emitted:
                    continue
                emitted.add(idx)
                self.line(depth + 1, f"oneof {msg.oneof_decl[idx].name} {{")
                for of in oneof_fields[idx]:
                    self.field(depth + 2, of, in_oneof=True)
                self.line(depth + 1, "}")
            else:
                self.field(depth + 1, f, in_oneof=False)
        for r in msg.extension_range:
            self.line(depth + 1, f"extensions {_range(r.start, r.end)};")
        for r in msg.reserved_range:
            self.line(depth + 1, f"reserved {_range(r.start, r.end)};")
        if msg.reserved_name:
            names = ", ".join(f'"{n}"' for n in msg.reserved_name)
            self.line(depth + 1, f"reserved {names};")
        self.line(depth, "}")

    def enum(self, depth: int, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        self.line(depth, f"enum {enum.name} {{")
        for v in enum.value:
            self.line(depth + 1, f"{v.name} = {v.number};")
        for r in enum.reserved_range:
            end = r.end + 1  # enum reserved ranges are inclusive
            self.line(depth + 1, f"reserved {_range(r.start, end)};")
        if enum.reserved_name:
            self.line(depth + 1, "reserved " + ", ".join(f'"{n}"' for n in enum.reserved_name) + ";")
        self.line(depth, "}")

    def render(self) -> str:
        fdp = self.fdp
        self.line(0, "// Vendored by tools/vendor_protos.py from the descriptor in the protovalidate wheel.")
        self.line(
            0, "// Copyright 2023-2026 Buf Technologies, Inc. Licensed under the Apache License, Version 2.0."
        )
        self.line(0, "// DO NOT EDIT: regenerate with `make vendor`.")
        self.line(0, "")
        self.line(0, f'syntax = "{fdp.syntax or "proto2"}";')
        self.line(0, "")
        self.line(0, f"package {fdp.package};")
        self.line(0, "")
        for dep in fdp.dependency:
            self.line(0, f'import "{dep}";')
        self.line(0, "")
        o = fdp.options
        for name in (
            "java_package",
            "java_outer_classname",
            "go_package",
            "objc_class_prefix",
            "csharp_namespace",
            "php_namespace",
            "php_metadata_namespace",
            "ruby_package",
        ):
            if o.HasField(name):
                value = getattr(o, name).replace("\\", "\\\\")
                self.line(0, f'option {name} = "{value}";')
        if o.HasField("java_multiple_files"):
            self.line(0, f"option java_multiple_files = {str(o.java_multiple_files).lower()};")
        self.line(0, "")
        for ext in fdp.extension:
            self.line(0, f"extend {ext.extendee} {{")
            self.field(1, ext, in_oneof=False)
            self.line(0, "}")
        for msg in fdp.message_type:
            self.message(0, msg)
        for enum in fdp.enum_type:
            self.enum(0, enum)
        return "\n".join(self.out) + "\n"


def _lower_camel(name: str) -> str:
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _vendor_validate() -> None:
    fdp = descriptor_pb2.FileDescriptorProto.FromString(_raw_descriptor())
    pool = descriptor_pool.DescriptorPool()
    from google.protobuf import descriptor_pb2 as d
    from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

    for mod in (d, duration_pb2, field_mask_pb2, timestamp_pb2):
        pool.AddSerializedFile(mod.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(fdp.SerializeToString())
    text = _Printer(fdp, pool).render()
    target = DEST / "buf/validate/validate.proto"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def _raw_descriptor() -> bytes:
    """Read the serialized descriptor literal out of the generated module's source."""
    import ast

    from protovalidate._gen.buf.validate import validate_pb

    tree = ast.parse(pathlib.Path(validate_pb.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "file_desc":
            arg = node.args[0]
            assert isinstance(arg, ast.Constant)
            assert isinstance(arg.value, bytes)
            return arg.value
    raise SystemExit("descriptor literal not found in protovalidate's validate_pb")


def main() -> int:
    _copy_google()
    _vendor_validate()
    print(f"vendored protos into {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
