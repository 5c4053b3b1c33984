"""From files and folders to documents and quarantine records: discovery, hashing, parsing in a pool.

Every file found ends up in exactly one of: parsed documents, quarantine records, or skipped because
its content (sha256) was already loaded or quarantined.
"""
from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from pifu.api import parse_bytes
from pifu.model import Document, DocumentError
from pifu.readers import MAX_BYTES

SKIP_SUFFIXES = (".truth.json",)  # the generator's answers, written beside its documents
UNKNOWN_YEAR = "unknown"  # the partition of files whose title names no fiscal year
_TITLE_YEAR = re.compile(r"((?:19|20)\d{2})\s*年(?:度)?[^\n]{0,20}?部门整体绩效目标")


@dataclass(frozen=True)
class InputFile:
    path: str
    sha256: str
    size: int


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
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                if size > MAX_BYTES:
                    break
    except OSError:
        return InputFile(str(path), "", -1)
    return InputFile(str(path), h.hexdigest(), size)


def sniff_year(path: str | os.PathLike) -> str:
    """The fiscal year from the title in the first bytes, without parsing: it routes a file to its
    partition. Files without a readable title go to the `unknown` partition (and are parsed there)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
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
        if item.size < 0:
            raise DocumentError(item.path, "cannot be opened", "unreadable")
        if item.size > MAX_BYTES:
            raise DocumentError(item.path, f"more than the {MAX_BYTES:,} bytes a 批复 export can be", "too_large")
        with open(item.path, "rb") as f:
            return parse_bytes(f.read(), item.path)
    except DocumentError as e:
        return (item.path, item.sha256, e.reason, str(e))
    except Exception as e:  # a parser bug must quarantine one file, not stop the run
        return (item.path, item.sha256, "parser_error", f"{item.path}: {type(e).__name__}: {e}")


def parse_many(items: list[InputFile], workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list[Document], list[dict]]:
    """Parse in a pool of long-lived processes (no process per file); order follows `items`."""
    workers = workers or os.cpu_count() or 1
    now = datetime.now(timezone.utc)
    docs: list[Document] = []
    quarantined: list[dict] = []
    if workers == 1 or len(items) < 50:
        results: Iterable = map(_parse_one, items)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_parse_one, items, chunksize=max(1, min(200, len(items) // (workers * 8))))
    try:
        for n, result in enumerate(results, 1):
            if isinstance(result, Document):
                docs.append(result)
            else:
                path, sha, reason, detail = result
                quarantined.append({"source_path": path, "sha256": sha or _sha_of_text(path), "reason": reason,
                                    "detail": detail, "quarantined_at": now})
            if progress and (n % 1000 == 0 or n == len(items)):
                progress(n, len(items))
    finally:
        if pool:
            pool.shutdown()
    return docs, quarantined


def _sha_of_text(path: str) -> str:
    # An unreadable file has no content hash; key its quarantine row by its path instead.
    return "path:" + hashlib.sha256(path.encode()).hexdigest()
