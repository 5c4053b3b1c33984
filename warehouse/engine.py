"""Engines for the warehouse URL: an embedded DuckDB file by default, PostgreSQL by URL."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy as sa


def default_url() -> str:
    data = Path(os.environ.get("PIFU_DATA_DIR") or "data").resolve()
    return f"duckdb:///{data / 'warehouse.duckdb'}"


def make_engine(url: str | sa.URL | None = None) -> sa.Engine:
    url = sa.make_url(url or default_url())
    if url.get_backend_name() == "duckdb" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


@contextmanager
def engine_for(engine_or_url: sa.Engine | str | sa.URL | None) -> Iterator[sa.Engine]:
    """The caller's engine as is; an engine made from a URL is disposed after use, so a DuckDB file
    is not left open (and locked against other processes) by a pool nobody holds."""
    if isinstance(engine_or_url, sa.Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def is_duckdb(engine: sa.Engine) -> bool:
    return engine.dialect.name == "duckdb"


def check_reachable(url: str | sa.URL) -> None:
    """Connect once at run start, so a warehouse that cannot be reached (server down, wrong URL, a DuckDB
    file another program holds open) fails the run in one line before any file is parsed."""
    with reachable(url):
        pass


@contextmanager
def reachable(url: str | sa.URL) -> Iterator[sa.Connection]:
    """`check_reachable`'s connection, kept for the run's first reads (what the warehouse committed, which
    files it holds): one connection instead of one each, each a DuckDB file opened and its catalog read."""
    from pifu.faults import WarehouseError

    shown = sa.make_url(url).render_as_string(hide_password=True)
    opened = ExitStack()
    try:
        conn = opened.enter_context(opened.enter_context(engine_for(url)).connect())
        conn.exec_driver_sql("SELECT 1")
    except (sa.exc.SQLAlchemyError, OSError) as e:
        opened.close()
        raise WarehouseError(shown, f"cannot connect: {first_line(e)}; check that it runs and that the URL "
                                    "(--warehouse / PIFU_WAREHOUSE_URL) is right") from None
    with opened:
        yield conn


@contextmanager
def connection_for(source: sa.Connection | sa.Engine | str | sa.URL | None) -> Iterator[sa.Connection]:
    """The caller's connection as is; otherwise one from `engine_for`, closed after use."""
    if isinstance(source, sa.Connection):
        yield source
        return
    with engine_for(source) as engine, engine.connect() as conn:
        yield conn


def first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return next((line for line in lines if not line.startswith("(")), lines[0] if lines else type(orig).__name__)
