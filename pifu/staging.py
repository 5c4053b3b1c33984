"""A run's own tables between its steps: Arrow IPC files under data/staging/<run_id>/.

Steps of one run hand each other a directory, not pickled objects: any step can be re-executed from
the UI, and a killed run leaves only a staging folder that the next run removes.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

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
            with pa.memory_map(str(path)) as source:
                out[name] = ipc.open_file(source).read_all()
    return out


def prune(root: Path, older_than_s: float = 24 * 3600) -> None:
    """Remove staging folders left by runs that died (a run removes its own when it has loaded)."""
    if root.exists():
        cutoff = time.time() - older_than_s
        for d in root.iterdir():
            if d.is_dir() and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)


def remove(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)
