import errno
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from factories import document, funding, synthetic
from pifu import lake
from pifu.faults import LakeError
from pifu.lake import current_snapshot, known_sha256, publish, read_lake, write_lake
from pifu.normalize import normalize, quarantine_table
from pifu.schema import SCHEMAS

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
TABLES = ("dim_department", "dim_indicator", "fact_document", "fact_funding", "fact_indicator_value",
          "fact_text_item", "fact_problem")


def batch(docs, at=T0):
    return normalize(docs, at)


def rows(table: pa.Table) -> list[tuple]:
    return sorted(tuple(sorted(r.items(), key=lambda kv: kv[0])) for r in table.to_pylist())


def test_round_trip_is_exact_per_table(tmp_path):
    tables = batch(synthetic(12))
    snapshot = write_lake(tmp_path, tables)
    assert current_snapshot(tmp_path) == snapshot
    for name in TABLES:
        back = read_lake(tmp_path, name)
        assert back.schema.equals(SCHEMAS[name]), name
        assert rows(back) == rows(tables[name]), name


def test_layout_is_hive_partitioned_by_fiscal_year(tmp_path):
    docs = synthetic(3) + synthetic(2, start=100, fiscal_year=2024)
    snapshot = write_lake(tmp_path, batch(docs), run_id="r1")
    assert os.path.islink(tmp_path / "CURRENT")
    assert (snapshot / "fact_funding" / "fiscal_year=2025" / "part-r1.parquet").is_file()
    assert (snapshot / "fact_funding" / "fiscal_year=2024" / "part-r1.parquet").is_file()
    assert (snapshot / "fact_text_item" / "fiscal_year=2024" / "part-r1.parquet").is_file()
    assert (snapshot / "dim_department" / "part-r1.parquet").is_file()
    # The partition column is in the path only, as Spark and Trino expect.
    stored = pq.read_schema(snapshot / "fact_funding" / "fiscal_year=2025" / "part-r1.parquet")
    assert "fiscal_year" not in stored.names
    assert read_lake(tmp_path, "fact_funding", fiscal_years=[2024]).num_rows == 2 * 40
    assert set(read_lake(tmp_path, "fact_document", fiscal_years=[2024])["fiscal_year"].to_pylist()) == {2024}


def test_duckdb_and_pyarrow_read_the_lake_as_datasets(tmp_path):
    docs = synthetic(3) + synthetic(2, start=100, fiscal_year=2024)
    write_lake(tmp_path, batch(docs))
    glob = str(tmp_path / "CURRENT" / "fact_funding" / "**" / "*.parquet")
    con = duckdb.connect()
    got = con.sql(f"""
        SELECT fiscal_year, COUNT(*), SUM(amount), typeof(SUM(amount))
        FROM read_parquet('{glob}', hive_partitioning = true)
        GROUP BY fiscal_year ORDER BY fiscal_year""").fetchall()
    funding_rows = read_lake(tmp_path, "fact_funding")
    expected = {}
    for r in funding_rows.to_pylist():
        n, total = expected.get(r["fiscal_year"], (0, 0))
        expected[r["fiscal_year"]] = (n + 1, total + r["amount"])
    assert [(y, n, s) for y, n, s, _ in got] == [(y, *expected[y]) for y in sorted(expected)]
    assert got[0][3].startswith("DECIMAL")
    texts = con.sql(f"""SELECT DISTINCT fiscal_year FROM read_parquet(
        '{tmp_path / "CURRENT" / "fact_text_item" / "**" / "*.parquet"}', hive_partitioning = true)
        ORDER BY 1""").fetchall()
    assert texts == [(2024,), (2025,)]
    con.close()
    dataset = ds.dataset(tmp_path / "CURRENT" / "fact_indicator_value", format="parquet", partitioning="hive")
    assert dataset.count_rows() == 5 * 152


def test_runs_append_new_documents_and_share_old_files_by_hard_link(tmp_path):
    first = write_lake(tmp_path, batch(synthetic(4)), run_id="r1")
    second = write_lake(tmp_path, batch(synthetic(3, start=10)), run_id="r2")
    assert second != first
    old = first / "fact_funding" / "fiscal_year=2025" / "part-r1.parquet"
    linked = second / "fact_funding" / "fiscal_year=2025" / "part-r1.parquet"
    assert os.stat(old).st_ino == os.stat(linked).st_ino
    assert (second / "fact_funding" / "fiscal_year=2025" / "part-r2.parquet").is_file()
    assert read_lake(tmp_path, "fact_document").num_rows == 7
    assert read_lake(tmp_path, "fact_funding").num_rows == 7 * 40
    assert read_lake(tmp_path, "dim_department").num_rows == 7


def test_writing_the_same_batch_again_adds_nothing(tmp_path):
    tables = batch(synthetic(5))
    write_lake(tmp_path, tables)
    before = {name: rows(read_lake(tmp_path, name)) for name in TABLES}
    write_lake(tmp_path, batch(synthetic(5), T0 + timedelta(days=1)))
    assert {name: rows(read_lake(tmp_path, name)) for name in TABLES} == before


def test_a_new_version_becomes_current_and_the_old_one_stays(tmp_path):
    v1 = document("/in/edu-v1.txt", "鄂州市教育局", 2025,
                  funding_lines=funding(2025, {"财政拨款": "10"}, {"人员类项目支出": "10"}))
    v2 = document("/in/edu-v2.txt", "鄂州市教育局", 2025,
                  funding_lines=funding(2025, {"财政拨款": "20"}, {"人员类项目支出": "20"}))
    write_lake(tmp_path, batch([v1]))
    write_lake(tmp_path, batch([v2], T0 + timedelta(days=1)))
    docs = {r["source_path"]: r["is_current"] for r in read_lake(tmp_path, "fact_document").to_pylist()}
    assert docs == {"/in/edu-v1.txt": False, "/in/edu-v2.txt": True}
    assert read_lake(tmp_path, "fact_funding").num_rows == 8


def test_only_the_last_two_snapshots_are_kept(tmp_path):
    for k in range(4):
        write_lake(tmp_path, batch(synthetic(1, start=k)))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("v")) == ["v000003", "v000004"]
    assert read_lake(tmp_path, "fact_document").num_rows == 4


def test_a_failed_write_leaves_the_previous_snapshot_current(tmp_path, monkeypatch):
    write_lake(tmp_path, batch(synthetic(2)))
    before = current_snapshot(tmp_path)
    real_write = lake._write_file
    calls = []

    def write_then_die(path, table):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, table)

    monkeypatch.setattr(lake, "_write_file", write_then_die)
    with pytest.raises(LakeError, match="disk is full") as failed:
        write_lake(tmp_path, batch(synthetic(2, start=50)))
    assert "\n" not in str(failed.value) and str(tmp_path) in str(failed.value)
    assert current_snapshot(tmp_path) == before
    assert read_lake(tmp_path, "fact_document").num_rows == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_what_a_killed_writer_leaves_is_ignored_by_readers_and_cleaned_by_the_next_run(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    before = current_snapshot(tmp_path)
    # A writer killed mid-build leaves a temp dir; one killed between rename and pointer swap leaves
    # a complete snapshot no pointer names. Neither may be seen.
    (tmp_path / ".tmp-v000002-dead").mkdir()
    (tmp_path / ".tmp-v000002-dead" / "junk.parquet").write_bytes(b"partial")
    orphan = tmp_path / "v000002"
    os.rename(write_lake(tmp_path / "elsewhere", batch(synthetic(3, start=50))), orphan)
    assert current_snapshot(tmp_path) == before
    assert read_lake(tmp_path, "fact_document").num_rows == 2
    write_lake(tmp_path, batch(synthetic(1, start=90)))
    assert not (tmp_path / ".tmp-v000002-dead").exists()
    assert read_lake(tmp_path, "fact_document").num_rows == 3


def test_known_sha256_covers_documents_and_quarantine(tmp_path):
    assert known_sha256(tmp_path) == set()
    docs = synthetic(3)
    tables = batch(docs)
    tables["quarantine"] = quarantine_table([{"source_path": "/in/bad.pdf", "sha256": "cd" * 32,
                                              "reason": "unreadable", "detail": "x", "quarantined_at": T0}])
    write_lake(tmp_path, tables)
    assert known_sha256(tmp_path) == {d.source.sha256 for d in docs} | {"cd" * 32}


def test_dq_results_of_new_documents_are_appended(tmp_path):
    tables = batch(synthetic(2))
    ids = tables["fact_document"]["document_id"].to_pylist()
    dq = pa.Table.from_pylist([
        {"check_name": "income_equals_expenditure", "document_id": ids[0], "row_ref": None, "severity": "error",
         "passed": True, "observed": "1", "expected": "1", "message": "ok", "run_id": "r1", "checked_at": T0,
         "result_no": 1},
    ], schema=SCHEMAS["dq_result"])
    write_lake(tmp_path, {**tables, "dq_result": dq})
    write_lake(tmp_path, {**tables, "dq_result": dq})  # same documents again: nothing new
    assert read_lake(tmp_path, "dq_result").to_pylist() == dq.to_pylist()


def test_reading_an_empty_lake_gives_empty_tables(tmp_path):
    for name in TABLES:
        assert read_lake(tmp_path / "none", name).schema.equals(SCHEMAS[name])


def test_an_unpublished_snapshot_of_a_live_writer_is_neither_removed_nor_renumbered(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    mine = write_lake(tmp_path, batch(synthetic(2, start=10)), publish=False)
    # Another writer (here: another process, which cannot see this one's claim in memory) comes by.
    other = subprocess.run([sys.executable, "-c", OTHER_WRITER, str(tmp_path)], capture_output=True, text=True,
                           cwd=os.path.dirname(__file__), timeout=120)
    assert other.returncode == 0, other.stderr
    assert mine.is_dir() and other.stdout.strip() != mine.name  # kept, and its number not reused
    with pytest.raises(LakeError, match="another writer published in between"):
        publish(mine)  # publishing it now would hide the other writer's documents
    assert read_lake(tmp_path, "fact_document").num_rows == 3


def test_a_dead_writers_claim_does_not_keep_its_snapshot(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    dead = subprocess.run([sys.executable, "-c", OTHER_WRITER, str(tmp_path), "unpublished"],
                          capture_output=True, text=True, cwd=os.path.dirname(__file__), timeout=120)
    assert dead.returncode == 0, dead.stderr
    orphan = tmp_path / dead.stdout.strip()
    orphan_ids = set(lake._read(orphan, "fact_document")["document_id"].to_pylist())
    assert current_snapshot(tmp_path).name != orphan.name
    write_lake(tmp_path, batch(synthetic(1, start=90)))  # removes the orphan (and may reuse its number)
    assert not list(tmp_path.glob(".writing-*"))
    ids = set(read_lake(tmp_path, "fact_document")["document_id"].to_pylist())
    assert len(ids) == 3 and not (orphan_ids - set(lake._read(tmp_path / "v000001", "fact_document")
                                                    ["document_id"].to_pylist())) & ids


OTHER_WRITER = """
import sys
from datetime import datetime, timezone
from factories import synthetic
from pifu.lake import write_lake
from pifu.normalize import normalize
snap = write_lake(sys.argv[1], normalize(synthetic(1, start=70), datetime(2025, 3, 2, tzinfo=timezone.utc)),
                  publish=len(sys.argv) < 3)
print(snap.name)
"""


def test_roll_forward_publishes_a_committed_snapshot_only_on_the_lake_it_was_built_on(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    committed = write_lake(tmp_path, batch(synthetic(1, start=10)), publish=False)
    assert not lake.roll_forward(tmp_path, None)
    assert lake.roll_forward(tmp_path, committed) and current_snapshot(tmp_path) == committed
    assert not lake.roll_forward(tmp_path, committed)  # published already: nothing to do
    stale = write_lake(tmp_path, batch(synthetic(1, start=20)), publish=False)
    write_lake(tmp_path, batch(synthetic(1, start=30)))  # another writer published in between
    assert not lake.roll_forward(tmp_path, stale)
    assert read_lake(tmp_path, "fact_document").num_rows == 4
