"""Warehouse fixtures shared by the storage tests: a real DuckDB file and a real PostgreSQL schema.

PostgreSQL tests work in schemas named after this session (pifu_t_<hex>_<n>) reached through
search_path, so they never meet another user's tables; each is dropped after its test, and any left
by an interrupted test when the session ends.
"""
from __future__ import annotations

import itertools
import os
import uuid

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("PIFU_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SESSION = f"pifu_t_{uuid.uuid4().hex[:8]}"
_counter = itertools.count()


def pg_url_for(schema: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"


def _admin() -> sa.Engine:
    return sa.create_engine(PG_URL)


def new_pg_schema() -> str:
    schema = f"{SESSION}_{next(_counter)}"
    with _admin().begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    return schema


def drop_pg_schema(schema: str) -> None:
    with _admin().begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="session", autouse=True)
def _drop_session_schemas():
    yield
    with _admin().begin() as conn:
        left = conn.exec_driver_sql(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %(p)s", {"p": f"{SESSION}_%"}
        ).scalars().all()
        for schema in left:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request, tmp_path):
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        return
    schema = new_pg_schema()
    try:
        yield pg_url_for(schema)
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def engine(warehouse_url):
    from warehouse.engine import make_engine

    eng = make_engine(warehouse_url)
    yield eng
    eng.dispose()


def dump_warehouse(url: str, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every warehouse table's rows, sorted, as reprs: two dumps compare equal when nothing changed."""
    from warehouse.engine import make_engine
    from warehouse.schema import TABLES, tables

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: sorted(tuple(map(repr, r)) for r in conn.execute(sa.select(tables[name])))
                    for name in TABLES if name not in skip}
    finally:
        engine.dispose()  # DuckDB: release the file for the next process


def run_in_process(*sources) -> tuple[int, str]:
    """`pifu run` in this process (the Dagster job, the configured instance): exit code and summary."""
    import io

    from pipelines.run import run_pipeline

    out = io.StringIO()
    code = run_pipeline([str(s) for s in sources], out=out)
    return code, out.getvalue()
