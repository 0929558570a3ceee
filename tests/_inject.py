"""Changes made to a file at a chosen point of its hashing, to test what the scanner does when files change
under it.

The point is named by what hashing does to that path, not by counting system calls, so that a change of how
many opens or stats hashing makes cannot move the injection silently; and each test asserts both that its
injection fired and that the product reported the outcome the case is about.

The wrappers replace attributes of utilities.hashing (hash_one looks them up at call time). They are set
before a run starts, so the worker processes main_mul.py forks inherit them; "fired" is a marker file, so
that a worker's firing is seen by the test.
"""
from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import utilities.hashing as hashing

POINTS = (
    "before_partial_open",        # the partial (head and tail) hash is about to open the path
    "after_partial_open_check",   # its open checked that the file is the one the walk saw; nothing read yet
    "before_full_open",           # the full hash is about to open the path
    "after_full_open_check",      # the full hash's open checked the file; nothing read yet
    "after_first_full_read",      # the full hash read its first buffer of the file
)


class Injection:
    """Runs action() once, the first time the scanner's hashing of path reaches point (see POINTS)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path | str, point: str, action: Callable[[], None],
                 state_dir: Path | str) -> None:
        if point not in POINTS:
            raise ValueError(point)
        self.path, self.point, self.action = os.fspath(path), point, action
        self.state = Path(state_dir)
        self.state.mkdir(parents=True, exist_ok=True)
        # "partial" or "full" while this thread hashes self.path: the scanner reads several files at once in
        # threads (readers.py), and another thread's open or read must not fire the injection
        self._local = threading.local()
        real_partial, real_full = hashing.partial_digest, hashing.full_digest
        real_open_checked = hashing._open_checked

        def partial_digest(path: str, *args: Any, **kwargs: Any) -> Any:
            return self._in_stage("partial", path, real_partial, path, *args, **kwargs)

        def full_digest(path: str, *args: Any, **kwargs: Any) -> Any:
            return self._in_stage("full", path, real_full, path, *args, **kwargs)

        def open_checked(path: str, *args: Any, **kwargs: Any) -> int:
            fd = real_open_checked(path, *args, **kwargs)
            stage = self._stage
            if stage and self.point == f"after_{stage}_open_check":
                self._fire()
            return fd

        def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
            f = builtins.open(file, *args, **kwargs)  # noqa: SIM115 (the caller's with-block closes it)
            if self._stage == "full" and self.point == "after_first_full_read":
                return _FireAfterFirstRead(f, self._fire)
            return f

        monkeypatch.setattr(hashing, "partial_digest", partial_digest)
        monkeypatch.setattr(hashing, "full_digest", full_digest)
        monkeypatch.setattr(hashing, "_open_checked", open_checked)
        monkeypatch.setattr(hashing, "open", open_, raising=False)    # full_digest reads through open(fd)

    @property
    def fired(self) -> bool:
        """True once action() has run, in this process or a worker."""
        return (self.state / "fired").exists()

    def _in_stage(self, stage: str, path: str, real: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path) != self.path:
            return real(*args, **kwargs)
        if self.point == f"before_{stage}_open":
            self._fire()
        self._local.stage = stage
        try:
            return real(*args, **kwargs)
        finally:
            self._local.stage = None

    @property
    def _stage(self) -> str | None:
        return getattr(self._local, "stage", None)

    def _fire(self) -> None:
        try:      # once across processes: the first to create the claim runs the action
            os.close(os.open(self.state / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        self.action()
        os.close(os.open(self.state / "fired", os.O_CREAT | os.O_WRONLY))


class _FireAfterFirstRead:
    """A file object that runs fire() right after its first read returns."""

    def __init__(self, f: Any, fire: Callable[[], None]) -> None:
        self._f, self._fire, self._done = f, fire, False

    def _after_read(self) -> None:
        if not self._done:
            self._done = True
            self._fire()

    def readinto(self, b: Any) -> Any:
        n = self._f.readinto(b)
        self._after_read()
        return n

    def read(self, *a: Any) -> Any:
        data = self._f.read(*a)
        self._after_read()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _FireAfterFirstRead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()
