"""The warehouse tables as one SQLAlchemy MetaData, derived from `pifu.schema.SCHEMAS`.

The same DDL runs on DuckDB (duckdb-engine) and PostgreSQL (psycopg). No foreign keys: DuckDB
cannot update a row other tables reference, and dimensions are upserted.
"""
from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import sqlalchemy as sa

from pifu.schema import SCHEMAS


class Exact(sa.types.TypeDecorator):
    """NUMERIC that hands back the driver's Decimal untouched.

    duckdb-engine reports no native decimal support, so plain Numeric formats results through float
    (9999999999999999.99 came back as 10000000000000000.00); both drivers already return Decimal.
    """

    impl = sa.Numeric
    cache_ok = True

    def result_processor(self, dialect, coltype):
        def process(value):
            return value if value is None or isinstance(value, Decimal) else Decimal(str(value))

        return process


def _sql_type(t: pa.DataType) -> sa.types.TypeEngine:
    if pa.types.is_decimal(t):
        return Exact(t.precision, t.scale)
    if pa.types.is_date32(t):
        return sa.Date()
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None)
    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_int8(t) or pa.types.is_int16(t):
        return sa.SmallInteger()
    if pa.types.is_int32(t):
        return sa.Integer()
    if pa.types.is_int64(t):
        return sa.BigInteger()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return sa.Text()
    raise TypeError(f"no SQL type for {t}")


# Natural keys. fact_indicator_value's natural grain has no key (its year is null for long-term targets,
# and a document may state the same indicator twice): value_no numbers its rows per document instead.
PRIMARY_KEYS = {
    "dim_department": ("department_id",),
    "dim_indicator": ("indicator_id",),
    "fact_document": ("document_id",),
    "fact_funding": ("document_id", "flow", "item", "year"),
    "fact_text_item": ("document_id", "section", "item_no"),
    "fact_problem": ("document_id", "problem_no"),
    "quarantine": ("sha256",),
    "fact_duty_target": ("document_id", "row_no"),
}
# Keys added after tables existed: unique indexes, which (unlike a primary key) can be created on a
# warehouse that already has rows. fact_document.current_key is department/fiscal_year while the row
# is the current version and NULL otherwise (NULLs never collide): one current version per
# department and year, enforced by the database.
UNIQUE_KEYS = {
    "fact_document": ("current_key",),
    "fact_indicator_value": ("document_id", "value_no"),
    "dq_result": ("run_id", "result_no"),
}
# The fact tables keyed by document: their keys are PostgreSQL's only. Each key names document_id, and a
# document's rows are appended by the one transaction that inserts its fact_document row (whose primary key
# decides; warehouse.load), so a duplicate can only come within the rows that transaction appends. On
# DuckDB the loader checks those rows instead (`warehouse.load._refuse_duplicates`): the database's ART
# index for each key cost a 10,000-document load ~0.8 s of its ~3.5 s, and pins its new entries in memory
# until the commit (docs/scaling.md). DuckDB cannot drop a primary key, so a warehouse an earlier pifu
# made keeps those; the unique index is dropped (`_upgrade`). dq_result's key is not a document's and stays.
DOCUMENT_FACTS = ("fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem", "fact_duty_target")
# Warehouse-only columns (not in the lake): kept by warehouse.load.
EXTRA_COLUMNS = {"fact_document": [("current_key", sa.Text())]}
CHECKS = {"fact_document": "is_current = (current_key IS NOT NULL)"}
NOT_NULL = {
    "fact_document": ("department_id", "fiscal_year", "source_path", "sha256", "is_current", "loaded_at"),
    "fact_funding": ("department_id", "fiscal_year", "amount"),
    "fact_indicator_value": ("document_id", "department_id", "fiscal_year", "indicator_id", "horizon", "raw",
                             "value_no"),
    "dq_result": ("check_name", "passed", "run_id", "checked_at", "result_no"),
    "quarantine": ("source_path", "reason", "quarantined_at"),
}
# Secondary indexes, PostgreSQL's only. DuckDB answers these lookups with its zone maps and hash joins; its
# ART indexes live in memory until a checkpoint and a load's new entries are pinned until its commit (at
# 100,000 documents the two on fact_indicator_value alone were ~19 M entries), so there they cost a load
# memory and time and buy nothing. Keys (PRIMARY_KEYS, UNIQUE_KEYS) stay on both.
INDEXES = {
    "fact_document": [("department_id", "fiscal_year")],
    "fact_indicator_value": [("indicator_id",)],
    "dq_result": [("document_id",)],
}
# Indexes an earlier pifu created, dropped where found. fact_indicator_value (document_id) duplicated the
# leading column of its unique key (document_id, value_no), which answers the same lookups; maintaining it
# was a fifth of the server's work in a PostgreSQL load (docs/performance.md, 2026-11-26).
RETIRED_INDEXES = {"fact_indicator_value": [("document_id",)]}
# The load order: dimensions and documents before the facts that refer to them.
TABLES = (
    "dim_department", "dim_indicator", "fact_document", "fact_funding", "fact_indicator_value",
    "fact_text_item", "fact_problem", "dq_result", "quarantine",
    "fact_duty_target",
)

metadata = sa.MetaData()


def _table(name: str) -> sa.Table:
    keys = PRIMARY_KEYS.get(name, ())
    required = set(keys) | set(NOT_NULL.get(name, ()))
    columns = [
        sa.Column(f.name, _sql_type(f.type), primary_key=f.name in keys, nullable=f.name not in required)
        for f in SCHEMAS[name]
    ]
    columns += [sa.Column(c, t, nullable=True) for c, t in EXTRA_COLUMNS.get(name, ())]
    indexes = [sa.Index(_index_name(name, cols), *cols).ddl_if(dialect="postgresql") for cols in INDEXES.get(name, ())]
    if name in UNIQUE_KEYS:
        unique = sa.Index(_unique_name(name), *UNIQUE_KEYS[name], unique=True)
        indexes.append(unique.ddl_if(dialect="postgresql") if name in DOCUMENT_FACTS else unique)
    checks = [sa.CheckConstraint(CHECKS[name], name=f"ck_{name}_current")] if name in CHECKS else []
    table = sa.Table(name, metadata, *columns, *indexes, *checks)
    if name in DOCUMENT_FACTS:  # the columns stay NOT NULL on both
        table.primary_key.ddl_if(dialect="postgresql")
    return table


def key_of(name: str) -> tuple[str, ...]:
    """The table's key columns: its primary key, else its unique key."""
    return PRIMARY_KEYS.get(name) or UNIQUE_KEYS[name]


def _index_name(name: str, cols: tuple[str, ...]) -> str:
    return f"ix_{name}_{'_'.join(cols)}"


def _unique_name(name: str) -> str:
    return f"ux_{name}_{'_'.join(UNIQUE_KEYS[name])}"


tables: dict[str, sa.Table] = {name: _table(name) for name in TABLES}

# Which lake snapshot holds the same documents as this warehouse, written in the load's transaction:
# a run killed after the commit and before the lake's publish is rolled forward by the next run.
lake_publish = sa.Table(
    "pifu_lake_publish", metadata,
    sa.Column("lake_dir", sa.Text(), primary_key=True),
    sa.Column("snapshot", sa.Text(), nullable=False),
    sa.Column("run_id", sa.Text()),
)


def create_all(engine: sa.Engine, replace_views: bool = False) -> None:
    """Tables, indexes and views, each only if missing (`replace_views`: recreate the views)."""
    from warehouse.views import create_views

    metadata.create_all(engine, checkfirst=True)
    _upgrade(engine)
    create_views(engine, replace=replace_views)


def _upgrade(engine: sa.Engine) -> None:
    """Bring a warehouse created by an earlier pifu up to these tables: add missing columns (NULL in old
    rows), mark its current versions in current_key, create the unique keys (on DuckDB, drop the document
    facts' one: DOCUMENT_FACTS). A no-op when up to date."""
    with engine.begin() as conn:
        have: dict[str, set[str]] = {}
        # information_schema, not SQLAlchemy's inspector: duckdb-engine's column reflection fails on DuckDB 2.
        for table_name, column_name in conn.exec_driver_sql(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()"):
            have.setdefault(table_name, set()).add(column_name)
        added = set()
        for name, table in tables.items():
            if name not in have:
                continue
            for column in table.columns:
                if column.name not in have[name]:
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {kind}')
                    added.add((name, column.name))
        if ("fact_document", "current_key") in added:
            _mark_all_current(conn)
    # A transaction of its own: DuckDB cannot create an index with updates outstanding.
    with engine.begin() as conn:
        retired = [*RETIRED_INDEXES.items(), *(INDEXES.items() if engine.dialect.name == "duckdb" else ())]
        for name, indexes in retired:  # made by an earlier pifu: see INDEXES
            for cols in indexes:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_index_name(name, cols)}")
        for name in UNIQUE_KEYS:
            if engine.dialect.name == "duckdb" and name in DOCUMENT_FACTS:  # see DOCUMENT_FACTS
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_unique_name(name)}")
                continue
            cols = ", ".join(f'"{c}"' for c in UNIQUE_KEYS[name])
            conn.exec_driver_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {_unique_name(name)} ON {name} ({cols})")


def _mark_all_current(conn: sa.Connection) -> None:
    """One current version per department and year, by the loader's order, before the key enforces it."""
    from warehouse.load import NEWEST_FIRST

    conn.exec_driver_sql(f"""
        UPDATE fact_document SET is_current = (ranked.rn = 1),
            current_key = CASE WHEN ranked.rn = 1 THEN fact_document.department_id || '/' ||
                CAST(fact_document.fiscal_year AS TEXT) END
        FROM (SELECT document_id, ROW_NUMBER() OVER (PARTITION BY department_id, fiscal_year
                                                     ORDER BY {NEWEST_FIRST}) AS rn
              FROM fact_document) ranked
        WHERE fact_document.document_id = ranked.document_id""")


def drop_all(engine: sa.Engine) -> None:
    """Views, then tables: an empty warehouse (for benchmarks and tests; history is lost)."""
    from warehouse.views import VIEWS

    with engine.begin() as conn:
        for name in VIEWS:
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
    metadata.drop_all(engine, checkfirst=True)
