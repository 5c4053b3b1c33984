"""Readers: the bytes of an export -> a `Sheet`, one grid of cells whatever the format.

One module per format (text, xlsx, xls, docx, html, pdf), each with `read(data, path) -> Sheet`. The
format is sniffed from the content (`pifu.readers.sniff`), never from the file name. The layout stage
(`pifu.layout`) reads only grids, so every format fills the same document model.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from pifu.model import DocumentError

MAX_BYTES = 20 * 1024 * 1024  # a real approval is ~10 KB (a PDF a few hundred); anything this big is not one
STRIP = " \t\u3000\xa0\ufeff\x0b\x0c"  # stripped from every cell: full-width and no-break spaces too
MAX_CELLS = 500_000  # a form has about a thousand cells; a sheet past this is refused, not held in memory
FORMATS = ("text", "xlsx", "xls", "docx", "html", "pdf")

Grid = list[list[str]]
Merge = tuple[int, int, int, int]  # first row, first col, last row, last col: 0-based grid coordinates, inclusive


@dataclass(frozen=True)
class Sheet:
    """The cells of one form as a person sees them.

    `grid`: rows of stripped cell texts; a merged cell's text stands in its top-left cell only, the
    cells it covers are empty (as in text exports), and `merges` says which ranges were merged.
    `origins`: per grid row, where it came from in the file's own terms ("sheet 表1 R12",
    "page 2 row 7", "table 1 row 12"); None means the grid rows are the file's lines ("line 41").
    `col_label`: how a column is appended to an origin ("C{}" gives R12C3, " col {}" gives row 7 col 3).
    """

    grid: Grid
    format: str
    encoding: str | None = None
    origins: tuple[str, ...] | None = None
    merges: tuple[Merge, ...] = ()
    col_label: str = " col {}"

    def where(self, row: int, col: int | None = None) -> str:
        """Provenance of grid row `row` (1-based, as `pifu.layout` counts) and optionally column (0-based)."""
        if self.origins is None or not 0 < row <= len(self.origins):
            base = f"line {row}"
        else:
            base = self.origins[row - 1]
        return base if col is None else base + self.col_label.format(col + 1)


def read(data: bytes, path: str) -> Sheet:
    from pifu import safety
    from pifu.readers.sniff import sniff

    if not data or not data.strip():
        raise DocumentError(path, "the file is empty", "empty")
    check_size(len(data), path)
    safety.check(data, path)  # zip bombs, XXE: refused from the directory and a bounded peek, before any reader
    try:
        fmt = sniff(data, path)
        try:
            module = importlib.import_module(f"pifu.readers.{fmt}")
        except ModuleNotFoundError as e:
            if e.name != f"pifu.readers.{fmt}":
                raise
            raise DocumentError(path, f"{fmt} files are not read yet", "unsupported_format") from None
        return module.read(data, path)
    finally:
        safety.forget(data)  # the container the check opened, kept for the sniffer and the reader


def check_size(size: int, path: str) -> None:
    if size > MAX_BYTES:
        raise DocumentError(path, f"{size:,} bytes is more than the {MAX_BYTES:,} a 批复 export can be", "too_large")


def check_cells(count: int, path: str, where: str = "the form") -> None:
    """Readers call this as they go (per row), so a huge sheet is refused before it is held in memory."""
    if count > MAX_CELLS:
        raise DocumentError(path, f"{where} has more than {MAX_CELLS:,} cells; a 批复 has about a thousand",
                            "too_large")


# Kept importable from the package, where callers and tests have always found them.
from pifu.readers.text import decode, to_grid  # noqa: E402
