"""The Parquet lake: immutable snapshots behind an atomically swapped `CURRENT` symlink.

    lake/CURRENT -> v000124                      (readers resolve this once, then read one snapshot)
    lake/v000124/dim_department/part-<run>.parquet
    lake/v000124/fact_funding/fiscal_year=2025/part-<run>.parquet
    lake/v000123/…                               (the previous snapshot, kept for readers mid-query)

A run builds the next snapshot in a hidden temp directory: the previous snapshot's fact files are
hard-linked (files are never modified in place, so sharing inodes is safe), the run's new rows are
written as new files, and the small tables are rewritten whole. Only then is the directory renamed
and `CURRENT` swapped with os.replace, so a run killed at any point leaves the previous snapshot
current and intact; its leftovers are removed by the next run.

Every fact table is hive-partitioned by the fiscal year of its document. The partition column lives
in the path only (as Spark, Trino and DuckDB expect), so fact_text_item and fact_problem, which have
no fiscal_year column of their own, gain one when read with hive partitioning:

    SELECT * FROM read_parquet('lake/CURRENT/fact_funding/**/*.parquet', hive_partitioning = true)

`read_lake` returns exactly the columns of `pifu.schema.SCHEMAS`. One writer at a time (a lock file
serializes them); any number of readers.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pifu.faults import LakeError, os_fault, pause_at
from pifu.normalize import KEYS, first_by_key, mark_current
from pifu.schema import SCHEMAS

CURRENT = "CURRENT"
BASE = ".base"  # in a snapshot: the name of the snapshot it was built on ("" for an empty lake)
KEEP = 2
YEAR = "fiscal_year"
_SNAPSHOT = re.compile(r"^v(\d{6,})$")
# Small tables, rewritten whole each run. Dimensions take the newest spelling; documents and
# quarantine keep the first record of a key (a version, once stored, does not change).
REWRITTEN = ("dim_department", "dim_indicator", "fact_document", "quarantine")
NEWEST_WINS = frozenset({"dim_department", "dim_indicator"})
# Large tables: each run appends the rows of the documents it added.
APPENDED = ("fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem", "dq_result", "fact_duty_target")
PARTITIONED = frozenset({"fact_document", "fact_funding", "fact_indicator_value", "fact_text_item", "fact_problem",
                         "fact_duty_target"})
_HIVE = ds.partitioning(pa.schema([(YEAR, pa.int32())]), flavor="hive")


def current_snapshot(lake_dir: str | os.PathLike) -> Path | None:
    pointer = Path(lake_dir) / CURRENT
    if not pointer.is_symlink():
        return None
    return Path(lake_dir) / os.readlink(pointer)


def write_lake(lake_dir: str | os.PathLike, tables: dict[str, pa.Table], run_id: str | None = None,
               publish: bool = True) -> Path:
    """Write a snapshot holding the previous one plus `tables`; returns the new snapshot directory.

    Rows of documents already in the lake are skipped, so writing the same batch twice changes nothing
    but the snapshot number. With `publish=False` the snapshot is complete but not current until
    `publish(snapshot)`: the pipeline publishes only after the warehouse committed the same rows, so a
    run killed before that leaves both as they were (the next writer removes the orphan). Until then
    this process marks the snapshot as its own, so no other writer removes it or reuses its number.
    Raises LakeError (one line: disk full, not writable) when the file system refuses.
    """
    unknown = set(tables) - set(REWRITTEN) - set(APPENDED)
    if unknown:
        raise ValueError(f"not lake tables: {sorted(unknown)}")
    lake = Path(lake_dir)
    try:
        lake.mkdir(parents=True, exist_ok=True)
        with _writer_lock(lake):
            final = _write_snapshot(lake, tables, run_id, publish)
    except OSError as e:
        raise os_fault(LakeError, str(lake), e, "cannot write the lake's next snapshot") from e
    pause_at("lake")
    return final


def _write_snapshot(lake: Path, tables: dict[str, pa.Table], run_id: str | None, publish: bool) -> Path:
    _remove_leftovers(lake)
    previous = current_snapshot(lake)
    version = _next_version(lake)
    run_id = run_id or f"{version:06d}-{uuid.uuid4().hex[:8]}"
    tmp = lake / f".tmp-v{version:06d}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    final = lake / f"v{version:06d}"
    try:
        _build(previous, tmp, {k: v.select(SCHEMAS[k].names).cast(SCHEMAS[k]) for k, v in tables.items()},
               run_id)
        (tmp / BASE).write_text(previous.name if previous else "", encoding="utf-8")
        _fsync_dirs(tmp)
        if not publish:
            _claim(lake, final.name)
        os.rename(tmp, final)
        if publish:
            _point(lake, final.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _release(lake, final.name)
        raise
    if publish:
        _prune(lake, version)
    return final


def publish(snapshot: str | os.PathLike) -> None:
    """Make a snapshot written with `publish=False` the current one. Refuses (LakeError) when the
    snapshot is gone or when another writer published since it was built: it would hide that writer's
    documents."""
    snapshot = Path(snapshot)
    lake = snapshot.parent
    with _writer_lock(lake):
        if not snapshot.is_dir():
            raise LakeError(str(snapshot), "this run's lake snapshot was removed by another writer before it "
                            "was published; run again (files the lake lacks are parsed again)")
        base = (snapshot / BASE).read_text(encoding="utf-8") if (snapshot / BASE).exists() else None
        current = current_snapshot(lake)
        if base is not None and base != (current.name if current else ""):
            raise LakeError(str(snapshot), f"built on {base or 'an empty lake'} but {current.name if current else 'none'}"
                            " is current now (another writer published in between); not published, run again "
                            "(files the lake lacks are parsed again)")
        _point(lake, snapshot.name)
        _prune(lake, int(_SNAPSHOT.match(snapshot.name).group(1)))
        _release(lake, snapshot.name)


def roll_forward(lake_dir: str | os.PathLike, committed: str | os.PathLike | None) -> bool:
    """Publish `committed`, the snapshot whose rows the warehouse committed, if its run died before
    publishing it (it is still there, not current, and built on the current snapshot). Call it under
    the run lock, before anything writes the lake (a writer would remove it as a leftover). Returns
    whether it published."""
    if not committed:
        return False
    snapshot = Path(committed)
    lake = Path(lake_dir)
    current = current_snapshot(lake)
    if not snapshot.is_dir() or (current and current.resolve() == snapshot.resolve()):
        return False
    base = (snapshot / BASE).read_text(encoding="utf-8") if (snapshot / BASE).exists() else None
    if base != (current.name if current else ""):
        return False  # the lake moved on since: the snapshot is stale, and the next run fills in instead
    publish(snapshot)
    return True


def read_lake(lake_dir: str | os.PathLike, table: str, fiscal_years: list[int] | None = None) -> pa.Table:
    """`table` of the current snapshot (empty when the lake has none); `fiscal_years` prunes partitions."""
    snapshot = current_snapshot(lake_dir)
    if snapshot is None:
        return SCHEMAS[table].empty_table()
    return _read(snapshot, table, fiscal_years)


def earlier_documents(lake_dir: str | os.PathLike, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """fact_document and fact_funding of the lake's documents that the run's documents look back on:
    their departments, the years their history covers (partitions pruned, so cheap on a big lake)."""
    departments, funding = pc.unique(tables["fact_document"]["department_id"]), tables["fact_funding"]
    back = pc.unique(funding.filter(pc.less(funding["year"], funding["fiscal_year"]))["year"]).to_pylist()
    out = {}
    for name in ("fact_document", "fact_funding"):
        earlier = read_lake(lake_dir, name, fiscal_years=back)
        out[name] = earlier.filter(pc.is_in(earlier["department_id"], departments))
    return out


def known_sha256(lake_dir: str | os.PathLike) -> set[str]:
    """Files the lake already holds, loaded or quarantined: a run need not parse them again."""
    return {
        sha
        for table in ("fact_document", "quarantine")
        for sha in read_lake(lake_dir, table).column("sha256").to_pylist()
    }


def _read(snapshot: Path, table: str, fiscal_years: list[int] | None = None) -> pa.Table:
    schema = SCHEMAS[table]
    folder = snapshot / table
    if not folder.is_dir():
        return schema.empty_table()
    if table not in PARTITIONED:
        return ds.dataset(folder, format="parquet", schema=schema).to_table()
    stored = _stored_schema(table)
    dataset = ds.dataset(folder, format="parquet", schema=stored.append(pa.field(YEAR, pa.int32())),
                         partitioning=_HIVE)
    where = None if fiscal_years is None else ds.field(YEAR).isin(list(fiscal_years))
    return dataset.to_table(filter=where).select(schema.names)


def _stored_schema(table: str) -> pa.Schema:
    """The columns in the file: a partition column is in the path only."""
    schema = SCHEMAS[table]
    if table in PARTITIONED and YEAR in schema.names:
        return schema.remove(schema.get_field_index(YEAR))
    return schema


def _build(previous: Path | None, target: Path, tables: dict[str, pa.Table], run_id: str) -> None:
    old_docs = _read(previous, "fact_document") if previous else SCHEMAS["fact_document"].empty_table()
    incoming = tables.get("fact_document", SCHEMAS["fact_document"].empty_table())
    old_ids = pa.array(set(old_docs["document_id"].to_pylist()), pa.string())
    fresh_docs = first_by_key(incoming.filter(pc.invert(pc.is_in(incoming["document_id"], old_ids))), "document_id")
    fresh_ids = fresh_docs["document_id"].combine_chunks()
    years = dict(zip(old_docs["document_id"].to_pylist(), old_docs[YEAR].to_pylist()))
    years.update(zip(fresh_docs["document_id"].to_pylist(), fresh_docs[YEAR].to_pylist()))

    for name in REWRITTEN:
        new = fresh_docs if name == "fact_document" else tables.get(name)
        if new is None or new.num_rows == 0:
            _link(previous, target, name)
            continue
        old = _read(previous, name) if previous else SCHEMAS[name].empty_table()
        parts = [new, old] if name in NEWEST_WINS else [old, new]
        merged = first_by_key(pa.concat_tables(parts), KEYS[name])
        if name == "fact_document":
            merged = mark_current(merged)
        _write(target, name, merged, run_id, years)

    for name in APPENDED:
        _link(previous, target, name)
        rows = tables.get(name)
        if rows is None or rows.num_rows == 0 or len(fresh_ids) == 0:
            continue
        mine = pc.is_in(rows["document_id"], fresh_ids)
        if name == "dq_result":  # batch-level results (no document) belong to a run that added documents
            mine = pc.or_kleene(mine, pc.is_null(rows["document_id"]))
        mine = pc.fill_null(mine, False)
        _write(target, name, rows if pc.all(mine).as_py() else rows.filter(mine), run_id, years)


def _write(target: Path, name: str, table: pa.Table, run_id: str, years: dict[str, int]) -> None:
    if table.num_rows == 0:
        return
    folder = target / name
    if name not in PARTITIONED:
        _write_file(folder / f"part-{run_id}.parquet", table)
        return
    year_column = table[YEAR] if YEAR in table.column_names else pa.array(
        [years[d] for d in table["document_id"].to_pylist()], pa.int32())
    stored = _stored_schema(name)
    body = table.select(stored.names)
    years_here = pc.unique(year_column).to_pylist()
    for year in years_here:
        # A filter copies the table: skip it in the usual single-year batch.
        part = body if len(years_here) == 1 else body.filter(pc.equal(year_column, year))
        _write_file(folder / f"{YEAR}={year}" / f"part-{run_id}.parquet", part)


def _write_file(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(previous: Path | None, target: Path, name: str) -> None:
    """The previous snapshot's files of `name`, shared by hard link (copied where links are refused)."""
    if previous is None or not (previous / name).is_dir():
        return
    for src in (previous / name).rglob("*.parquet"):
        dst = target / src.relative_to(previous)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _point(lake: Path, snapshot_name: str) -> None:
    tmp = lake / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
    os.symlink(snapshot_name, tmp)
    os.replace(tmp, lake / CURRENT)
    _fsync_dir(lake)


def _snapshots(lake: Path) -> dict[int, Path]:
    return {int(m.group(1)): p for p in lake.iterdir() if (m := _SNAPSHOT.match(p.name)) and p.is_dir()}


def _next_version(lake: Path) -> int:
    return max(_snapshots(lake), default=0) + 1


def _prune(lake: Path, current: int) -> None:
    """Keep the current snapshot and the one before it (a reader may still be inside it)."""
    older = sorted(v for v in _snapshots(lake) if v < current)
    for v in older[: max(0, len(older) - (KEEP - 1))]:
        shutil.rmtree(lake / f"v{v:06d}", ignore_errors=True)


def _remove_leftovers(lake: Path) -> None:
    """What a killed writer left: temp directories, and snapshots it renamed but never pointed to.
    A snapshot whose writer is alive (its claim is locked) stays: that writer publishes it later."""
    current = current_snapshot(lake)
    current_version = int(_SNAPSHOT.match(current.name).group(1)) if current else 0
    for p in lake.iterdir():
        if p.name.startswith((".tmp-", f".{CURRENT}.")):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink()
    for v, p in _snapshots(lake).items():
        if v > current_version and not _claimed_by_a_live_writer(lake, p.name):
            shutil.rmtree(p, ignore_errors=True)
    for claim in lake.glob(f"{_CLAIM}v*"):
        if not (lake / claim.name.removeprefix(_CLAIM)).is_dir():
            claim.unlink(missing_ok=True)


# Unpublished snapshots of writers in this process: name -> the descriptor holding its claim's flock.
_claims: dict[str, int] = {}
_CLAIM = ".writing-"


def _claim(lake: Path, name: str) -> None:
    fd = os.open(lake / f"{_CLAIM}{name}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _claims[str(lake.resolve() / name)] = fd


def _release(lake: Path, name: str) -> None:
    fd = _claims.pop(str(lake.resolve() / name), None)
    (lake / f"{_CLAIM}{name}").unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def _claimed_by_a_live_writer(lake: Path, name: str) -> bool:
    if str(lake.resolve() / name) in _claims:
        return True
    try:
        fd = os.open(lake / f"{_CLAIM}{name}", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False  # its writer died (the kernel dropped its lock)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@contextmanager
def _writer_lock(lake: Path):
    with open(lake / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dirs(root: Path) -> None:
    for folder, _, _ in os.walk(root):
        _fsync_dir(Path(folder))
