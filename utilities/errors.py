"""Exit codes (cli-contract.md) and the failures that stop a run: each message is one line that names the
problem, and never a password."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143


class ConfigError(Exception):
    """A configuration the scan cannot run with: a config file, a root, an output path; the message
    names the file and the fix."""


class DatabaseError(Exception):
    """The database cannot be used; the message is one line with the masked URL and a hint."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (commit what is done, then stop) but with exit code 143."""


def describe_os_error(e: OSError) -> str:
    """Returns e as 'PermissionError: Permission denied' (without the path, which is said already)."""
    return f"{type(e).__name__}: {e.strerror or e}"
