"""Puts the public generated packages of gen/ (and buf.validate's messages) into the wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GEN = Path(__file__).resolve().parents[2] / "gen"


def public_files() -> dict[str, str]:
    """Wheel path -> source path for every generated module of a public package."""
    files: dict[str, str] = {}
    for root in ("meetmesh", "buf"):
        for path in sorted((GEN / root).rglob("*")):
            relative = path.relative_to(GEN)
            if path.is_dir() or "internal" in relative.parts or path.suffix not in (".py", ".pyi"):
                continue
            files[str(relative)] = str(path)
    if not files:
        raise RuntimeError(f"no generated code under {GEN}: run `make gen` first")
    return files


class PublicContract(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        build_data["force_include"].update({src: dst for dst, src in public_files().items()})
