"""Normalized Arrow tables -> the warehouse, in one transaction, through the bulk path of each engine.

DuckDB: each statement reads the Arrow table by a Python variable's name (DuckDB's replacement scan), for
that statement alone, on the raw connection under SQLAlchemy's transaction (INSERT … SELECT). Not
`register`: a view unregistered inside a transaction stays in the catalog, holding its Arrow table,
until the commit, so a long run's load kept every chunk it had read (4 GB at 100,000 documents).
PostgreSQL: rows are streamed as CSV written by Arrow's C++ writer (decimals digit for digit) through
COPY.

Idempotent: a document whose document_id is stored is skipped with all its rows, so loading the same
file twice changes nothing. Dimensions are upserted (the newest spelling wins), quarantine is keyed
by sha256. Keyed tables go through a staging relation and INSERT … ON CONFLICT; fact rows are
filtered to the documents this transaction inserted and appended directly (on PostgreSQL the
transaction holds a lock that keeps any other loader out, so no one else can insert them). On PostgreSQL
a fact table's keys and indexes are dropped and rebuilt inside the transaction when the load is big
against the table (`_defer_keys`). On DuckDB the fact tables keyed by document have no key in the database
(warehouse.schema.DOCUMENT_FACTS): the rows a chunk appends are checked for a repeated key instead
(`_refuse_duplicates`), the same error either way.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import sqlalchemy as sa

from pifu.faults import WarehouseError, pause_at
from pifu.schema import SCHEMAS
from warehouse.engine import connection_for, engine_for, first_line, is_duckdb
from warehouse.schema import DOCUMENT_FACTS, PRIMARY_KEYS, TABLES, create_all, key_of, lake_publish

FACTS = ("fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem", "dq_result", "fact_duty_target")
DIMENSIONS = ("dim_department", "dim_indicator")
_CSV_ROWS = 100_000
# PostgreSQL: a fact table's keys are dropped and rebuilt around the load when the transaction's first
# chunk holds at least this share of the rows the table held (see _defer_keys); the builds get this memory.
REBUILD_SHARE = 1.0
REBUILD_MEMORY_MB = 256
# How long the drop waits for readers (a BI tool's open transaction) before the load keeps the keys instead.
REBUILD_LOCK_WAIT_MS = 2000
# DuckDB's memory during a load (see _limit_memory): PIFU_DUCKDB_MEMORY_MB.
DUCKDB_MEMORY_MB = int(os.environ.get("PIFU_DUCKDB_MEMORY_MB", "768"))
_CSV = pcsv.WriteOptions(include_header=False)
# Versions of one department and fiscal year, newest first: the order `pifu.normalize.mark_current` uses
# (the later run, then the later file modification time, unknown last, then path, then document_id).
NEWEST_FIRST = "loaded_at DESC, source_mtime DESC NULLS LAST, source_path DESC, document_id DESC"


def load(engine_or_url, tables, run_id: str | None = None,
         lake_snapshot: str | None = None) -> dict:
    """Load `tables` (any subset of SCHEMAS' warehouse tables) and return what changed:
    {"run_id", "documents_loaded", "documents_skipped", then rows inserted per fact table and quarantine}.
    `tables` may also be an iterable of such dicts (a long run's chunks, e.g. pifu.staging.chunks): all
    are loaded in the one transaction, one chunk in memory at a time.
    `lake_snapshot`: the unpublished lake snapshot holding the same rows, recorded in the same
    transaction so that the commit decides for both (see `committed_snapshot`).
    """
    chunks = [tables] if isinstance(tables, dict) else tables
    with engine_for(engine_or_url) as engine:
        try:
            create_all(engine)
            if is_duckdb(engine):
                _limit_memory(engine)
            with _one_thread(engine), engine.begin() as conn:
                result = None
                deferred, touched = _no_deferral(), []
                for chunk in chunks:
                    part = _load(conn, is_duckdb(engine), _conform(chunk), deferred, touched)
                    result = part if result is None else {k: result[k] + part[k] for k in part}
                if result is None:
                    result = _load(conn, is_duckdb(engine), _conform({}), deferred, touched)
                _mark_touched(conn, is_duckdb(engine), touched)
                _rebuild_keys(conn, deferred)
                if lake_snapshot:
                    _record_snapshot(conn, lake_snapshot, run_id)
                pause_at("load")
        except sa.exc.OperationalError as e:  # connection lost, file locked, disk full: rolled back
            raise WarehouseError(engine.url.render_as_string(hide_password=True),
                                 f"the load was rolled back: {first_line(e)}; run again once it is fixed") from e
    return {"run_id": run_id, **result}


def _limit_memory(engine: sa.Engine) -> None:
    """DuckDB's buffer pool would otherwise keep every block the load's transaction writes, up to 80 % of
    the machine's memory (2.5 GB more at 100,000 documents); under the limit it writes them out and
    drops them. The limit must still hold what cannot be dropped before the commit, the keys' new index
    entries: 768 MB loads 100,000 documents, 512 MB did not while every fact table had a key there
    (docs/scaling.md; fewer entries since DOCUMENT_FACTS, the limit kept). A setting of the database,
    which all of the engine's connections share."""
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET memory_limit = '{DUCKDB_MEMORY_MB}MB'")


@contextmanager
def _one_thread(engine: sa.Engine) -> Iterator[None]:
    """DuckDB loads (and commits) on one thread, its default again after. Its parallel insert from Arrow
    cost more than it gained on this 2-core machine, busy or quiet: a 10,000-document load's
    fact_indicator_value INSERTs 0.97-1.33 s on two threads, 0.76-0.83 s on one; the load 2.25 -> 2.04 s
    (medians; the commit takes ~0.1 s more). A setting of the database, as `_limit_memory`'s is."""
    if not is_duckdb(engine):
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("SET threads = 1")
    try:
        yield
    finally:
        with suppress(sa.exc.SQLAlchemyError):  # a setting, never the load's outcome or its error
            _reset_threads(engine)


def _reset_threads(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("RESET threads")


def _conform(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"not warehouse tables: {sorted(unknown)}")
    return {
        name: tables[name].select(SCHEMAS[name].names).cast(SCHEMAS[name])
        if name in tables else SCHEMAS[name].empty_table()
        for name in TABLES
    }


def _load(conn: sa.Connection, duck: bool, tables: dict[str, pa.Table], deferred: dict, touched: list) -> dict:
    """One chunk; `touched` gets its documents when it inserted any (`_mark_touched`)."""
    raw = conn.connection.dbapi_connection
    if not duck:
        # Serializes loaders (readers are not blocked, unless `_defer_keys` drops a table's keys): the set
        # of new documents and the is_current decision are then made on a table no one else is changing.
        conn.exec_driver_sql("LOCK TABLE fact_document IN SHARE ROW EXCLUSIVE MODE")
    for name in DIMENSIONS:
        _upsert(conn, raw, duck, name, tables[name])
    # Inserted as not current: _mark_touched then sets is_current and current_key together, in an
    # order the unique key on current_key accepts.
    documents = _not_current(tables["fact_document"])
    new_docs = _insert_new(conn, raw, duck, "fact_document", documents)
    new_ids = pa.array(new_docs, pa.string())
    rows = {"fact_document": len(new_docs)}
    for name in FACTS:
        mine = _rows_of(tables[name], new_ids, batch_level=name == "dq_result")
        if not duck:
            _defer_keys(conn, name, mine.num_rows, deferred)
        elif name in DOCUMENT_FACTS:
            _refuse_duplicates(conn, raw, name, mine)
        _append(conn, raw, duck, name, mine)
        rows[name] = mine.num_rows
    rows["quarantine"] = len(_insert_new(conn, raw, duck, "quarantine", tables["quarantine"]))
    if new_docs:
        touched.append(documents)
    if not duck:  # the next chunk of the same transaction stages under the same names
        for name in (*DIMENSIONS, "fact_document", "quarantine"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_stage_name(name)}")
    offered = len(set(tables["fact_document"]["document_id"].to_pylist()))
    return {"documents_loaded": len(new_docs), "documents_skipped": offered - len(new_docs), **rows}


def _rows_of(table: pa.Table, document_ids: pa.Array, batch_level: bool = False) -> pa.Table:
    """Rows of the given documents; with `batch_level`, also rows of no document when there are any."""
    if len(document_ids) == 0 or table.num_rows == 0:
        return table.slice(0, 0)
    mine = pc.is_in(table["document_id"], value_set=document_ids)
    if batch_level:
        mine = pc.or_kleene(mine, pc.is_null(table["document_id"]))
    mine = pc.fill_null(mine, False)
    # A filter copies the table: the usual batch is all new documents.
    return table if pc.all(mine).as_py() else table.filter(mine)


def _stage_name(table: str) -> str:
    return f"_stage_{table}"


def _columns(table: pa.Table) -> str:
    return ", ".join(f'"{c}"' for c in table.column_names)


def _upsert(conn, raw, duck: bool, name: str, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    (key,) = PRIMARY_KEYS[name]
    others = [c for c in table.column_names if c != key]
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in others)
    changed = " OR ".join(f'{name}."{c}" IS DISTINCT FROM EXCLUDED."{c}"' for c in others)
    _stage(conn, raw, duck, name, table)
    _from_stage(conn, raw, duck, name, table,
                f"INSERT INTO {name} ({_columns(table)}) "
                f"SELECT DISTINCT ON ({key}) {_columns(table)} FROM {_stage_name(name)} ORDER BY {key} "
                f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {changed}")


def _insert_new(conn, raw, duck: bool, name: str, table: pa.Table) -> list[str]:
    """Insert the rows whose key is not stored yet; returns their keys."""
    if table.num_rows == 0:
        return []
    (key,) = PRIMARY_KEYS[name]
    _stage(conn, raw, duck, name, table)
    rows = _from_stage(conn, raw, duck, name, table,
                       f"INSERT INTO {name} ({_columns(table)}) "
                       f"SELECT DISTINCT ON ({key}) {_columns(table)} FROM {_stage_name(name)} ORDER BY {key} "
                       f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}")
    return [r[0] for r in rows]


def _append(conn, raw, duck: bool, name: str, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    if not duck:
        _copy(raw, name, table)
        return
    _from_stage(conn, raw, duck, name, table,
                f"INSERT INTO {name} ({_columns(table)}) SELECT {_columns(table)} FROM {_stage_name(name)}")


def _refuse_duplicates(conn: sa.Connection, raw, name: str, table: pa.Table) -> None:
    """DuckDB: fail the load, as the key would, when `table` (the rows appended to `name`) repeats a key. The
    table has no key there (warehouse.schema.DOCUMENT_FACTS): every row appended is of a document this
    transaction inserted, so only these rows can collide. DuckDB's hash aggregate over the Arrow table costs
    about a quarter of what maintaining the key's index did (~0.2 of ~0.8 s at 10,000 documents)."""
    if table.num_rows == 0:
        return
    key = ", ".join(f'"{c}"' for c in key_of(name))
    repeated = _from_stage(conn, raw, True, name, table,
                           f"SELECT {key}, COUNT(*) FROM {_stage_name(name)} GROUP BY ALL HAVING COUNT(*) > 1 LIMIT 1")
    if repeated:
        *values, count = repeated[0]
        error = duckdb.ConstraintException(f"duplicate key value: {count} rows of {name} have the key "
                                           f"({key}) = {tuple(values)}")
        raise sa.exc.IntegrityError(f"INSERT INTO {name}", None, error)


def _stage(conn: sa.Connection, raw, duck: bool, name: str, table: pa.Table) -> None:
    """PostgreSQL: `table` copied into the temporary _stage_<name> (dropped at the chunk's end). DuckDB
    needs no copy: `_from_stage` reads the Arrow table itself."""
    if not duck:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {_stage_name(name)} (LIKE {name}) ON COMMIT DROP")
        _copy(raw, _stage_name(name), table)


def _from_stage(conn: sa.Connection, raw, duck: bool, name: str, table: pa.Table, sql: str) -> list:
    """Run `sql`, which reads _stage_<name>; returns its rows. On DuckDB that name is `table` itself, found
    by DuckDB's scan of the calling frame's variables for this one statement: not registered (see the
    module's docstring), and not a relation's `query`, which reports any error (a duplicate key) as
    "transaction is aborted"."""
    if not duck:
        result = conn.exec_driver_sql(sql)
        return result.fetchall() if result.returns_rows else []
    pifu_arrow_stage = table  # noqa: F841 (read by name by the statement below)
    sql = sql.replace(_stage_name(name), "pifu_arrow_stage")
    try:
        return raw.execute(sql).fetchall()  # the connection's own method: this frame is the calling one
    except duckdb.ConstraintException as e:  # what SQLAlchemy raises for it on any other path
        raise sa.exc.IntegrityError(sql, None, e) from e


def _copy(raw, target: str, table: pa.Table) -> None:
    """COPY as CSV: NULL is an unquoted empty field, an empty string a quoted one (Arrow writes both so)."""
    with raw.cursor() as cur, cur.copy(f"COPY {target} ({_columns(table)}) FROM STDIN (FORMAT csv)") as copy:
        for batch in table.to_batches(max_chunksize=_CSV_ROWS):
            buf = io.BytesIO()
            pcsv.write_csv(pa.Table.from_batches([batch]), buf, _CSV)
            copy.write(buf.getbuffer())


def _no_deferral() -> dict:
    """What `_defer_keys` keeps across a transaction's chunks: the tables it has decided on, and the
    statements that rebuild what it dropped."""
    return {"decided": set(), "rebuild": {}}


def _defer_keys(conn: sa.Connection, name: str, rows: int, deferred: dict) -> None:
    """PostgreSQL: drop `name`'s keys and indexes before its first chunk of this transaction when that chunk
    alone holds at least REBUILD_SHARE of the rows the table held (a first load, a big one); `_rebuild_keys`
    builds them again before the commit. Decided on the first chunk: a drop later would rebuild the whole
    table to save only the chunks left. Maintaining the btrees row by row was most of a load's server time;
    a build costs about as much CPU but shares it with a parallel worker, on the machine's other core.
    DDL is transactional: a rollback restores the keys, and a duplicate still fails the load (at the
    rebuild, as the same IntegrityError). The drop locks the table against readers until the commit;
    readers already holding it keep the keys in place (`_locked_briefly`)."""
    if rows == 0 or name in deferred["decided"]:
        return
    deferred["decided"].add(name)
    if rows >= REBUILD_SHARE * _rows_held(conn, name, rows / REBUILD_SHARE) and _locked_briefly(conn, name):
        deferred["rebuild"][name] = [*_drop_constraints(conn, name), *_drop_indexes(conn, name)]


def _locked_briefly(conn: sa.Connection, name: str) -> bool:
    """The table locked for the drop, or False when readers hold it past REBUILD_LOCK_WAIT_MS: a BI tool's
    long transaction must not stall the run, nor the readers that would queue behind the waiting drop; the
    load then keeps the keys and inserts row by row. Tried in a savepoint, so a timeout leaves the transaction
    usable."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {REBUILD_LOCK_WAIT_MS}")
            conn.exec_driver_sql(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
            conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
    except sa.exc.OperationalError as e:
        if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        return False
    return True


def _rows_held(conn: sa.Connection, name: str, enough: float) -> float:
    """The table's rows as the planner estimates them: its density when last counted (by VACUUM, ANALYZE
    or an index build) times its size now. Where it was never counted (the server's autovacuum may be
    off), rows are counted, up to `enough`."""
    estimate = conn.exec_driver_sql(
        "SELECT CASE WHEN reltuples > 0 AND relpages > 0 THEN reltuples / relpages * pg_relation_size(oid) "
        f"/ current_setting('block_size')::int END FROM pg_class WHERE oid = '{name}'::regclass").scalar()
    if estimate is not None:
        return estimate
    return conn.exec_driver_sql(f"SELECT count(*) FROM (SELECT FROM {name} LIMIT {int(enough) + 1}) s").scalar()


def _drop_constraints(conn: sa.Connection, name: str) -> list[str]:
    """Primary and unique keys: dropped, and the statements that add them back as they were."""
    found = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid = '{name}'::regclass AND contype IN ('p', 'u')").all()
    for constraint, _ in found:
        conn.exec_driver_sql(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"')
    return [f'ALTER TABLE {name} ADD CONSTRAINT "{constraint}" {definition}' for constraint, definition in found]


def _drop_indexes(conn: sa.Connection, name: str) -> list[str]:
    """The other indexes (unique or not): dropped, and their CREATE INDEX statements."""
    found = conn.exec_driver_sql(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
        f"WHERE indrelid = '{name}'::regclass "
        "AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)").all()
    for index, _ in found:
        conn.exec_driver_sql(f"DROP INDEX {index}")
    return [definition for _, definition in found]


def _rebuild_keys(conn: sa.Connection, deferred: dict) -> None:
    """Build what `_defer_keys` dropped. Memory for the sorts (in memory, not spilled), enough for the
    server to give each build a parallel worker (it asks 32 MB a participant); for this transaction only."""
    if not deferred["rebuild"]:
        return
    conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{REBUILD_MEMORY_MB}MB'")
    for statements in deferred["rebuild"].values():
        for sql in statements:
            conn.exec_driver_sql(sql)


def _not_current(fact_document: pa.Table) -> pa.Table:
    i = fact_document.schema.get_field_index("is_current")
    return fact_document.set_column(i, "is_current", pa.array([False] * fact_document.num_rows, pa.bool_()))


def _mark_touched(conn: sa.Connection, duck: bool, touched: list[pa.Table]) -> None:
    """`_mark_current` once for the transaction's chunks, over the (department, fiscal year) of all their
    documents: the ranking sees every version the transaction inserted, so the outcome is what a pass after
    each chunk leaves, in two statements instead of two a chunk (0.1 s of a 10,000-document DuckDB load)."""
    if not touched:
        return
    raw = conn.connection.dbapi_connection
    documents = pa.concat_tables(touched)
    _stage(conn, raw, duck, "fact_document", documents)  # each chunk's own staging is gone
    _mark_current(conn, raw, duck, documents)


def _mark_current(conn: sa.Connection, raw, duck: bool, documents: pa.Table) -> None:
    """Recompute is_current (and current_key) for every (department, fiscal year) this load touched
    (`documents`, staged as _stage_fact_document).
    The versions that lose are cleared first: PostgreSQL checks a unique index row by row, so a winner
    set before its predecessor was cleared would collide with it."""
    ranked = f"""(
            SELECT d.document_id,
                ROW_NUMBER() OVER (PARTITION BY d.department_id, d.fiscal_year ORDER BY {NEWEST_FIRST}) AS rn
            FROM fact_document d
            JOIN (SELECT DISTINCT department_id, fiscal_year FROM {_stage_name("fact_document")}) touched
                ON touched.department_id = d.department_id AND touched.fiscal_year = d.fiscal_year
        ) ranked"""
    _from_stage(conn, raw, duck, "fact_document", documents, f"""
        UPDATE fact_document SET is_current = FALSE, current_key = NULL
        FROM {ranked}
        WHERE fact_document.document_id = ranked.document_id AND ranked.rn > 1
            AND (fact_document.is_current OR fact_document.current_key IS NOT NULL)""")
    _from_stage(conn, raw, duck, "fact_document", documents, f"""
        UPDATE fact_document SET is_current = TRUE,
            current_key = fact_document.department_id || '/' || CAST(fact_document.fiscal_year AS TEXT)
        FROM {ranked}
        WHERE fact_document.document_id = ranked.document_id AND ranked.rn = 1
            AND fact_document.current_key IS NULL""")


def _record_snapshot(conn: sa.Connection, snapshot: str, run_id: str | None) -> None:
    lake_dir, name = os.path.split(os.path.realpath(snapshot))
    conn.execute(lake_publish.delete().where(lake_publish.c.lake_dir == lake_dir))
    conn.execute(lake_publish.insert().values(lake_dir=lake_dir, snapshot=name, run_id=run_id))


def committed_snapshot(source, lake_dir) -> str | None:
    """The lake snapshot the warehouse's last load committed for `lake_dir` (None when unknown): if the
    lake has not published it, the run that loaded it died in between and it is to be published now.
    `source`: a connection, an engine or a URL."""
    real = os.path.realpath(lake_dir)
    with connection_for(source) as conn:
        if "pifu_lake_publish" not in set(sa.inspect(conn).get_table_names()):
            return None
        name = conn.execute(sa.select(lake_publish.c.snapshot).where(lake_publish.c.lake_dir == real)).scalar()
    return os.path.join(real, name) if name else None


def known_sha256(source) -> set[str]:
    """Files the warehouse holds, loaded or quarantined: a run only parses the others. `source`: a
    connection, an engine or a URL."""
    with connection_for(source) as conn:
        existing = set(sa.inspect(conn).get_table_names())
        tables = [name for name in ("fact_document", "quarantine") if name in existing]
        if not tables:
            return set()
        # The driver's rows as they come: a SQLAlchemy Row per file cost ~1 µs more each, and a run reads
        # every file the warehouse holds (100,000 at the scale run) before it can tell which are new.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(" UNION ALL ".join(f"SELECT sha256 FROM {name}" for name in tables))
            return {r[0] for r in cursor.fetchall()}
        finally:
            cursor.close()


def table_counts(engine_or_url) -> dict[str, int]:
    with engine_for(engine_or_url) as engine, engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        return {
            name: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar_one()
            for name in TABLES if name in existing
        }
