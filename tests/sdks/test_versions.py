"""Every SDK flavour carries the contract's one semantic version (docs/sdk.md)."""

from __future__ import annotations

import json
import tomllib
import xml.etree.ElementTree as ET

from tests.sdks.conftest import REPO


def test_every_flavour_carries_the_same_contract_version() -> None:
    def pyproject(folder: str) -> str:
        return str(tomllib.loads((REPO / folder / "pyproject.toml").read_text())["project"]["version"])

    pom = ET.parse(REPO / "clients/kotlin/pom.xml").getroot()  # noqa: S314 - our own file
    versions = {
        "meetmesh-proto": pyproject("clients/python-proto"),
        "meetmesh-betterproto": pyproject("clients/python-betterproto"),
        "@meetmesh/proto": json.loads((REPO / "clients/ts/package.json").read_text())["version"],
        "dev.meetmesh:meetmesh-proto": pom.findtext("{http://maven.apache.org/POM/4.0.0}version"),
    }
    assert len(set(versions.values())) == 1, versions
    major = next(iter(versions.values())).split(".")[0]
    packages = {p.name for p in (REPO / "protos/meetmesh").glob("*/v*") if p.is_dir()}
    assert packages == {f"v{major}"}, "the contract's major version is its proto packages' version"
