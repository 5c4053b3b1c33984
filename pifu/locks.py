"""One writer at a time per lake and per warehouse: advisory locks a run holds from before it plans
which files are new until after the warehouse commit and the lake publish.

    lake       flock on <lake>/.run.lock (an s3:// lake: <data dir>/locks/lake-<hash of the URL>.run.lock)
    DuckDB     flock on <file>.duckdb.run.lock, beside the database file
    PostgreSQL pg_advisory_lock on a session kept open for the run, keyed by database and search_path

The lock files hold who has them (pid, host, trigger, run id, since when), and the PostgreSQL session
says the same in its application_name, so a run that has to wait can name the holder. The kernel and
the server drop the locks when their process dies: a SIGKILLed run never leaves one behind.

Reentrant within a process: `pifu run` takes the locks, then the Dagster job it executes in process
takes them again through its `run_lock` resource (runs the daemon or the UI launch take them there
only). Always lake first, then warehouse, so two runs can never hold one each and wait on the other.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import threading
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from pifu.faults import LakeError, LockBusy, WarehouseError, os_fault

LAKE_LOCK = ".run.lock"
Notify = Callable[[str], None]


class _Held:
    def __init__(self, release: Callable[[], None], update: Callable[[dict], None]):
        self.release, self.update, self.count = release, update, 1


_held: dict[str, _Held] = {}
_guard = threading.Lock()


@contextmanager
def run_lock(lake_dir: str | os.PathLike, warehouse_url: str, wait: bool = True, holder: dict | None = None,
             notify: Notify | None = None) -> Iterator[None]:
    """Hold the lake's and the warehouse's run locks. Busy: wait (saying so through `notify`, once per
    lock), or with `wait=False` raise LockBusy naming the holder. `holder` (trigger, run_id) is what
    a waiting run is told about this one. Unreachable or unwritable: LakeError / WarehouseError."""
    info = _holder_info(holder)
    with ExitStack() as stack:
        stack.enter_context(lake_lock(lake_dir, wait, info, notify))
        stack.enter_context(warehouse_lock(warehouse_url, wait, info, notify))
        yield


@contextmanager
def lake_lock(lake_dir, wait: bool = True, info: dict | None = None, notify: Notify | None = None):
    from pifu import lake as lake_module

    path, remote = lake_lock_path(lake_dir), lake_module.is_remote(lake_dir)
    what = f"the lake {lake_module.root_of(lake_dir).uri if remote else path.parent}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        where = "lock directory" if remote else "lake directory"
        raise os_fault(LakeError, str(path.parent), e, f"cannot create the {where}") from None
    with _file_lock(path, what, LakeError, wait, info or _holder_info(None), notify):
        yield


def lake_lock_path(lake_dir) -> Path:
    """The lake's run lock file: <lake>/.run.lock, or for an object-store lake a file in the data dir
    keyed by its URL (an object store has no flock)."""
    from pifu import lake as lake_module

    if lake_module.is_remote(lake_dir):
        return lake_module.lock_path(lake_module.root_of(lake_dir).uri).with_suffix(LAKE_LOCK)
    return Path(lake_dir).resolve() / LAKE_LOCK


def wait_for_release(path: str | os.PathLike) -> None:
    """Block until no run holds the lock file `path` (returns at once if none does). Work that must not
    compete with a run for the CPU waits here: a shared flock is granted only once the run's exclusive
    one is gone, and is dropped at once, so it never holds up the next run."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no lock file: no run has ever held it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


@contextmanager
def warehouse_lock(url: str, wait: bool = True, info: dict | None = None, notify: Notify | None = None):
    import sqlalchemy as sa

    info = info or _holder_info(None)
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        if not parsed.database or parsed.database == ":memory:":
            yield  # a private in-memory database has no other writer
            return
        db = Path(parsed.database).resolve()
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise os_fault(WarehouseError, str(db), e, "cannot create the warehouse's directory") from None
        with _file_lock(db.with_name(db.name + LAKE_LOCK), f"the warehouse {db}", WarehouseError, wait, info, notify):
            yield
    elif backend == "postgresql":
        with _pg_lock(parsed, wait, info, notify):
            yield
    else:
        yield  # no lock known for this engine: its own transaction isolation is all there is


def describe(info: dict | None) -> str:
    """`pid 123 on host h (cli run 1a2b…, since 2026-01-01T06:00:00Z)`, or what is known of it."""
    if not info or "pid" not in info:
        return "another pifu run (it has not recorded itself yet)"
    what = f"{info.get('trigger') or 'pifu'} run {info.get('run_id') or ''}".strip()
    return f"pid {info['pid']} on host {info.get('host', '?')} ({what}, since {info.get('since', '?')})"


def _holder_info(holder: dict | None) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **(holder or {})}


@contextmanager
def _reentrant(key: str, acquire: Callable[[], tuple[Callable[[], None], Callable[[dict], None]]], info: dict):
    """Acquire once per process; nested holders only count, and tell the holder record what they know."""
    with _guard:
        held = _held.get(key)
        if held:
            held.count += 1
    if held:
        held.update({k: info[k] for k in ("trigger", "run_id") if info.get(k)})
    else:
        release, update = acquire()
        held = _held[key] = _Held(release, update)
    try:
        yield
    finally:
        with _guard:
            held.count -= 1
            last = held.count == 0
            if last:
                del _held[key]
        if last:
            held.release()


@contextmanager
def _file_lock(path: Path, what: str, error: type, wait: bool, info: dict, notify: Notify | None):
    def acquire():
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise os_fault(error, str(path.parent), e, f"cannot create the lock file {path.name}") from None
        try:
            _flock(fd, what, wait, notify)
            update(fd, info)
        except BaseException:
            os.close(fd)
            raise
        return lambda: _unlock(fd), lambda new: update(fd, {**_read(fd), **new})

    def update(fd: int, record: dict) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:
            pass  # the record only names the holder to others; the lock itself is held

    with _reentrant(f"file:{path}", acquire, info):
        yield


def _flock(fd: int, what: str, wait: bool, notify: Notify | None) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder = describe(_read(fd))
    if not wait:
        raise LockBusy(what, f"in use by {holder}; run again when it has finished, or without --no-wait to wait")
    if notify:
        notify(f"waiting for {what}: in use by {holder}")
    fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass
    os.close(fd)  # closing the last descriptor releases the flock


def _read(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


# --- PostgreSQL ---------------------------------------------------------------------------------

_PG_HOLDER = """
    SELECT a.application_name, a.pid, a.client_addr, a.backend_start
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = %(hi)s::bigint::oid AND l.objid = %(lo)s::bigint::oid
    LIMIT 1"""


@contextmanager
def _pg_lock(url, wait: bool, info: dict, notify: Notify | None):
    """The lock lives in a session of its own (autocommit, so it never sits idle in a transaction):
    the load's own connections come and go, and the lock is released when this one closes or dies."""
    conn = _pg_connect(url)
    try:
        database, search_path = conn.execute("SELECT current_database(), current_setting('search_path')").fetchone()
        key = _pg_key(database, search_path)
        where = f"the warehouse {url.host or 'localhost'}:{url.port or 5432}/{database} (search_path {search_path})"

        def acquire():
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                holder = _pg_holder(conn, key)
                if not wait:
                    raise LockBusy(where, f"in use by {holder}; run again when it has finished, or without "
                                          "--no-wait to wait")
                if notify:
                    notify(f"waiting for {where}: in use by {holder}")
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            name(info)
            return lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (key,)), name

        def name(record: dict) -> None:
            info.update(record)
            conn.execute("SELECT set_config('application_name', %s, false)", (_app_name(info),))

        with _reentrant(f"pg:{url.host}:{url.port}:{database}:{search_path}", acquire, info):
            yield
    finally:
        conn.close()


def _pg_connect(url):
    import psycopg

    params = {"host": url.host, "port": url.port, "dbname": url.database, "user": url.username,
              "password": url.password, **{k: v for k, v in url.query.items() if isinstance(v, str)}}
    try:
        conn = psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True,
                               connect_timeout=int(os.environ.get("PIFU_WAREHOUSE_CONNECT_TIMEOUT", "10")))
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0].strip()
        raise WarehouseError(url.render_as_string(hide_password=True),
                             f"cannot connect: {first}; check that PostgreSQL runs there and that the URL "
                             "(--warehouse / PIFU_WAREHOUSE_URL) is right") from None
    # A wait for the lock may be long: no server-side timeout may cut it (or the idle lock session) short.
    for setting in ("statement_timeout", "lock_timeout", "idle_session_timeout",
                    "idle_in_transaction_session_timeout"):
        try:
            conn.execute(f"SET {setting} = 0")
        except psycopg.Error:
            pass  # an older server without the setting
    return conn


def _pg_key(database: str, search_path: str) -> int:
    digest = hashlib.sha256(f"pifu-run-lock\0{database}\0{search_path}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pg_holder(conn, key: int) -> str:
    row = conn.execute(_PG_HOLDER, {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).fetchone()
    if row is None:
        return "another session (it has just released it)"
    app, pid, addr, since = row
    return (f"{app or 'a session'} (server pid {pid}{f' from {addr}' if addr else ''}, "
            f"since {since:%Y-%m-%dT%H:%M:%S%z})")


def _app_name(record: dict) -> str:
    # application_name is cut at 63 bytes: the pid and host first, they say where to look.
    text = f"pifu pid {record.get('pid')}@{record.get('host')} {record.get('trigger') or ''} {record.get('run_id') or ''}"
    return text.strip().encode()[:63].decode(errors="ignore")
