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


# Natural keys. fact_indicator_value has none: its year is null for long-term targets, and a
# document may state the same indicator twice (both rows are kept, told apart by `line`).
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
NOT_NULL = {
    "fact_document": ("department_id", "fiscal_year", "source_path", "sha256", "is_current", "loaded_at"),
    "fact_funding": ("department_id", "fiscal_year", "amount"),
    "fact_indicator_value": ("document_id", "department_id", "fiscal_year", "indicator_id", "horizon", "raw"),
    "dq_result": ("check_name", "passed", "run_id", "checked_at"),
    "quarantine": ("source_path", "reason", "quarantined_at"),
}
INDEXES = {
    "fact_document": [("department_id", "fiscal_year")],
    "fact_indicator_value": [("document_id",), ("indicator_id",)],
    "dq_result": [("document_id",)],
}
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
    indexes = [sa.Index(f"ix_{name}_{'_'.join(cols)}", *cols) for cols in INDEXES.get(name, ())]
    return sa.Table(name, metadata, *columns, *indexes)


tables: dict[str, sa.Table] = {name: _table(name) for name in TABLES}


def create_all(engine: sa.Engine, replace_views: bool = False) -> None:
    """Tables, indexes and views, each only if missing (`replace_views`: recreate the views)."""
    from warehouse.views import create_views

    metadata.create_all(engine, checkfirst=True)
    create_views(engine, replace=replace_views)


def drop_all(engine: sa.Engine) -> None:
    """Views, then tables: an empty warehouse (for benchmarks and tests; history is lost)."""
    from warehouse.views import VIEWS

    with engine.begin() as conn:
        for name in VIEWS:
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
    metadata.drop_all(engine, checkfirst=True)
