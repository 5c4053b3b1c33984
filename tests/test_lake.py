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
from pifu.lake import LakeError, current_snapshot, known_sha256, publish, read_lake, write_lake
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


def test_layout_is_delta_tables_partitioned_by_fiscal_year(tmp_path):
    docs = synthetic(3) + synthetic(2, start=100, fiscal_year=2024)
    snapshot = write_lake(tmp_path, batch(docs), run_id="r1")
    for name in TABLES:
        assert (tmp_path / name / "_delta_log" / "00000000000000000000.json").is_file(), name
    assert list((tmp_path / "fact_funding" / "fiscal_year=2025").glob(f"part-{snapshot.name}-*.parquet"))
    assert list((tmp_path / "fact_text_item" / "fiscal_year=2024").glob("part-*.parquet"))
    assert list((tmp_path / "dim_department").glob("part-*.parquet"))
    # The partition column is in the path (and Delta's log) only, as Spark and Trino expect.
    stored = pq.read_schema(next((tmp_path / "fact_funding" / "fiscal_year=2025").glob("*.parquet")))
    assert "fiscal_year" not in stored.names
    assert read_lake(tmp_path, "fact_funding", fiscal_years=[2024]).num_rows == 2 * 40
    assert set(read_lake(tmp_path, "fact_document", fiscal_years=[2024])["fiscal_year"].to_pylist()) == {2024}
    assert read_lake(tmp_path, "fact_document", fiscal_years=[]).num_rows == 0


def test_each_commit_and_snapshot_records_the_run_that_wrote_it(tmp_path):
    from deltalake import DeltaTable

    first = write_lake(tmp_path, batch(synthetic(2)), run_id="run-a")
    second = write_lake(tmp_path, batch(synthetic(3, start=10)), run_id="run-b")
    log = lake.snapshots(tmp_path)
    assert [(r["version"], r["snapshot"], r["run_id"]) for r in log] == [
        (1, first.name, "run-a"), (2, second.name, "run-b")]
    history = DeltaTable(str(tmp_path / "fact_funding")).history()
    assert [h.get("pifu_run_id") for h in history[:2]] == ["run-b", "run-a"]


def test_time_travel_by_snapshot_number_or_run_id(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)), run_id="run-a")
    write_lake(tmp_path, batch(synthetic(3, start=10)), run_id="run-b")
    assert read_lake(tmp_path, "fact_document").num_rows == 5
    assert read_lake(tmp_path, "fact_document", as_of=1).num_rows == 2
    assert read_lake(tmp_path, "fact_funding", as_of="run-a").num_rows == 2 * 40
    assert read_lake(tmp_path, "fact_funding", as_of="run-b").num_rows == 5 * 40
    with pytest.raises(LakeError, match="no snapshot"):
        read_lake(tmp_path, "fact_document", as_of="run-z")


def _delta_files(table_dir):
    """The data files of a Delta table's latest version, from its log alone (what any Delta reader does)."""
    import json as _json

    live = set()
    for commit in sorted((table_dir / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = _json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            if "remove" in action:
                live.discard(action["remove"]["path"])
    return sorted(str(table_dir / p) for p in live)


def test_duckdb_and_pyarrow_read_the_lake_without_pifu(tmp_path):
    from deltalake import DeltaTable

    docs = synthetic(3) + synthetic(2, start=100, fiscal_year=2024)
    write_lake(tmp_path, batch(docs))
    write_lake(tmp_path, batch(synthetic(1, start=200)))  # dimension files are replaced: the log decides
    files = _delta_files(tmp_path / "fact_funding")
    con = duckdb.connect()
    got = con.sql(f"""
        SELECT fiscal_year, COUNT(*), SUM(amount), typeof(SUM(amount))
        FROM read_parquet({files!r}, hive_partitioning = true)
        GROUP BY fiscal_year ORDER BY fiscal_year""").fetchall()
    funding_rows = read_lake(tmp_path, "fact_funding")
    expected = {}
    for r in funding_rows.to_pylist():
        n, total = expected.get(r["fiscal_year"], (0, 0))
        expected[r["fiscal_year"]] = (n + 1, total + r["amount"])
    assert [(y, n, s) for y, n, s, _ in got] == [(y, *expected[y]) for y in sorted(expected)]
    assert got[0][3].startswith("DECIMAL")
    departments = con.sql(f"SELECT COUNT(*) FROM read_parquet({_delta_files(tmp_path / 'dim_department')!r})")
    assert departments.fetchall()[0][0] == 6
    con.close()
    assert DeltaTable(str(tmp_path / "fact_indicator_value")).to_pyarrow_table().num_rows == 6 * 152
    texts = DeltaTable(str(tmp_path / "fact_text_item")).to_pyarrow_dataset()
    assert sorted(set(texts.to_table(columns=["fiscal_year"])["fiscal_year"].to_pylist())) == [2024, 2025]


def test_runs_append_new_documents_and_keep_old_files(tmp_path):
    first = write_lake(tmp_path, batch(synthetic(4)), run_id="r1")
    second = write_lake(tmp_path, batch(synthetic(3, start=10)), run_id="r2")
    assert second != first
    funding = tmp_path / "fact_funding" / "fiscal_year=2025"
    assert len(list(funding.glob(f"part-{first.name}-*.parquet"))) == 1
    assert len(list(funding.glob(f"part-{second.name}-*.parquet"))) == 1
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


def test_an_unpublished_snapshot_is_seen_by_no_reader_until_published(tmp_path):
    from deltalake import DeltaTable

    write_lake(tmp_path, batch(synthetic(2)))
    before = current_snapshot(tmp_path)
    pending = write_lake(tmp_path, batch(synthetic(3, start=10)), publish=False)
    assert current_snapshot(tmp_path) == before and pending != before
    assert read_lake(tmp_path, "fact_document").num_rows == 2
    assert DeltaTable(str(tmp_path / "fact_funding")).to_pyarrow_table().num_rows == 2 * 40  # outside pifu too
    publish(pending)
    assert current_snapshot(tmp_path) == pending
    assert read_lake(tmp_path, "fact_document").num_rows == 5


def test_a_failed_write_leaves_the_previous_snapshot_current(tmp_path, monkeypatch):
    write_lake(tmp_path, batch(synthetic(2)))
    before = current_snapshot(tmp_path)
    real_write = lake._write_file
    calls = []

    def write_then_die(root, path, table):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(root, path, table)

    monkeypatch.setattr(lake, "_write_file", write_then_die)
    with pytest.raises(LakeError, match="disk is full") as failed:
        write_lake(tmp_path, batch(synthetic(2, start=50)))
    assert "\n" not in str(failed.value) and str(tmp_path) in str(failed.value)
    assert current_snapshot(tmp_path) == before
    assert read_lake(tmp_path, "fact_document").num_rows == 2


def test_what_a_killed_writer_leaves_is_ignored_by_readers_and_cleaned_once_stale(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    before = current_snapshot(tmp_path)
    dead = write_lake(tmp_path, batch(synthetic(3, start=50)), publish=False)  # its run was killed here
    os.close(lake._claims.pop(f"{tmp_path}/{dead.name}"))  # (as if its process died: the kernel drops the lock)
    dead_files = list(tmp_path.glob(f"*/**/part-{dead.name}-*.parquet"))
    assert dead_files
    assert current_snapshot(tmp_path) == before and read_lake(tmp_path, "fact_document").num_rows == 2
    write_lake(tmp_path, batch(synthetic(1, start=90)))  # built on the same head: publishes, dead is stale
    assert read_lake(tmp_path, "fact_document").num_rows == 3
    assert not [p for p in dead_files if p.exists()]
    assert not (tmp_path / lake.PENDING / f"{dead.name}.json").exists()
    assert read_lake(tmp_path, "fact_document").num_rows == 3


def test_publish_refuses_a_snapshot_built_on_an_older_head(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    mine = write_lake(tmp_path, batch(synthetic(2, start=10)), publish=False)
    other = write_lake(tmp_path, batch(synthetic(1, start=70)))  # another writer got there first
    assert other.name != mine.name
    with pytest.raises(LakeError, match="another writer published in between"):
        publish(mine)  # publishing it now would hide the other writer's documents
    assert read_lake(tmp_path, "fact_document").num_rows == 3


def test_a_publish_killed_between_tables_is_finished_by_roll_forward(tmp_path, monkeypatch):
    write_lake(tmp_path, batch(synthetic(2)))
    committed = write_lake(tmp_path, batch(synthetic(3, start=10)), publish=False)

    def killed(point):
        if point == "publish-log":
            raise KeyboardInterrupt  # every table committed, the run log not yet
    monkeypatch.setattr(lake, "pause_at", killed)
    with pytest.raises(KeyboardInterrupt):
        publish(committed)
    monkeypatch.undo()
    assert read_lake(tmp_path, "fact_document").num_rows == 2  # pifu readers: still the old snapshot
    assert lake.roll_forward(tmp_path, committed)
    assert current_snapshot(tmp_path) == committed
    assert read_lake(tmp_path, "fact_funding").num_rows == 5 * 40  # no table committed twice
    assert not lake.roll_forward(tmp_path, committed)


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


def test_ten_thousand_documents_tables_are_written_whole(tmp_path):
    # How fast is `make bench`'s to say (a wall-clock limit here failed on a loaded machine); this says what
    # the write at that size keeps: every row of every appended table.
    tables = batch(synthetic(100))
    big = {name: pa.concat_tables([t] * 100) for name, t in tables.items()}  # 10,000 documents' rows
    ids = pa.array([f"d{i:05d}" for i in range(big["fact_document"].num_rows)])
    big["fact_document"] = big["fact_document"].set_column(0, "document_id", ids)
    docs = dict(zip(tables["fact_document"]["document_id"].to_pylist(), range(100)))
    for name in lake.APPENDED:
        if name in big and "document_id" in big[name].column_names:
            col = big[name]["document_id"].to_pylist()
            n = tables[name].num_rows
            big[name] = big[name].set_column(big[name].schema.get_field_index("document_id"), "document_id",
                                             pa.array([f"d{(i // n) * 100 + docs[d]:05d}" for i, d in enumerate(col)]))
    write_lake(tmp_path, big)
    for name in lake.APPENDED:
        if name in big:
            assert read_lake(tmp_path, name).num_rows == big[name].num_rows, name


def test_known_sha256_covers_documents_and_quarantine(tmp_path):
    assert known_sha256(tmp_path) == set()
    docs = synthetic(3)
    tables = batch(docs)
    tables["quarantine"] = quarantine_table([{"source_path": "/in/bad.pdf", "sha256": "cd" * 32,
                                              "reason": "unreadable", "detail": "x", "quarantined_at": T0}])
    write_lake(tmp_path, tables)
    assert known_sha256(tmp_path) == {d.source.sha256 for d in docs} | {"cd" * 32}


def test_known_sha256_reads_the_run_log_once_and_only_the_sha256_column(tmp_path, monkeypatch):
    docs = synthetic(3)
    tables = batch(docs)
    tables["quarantine"] = quarantine_table([{"source_path": "/in/bad.pdf", "sha256": "cd" * 32,
                                              "reason": "unreadable", "detail": "x", "quarantined_at": T0}])
    write_lake(tmp_path, tables)
    expected = {sha for t in ("fact_document", "quarantine") for sha in read_lake(tmp_path, t)["sha256"].to_pylist()}
    logs, reads = [], []
    real_log, real_read = lake._run_log, lake._read
    monkeypatch.setattr(lake, "_run_log", lambda root: logs.append(root) or real_log(root))
    monkeypatch.setattr(lake, "_read", lambda root, table, version, *a, **k:
                        reads.append((table, k.get("columns"))) or real_read(root, table, version, *a, **k))
    assert known_sha256(tmp_path) == expected
    assert len(logs) == 1
    assert sorted(reads) == [("fact_document", ["sha256"]), ("quarantine", ["sha256"])]


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


def test_a_dead_writers_snapshot_is_never_seen_and_its_files_go_once_stale(tmp_path):
    write_lake(tmp_path, batch(synthetic(2)))
    dead = subprocess.run([sys.executable, "-c", OTHER_WRITER, str(tmp_path), "unpublished"],
                          capture_output=True, text=True, cwd=os.path.dirname(__file__), timeout=120)
    assert dead.returncode == 0, dead.stderr
    orphan = dead.stdout.strip()
    assert current_snapshot(tmp_path).name != orphan
    write_lake(tmp_path, batch(synthetic(1, start=90)))
    write_lake(tmp_path, batch(synthetic(1, start=91)))
    assert not list(tmp_path.glob(f"*/**/part-{orphan}-*.parquet"))
    ids = set(read_lake(tmp_path, "fact_document")["document_id"].to_pylist())
    dead_ids = set(batch(synthetic(1, start=70))["fact_document"]["document_id"].to_pylist())
    assert len(ids) == 4 and not dead_ids & ids


OTHER_WRITER = """
import sys
from datetime import datetime, timezone
from factories import synthetic
from pifu.lake import write_lake
from pifu.normalize import normalize
snap = write_lake(sys.argv[1], normalize(synthetic(1, start=70), datetime(2025, 3, 2, tzinfo=timezone.utc)),
                  publish=len(sys.argv) < 3)
print(snap.name, flush=True)
# Leave as `pifu` does (pifu.cli.entry): delta-rs' runtime threads can abort interpreter teardown
# ("terminate called without an active exception") after the work is done.
import os
os._exit(0)
"""


def test_a_run_written_in_chunks_equals_one_written_at_once(tmp_path):
    write_lake(tmp_path / "a", batch(synthetic(2, start=500, fiscal_year=2024)))
    write_lake(tmp_path / "b", batch(synthetic(2, start=500, fiscal_year=2024)))
    docs = synthetic(7)
    write_lake(tmp_path / "a", batch(docs), run_id="r")
    with lake.RunWriter(tmp_path / "b", run_id="r") as w:
        for k in range(0, 7, 3):
            w.add(batch(docs[k:k + 3]))
        w.add(batch(docs[:2]))  # documents seen earlier in the run: nothing more
        w.finish(publish=True)
    for name in TABLES:
        assert rows(read_lake(tmp_path / "a", name)) == rows(read_lake(tmp_path / "b", name)), name
    assert read_lake(tmp_path / "b", "fact_document", fiscal_years=[2024]).num_rows == 2  # other years kept
    assert read_lake(tmp_path / "b", "fact_document").num_rows == 9


def test_a_chunks_tables_are_written_two_at_once(tmp_path, monkeypatch):
    """The writer's threads take a chunk's tables side by side: each file of the first chunk waits until a
    second one is being written (a bounded wait: one thread alone breaks it and fails the run)."""
    import threading

    both = threading.Barrier(2, timeout=10)
    real_write = lake._write_file

    def side_by_side(root, path, table):
        if path.endswith("-1-0.parquet") and ("/fact_funding/" in path or "/fact_indicator_value/" in path):
            both.wait()
        real_write(root, path, table)

    monkeypatch.setattr(lake, "_write_file", side_by_side)
    with lake.RunWriter(tmp_path, run_id="r") as w:
        w.add(batch(synthetic(1)))
        w.finish(publish=True)
    assert read_lake(tmp_path, "fact_funding").num_rows == 40
    assert read_lake(tmp_path, "fact_indicator_value").num_rows == 152


def test_a_run_writer_left_by_an_exception_leaves_nothing(tmp_path):
    write_lake(tmp_path, batch(synthetic(1)))
    with pytest.raises(RuntimeError):
        with lake.RunWriter(tmp_path) as w:
            w.add(batch(synthetic(3, start=10)))
            raise RuntimeError("the checks failed")
    assert not list(tmp_path.glob(f"*/**/part-{w.name}-*"))
    assert not list((tmp_path / lake.PENDING).glob("*.json"))
    assert read_lake(tmp_path, "fact_document").num_rows == 1


def test_a_chunk_whose_files_fail_in_the_writer_thread_fails_the_run_and_leaves_nothing(tmp_path, monkeypatch):
    """A chunk's fact files are written while the next chunk is checked: a disk error there still stops
    the run with the lake's one-line error, at the next chunk at the latest, and nothing is left."""
    write_lake(tmp_path, batch(synthetic(1)))
    real_write = lake._write_file

    def full_for_chunk_one(root, path, table):
        if "-1-0.parquet" in path:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(root, path, table)

    monkeypatch.setattr(lake, "_write_file", full_for_chunk_one)
    with pytest.raises(LakeError, match="disk is full"):
        with lake.RunWriter(tmp_path) as w:
            w.add(batch(synthetic(2, start=10)))
            w.add(batch(synthetic(2, start=20)))
            w.finish(publish=True)
    assert not list(tmp_path.glob(f"*/**/part-{w.name}-*"))
    assert not list((tmp_path / lake.PENDING).glob("*.json"))
    assert read_lake(tmp_path, "fact_document").num_rows == 1
