"""Readers: the bytes of an export -> a grid of cells (rows of stripped strings).

Text exports (tab-separated, any encoding and line ending) and Excel .xlsx workbooks are read; legacy
.xls and PDF exports are recognised by their magic bytes and refused with a reason rather than
misread as text.
"""
from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from pifu.model import DocumentError

MAX_BYTES = 20 * 1024 * 1024  # a real approval is ~10 KB; anything this big is not one
_LINES = re.compile(r"\r\n|\r|\n")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC = (
    (b"PK\x03\x04", "xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"%PDF", "pdf"),
)
_STRIP = " \t\u3000\xa0\ufeff\x0b\x0c"

Grid = list[list[str]]


@dataclass(frozen=True)
class Sheet:
    grid: Grid
    format: str
    encoding: str | None


def read(data: bytes, path: str) -> Sheet:
    if not data or not data.strip():
        raise DocumentError(path, "the file is empty", "empty")
    check_size(len(data), path)
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            if fmt == "xlsx":
                return Sheet(grid=xlsx_grid(data, path), format="xlsx", encoding=None)
            raise DocumentError(path, f"{fmt} exports are not read yet; save the sheet as .xlsx or as "
                                "tab-separated text", "unsupported_format")
    text, encoding = decode(data, path)
    return Sheet(grid=to_grid(text), format="text", encoding=encoding)


def xlsx_grid(data: bytes, path: str) -> Grid:
    """The first worksheet's cells as the text a person sees: numbers as written (998.71, 49.96%), not
    as the binary floats Excel stores; merged cells keep their value in the top-left cell, like text
    exports do."""
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise DocumentError(path, f"not a readable .xlsx workbook ({type(e).__name__})", "unreadable") from None
    try:
        sheet = book.worksheets[0]
        return [[_cell_text(c) for c in row] for row in sheet.iter_rows()]
    finally:
        book.close()


def _cell_text(cell) -> str:
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        number_format = getattr(cell, "number_format", "") or ""
        if "%" in number_format:
            decimals = len(number_format.split(".")[1].split("%")[0]) if "." in number_format else 0
            # shortest repr of the float, scaled exactly: 0.4996 -> 49.96, never 49.959999…
            return f"{(Decimal(repr(value)) * 100).quantize(Decimal(1).scaleb(-decimals))}%"
        text = repr(value) if isinstance(value, float) else str(value)
        return text[:-2] if text.endswith(".0") else text
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip(_STRIP)


def check_size(size: int, path: str) -> None:
    if size > MAX_BYTES:
        raise DocumentError(path, f"{size:,} bytes is more than the {MAX_BYTES:,} a 批复 export can be", "too_large")


def decode(data: bytes, path: str) -> tuple[str, str]:
    """Sniff the encoding: a BOM decides; else strict UTF-8; else GB18030 (a superset of GBK/GB2312)."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc.replace("-sig", "") if enc == "utf-8-sig" else enc
            except UnicodeDecodeError as e:
                raise DocumentError(path, f"starts with a {enc} byte-order mark but byte {e.start} is invalid",
                                    "undecodable") from None
    if b"\x00" in data[:4096]:
        raise DocumentError(path, "binary content (NUL bytes) where a text export was expected", "binary")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if e.end == len(data) and "end of data" in e.reason:
            raise DocumentError(path, "the file ends inside a UTF-8 character: it was cut short", "truncated") from None
        try:
            text, encoding = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError as e:
            raise DocumentError(path, f"neither UTF-8 nor GB18030 (invalid byte at offset {e.start})",
                                "undecodable") from None
    if _looks_binary(text):
        raise DocumentError(path, "binary content where a text export was expected", "binary")
    return text, encoding


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    return len(_CONTROLS.findall(sample)) > len(sample) // 100 + 1


def to_grid(text: str) -> Grid:
    """Any line ending; tab-separated cells; each cell stripped (full-width spaces too)."""
    # NUL cannot be stored in PostgreSQL text and means nothing in a cell
    if "\x00" in text:
        text = text.replace("\x00", "")
    return [[cell.strip(_STRIP) for cell in line.split("\t")] for line in _LINES.split(text)]
