"""From files and folders to documents and quarantine records: discovery, hashing, parsing in a pool.

Every file found ends up in exactly one of: parsed documents, quarantine records, or skipped because
its content (sha256) was already loaded or quarantined.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from itertools import repeat
from typing import Callable, Iterable

import pyarrow as pa

from pifu.api import parse
from pifu.model import Document, DocumentError
from pifu.normalize import combine, normalize, unfit_reason
from pifu.readers import MAX_BYTES

SKIP_SUFFIXES = (".truth.json",)  # the generator's answers, written beside its documents
UNKNOWN_YEAR = "unknown"  # the partition of files whose title names no fiscal year
_TITLE_YEAR = re.compile(r"((?:19|20)\d{2})\s*年(?:度)?[^\n]{0,20}?部门整体绩效目标")


@dataclass(frozen=True)
class InputFile:
    path: str
    sha256: str
    size: int
    mtime_ns: int | None = None  # when fingerprinted: orders two versions of a document found in one run


def discover(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named, and files below folders named (hidden ones and generator truth files left out), sorted."""
    found: set[Path] = set()
    for source in sources:
        p = Path(source)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.update(Path(root) / f for f in files
                             if not f.startswith(".") and not f.endswith(SKIP_SUFFIXES))
        else:
            found.add(p)  # a missing file is quarantined with its reason, not skipped
    return sorted(found)


def fingerprint(path: Path) -> InputFile:
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            mtime_ns = os.fstat(f.fileno()).st_mtime_ns
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                if size > MAX_BYTES:
                    break
    except OSError:
        return InputFile(str(path), "", -1)
    return InputFile(str(path), h.hexdigest(), size, mtime_ns)


def sniff_year(path: str | os.PathLike) -> str:
    """The fiscal year from the title in the first bytes, without parsing: it routes a file to its
    partition. Files without a readable title go to the `unknown` partition (and are parsed there)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return UNKNOWN_YEAR
    if head.startswith(b"PK\x03\x04"):  # a workbook: its title is inside the zip, so read it
        try:
            return str(parse(path).fiscal_year)
        except DocumentError:
            return UNKNOWN_YEAR
    for encoding in ("utf-16", "utf-8", "gb18030") if head[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8", "gb18030"):
        text = head.decode(encoding, errors="ignore")
        m = _TITLE_YEAR.search(text.translate(_WIDE_DIGITS))
        if m:
            return m.group(1)
    return UNKNOWN_YEAR


_WIDE_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


def plan(sources: Iterable[str | os.PathLike], known: set[str]) -> tuple[dict[str, list[InputFile]], dict]:
    """New files by fiscal-year partition, and counts of what was passed over."""
    files = [fingerprint(p) for p in discover(sources)]
    by_year: dict[str, list[InputFile]] = {}
    seen: set[str] = set()
    stats = {"found": len(files), "already_seen": 0, "same_content": 0}
    for f in files:
        if f.sha256 and f.sha256 in known:
            stats["already_seen"] += 1
        elif f.sha256 and f.sha256 in seen:
            stats["same_content"] += 1
        else:
            seen.add(f.sha256)
            by_year.setdefault(sniff_year(f.path), []).append(f)
    return by_year, stats


def _parse_one(item: InputFile) -> Document | tuple[str, str, str, str]:
    try:
        doc = parse(item.path)
    except DocumentError as e:
        return (item.path, item.sha256, e.reason, str(e))
    except Exception as e:  # a parser bug must quarantine one file, not stop the run
        return (item.path, item.sha256, "parser_error", f"{item.path}: {type(e).__name__}: {e}")
    unfit = unfit_reason(doc)
    if unfit:
        return (item.path, item.sha256, "unfit", f"{item.path}: {unfit}")
    return doc


@dataclass(frozen=True)
class Parsed:
    """What a batch of files became: the star-schema tables, quarantine records, and per document a
    line for operators (path, department, fiscal year, funding rows, indicator rows, problem codes)."""

    tables: dict[str, pa.Table]
    quarantined: list[dict]
    documents: list[tuple[str, str, int, int, int, tuple[str, ...]]]


def _parse_batch(items: list[InputFile], loaded_at: datetime) -> Parsed:
    docs, quarantined = [], []
    for item in items:
        result = _parse_one(item)
        if isinstance(result, Document):
            docs.append(result)
        else:
            path, sha, reason, detail = result
            quarantined.append({"source_path": path, "sha256": sha or _sha_of_text(path), "reason": reason,
                                "detail": detail, "quarantined_at": loaded_at})
    lines = [(d.source.path, d.department, d.fiscal_year, len(d.funding), len(d.indicators),
              tuple(f"{p.code} ({p.severity})" for p in d.problems)) for d in docs]
    return Parsed(normalize(docs, loaded_at), quarantined, lines)


def parse_files(items: list[InputFile], workers: int | None = None, batch: int = 250,
                progress: Callable[[int, int], None] | None = None) -> Parsed:
    """Parse and normalize in batches across a pool of long-lived processes (no process per file): the
    workers hand back Arrow tables, not document objects, so memory stays bounded and pickling cheap."""
    workers = workers or int(os.environ.get("PIFU_WORKERS") or 0) or os.cpu_count() or 1
    loaded_at = datetime.now(timezone.utc)
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    pool = (ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
            if workers > 1 and len(batches) > 1 else None)
    results: Iterable[Parsed] = (pool.map(_parse_batch, batches, repeat(loaded_at)) if pool
                                 else map(_parse_batch, batches, repeat(loaded_at)))
    parts: list[Parsed] = []
    try:
        done = 0
        for part in results:
            parts.append(part)
            done += len(part.documents) + len(part.quarantined)
            if progress:
                progress(done, len(items))
    finally:
        if pool:
            pool.shutdown()
    tables = combine([p.tables for p in parts]) if parts else normalize([], loaded_at)
    return Parsed(tables, [q for p in parts for q in p.quarantined], [d for p in parts for d in p.documents])


def _pool_context():
    # Workers forked from a clean server process: not from the caller, whose threads and signal handlers
    # (Dagster's interrupt handling) a plain fork would copy.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pifu.ingest"])
    return ctx


def _sha_of_text(path: str) -> str:
    # An unreadable file has no content hash; key its quarantine row by its path instead.
    return "path:" + hashlib.sha256(path.encode()).hexdigest()
