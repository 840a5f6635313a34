"""Where the CLI keeps its profiles and tokens.

* ``config.toml`` in the config folder: profiles, each a ``server`` URL (the edge), written by
  ``meetmesh login --server URL`` and editable by hand::

      [profiles.default]
      server = "http://127.0.0.1:8800"

* ``credentials/<profile>.json``: the profile's session tokens, owner-only (0600, in a 0700
  folder), rewritten on every refresh and removed by ``meetmesh logout``.

The config folder is ``$MEETMESH_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/meetmesh``, else
``~/.config/meetmesh`` (``%APPDATA%\\meetmesh`` on Windows). The profile is ``--profile``, else
``$MEETMESH_PROFILE``, else ``default``; the server is ``--server``, else ``$MEETMESH_SERVER``,
else the profile's, else ``http://127.0.0.1:8800``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent refreshes are not guarded there
    fcntl = None  # type: ignore[assignment]

DEFAULT_SERVER = "http://127.0.0.1:8800"
DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(Exception):
    """The configuration cannot be read or a setting is not valid."""


def config_dir() -> Path:
    explicit = os.environ.get("MEETMESH_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "meetmesh"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "meetmesh"


def check_server(url: str) -> str:
    """An edge URL: ``http://`` or ``https://`` with a host."""
    if not re.match(r"^https?://[^/\s]+(/.*)?$", url):
        raise ConfigError(f"--server wants the edge's URL, such as {DEFAULT_SERVER} (got {url!r})")
    return url.rstrip("/")


@dataclass
class Credentials:
    """A session's tokens as saved: expiry times are Unix seconds."""

    access_token: str
    access_expires: float
    refresh_token: str
    refresh_expires: float
    user: str
    email: str
    server: str

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Config:
    """The config folder of one user: profiles and their saved credentials."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or config_dir()

    @property
    def file(self) -> Path:
        return self.folder / "config.toml"

    def profiles(self) -> dict[str, dict[str, Any]]:
        if not self.file.exists():
            return {}
        try:
            data = tomllib.loads(self.file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {self.file}: {exc}") from exc
        profiles = data.get("profiles", {})
        if not isinstance(profiles, dict):
            raise ConfigError(f"{self.file}: [profiles] must be a table")
        return profiles

    def server(self, profile: str, override: str | None) -> str:
        if override:
            return check_server(override)
        env = os.environ.get("MEETMESH_SERVER")
        if env:
            return check_server(env)
        saved = self.profiles().get(profile, {}).get("server")
        return check_server(str(saved)) if saved else DEFAULT_SERVER

    def save_server(self, profile: str, server: str) -> None:
        profiles = self.profiles()
        if profiles.get(profile, {}).get("server") == server:
            return
        profiles.setdefault(profile, {})["server"] = server
        lines = ["# meetmesh CLI profiles (docs/cli.md)"]
        for name, settings in sorted(profiles.items()):
            lines.append(f"\n[profiles.{json.dumps(name)}]")
            for key, value in settings.items():
                lines.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML basic string
        self._private_folder()
        self.file.write_text("\n".join(lines) + "\n")

    def _credentials_file(self, profile: str) -> Path:
        if not _PROFILE_NAME.match(profile):
            raise ConfigError(f"a profile name is letters, digits, '.', '_' or '-' (got {profile!r})")
        return self.folder / "credentials" / f"{profile}.json"

    def load_credentials(self, profile: str) -> Credentials | None:
        path = self._credentials_file(profile)
        if not path.exists():
            return None
        try:
            return Credentials(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read {path} ({exc}): run `meetmesh login` again") from exc

    def save_credentials(self, profile: str, credentials: Credentials) -> Path:
        path = self._credentials_file(profile)
        self._private_folder()
        path.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(credentials.to_json(), out)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
        return path

    @contextlib.contextmanager
    def refresh_lock(self, profile: str) -> Iterator[None]:
        """Held while a process refreshes a profile's tokens: refresh tokens are single use, and
        a second process presenting the one just spent would revoke the whole session."""
        path = self._credentials_file(profile).with_suffix(".lock")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def forget_credentials(self, profile: str) -> bool:
        path = self._credentials_file(profile)
        if path.exists():
            path.unlink()
            return True
        return False

    def _private_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
