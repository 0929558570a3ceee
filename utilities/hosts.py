"""Hosts: which machine a scan's catalog rows belong to (--host, config.json's "host", else the machine's
host name), and the `host:/abs/path` notation for the files of other hosts (cli-contract.md)."""
from __future__ import annotations

import unicodedata

MAX_HOST_CHARS = 255       # the catalog's host columns are VARCHAR(255)


def check_host(name: str) -> str:
    """Returns name if it can name a host in the catalog; raises ValueError saying why not.

    A host name is what `host:/abs/path` puts before the colon, so it holds no colon; nor control
    characters, bytes that are not UTF-8, or spaces at either end (they would be invisible in reports).
    """
    if not name.strip():
        raise ValueError("a host name cannot be empty")
    if len(name) > MAX_HOST_CHARS:
        raise ValueError(f"a host name has at most {MAX_HOST_CHARS} characters, not {len(name)}")
    if ":" in name:
        raise ValueError(f"a host name cannot contain ':' (host:/path names another host's file): {name!r}")
    if name != name.strip():
        raise ValueError(f"a host name cannot begin or end with a space: {name!r}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise ValueError(f"a host name cannot contain control characters or bytes that are not UTF-8: {name!r}")
    return name


def machine_host() -> str:
    """Returns this machine's host name, the default host; raises ValueError if it cannot name a host."""
    import socket  # only here: the parser imports this module, and --version or --help need no socket
    try:
        return check_host(socket.gethostname())
    except ValueError as e:
        raise ValueError(f"this machine's host name cannot be used ({e}); pass --host NAME") from None


def qualified_path(host: str, path: str, this_host: str | None = None) -> str:
    """Returns a path of host as the exports write it: host:/abs/path, or the plain path for this_host's."""
    return path if host == this_host else f"{host}:{path}"


def split_qualified(text: str) -> tuple[str | None, str]:
    """Returns (host, path) of `host:/abs/path`, or (None, text) for a plain path of this host."""
    host, colon, path = text.partition(":")
    if colon and host and path.startswith("/") and not host.startswith("/"):
        return host, path
    return None, text
