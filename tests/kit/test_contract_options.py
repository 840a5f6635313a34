"""The contract declares its policy: every RPC says who may call it, internal packages hold only
service methods, and fields that carry personal data or credentials say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from meetmesh.options.v1 import options_pb2

REPO = Path(__file__).resolve().parents[2]
FDS = descriptor_pb2.FileDescriptorSet.FromString((REPO / "gen" / "meetmesh.binpb").read_bytes())
OURS = [f for f in FDS.file if f.package.startswith("meetmesh.")]
# Field names that always hold personal data or credentials wherever they appear.
SENSITIVE_NAMES = re.compile(
    r"^(email|password|passcode|display_name|text|sdp|candidate|credential|"
    r"(access|refresh|join|resume)_token|token|\w*_uri|filename|audio|image)$"
)


def _methods() -> list[tuple[str, descriptor_pb2.MethodDescriptorProto]]:
    return [(f"/{f.package}.{s.name}/{m.name}", m) for f in OURS for s in f.service for m in s.method]


@pytest.mark.parametrize(("path", "method"), _methods(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_rpc_declares_who_may_call_it(path: str, method: descriptor_pb2.MethodDescriptorProto) -> None:
    assert method.options.HasExtension(options_pb2.access), path
    access = method.options.Extensions[options_pb2.access]
    assert access.caller != options_pb2.CALLER_UNSPECIFIED, path
    internal = "internal" in path.split("/")[1].split(".")
    assert (access.caller == options_pb2.CALLER_SERVICE) == internal, path
    if access.caller == options_pb2.CALLER_SERVICE:
        assert access.services, f"{path}: name the services that call it"
    if access.grant or access.join_token_in_stream:
        assert access.caller == options_pb2.CALLER_PARTICIPANT, path


def test_personal_and_secret_fields_are_marked() -> None:
    unmarked = []
    for f in OURS:
        stack = [(m, f"{f.package}.{m.name}") for m in f.message_type]
        while stack:
            message, name = stack.pop()
            stack.extend((n, f"{name}.{n.name}") for n in message.nested_type)
            for field in message.field:
                scalar = field.type in (field.TYPE_STRING, field.TYPE_BYTES)  # messages mark their own
                if (
                    scalar
                    and SENSITIVE_NAMES.match(field.name)
                    and not field.options.HasExtension(options_pb2.sensitivity)
                ):
                    unmarked.append(f"{name}.{field.name}")
    assert unmarked == []


def test_error_reasons_come_from_the_contracts_enum_not_string_literals() -> None:
    """`reason="..."` literals in the services would drift from `meetmesh.common.v1.ErrorReason`."""
    literal = re.compile(r'reason="[A-Z_]+"')
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in (REPO / "services").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []
