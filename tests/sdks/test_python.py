"""The Python flavours as their users get them: wheels built with `pip wheel`, installed into
clean virtual environments (no server, no PYTHONPATH), then the smoke scenario against the mesh.

* meetmesh-proto (pb2 + grpclib) installs alone: its environment holds only its dependencies;
* meetmesh-sdk installs on top of it with aiortc and never needs the server (`services`);
* meetmesh-betterproto (betterproto2 dataclasses + grpclib) runs without the protobuf runtime.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sdks.conftest import REPO, Mesh, check_scenario, run_smoke

PROJECTS = {
    "meetmesh-proto": "clients/python-proto",
    "meetmesh-sdk": "clients/python",
    "meetmesh-betterproto": "clients/python-betterproto",
}
# The environment of a user's program: no PYTHONPATH, nothing of the repository.
CLEAN_ENV = {"PATH": os.defpath, "HOME": os.environ.get("HOME", "/root")}
# pip run for the clean environments must not see the project through PYTHONPATH (the Makefile
# exports it, and a clone's root holds meetmesh.egg-info after `pip install -e .`).
PIP_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    projects = [str(REPO / project) for project in PROJECTS.values()]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), *projects],
        check=True,
        env=PIP_ENV,
    )
    assert {p.name.split("-")[0] for p in out.glob("*.whl")} == {name.replace("-", "_") for name in PROJECTS}
    return out


def venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, env=PIP_ENV)
    return path / "bin" / "python"


def pip_install(python: Path, wheels: Path, *requirements: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--find-links",
            str(wheels),
            *requirements,
        ],
        check=True,
        env=PIP_ENV,
    )


def distributions(python: Path) -> set[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=PIP_ENV,
    )
    return {d["name"].lower().replace("_", "-") for d in json.loads(listing.stdout)}


def requirements_closure(python: Path, *roots: str) -> set[str]:
    """The distributions `roots` pull in, read from the installed metadata."""
    script = (
        "import json, sys, re; from importlib.metadata import distribution\n"
        "seen, todo = set(), list(sys.argv[1:])\n"
        "while todo:\n"
        "    name = re.sub(r'[-_.]+', '-', todo.pop()).lower()\n"
        "    if name in seen: continue\n"
        "    seen.add(name)\n"
        "    for req in distribution(name).requires or []:\n"
        "        if ';' in req and 'extra' in req.split(';', 1)[1]: continue\n"
        "        todo.append(re.split(r'[ ;<>=!~\\[(]', req, maxsplit=1)[0])\n"
        "print(json.dumps(sorted(seen)))\n"
    )
    out = subprocess.run(
        [str(python), "-I", "-c", script, *roots], check=True, capture_output=True, text=True
    )
    return set(json.loads(out.stdout))


@pytest.fixture(scope="module")
def proto_env(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = venv(tmp_path_factory.mktemp("venv") / "proto")
    pip_install(python, wheels, "meetmesh-proto")
    return python


def test_meetmesh_proto_installs_alone_with_public_packages_only(proto_env: Path) -> None:
    installed = distributions(proto_env)
    assert {"meetmesh-proto", "protobuf", "grpclib", "googleapis-common-protos", "protovalidate"} <= installed
    assert installed == requirements_closure(proto_env, "meetmesh-proto")
    assert not {"meetmesh", "meetmesh-sdk", "aiortc", "sqlalchemy"} & installed
    probe = (
        "import importlib.util as u, meetmesh.user.v1.user_grpc, meetmesh.meeting.v1.meeting_grpc\n"
        "print(u.find_spec('meetmesh.meeting.internal') is None, u.find_spec('services') is None)"
    )
    out = subprocess.run(
        [str(proto_env), "-I", "-c", probe], check=True, capture_output=True, text=True, env=CLEAN_ENV
    )
    assert out.stdout.split() == ["True", "True"]  # no internal package, no server


def test_pb2_smoke_against_a_live_mesh(mesh: Mesh, proto_env: Path) -> None:
    email, password = mesh.account()
    program = REPO / "tests/sdks/programs/pb2_smoke.py"
    out = run_smoke(
        [str(proto_env), "-I", str(program), mesh.address("user"), mesh.address("meeting"), email, password],
        cwd=program.parent,
        env=CLEAN_ENV,
    )
    check_scenario(mesh, email, out)


def imported_modules(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


def test_sdk_depends_on_the_contract_package_and_aiortc_not_on_the_server(
    proto_env: Path, wheels: Path
) -> None:
    roots = {name.split(".")[0] for name in imported_modules(REPO / "clients/python/meetmesh_sdk")}
    assert "services" not in roots
    assert {"meetmesh", "aiortc", "grpclib"} <= roots
    pip_install(proto_env, wheels, "meetmesh-sdk")
    assert "meetmesh" not in distributions(proto_env)  # the server's distribution
    probe = "import meetmesh_sdk, meetmesh_sdk.bot, meetmesh_sdk.room; print(meetmesh_sdk.Room.__name__)"
    out = subprocess.run([str(proto_env), "-I", "-c", probe], capture_output=True, text=True, env=CLEAN_ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Room"


def test_betterproto_smoke_against_a_live_mesh(
    mesh: Mesh, wheels: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    python = venv(tmp_path_factory.mktemp("venv") / "betterproto")
    pip_install(python, wheels, "meetmesh-betterproto")
    installed = distributions(python)
    assert "meetmesh-betterproto" in installed
    assert not {"protobuf", "meetmesh-proto", "meetmesh"} & installed  # dataclasses only
    email, password = mesh.account()
    program = REPO / "tests/sdks/programs/betterproto_smoke.py"
    out = run_smoke(
        [str(python), "-I", str(program), mesh.address("user"), mesh.address("meeting"), email, password],
        cwd=program.parent,
        env=CLEAN_ENV,
    )
    check_scenario(mesh, email, out)
