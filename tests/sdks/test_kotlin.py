"""The Kotlin/JVM flavour: `make gen-jvm` generates the sources (protoc, protoc-gen-grpc-java and
protoc-gen-grpc-kotlin from Maven Central by exact coordinates), `mvn package` builds the jar,
and the smoke program (clients/kotlin/src/test, grpc-kotlin coroutine stubs) runs the scenario
over native gRPC."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.sdks.conftest import REPO, Mesh, check_scenario, run_smoke
from tests.sdks.tools import require


def test_jar_builds_and_runs_the_smoke_scenario(mesh: Mesh, tmp_path: Path) -> None:
    mvn, java = require("mvn"), require("java")
    project = REPO / "clients/kotlin"
    subprocess.run(["make", "--no-print-directory", "-s", "gen-jvm"], cwd=REPO, check=True, timeout=900)
    subprocess.run([mvn, "-B", "-q", "package"], cwd=project, check=True, timeout=1200)
    assert (project / "target/meetmesh-proto-1.0.0.jar").is_file()
    classpath = os.pathsep.join(
        [
            str(project / "target/classes"),
            str(project / "target/test-classes"),
            (project / "target/classpath.txt").read_text().strip(),
        ]
    )
    email, password = mesh.account()
    out = run_smoke(
        [
            java,
            "-cp",
            classpath,
            "dev.meetmesh.smoke.SmokeKt",
            mesh.address("user"),
            mesh.address("meeting"),
            email,
            password,
        ],
        cwd=tmp_path,
    )
    check_scenario(mesh, email, out)
