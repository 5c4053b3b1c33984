"""Dagster's SQLite storages, each database file opened through one pooled engine instead of a new one per
statement.

Dagster's own SQLite storages build a SQLAlchemy engine, connect, and dispose of both for every event they
store (and every `has_table` they ask): ~200 times in a ten-file `pifu run`, a good part of its time
(docs/performance.md). These subclasses keep one engine per database file (a run's event shard, the
index shard, the run and schedule databases) with SQLAlchemy's default pool for SQLite files, and reuse
its connection. Everything else, schema and migrations included, is Dagster's. dagster.yaml names
`PooledSqliteStorage`; the files, and so the history the UI shows, are those of the default SQLite
storage under `$DAGSTER_HOME`, so a home that switches keeps its history.

Why this is safe: every statement still runs in its own transaction, committed before the connection goes
back to the pool, so no lock or snapshot outlives a statement and other processes (the UI, the daemon, a
second run) see each event as before. Engines of per-run shards are kept for the few most recent runs.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager

import dagster
from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine

_DAGSTER_DIR = os.path.dirname(dagster.__file__) + os.sep  # where Dagster's alembic.ini files are


def _share_alembic_scripts() -> None:
    """One alembic ScriptDirectory per migrations folder for the whole process. Each of Dagster's SQLite
    storages asks alembic for the head revision when it opens (runs, schedules, the event index shard)
    and when it creates a run's event shard (and stamps it): four times a `pifu run`, and each time
    alembic builds a new ScriptDirectory, executing every migration script to map the revisions (~45 ms
    of CPU; docs/performance.md). The scripts are part of the installed Dagster and do not change while
    the process runs, so the first directory's revision map serves the other three: a directory is
    shared by configs read from the same ini text with the same script_location."""
    from alembic.script import ScriptDirectory

    if getattr(ScriptDirectory.from_config, "_pifu_shared", False):
        return
    build = ScriptDirectory.from_config.__func__
    shared: dict[tuple, ScriptDirectory] = {}
    lock = threading.Lock()

    def from_config(cls, config, *args, **kwargs):
        ini = str(config.config_file_name or "")
        if args or kwargs or not ini.startswith(_DAGSTER_DIR):  # not Dagster's own: as alembic would
            return build(cls, config, *args, **kwargs)
        # Dagster's configs: one of its (identical) alembic.ini files, script_location set (get_alembic_config)
        with open(ini, "rb") as f:
            key = (cls, f.read(), config.get_alembic_option("script_location"))
        with lock:
            if key not in shared:
                shared[key] = build(cls, config)
            return shared[key]

    from_config._pifu_shared = True
    ScriptDirectory.from_config = classmethod(from_config)


_share_alembic_scripts()

SQLITE_BUSY_TIMEOUT = 120  # seconds a statement waits for another process's write lock, as Dagster's own
_RUN_SHARDS = 4  # per-run event databases whose engines stay open (most recent first)


class _Engines:
    """One engine per SQLite URL, the least recently used ones disposed beyond `keep`."""

    def __init__(self, keep: int):
        self._keep = keep
        self._engines: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str):
        with self._lock:
            engine = self._engines.pop(url, None)
            if engine is None:
                engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
            self._engines[url] = engine
            while len(self._engines) > self._keep:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            while self._engines:
                self._engines.popitem()[1].dispose()


@contextmanager
def _transaction(engine):
    with engine.connect() as conn:
        with conn.begin():
            yield conn


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines = _Engines(keep=_RUN_SHARDS + 1)  # + the index shard
        self._tables: set[str] = set()  # tables of the index shard seen to exist
        super().__init__(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str):
        # as SqliteEventLogStorage._connect, but the engine is kept
        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def has_table(self, table_name: str) -> bool:
        # asked before every dynamic-partition read; a table, once there, stays until wipe()
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def wipe(self) -> None:
        self._engines.dispose()  # before Dagster deletes the files under them
        self._tables.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class _PooledConnect:
    """`connect()` of Dagster's run and schedule storages (one database each), through a kept engine."""

    _pooled: _Engines | None = None

    @contextmanager
    def connect(self):
        if self._pooled is None:
            self._pooled = _Engines(keep=1)
        with _transaction(self._pooled.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        if self._pooled is not None:
            self._pooled.dispose()
        super().dispose()


class PooledSqliteRunStorage(_PooledConnect, SqliteRunStorage):
    pass


class PooledSqliteScheduleStorage(_PooledConnect, SqliteScheduleStorage):
    pass


class PooledSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage with the pooled storages above (dagster.yaml gives base_dir: $DAGSTER_HOME,
    where Dagster's default SQLite storage keeps the same files)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        os.makedirs(base_dir, exist_ok=True)
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(config_value["base_dir"], inst_data=inst_data)
