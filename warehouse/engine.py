"""Engines for the warehouse URL: an embedded DuckDB file by default, PostgreSQL by URL."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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
