"""`make setup` rebuilds the model repository when the build's code changed (BUILD.json "sources")."""

from __future__ import annotations

import json
from pathlib import Path

from services.ai.modelbuild import repository


def test_fingerprint_follows_the_build_code(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "synthetic.py").write_text("C = 0.01\n")
    (tmp_path / "templates" / "model.py").write_text("x = 1\n")
    before = repository.fingerprint(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "synthetic.pyc").write_bytes(b"\0")
    assert repository.fingerprint(tmp_path) == before, "bytecode is no source"
    (tmp_path / "templates" / "model.py").write_text("x = 2\n")
    assert repository.fingerprint(tmp_path) != before


def test_a_repository_is_current_only_when_built_by_this_code(tmp_path: Path) -> None:
    assert not repository.is_current(tmp_path)  # never built
    (tmp_path / "BUILD.json").write_text("{not json")
    assert not repository.is_current(tmp_path)
    (tmp_path / "BUILD.json").write_text(json.dumps({"models": [], "sources": "0" * 16}))
    assert not repository.is_current(tmp_path)  # built by other code (or before sources were recorded)
    (tmp_path / "BUILD.json").write_text(json.dumps({"models": [], "sources": repository.fingerprint()}))
    assert repository.is_current(tmp_path)
