"""Metadata an operator reads in the UI: small markdown tables and counts."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import dagster as dg


def md_table(rows: Iterable[Sequence], columns: Sequence[str], limit: int = 20) -> dg.MetadataValue:
    rows = list(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more")
    if not rows:
        lines.append("| " + " | ".join("" for _ in columns) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def counts(values: Iterable[str]) -> dg.MetadataValue:
    c = Counter(values)
    return md_table(sorted(c.items(), key=lambda kv: -kv[1]), ["code", "count"], limit=50)


def _cell(v) -> str:
    text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\n", " ")[:120]


# ---- seconds per stage: each step adds its stages to <stage>/timings.json and to its metadata ----

STAGES = ("discover", "hash", "parse", "normalize", "expectations", "lake", "warehouse")


def record_seconds(stage_dir, seconds: dict[str, float]) -> dict[str, float]:
    """Add this step's stage seconds to the run's timings file; metadata entries `seconds_<stage>`."""
    import json
    from pathlib import Path

    path = Path(stage_dir) / "timings.json"
    try:
        so_far = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        so_far = {}
    for k, v in seconds.items():
        so_far[k] = round(so_far.get(k, 0.0) + v, 3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(so_far), encoding="utf-8")
    except OSError:
        pass  # the figures are for people; the run does not depend on them
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {**{f"seconds_{k}": dg.MetadataValue.float(round(v, 3)) for k, v in seconds.items()},
            # the process's peak so far: the step after which it jumps is the one to look at
            "peak_rss_mb": dg.MetadataValue.int(int(peak_mb))}


def run_seconds(stage_dir) -> dict[str, float]:
    import json
    from pathlib import Path

    try:
        return json.loads((Path(stage_dir) / "timings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def release_memory() -> None:
    """Hand Arrow's freed memory back to the system. Its allocator (mimalloc) keeps what a step freed for
    reuse: after parsing 10,000 documents ~900 MB that no table used any more stayed resident, so the
    next step's peak was stacked on top of it (docs/performance.md). Called where a step's big tables
    have just been dropped; costs milliseconds."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:  # numpy and pandas allocate with glibc's malloc, which keeps freed arenas too
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc
