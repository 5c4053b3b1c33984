"""Regions: each province's (or city's) documents in a lake, a warehouse and run locks of their own, so
runs of different regions proceed at the same time; the national roll-up reads every region's lake.

    lake       <lake>/regions/<slug>              (a folder, or a prefix of an s3:// lake)
    DuckDB     <stem>_<slug>.duckdb               beside the configured DuckDB file
    PostgreSQL schema <schema>_<slug> (search_path), <schema> the URL's own search_path or `pifu`
    run files  <data dir>/regions/<slug>          staging, hash cache, GX Data Docs, report

The run locks follow (pifu.locks keys them by lake folder, DuckDB file and search_path), so two regions'
runs never wait on each other, and two runs of one region still do. A region is a scope of a run, not a
second Dagster partition dimension: Dagster cannot run a range of a MultiPartitionsDefinition with a
dynamic dimension in one run, and pifu's runs are ranges of fiscal years.

A slug is safe as a path segment and as an unquoted SQL identifier: lower case, letters (Chinese too),
digits and `_`, starting with a letter or `_`; `-` and spaces become `_`; anything else (`/`, `.`, `\\`,
quotes) is refused rather than mapped, so two names never share a slug by accident.
"""
from __future__ import annotations

import os
import re
import unicodedata

import pyarrow as pa

from pifu.model import PifuError

REGIONS = "regions"  # the folder of region lakes inside a lake, and of region run files in the data dir
DEFAULT_SCHEMA = "pifu"
MAX_BYTES = 40  # PostgreSQL identifiers end at 63 bytes; a Chinese character takes 3
_SLUG = re.compile(r"[^\W\d]\w*")


class RegionError(PifuError):
    reason = "bad_region"


def slug(name: str) -> str:
    """The region's name as it appears in paths and SQL; RegionError for a name that cannot be one."""
    text = unicodedata.normalize("NFKC", name or "").strip().lower()
    text = re.sub(r"[-\s]+", "_", text)
    ok = (_SLUG.fullmatch(text) and len(text.encode()) <= MAX_BYTES
          and all(c.isascii() or unicodedata.category(c).startswith("L") for c in text))
    if not ok:
        raise RegionError(name or "''", "a region is letters (Chinese too), digits and _ (- and spaces become _), "
                          f"starting with a letter, at most {MAX_BYTES} bytes; no separators or dots")
    return text


def lake(base: str | os.PathLike, region: str) -> str:
    """The region's lake inside the lake `base` (a folder or s3://bucket/prefix)."""
    return f"{str(base).rstrip('/')}/{REGIONS}/{slug(region)}"


def warehouse_url(url: str, region: str) -> str:
    """The region's warehouse: a DuckDB file beside the configured one, or a PostgreSQL schema."""
    import sqlalchemy as sa

    parsed, name = sa.make_url(url), slug(region)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        if not parsed.database or parsed.database == ":memory:":
            return url  # a private in-memory database is the run's own already
        stem, dot, suffix = os.path.basename(parsed.database).rpartition(".")
        file = f"{stem}_{name}.{suffix}" if dot else f"{suffix}_{name}"
        return parsed.set(database=os.path.join(os.path.dirname(parsed.database), file)).render_as_string(
            hide_password=False)
    if backend != "postgresql":
        raise RegionError(url, "regions need a DuckDB or PostgreSQL warehouse")
    options, base = _without_search_path(parsed.query.get("options", ""))
    schema = f"{base or DEFAULT_SCHEMA}_{name}"
    if len(schema.encode()) > 63:
        raise RegionError(region, f"the schema {schema} is longer than PostgreSQL's 63 bytes")
    options = " ".join(filter(None, [options, f"-csearch_path={schema}"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


_SEARCH_PATH = re.compile(r"(?:-c\s*|--)search[_-]path=(\S+)")


def _without_search_path(options: str | tuple) -> tuple[str, str | None]:
    """libpq `options` without its search_path setting, and the first schema that setting named."""
    text = " ".join(options) if isinstance(options, tuple) else options
    found = _SEARCH_PATH.search(text)
    schema = found.group(1).split(",")[0].strip('"') or None if found else None
    return " ".join(_SEARCH_PATH.sub(" ", text).split()), schema


def ensure_schema(url: str) -> None:
    """Create the PostgreSQL schema a region's URL names, if missing (under the region's run lock, so two
    first runs of one region do not race on it). Other warehouses: nothing to do."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    _, schema = _without_search_path(parsed.query.get("options", ""))
    if not schema:
        return
    from pifu.locks import _pg_connect

    conn = _pg_connect(parsed)
    try:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # a slug: no quote can be in it
    finally:
        conn.close()


def lakes(base: str | os.PathLike) -> dict[str, str]:
    """The region lakes inside the lake `base` that hold a published snapshot: {slug: lake}, by slug."""
    import pyarrow.fs as pafs

    from pifu import lake as lake_module

    root = lake_module.root_of(base)
    found = root.fs.get_file_info(pafs.FileSelector(f"{root.path}/{REGIONS}", allow_not_found=True))
    out = {}
    for info in sorted(found, key=lambda i: i.base_name):
        if info.type == pafs.FileType.Directory and _SLUG.fullmatch(info.base_name):
            region_lake = f"{root.uri}/{REGIONS}/{info.base_name}"
            if lake_module.current_snapshot(region_lake) is not None:
                out[info.base_name] = region_lake
    return out


def national(base: str | os.PathLike, table: str, fiscal_years: list[int] | None = None) -> pa.Table:
    """`table` of every region's lake as one Arrow table, a `region` column first; each region as of its
    own published snapshot (pifu.lake.read_lake), so no region is read halfway through a publish."""
    from pifu import lake as lake_module
    from pifu.schema import SCHEMAS

    parts = []
    for name, region_lake in lakes(base).items():
        rows = lake_module.read_lake(region_lake, table, fiscal_years)
        parts.append(rows.add_column(0, "region", pa.array([name] * rows.num_rows, pa.string())))
    if not parts:
        return SCHEMAS[table].empty_table().add_column(0, "region", pa.array([], pa.string()))
    return pa.concat_tables(parts)
