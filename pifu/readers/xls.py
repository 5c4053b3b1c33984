"""Excel 97-2003 .xls workbooks (BIFF in an OLE2 compound file), read with xlrd.

Why xlrd (with `formatting_info=True`) and not python-calamine: calamine is faster (0.1 ms a form against
1.9 ms) and gives merged ranges, but no number formats: a share stored as 0.4996 would read as 0.4996,
not 49.96%, and an amount's stated decimals are lost. xlrd gives each cell's XF record, hence its
number format, and the merged ranges; 1.9 ms a form leaves the 300 forms/s goal within reach.

Any OLE2 file reaches this reader (the sniffer goes by the magic bytes), so it tells what else it is:
an encrypted OOXML file (EncryptionInfo/EncryptedPackage streams) or a password-protected .xls ->
`encrypted`; a Word .doc or any OLE2 without a workbook stream -> `unsupported_format`; a damaged
compound file -> `unreadable`. Numbers, merges, the choice of sheet and provenance are as for .xlsx
(`pifu.readers.spreadsheet`): `sheet 部门整体绩效目标表 R12`, columns `C3`.
"""
from __future__ import annotations

import io

from pifu.model import DocumentError
from pifu.readers import Grid, Sheet, check_cells
from pifu.readers.spreadsheet import blank_covered, cell_text, format_number, pick_sheet, serial_date, trim

# Streams that say what an OLE2 file that is not a workbook is.
_KINDS = (
    ({"EncryptionInfo", "EncryptedPackage"},
     "a password-protected (encrypted) Office document: it cannot be read without its password", "encrypted"),
    ({"WordDocument"}, "a Word .doc document, not an Excel workbook", "unsupported_format"),
    ({"PowerPoint Document"}, "a PowerPoint presentation, not an Excel workbook", "unsupported_format"),
)


def read(data: bytes, path: str) -> Sheet:
    import xlrd

    _skip_colour_checks()
    log = io.StringIO()  # xlrd writes its warnings to a log, by default stdout
    streams = _streams(data, path, log)
    for names, what, reason in _KINDS:
        if names & streams:
            raise DocumentError(path, what, reason)
    if not streams & {"Workbook", "Book"}:
        raise DocumentError(path, "an OLE2 compound file without a workbook stream: not an Excel .xls",
                            "unsupported_format")
    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, ragged_rows=True, logfile=log,
                                  on_demand=True)
    except xlrd.XLRDError as e:
        if "encrypted" in str(e).lower():
            raise DocumentError(path, "a password-protected (encrypted) .xls workbook: it cannot be read without its "
                                      "password", "encrypted") from None
        raise DocumentError(path, f"not a readable .xls workbook ({str(e)[:160]})", "unreadable") from None
    except Exception as e:  # noqa: BLE001 - a damaged BIFF stream fails in many ways inside xlrd
        raise DocumentError(path, f"a damaged .xls workbook ({type(e).__name__}: {str(e)[:120]})",
                            "unreadable") from None
    try:
        return pick_sheet(_sheets(book, path), "xls")
    except DocumentError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DocumentError(path, f"a damaged .xls worksheet ({type(e).__name__}: {str(e)[:120]})",
                            "unreadable") from None
    finally:
        book.release_resources()


def _no_colour_check(book, obj, orig_index) -> None:
    pass


def _skip_colour_checks() -> None:
    """With `formatting_info=True` xlrd walks every XF record's attributes (sorted, recursively) to check
    its colour indexes against the palette, only to log the unknown ones and fill
    `Book.colour_indexes_used`: pifu throws that log away and reads no colours, and the walk cannot
    raise. It is ~9% of an .xls parse, so it is replaced by a no-op (xlrd 2.0 looks the function up in
    its `formatting` module at each XF record; a FONT record's colour check, in `palette_epilogue`, stays)."""
    from xlrd import formatting

    formatting.check_colour_indexes_in_obj = _no_colour_check


def _streams(data: bytes, path: str, log) -> set[str]:
    """The names of the compound file's streams and storages."""
    from xlrd.compdoc import CompDoc

    try:
        doc = CompDoc(data, logfile=log)
        return {d.name for d in doc.dirlist}
    except Exception as e:  # noqa: BLE001 - CompDocError, struct.error, IndexError on a damaged file
        raise DocumentError(path, f"a damaged OLE2 compound file ({type(e).__name__}: {str(e)[:120]})",
                            "unreadable") from None


def _sheets(book, path: str):
    from xlrd import XL_CELL_BLANK, XL_CELL_BOOLEAN, XL_CELL_DATE, XL_CELL_EMPTY, XL_CELL_ERROR, XL_CELL_NUMBER
    from xlrd.biffh import error_text_from_code

    formats: dict[int, str | None] = {}

    def number_format(xf_index: int) -> str | None:
        if xf_index not in formats:
            code = None
            try:
                fmt = book.format_map.get(book.xf_list[xf_index].format_key)
                code = fmt.format_str if fmt else None
            except IndexError:
                pass
            formats[xf_index] = None if code in (None, "General") else code
        return formats[xf_index]

    for index in range(book.nsheets):
        sheet = book.sheet_by_index(index)
        grid: Grid = []
        count = 0
        for r in range(sheet.nrows):
            types, values = sheet.row_types(r), sheet.row_values(r)
            count += len(types)
            check_cells(count, path)
            row = [""] * len(types)
            for c, kind in enumerate(types):
                if kind in (XL_CELL_EMPTY, XL_CELL_BLANK):
                    continue
                value = values[c]
                if kind == XL_CELL_NUMBER:
                    text = format_number(value, number_format(sheet.cell_xf_index(r, c)))
                elif kind == XL_CELL_DATE:
                    text = serial_date(value, book.datemode == 1)
                elif kind == XL_CELL_BOOLEAN:
                    text = "TRUE" if value else "FALSE"
                elif kind == XL_CELL_ERROR:
                    text = error_text_from_code.get(value, "#ERR")
                else:
                    text = cell_text(str(value))
                row[c] = text
            grid.append(row)
        merges = [(r0, c0, r1 - 1, c1 - 1) for r0, r1, c0, c1 in sheet.merged_cells]
        blank_covered(grid, merges)
        book.unload_sheet(index)
        yield sheet.name, trim(grid), merges
