"""The Go flavour: the clients/go module builds and vets, and a program that depends on it (as a
user's does) runs the smoke scenario over native gRPC."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.sdks.conftest import REPO, Mesh, check_scenario, run_smoke
from tests.sdks.tools import require


def test_go_module_builds_and_runs_the_smoke_scenario(mesh: Mesh, tmp_path: Path) -> None:
    go = require("go")
    subprocess.run([go, "vet", "./..."], cwd=REPO / "clients/go", check=True, timeout=600)
    binary = tmp_path / "smoke"
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=REPO / "tests/sdks/go", check=True, timeout=600)
    email, password = mesh.account()
    out = run_smoke(
        [str(binary), mesh.address("user"), mesh.address("meeting"), email, password], cwd=tmp_path
    )
    check_scenario(mesh, email, out)
