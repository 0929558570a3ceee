"""Configuration: config.json, --db-url and the environment, turned into one SQLAlchemy URL."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigError
from .hosts import check_host
from .locations import URL_ENV, Locations, checkout

PASSWORD_ENVS = ("DUPFINDER_DB_PASSWORD", "PGPASSWORD")

# Every field a "database" section may hold, with its type, per backend.
_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "sqlite": {"type": str, "path": str},
    "postgresql": {"type": str, "host": str, "port": int, "user": str, "password": str, "database": str},
}
_REQUIRED = {"sqlite": ("path",), "postgresql": ("host", "database")}
_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg2"}


@dataclass(frozen=True)
class DatabaseSettings:
    url: URL          # full URL, password included: hand it to create_engine, never print it
    source: str       # where it came from: "--db-url", "$DUPFINDER_DB_URL" or the config file's path
    named_by_user: bool = True   # --db-url or the environment: an SQLite file's folder must exist

    @property
    def masked(self) -> str:
        """The URL with its password replaced by ***, safe for messages, logs and reports."""
        return mask_url(self.url)


def mask_url(url: URL | str) -> str:
    """Returns the URL as text with any password hidden."""
    try:
        url = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparsable database URL>"
    return url.render_as_string(hide_password=True)


def find_config(explicit: str | None, where: Locations) -> Path | None:
    """Returns the config file to use: --config, else the first of where.config_files that exists;
    None when there is none and the installed commands' built-in default applies."""
    if explicit:
        return Path(explicit)
    found = next((p for p in where.config_files if p.exists()), None)
    if found is None and not where.installed:
        return where.config_files[-1]     # the checkout's own config.json: missing is an error
    return found


def load_config(path: Path) -> dict[str, Any]:
    """Returns the parsed and validated config file; raises ConfigError naming the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (pass --config FILE or --db-url URL)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be an object with a \"database\" key")
    unknown = set(data) - {"database", "host"}
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r} (allowed: \"database\", \"host\")")
    if "database" not in data:
        raise ConfigError(f"{path}: missing the \"database\" section")
    _check_database_section(path, data["database"])
    if "host" in data:
        _check_host(path, data["host"])
    return data


def _check_host(path: Path, host: Any) -> None:
    if not isinstance(host, str):
        raise ConfigError(f"{path}: \"host\" must be a string, not {type(host).__name__} {host!r}")
    try:
        check_host(host)
    except ValueError as e:
        raise ConfigError(f"{path}: \"host\": {e}") from None


def _check_database_section(path: Path, db: Any) -> None:
    if not isinstance(db, dict):
        raise ConfigError(f"{path}: \"database\" must be an object")
    kind = db.get("type")
    if kind not in _FIELDS:
        raise ConfigError(f"{path}: database.type must be \"sqlite\" or \"postgresql\", not {kind!r}")
    fields = _FIELDS[kind]
    for key, value in db.items():
        if key not in fields:
            raise ConfigError(f"{path}: unknown key database.{key} for type {kind!r} "
                              f"(allowed: {', '.join(sorted(fields))})")
        want = fields[key]
        # bool is an int in Python; a port of `true` is still a mistake.
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(f"{path}: database.{key} must be {_type_name(want)}, "
                              f"not {type(value).__name__} {value!r}")
    for key in _REQUIRED[kind]:
        if not db.get(key):
            raise ConfigError(f"{path}: database.{key} is required for type {kind!r}")
    if kind == "postgresql" and "port" in db and not 0 < db["port"] < 65536:
        raise ConfigError(f"{path}: database.port must be between 1 and 65535, not {db['port']}")


def _type_name(t: type | tuple[type, ...]) -> str:
    return {str: "a string", int: "an integer"}.get(t, str(t)) if isinstance(t, type) else str(t)


def url_from_section(path: Path, db: dict[str, Any]) -> URL:
    """Returns the SQLAlchemy URL a validated "database" section describes."""
    if db["type"] == "sqlite":
        db_path = Path(db["path"]).expanduser()
        if not db_path.is_absolute():  # relative to the config file, not to wherever the user stands
            db_path = path.resolve().parent / db_path
        return URL.create("sqlite", database=str(db_path))
    password = db.get("password") or _password_from_environment()
    # URL.create quotes '@', ':' and '/' in the password, which string formatting would not.
    return URL.create(_DRIVERS["postgresql"], username=db.get("user") or None, password=password,
                      host=db["host"], port=db.get("port", 5432), database=db["database"])


def _password_from_environment() -> str | None:
    """The first of $DUPFINDER_DB_PASSWORD, $PGPASSWORD that is set and not empty."""
    return next((os.environ[e] for e in PASSWORD_ENVS if os.environ.get(e)), None)


def parse_db_url(text: str, source: str) -> URL:
    """Returns a URL for a supported backend, with the psycopg2 driver made explicit."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(f"{source}: not a database URL: {mask_url(text)!s} "
                          "(expected sqlite:///FILE or postgresql://USER@HOST/DB)") from None
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigError(f"{source}: unsupported database {backend!r} in {mask_url(url)} "
                          "(dupFinder supports sqlite and postgresql)")
    if backend == "postgresql":
        if url.get_driver_name() not in ("psycopg2", ""):
            raise ConfigError(f"{source}: driver {url.get_driver_name()!r} is not installed; use postgresql:// "
                              "(psycopg2)")
        url = url.set(drivername=_DRIVERS["postgresql"])
        if url.password is None and (env_pw := _password_from_environment()):
            url = url.set(password=env_pw)
    elif backend == "sqlite" and not url.database:
        raise ConfigError(f"{source}: an in-memory SQLite database would lose the catalog; "
                          "give a file, e.g. sqlite:///outputs/file_hashes.db")
    return url


def configured_host(config_path: str | None, where: Locations | None = None) -> str | None:
    """Returns "host" of the config file dupFinder reads (--config, else the usual places), None when
    there is no such file or it names no host. The file is read even when --db-url names the database:
    the host is who this machine is in the catalog, so a broken file is an error here."""
    path = find_config(config_path, where or checkout())
    if path is None or (config_path is None and not path.exists()):
        return None
    host = load_config(path).get("host")
    return host if isinstance(host, str) else None


def resolve_database(db_url: str | None, config_path: str | None,
                     where: Locations | None = None) -> DatabaseSettings:
    """Returns the database to use: --db-url, then $DUPFINDER_DB_URL, then the config file, then (installed
    commands only) an SQLite catalog in the user's data folder. where: locations.checkout() by default."""
    where = where or checkout()
    if db_url:
        return DatabaseSettings(parse_db_url(db_url, "--db-url"), "--db-url")
    env_url = os.environ.get(URL_ENV)
    if env_url:
        return DatabaseSettings(parse_db_url(env_url, f"${URL_ENV}"), f"${URL_ENV}")
    path = find_config(config_path, where)
    if path is None:
        return DatabaseSettings(URL.create("sqlite", database=str(where.default_catalog)), "default", False)
    data = load_config(path)
    return DatabaseSettings(url_from_section(path, data["database"]), str(path), False)
