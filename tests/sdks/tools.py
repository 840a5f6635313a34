"""Toolchains the SDK flavours need (Go, Maven, Node): found on PATH, required in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def require(tool: str) -> str:
    """The path of `tool`; skips the test without it on a developer's machine, fails in CI."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI needs every SDK toolchain)")
        pytest.skip(f"{tool} is not installed")
    return path
