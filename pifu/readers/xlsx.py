"""Excel .xlsx workbooks: the cells as the text a person sees (numbers as written, shares by their % format)."""
from __future__ import annotations

import io
from decimal import Decimal

from pifu.model import DocumentError
from pifu.readers import STRIP, Grid, Sheet


def read(data: bytes, path: str) -> Sheet:
    return Sheet(grid=xlsx_grid(data, path), format="xlsx", encoding=None, col_label="C{}")


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
    return str(value).strip(STRIP)
