"""A run's own tables between its steps: Arrow IPC files under data/staging/<run_id>/.

Steps of one run hand each other a directory, not pickled objects: any step can be re-executed from
the UI, and a killed run leaves only a staging folder that the next run removes.

A long run is staged batch by batch (`write_batch`: batches/000001/<table>.arrow as the parse hands them
back) and read back in chunks of documents (`chunks`), memory-mapped: no step holds the whole run.
`read` still gives whole tables (top-level files, else every batch's concatenated).
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.ipc as ipc

from pifu.faults import EnvironmentFault, os_fault
from pifu.schema import SCHEMAS


def write(stage: Path, tables: dict[str, pa.Table]) -> None:
    """Raises EnvironmentFault (one line) when the file system refuses, e.g. the disk is full."""
    try:
        stage.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            tmp = stage / f".{name}.arrow"
            with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            tmp.replace(stage / f"{name}.arrow")
    except OSError as e:  # Arrow's own writer raises OSError too
        raise os_fault(EnvironmentFault, str(stage), e, "cannot write the run's staging files") from e


def read(stage: Path, names=None) -> dict[str, pa.Table]:
    out = {}
    for name in names or SCHEMAS:
        path = stage / f"{name}.arrow"
        if path.exists():
            out[name] = _read_file(path)
    batched = batches(stage)
    if batched:
        for name in names or SCHEMAS:
            if name not in out:
                parts = [_read_file(b / f"{name}.arrow") for b in batched if (b / f"{name}.arrow").exists()]
                if parts:
                    out[name] = pa.concat_tables(parts)
    return out


def _read_file(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all()


BATCHES = "batches"


def write_batch(stage: Path, number: int, tables: dict[str, pa.Table]) -> None:
    """One batch of the run's tables, beside the others (number them from 1)."""
    write(stage / BATCHES / f"{number:06d}", tables)


SPILL = "spill"  # where parse workers write their batches' files before the run adopts them


def adopt_batch(stage: Path, number: int, folder: str | Path, tables: dict[str, pa.Table]) -> None:
    """A batch a parse worker wrote under `stage/SPILL` becomes batch `number` (a rename), with `tables`
    (the quarantine rows) added beside its own."""
    target = stage / BATCHES / f"{number:06d}"
    if target.exists():  # a re-execution of the step parses into the stage its first attempt used
        remove(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(folder).rename(target)
    except OSError as e:
        raise os_fault(EnvironmentFault, str(target), e, "cannot write the run's staging files") from e
    write(target, tables)


def batches(stage: Path) -> list[Path]:
    folder = stage / BATCHES
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def chunks(stage: Path, documents: int = 5000, names=None, with_dirs: bool = False) -> Iterator:
    """The staged batches, grouped into chunks of about `documents` documents (a batch is never split,
    so a document's rows are all in one chunk); memory-mapped, so a chunk costs what its rows cost.
    With `with_dirs`, (the chunk's batch folders, its tables)."""
    group: list[dict[str, pa.Table]] = []
    dirs: list[Path] = []
    count = 0
    for b in batches(stage):
        tables = {name: _read_file(b / f"{name}.arrow") for name in names or SCHEMAS if (b / f"{name}.arrow").exists()}
        group.append(tables)
        dirs.append(b)
        count += tables["fact_document"].num_rows if "fact_document" in tables else 0
        if count >= documents:
            yield (dirs, _concat(group)) if with_dirs else _concat(group)
            group, dirs, count = [], [], 0
    if group:
        yield (dirs, _concat(group)) if with_dirs else _concat(group)


def _concat(group: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    names = {n for g in group for n in g}
    return {n: pa.concat_tables([g[n] for g in group if n in g]) for n in names}


def prune(root: Path, older_than_s: float = 24 * 3600) -> None:
    """Remove staging folders left by runs that died (a run removes its own when it has loaded), and
    folders a run discarded but did not finish removing, whatever their age."""
    if root.exists():
        cutoff = time.time() - older_than_s
        for d in root.iterdir():
            if d.is_dir() and (d.name.startswith(_DISCARDED) or d.stat().st_mtime < cutoff):
                shutil.rmtree(d, ignore_errors=True)


def remove(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)


_DISCARDED = ".discarded-"
_removals: list[threading.Thread] = []


def discard(stage: Path) -> None:
    """Remove `stage` in the background: renamed away at once (nothing reads it after), deleted by a
    thread while the run goes on (unlinking a 10,000-document run's files took ~1 s). `wait_discarded`
    lets a process finish the job before it exits; what a killed process leaves, `prune` removes."""
    target = stage.with_name(f"{_DISCARDED}{stage.name}")
    try:
        stage.rename(target)
    except OSError:
        remove(stage)
        return
    thread = threading.Thread(target=remove, args=(target,), name="pifu-staging-removal", daemon=True)
    thread.start()
    _removals.append(thread)


def wait_discarded() -> None:
    while _removals:
        _removals.pop().join()
