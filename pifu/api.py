"""The core's front door: a path or bytes -> Document."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pifu import layout, readers
from pifu.model import Document, DocumentError, Source


def parse(path: str | os.PathLike) -> Document:
    p = Path(path)
    try:
        readers.check_size(p.stat().st_size, str(p))  # before reading a huge file into memory
        data = p.read_bytes()
    except IsADirectoryError:
        raise DocumentError(str(p), "is a directory, not a file", "unreadable") from None
    except OSError as e:
        raise DocumentError(str(p), e.strerror or str(e), "unreadable") from None
    return parse_bytes(data, str(p))


def parse_bytes(data: bytes, path: str = "<bytes>") -> Document:
    sheet = readers.read(data, path)
    source = Source(path=path, sha256=hashlib.sha256(data).hexdigest(), format=sheet.format,
                    encoding=sheet.encoding, size=len(data))
    try:
        return layout.read_document(sheet.grid, source, sheet.where if sheet.origins else None, sheet.merges)
    except DocumentError:
        raise
    except (RecursionError, MemoryError) as e:  # pathological input: still one line, never a traceback
        raise DocumentError(path, f"cannot be laid out ({type(e).__name__})", "unreadable") from None
