"""The web client's own unit tests (Vitest: room state, i18n, validation, errors, routing,
session refresh, layout), run inside the Python suite so `make test` covers them."""

from __future__ import annotations

import shutil
import subprocess

from tests.web.conftest import WEB


def test_vitest_suite_passes() -> None:
    npx = shutil.which("npx")
    assert npx, "Node 20 with npm is needed for the web client's tests"
    assert (WEB / "node_modules").is_dir(), "run `npm ci` in clients/web (make test does)"
    run = subprocess.run(
        [npx, "vitest", "run", "--reporter=dot"], cwd=WEB, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " passed" in run.stdout
