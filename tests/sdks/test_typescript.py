"""The TypeScript flavour: `npm pack` builds @meetmesh/proto (tsc over the protoc-gen-es output),
a Node program installs the tarball as a user would, and runs the smoke scenario over gRPC-web
through the edge (Connect's gRPC-web transport)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.sdks.conftest import REPO, Mesh, check_scenario, run_smoke
from tests.sdks.tools import require

NPM_QUIET = ["--no-audit", "--no-fund", "--loglevel=error"]


def test_npm_package_packs_and_runs_the_smoke_scenario_through_the_edge(mesh: Mesh, tmp_path: Path) -> None:
    npm, node = require("npm"), require("node")
    package = REPO / "clients/ts"
    subprocess.run([npm, "ci", *NPM_QUIET], cwd=package, check=True, timeout=600)
    subprocess.run(
        [npm, "pack", "--pack-destination", str(tmp_path), *NPM_QUIET],
        cwd=package,
        check=True,
        timeout=600,
        capture_output=True,
    )
    (tarball,) = tmp_path.glob("meetmesh-proto-*.tgz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"package/dist/meetmesh/user/v1/user_pb.js", "package/dist/meetmesh/user/v1/user_pb.d.ts"} <= names
    assert not [n for n in names if "/internal/" in n]  # public packages only

    app = tmp_path / "app"
    app.mkdir()
    for name in ("package.json", "smoke.mjs"):
        shutil.copy(REPO / "tests/sdks/ts" / name, app / name)
    subprocess.run(
        [npm, "install", *NPM_QUIET, "--prefer-offline", str(tarball)], cwd=app, check=True, timeout=600
    )

    email, password = mesh.account()
    out = run_smoke([node, "smoke.mjs", mesh.edge_url, email, password], cwd=app)
    check_scenario(mesh, email, out)
