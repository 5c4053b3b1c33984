"""How hard Dagster's SQLite storages sync to disk (the local instance; PostgreSQL in production).

Dagster writes every event (step start, log line, materialization of each partition, check result) in
its own connection and transaction to a WAL-mode SQLite file; with SQLite's default synchronous=FULL
each commit and each close (a WAL checkpoint) waits for fsync: ~10 ms an event on this machine, a
quarter to half of a ten-file run's time (docs/performance.md). PIFU_DAGSTER_SQLITE_SYNC sets the
PRAGMA on every SQLite connection of the process: `off` (the default) never waits for the disk, which
survives a killed or crashed process (SQLite's journal keeps the file consistent) but may lose or
damage recent run history if the machine itself loses power; `normal` or `full` wait as SQLite does.
The lake and the warehouse are not SQLite and keep their own guarantees (fsync, one transaction).
"""
from __future__ import annotations

import os

_LEVELS = {"off": "OFF", "normal": "NORMAL", "full": "FULL"}
_installed = False


def install() -> None:
    """Set the PRAGMA on each new SQLite connection (DuckDB and PostgreSQL connections are untouched)."""
    global _installed
    level = _LEVELS.get(os.environ.get("PIFU_DAGSTER_SQLITE_SYNC", "off").strip().lower(), "OFF")
    if _installed or level == "FULL":
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def set_sync(dbapi_connection, _record) -> None:
        if type(dbapi_connection).__module__ == "sqlite3":
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA synchronous={level}")
            cursor.close()

    event.listen(Engine, "connect", set_sync)
    _installed = True
