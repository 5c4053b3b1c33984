"""Which version of a department's document for a year is current, and the keys that hold it so.

The order: the later run wins; within one run the later file modification time, then the larger path.
The lake (pifu.normalize.mark_current) and the warehouse (warehouse.load.NEWEST_FIRST) agree, and a
rerun from scratch makes the same choice. The database itself allows one current version per
department and year, and every fact table has a unique key."""
import io
import os
import shutil
from datetime import datetime, timedelta, timezone

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from factories import document, synthetic
from pifu import lake
from pifu.normalize import mark_current, normalize, with_source_mtime
from pifu.schema import SCHEMAS
from storage_fixtures import _drop_session_schemas, engine, warehouse_url  # noqa: F401  (fixtures)
from warehouse.engine import make_engine
from warehouse.load import load
from warehouse.schema import create_all

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
NS = 10**9
OLD, NEW = 1_700_000_000 * NS, 1_800_000_000 * NS  # explicit mtimes: the tests never read the clock


def current_paths(fact_document) -> list[str]:
    return sorted(r["source_path"] for r in fact_document.to_pylist() if r["is_current"])


def test_within_a_run_the_newer_file_wins_over_the_larger_path():
    docs = [document("/in/b.txt", "鄂州市教育局", 2025, content="b"),
            document("/in/a.txt", "鄂州市教育局", 2025, content="a")]
    fd = normalize(docs, T0)["fact_document"]
    assert current_paths(fd) == ["/in/b.txt"]  # no mtimes known: the path decides
    fd = with_source_mtime(fd, {"/in/a.txt": NEW, "/in/b.txt": OLD})
    assert current_paths(fd) == ["/in/a.txt"]
    mtimes = {r["source_path"]: r["source_mtime"] for r in fd.to_pylist()}
    assert mtimes["/in/a.txt"] == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=NEW // 1000)


def test_the_warehouse_orders_versions_as_the_lake_does(engine):
    first = with_source_mtime(normalize([document("/in/z.txt", "鄂州市教育局", 2025, content="z")], T0)
                              ["fact_document"], {"/in/z.txt": NEW})
    load(engine, {**normalize([document("/in/z.txt", "鄂州市教育局", 2025, content="z")], T0),
                  "fact_document": first})
    # A later run wins whatever its file's mtime; within it the newer file beats the larger path.
    later = normalize([document("/in/a.txt", "鄂州市教育局", 2025, content="a"),
                       document("/in/b.txt", "鄂州市教育局", 2025, content="b")], T0 + timedelta(days=1))
    later["fact_document"] = with_source_mtime(later["fact_document"], {"/in/a.txt": OLD + NS, "/in/b.txt": OLD})
    load(engine, later)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT source_path, is_current, current_key FROM fact_document "
                                    "ORDER BY source_path").all()
    key = rows[0][2] or next(r[2] for r in rows if r[2])
    assert [(p, c) for p, c, _ in rows] == [("/in/a.txt", True), ("/in/b.txt", False), ("/in/z.txt", False)]
    assert [k for _, _, k in rows].count(None) == 2 and key.endswith("/2025")
    # the lake's choice over the same rows
    assert current_paths(mark_current(pa.concat_tables([first, later["fact_document"]]))) == ["/in/a.txt"]


def test_a_loads_chunks_get_the_current_versions_one_chunk_would(engine):
    """The current versions are decided once for the whole load (warehouse.load._mark_touched), over the
    department-years of every chunk: versions of one department-year in different chunks, and chunks
    whose department-years no later chunk touches, end as one chunk (and the lake) would leave them."""
    docs = {p: document(f"/in/{p}.txt", dept, year, content=p) for p, dept, year in (
        ("a", "鄂州市教育局", 2025), ("b", "鄂州市教育局", 2024), ("c", "鄂州市财政局", 2025),
        ("d", "鄂州市教育局", 2025), ("e", "鄂州市财政局", 2023), ("f", "鄂州市教育局", 2024))}

    def chunk(*paths):
        return normalize([docs[p] for p in paths], T0)

    load(engine, [chunk("a", "b", "c"), chunk("d", "e"), chunk("a"), chunk("f")])
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT source_path, is_current, current_key, department_id, fiscal_year "
                                    "FROM fact_document ORDER BY source_path").all()
    current = [p for p, is_current, *_ in rows if is_current]
    assert current == ["/in/c.txt", "/in/d.txt", "/in/e.txt", "/in/f.txt"]
    assert current == current_paths(mark_current(normalize(list(docs.values()), T0)["fact_document"]))
    assert all(key == (f"{dept}/{year}" if is_current else None) for _, is_current, key, dept, year in rows)


def test_the_schema_refuses_a_second_current_version(engine):
    load(engine, normalize([document("/in/a.txt", "鄂州市教育局", 2025, content="a"),
                            document("/in/b.txt", "鄂州市教育局", 2025, content="b")], T0))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE fact_document SET is_current = TRUE, current_key = department_id || '/2025' "
                             "WHERE NOT is_current")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE fact_document SET is_current = TRUE WHERE NOT is_current")  # the check
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM fact_document WHERE is_current").scalar_one() == 1


def test_every_fact_table_has_a_unique_key(engine):
    """PostgreSQL refuses any repeated key; on DuckDB the document facts' keys are the loader's
    (warehouse.schema.DOCUMENT_FACTS; test_warehouse.py::test_a_repeated_key_fails_the_load_and_changes_nothing)."""
    tables = normalize(synthetic(2), T0)
    load(engine, tables)
    refused = () if engine.dialect.name == "duckdb" else (
        "fact_indicator_value", "fact_funding", "fact_text_item", "fact_problem")
    for name in refused:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {name} LIMIT 1")
    with engine.connect() as conn:
        numbers = conn.exec_driver_sql("SELECT document_id, MIN(value_no), MAX(value_no), COUNT(*) "
                                       "FROM fact_indicator_value GROUP BY document_id").all()
    assert numbers and all(lo == 1 and hi == n for _, lo, hi, n in numbers)
    # dq_result: (run_id, result_no)
    row = {"check_name": "c", "document_id": None, "row_ref": None, "severity": "warning", "passed": True,
           "observed": "", "expected": "", "message": "", "run_id": "r1", "checked_at": T0, "result_no": 1}
    dq = pa.Table.from_pylist([row, row], schema=SCHEMAS["dq_result"])
    more = normalize(synthetic(1, start=10), T0)
    with pytest.raises((sa.exc.IntegrityError, psycopg.IntegrityError)):  # COPY raises the driver's own
        load(engine, {**more, "dq_result": dq})


def test_a_warehouse_from_before_the_keys_is_upgraded(warehouse_url):
    """fact_document as an earlier pifu created it (no source_mtime, no current_key), holding two
    current versions of one department-year (what overlapping runs could leave)."""
    engine = make_engine(warehouse_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("""CREATE TABLE fact_document (document_id TEXT PRIMARY KEY, department_id TEXT
                NOT NULL, fiscal_year INTEGER NOT NULL, source_path TEXT NOT NULL, sha256 TEXT NOT NULL,
                format TEXT, encoding TEXT, is_current BOOLEAN NOT NULL, loaded_at TIMESTAMP WITH TIME ZONE
                NOT NULL, problem_count INTEGER)""")
            for doc, path in (("d1", "/in/a.txt"), ("d2", "/in/b.txt")):
                conn.exec_driver_sql(f"INSERT INTO fact_document VALUES ('{doc}', 'dep', 2025, '{path}', '{doc}', "
                                     "'text', NULL, TRUE, TIMESTAMP '2025-03-01 08:00:00+00', 0)")
        create_all(engine)
        create_all(engine)  # and again: nothing left to do
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT document_id, is_current, current_key, source_mtime "
                                        "FROM fact_document ORDER BY document_id").all()
        assert [tuple(r) for r in rows] == [("d1", False, None, None), ("d2", True, "dep/2025", None)]
        load(engine, normalize([document("/in/c.txt", "鄂州市教育局", 2025, content="c")], T0))
    finally:
        engine.dispose()


@pytest.fixture
def env(tmp_path, monkeypatch, warehouse_url):
    monkeypatch.setenv("PIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("PIFU_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("PIFU_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PIFU_WORKERS", "1")
    return {"url": warehouse_url, "lake": tmp_path / "lake"}


def run(*sources, **kw) -> str:
    from pipelines.run import run_pipeline

    out = io.StringIO()
    assert run_pipeline([str(s) for s in sources], out=out, **kw) == 0, out.getvalue()
    return out.getvalue()


def current_in(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(os.path.basename(p) for p in conn.exec_driver_sql(
                "SELECT source_path FROM fact_document WHERE is_current").scalars())
    finally:
        engine.dispose()


def test_a_run_and_a_rerun_from_scratch_choose_the_newer_file(env, tmp_path, sample_path):
    box = tmp_path / "box"
    box.mkdir()
    text = sample_path.read_text(encoding="utf-8")
    (box / "a-corrected.txt").write_text(text.replace("合计\t\t998.71", "合计\t\t1,000.00"), encoding="utf-8")
    shutil.copy(sample_path, box / "z-original.txt")
    os.utime(box / "a-corrected.txt", ns=(NEW, NEW))  # newer, though its path sorts first
    os.utime(box / "z-original.txt", ns=(OLD, OLD))
    run(box)
    lake_current = [os.path.basename(r["source_path"]) for r in lake.read_lake(env["lake"], "fact_document")
                    .to_pylist() if r["is_current"]]
    assert current_in(env["url"]) == lake_current == ["a-corrected.txt"]

    # From scratch (a new lake and warehouse) over the same files: the same choice.
    scratch_lake = tmp_path / "lake2"
    scratch_url = f"duckdb:///{tmp_path / 'scratch.duckdb'}"
    run(box, lake_dir=str(scratch_lake), warehouse_url=scratch_url)
    assert current_in(scratch_url) == ["a-corrected.txt"]
