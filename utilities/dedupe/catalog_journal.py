"""The journal in the catalog (table dedupe_actions), and the catalog rows brought up to date after an apply
so that the next scan reads nothing again."""
from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from ..catalog import Catalog
from ..database import PATH_PREFIX_CHARS, DedupeAction, FileHash, batched, delete_paths, path_prefix
from ..paths import db_path, from_db_path
from ..records import Stat
from .journal import JournalEntry, Outcome


class CatalogJournal:
    """A journal.Journal over dedupe_actions. Entries wait in memory until flush(), which stores them in one
    transaction (apply flushes a batch's "started" entries before its changes, their outcomes after): two
    commits a batch rather than two an operation. On PostgreSQL these commits do not wait for the server's
    disk (synchronous_commit off): a kill -9 of dupFinder loses nothing committed; a crash of the server
    itself could lose the last few entries."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.run = secrets.token_hex(16)
        self._seq = 0
        self._new: dict[int, dict[str, Any]] = {}        # seq -> row not yet stored
        self._settled: dict[int, dict[str, Any]] = {}    # seq -> outcome of a stored row

    def record(self, entry: JournalEntry) -> int:
        self._seq += 1
        self._new[self._seq] = {
            "run": self.run, "seq": self._seq, "host": self._catalog.host, "at": entry.at or time.time(),
            "action": entry.action, "path": db_path(entry.path), "kept": db_path(entry.kept), "size": entry.size,
            "digest": entry.digest, "algorithm": entry.algorithm, "outcome": entry.outcome, "reason": entry.reason,
            "moved_to": db_path(entry.moved_to) if entry.moved_to else None, **_moved(entry.moved)}
        return self._seq

    def settle(self, entry_id: int, outcome: Outcome, reason: str = "", moved: Stat | None = None) -> None:
        change = {"outcome": outcome, "reason": reason, **(_moved(moved) if moved is not None else {})}
        if entry_id in self._new:
            self._new[entry_id].update(change)
        else:
            self._settled.setdefault(entry_id, {}).update(change)

    def flush(self) -> None:
        if not self._new and not self._settled:
            return
        new = [{**_EMPTY_MOVED, **row} for row in self._new.values()]
        settled = [{"b_run": self.run, "b_seq": seq, **_EMPTY_MOVED, **change} for seq, change in self._settled.items()]
        self._new, self._settled = {}, {}

        def store(conn: Connection) -> None:     # prebuilt Core statements: two small executemany calls
            if conn.dialect.name == "postgresql":
                conn.execute(_ASYNC_COMMIT)
            if new:
                conn.execute(_INSERT, new)
            if settled:
                conn.execute(_SETTLE, settled)
        self._catalog.core_transaction(store)

    def ids(self, seqs: Iterable[int]) -> dict[int, int]:
        """Returns these entry numbers of this run mapped to their journal ids (what --undo-move takes)."""
        with self._catalog.session() as s:
            rows = s.execute(select(DedupeAction.seq, DedupeAction.id)
                             .where(DedupeAction.run == self.run, DedupeAction.seq.in_(list(seqs))))
            return {seq: entry_id for seq, entry_id in rows}


_MOVED = ("moved_size", "moved_mtime_ns", "moved_ctime_ns", "moved_device", "moved_inode")
_EMPTY_MOVED: dict[str, Any] = dict.fromkeys(_MOVED)
_TABLE = cast(Table, DedupeAction.__table__)
_INSERT = insert(_TABLE)
_SETTLE = (update(_TABLE).where(_TABLE.c.run == bindparam("b_run"), _TABLE.c.seq == bindparam("b_seq"))
           .values(outcome=bindparam("outcome"), reason=bindparam("reason"),
                   **{c: func.coalesce(bindparam(c), _TABLE.c[c]) for c in _MOVED}))
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


def _moved(st: Stat | None) -> dict[str, int | None]:
    """The columns of a moved file's stat record (all NULL without one)."""
    return dict(zip(_MOVED, st if st is not None else (None,) * len(_MOVED), strict=True))


def moves_to_undo(catalog: Catalog, which: str) -> list[JournalEntry]:
    """Returns the journal's moves of this host that --undo-move ID|all names and that were not undone yet;
    an ID that is no such move gives an empty list."""
    query = select(DedupeAction).where(DedupeAction.host == catalog.host, DedupeAction.action == "move",
                                       DedupeAction.outcome.in_(("done", "started")),
                                       DedupeAction.undone_at.is_(None))
    if which != "all":
        query = query.where(DedupeAction.id == int(which))
    with catalog.session() as s:
        return [_entry(a) for a in s.scalars(query.order_by(DedupeAction.id))]


def _entry(a: DedupeAction) -> JournalEntry:
    moved = None
    if a.moved_inode is not None and a.moved_size is not None and a.moved_mtime_ns is not None \
            and a.moved_ctime_ns is not None and a.moved_device is not None:
        moved = Stat(a.moved_size, a.moved_mtime_ns, a.moved_ctime_ns, a.moved_device, a.moved_inode)
    outcome: Outcome = "done" if a.outcome == "done" else "started"
    return JournalEntry(a.action, from_db_path(a.path), from_db_path(a.kept), a.size, a.digest, a.algorithm, outcome,
                        a.reason, from_db_path(a.moved_to) if a.moved_to else None, moved, a.at, a.id)


def mark_undone(catalog: Catalog, ids: list[int]) -> None:
    """Records that the moves of these journal ids were put back."""
    if ids:
        now = time.time()
        catalog.transaction(lambda s: s.execute(update(DedupeAction).where(DedupeAction.id.in_(ids))
                                                .values(undone_at=now)))


def update_catalog(catalog: Catalog, stats: Mapping[str, Stat | None], batch: int = 1000) -> None:
    """Brings host's catalog rows of the paths an apply changed up to date: a path that names the same bytes
    under a new stat record (a link, a clone, a file that lost a name) keeps its hashes with the new record;
    a path gone (deleted, moved, now a symbolic link) loses its row."""
    host = catalog.host
    gone = sorted(p for p, st in stats.items() if st is None)
    changed = sorted((p, st) for p, st in stats.items() if st is not None)

    def store(s: Session) -> None:
        postgres = s.get_bind().dialect.name == "postgresql"
        delete_paths(s, gone, batch, host=host)
        if changed:
            table = cast(Table, FileHash.__table__)
            where = (table.c.host == host) & (table.c.absolute_path == bindparam("key"))
            if postgres:
                where &= path_prefix(table.c.absolute_path) == bindparam("prefix")
            stmt = update(table).where(where).values(
                file_size=bindparam("size"), mtime_ns=bindparam("mtime"), ctime_ns=bindparam("ctime"),
                device=bindparam("dev"), inode=bindparam("ino"), modified_time=bindparam("mtime_s"))
            for chunk in batched(changed, batch):
                rows = []
                for p, st in chunk:
                    key = db_path(p)
                    rows.append({"key": key, "prefix": key[:PATH_PREFIX_CHARS], "size": st.size,
                                 "mtime": st.mtime_ns, "ctime": st.ctime_ns, "dev": st.device, "ino": st.inode,
                                 "mtime_s": st.mtime_ns / 1e9})
                s.connection().execute(stmt, rows)
    catalog.transaction(store)
