"""The core's front door: a path or bytes -> Document, or DocumentError with a reason code.

Whatever a file holds, the caller gets a Document or a DocumentError: an unexpected exception from a
reader or the layout becomes `parser_error` (its type name kept in the detail, the original chained as
`__cause__` so tests still see real bugs). MemoryError and the worker's FileTimeout pass through: the
caller owns those limits and names them (`too_much_memory`, `timeout`).
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from pifu import layout, readers
from pifu.model import Document, DocumentError, Source

DETAIL_CHARS = 200  # an exception's text in a quarantine detail: enough to act on, never a whole file


def parse(path: str | os.PathLike, hashed: tuple[tuple[int, int, int], str] | None = None) -> Document:
    """`hashed`: ((size, mtime_ns, ctime_ns), sha256) of the file as it was hashed before (a run's plan
    hashed it): when the file still shows that size, mtime and ctime before and after it is read, the
    hash is taken instead of computed again. Any write since changes its ctime, which no one can set."""
    p = Path(path)
    try:
        info = p.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block the read or never end
            raise DocumentError(str(p), "not a regular file (a pipe, socket or device)", "unreadable")
        readers.check_size(info.st_size, str(p))  # before reading a huge file into memory
        data = p.read_bytes()
        sha256 = _still(hashed, info, p.stat(), len(data)) if hashed else None
    except IsADirectoryError:
        raise DocumentError(str(p), "is a directory, not a file", "unreadable") from None
    except OSError as e:
        raise DocumentError(str(p), e.strerror or str(e), "unreadable") from None
    return parse_bytes(data, str(p), sha256)


def _still(hashed: tuple[tuple[int, int, int], str], before: os.stat_result, after: os.stat_result,
           size: int) -> str | None:
    """The hash `hashed` vouches for, if the file read (`size` bytes, between `before` and `after`) is
    the one it was computed from; else None."""
    signature, sha256 = hashed
    for st in (before, after):
        if (st.st_size, st.st_mtime_ns, st.st_ctime_ns) != signature:
            return None
    return sha256 if size == signature[0] else None


def parse_bytes(data: bytes, path: str = "<bytes>", sha256: str | None = None) -> Document:
    """`sha256`: the hash of `data` when the caller has it (else it is computed)."""
    try:
        return _parse_bytes(data, path, sha256)
    except (DocumentError, MemoryError):
        raise
    except RecursionError:  # pathological nesting: still one line, never a traceback
        raise DocumentError(path, "cannot be laid out (RecursionError)", "unreadable") from None
    except Exception as e:  # a reader or layout bug must refuse one file, not end a run
        raise DocumentError(path, exception_detail(e), "parser_error") from e


def exception_detail(e: BaseException) -> str:
    """`TypeName: message` on one line, cut short: the type tells a developer where to look."""
    text = " ".join(str(e).split())
    text = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return text[:DETAIL_CHARS] + ("…" if len(text) > DETAIL_CHARS else "")


def _parse_bytes(data: bytes, path: str, sha256: str | None = None) -> Document:
    sheet = readers.read(data, path)
    source = Source(path=path, sha256=sha256 or hashlib.sha256(data).hexdigest(), format=sheet.format,
                    encoding=sheet.encoding, size=len(data))
    return layout.read_document(sheet.grid, source, sheet.where if sheet.origins else None, sheet.merges)
