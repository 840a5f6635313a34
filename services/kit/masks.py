"""AIP-134 update masks."""

from __future__ import annotations

from collections.abc import Collection

from google.protobuf.field_mask_pb2 import FieldMask

from .errors import InvalidArgument


def mask_paths(mask: FieldMask | None, allowed: Collection[str], *, empty_means_all: bool) -> set[str]:
    """The paths of ``mask``, checked against ``allowed``; ``*`` means all allowed paths."""
    paths = list(mask.paths) if mask is not None else []
    if not paths or paths == ["*"]:
        if not paths and not empty_means_all:
            raise InvalidArgument([("update_mask", "is required")])
        return set(allowed)
    unknown = [p for p in paths if p not in allowed]
    if unknown:
        updatable = ", ".join(sorted(allowed))
        raise InvalidArgument(
            [("update_mask", f"cannot update {p!r}; updatable: {updatable}") for p in unknown]
        )
    return set(paths)
