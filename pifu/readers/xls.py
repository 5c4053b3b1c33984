"""Excel 97-2003 .xls workbooks (BIFF in an OLE2 compound file), read with xlrd.

Why xlrd (with `formatting_info=True`) and not python-calamine: calamine is faster (0.1 ms a form against
1.9 ms) and gives merged ranges, but no number formats: a share stored as 0.4996 would read as 0.4996,
not 49.96%, and an amount's stated decimals are lost. xlrd gives each cell's XF record, hence its
number format, and the merged ranges; 1.9 ms a form leaves the 300 forms/s goal within reach. xlrd
reads the workbook's globals (strings, XF records, formats); a worksheet made of the usual records is
read here record by record (`_scan_sheet`: the same cells as xlrd's, or it declines), in ~40% less time.

Any OLE2 file reaches this reader (the sniffer goes by the magic bytes), so it tells what else it is:
an encrypted OOXML file (EncryptionInfo/EncryptedPackage streams) or a password-protected .xls ->
`encrypted`; a Word .doc or any OLE2 without a workbook stream -> `unsupported_format`; a damaged
compound file -> `unreadable`. Numbers, merges, the choice of sheet and provenance are as for .xlsx
(`pifu.readers.spreadsheet`): `sheet 部门整体绩效目标表 R12`, columns `C3`.
"""
from __future__ import annotations

import io
import struct

from pifu.model import DocumentError
from pifu.readers import Grid, Sheet, check_cells
from pifu.readers.spreadsheet import blank_covered, cell_text, cell_texts, format_number, pick_sheet, serial_date, trim

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
    from xlrd import XL_CELL_BLANK, XL_CELL_BOOLEAN, XL_CELL_DATE, XL_CELL_EMPTY, XL_CELL_ERROR, XL_CELL_NUMBER, XL_CELL_TEXT
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

    def text(kind: int, value, xf_index: int) -> str:
        if kind == XL_CELL_NUMBER:
            return format_number(value, number_format(xf_index))
        if kind == XL_CELL_DATE:
            return serial_date(value, book.datemode == 1)
        if kind == XL_CELL_BOOLEAN:
            return "TRUE" if value else "FALSE"
        if kind == XL_CELL_ERROR:
            return error_text_from_code.get(value, "#ERR")
        return cell_text(str(value))

    for index in range(book.nsheets):
        scanned = _scan_sheet(book, index)
        if scanned is not None:
            rows, merged = scanned
            name = book._sheet_names[index]
        else:
            sheet = book.sheet_by_index(index)
            rows, merged, name = _cells_of(sheet), sheet.merged_cells, sheet.name
        grid: Grid = []
        count = 0
        for cells in rows:
            count += len(cells)
            check_cells(count, path)
            # (a text cell, most of them, without the call: xlrd's texts are str)
            grid.append(["" if cell is None else cell_texts[cell[1]] if cell[0] == XL_CELL_TEXT else text(*cell)
                         if cell[0] not in (XL_CELL_EMPTY, XL_CELL_BLANK) else "" for cell in cells])
        merges = [(r0, c0, r1 - 1, c1 - 1) for r0, r1, c0, c1 in merged]
        blank_covered(grid, merges)
        if scanned is None:
            book.unload_sheet(index)
        yield name, trim(grid), merges


def _cells_of(sheet):
    """xlrd's sheet row by row, each cell as (type, value, XF index), as `_scan_sheet` gives them. (The XF
    index is the cell record's own, what `Sheet.cell_xf_index` returns for any cell that has a value.)"""
    for r in range(sheet.nrows):
        types, values, xfs = sheet.row_types(r), sheet.row_values(r), sheet._cell_xf_indexes[r]
        yield list(zip(types, values, xfs))


# ---------------------------------------------------------------- the sheet read record by record
#
# xlrd reads a sheet through a method call per record and per cell (its ragged-row bookkeeping), ~45% of
# reading a form. `_scan_sheet` reads the records writers put in a worksheet (BIFF8) directly, to the same
# cells and merged ranges, and declines (None: xlrd reads the sheet) on anything else: another BIFF
# version, a record it does not know that xlrd acts on, any record xlrd would fail on (short, inconsistent),
# a text formula (its STRING record), a cell beyond xlrd's limits.

_HEADER, _LABELSST_RECORD, _MULBLANK1 = struct.Struct("<HH"), struct.Struct("<5Hi"), struct.Struct("<4H")
_BOF, _EOF, _WORKSHEET = 0x0809, 0x000A, 0x0010
_NUMBER, _LABELSST, _RK, _MULRK, _BLANK, _MULBLANK, _BOOLERR, _FORMULA = (
    0x0203, 0x00FD, 0x027E, 0x00BD, 0x0201, 0x00BE, 0x0205, 0x0006)
_DIMENSIONS, _MERGEDCELLS = (0x0200, 0x0000), 0x00E5
# Records xlrd reads only for formatting, that are sound when at least this long (shorter: xlrd fails).
_SKIPPED = {0x0208: 16, 0x007D: 10, 0x0055: 2, 0x0099: 2, 0x0225: 0, 0x023E: 14, 0x0041: 9}  # ROW, COLINFO,
# DEFCOLWIDTH, STANDARDWIDTH, DEFAULTROWHEIGHT, WINDOW2, PANE
_PAGE_BREAKS = (0x001B, 0x001A)
_SCL = 0x00A0
# Every other record xlrd's Sheet.read acts on, and STRING: the scan declines them. LABEL, RSTRING, GCW,
# HLINK, QUICKTIP, OBJ, MSODRAWING, TXO, NOTE, FEAT11, an embedded BOF, COUNTRY, LABELRANGES, ARRAY,
# SHRFMLA, CONDFMT, CF, the BIFF2-4 FORMULA codes, STRING (BIFF8 and BIFF2).
_DECLINED = {0x0204, 0x00D6, 0x00AB, 0x01B8, 0x0800, 0x005D, 0x00EC, 0x01B6, 0x001C, 0x0872, 0x0809, 0x0409,
             0x0209, 0x0009, 0x008C, 0x015F, 0x0221, 0x04BC, 0x01B0, 0x01B1, 0x0406, 0x0206, 0x0207, 0x0007}


def _scan_sheet(book, index: int):
    """The sheet's rows (each a list of (type, value, XF index) or None for an empty cell) and its merged
    ranges as xlrd's (first row, row past, first column, column past), as xlrd reads them; or None."""
    from xlrd import XL_CELL_BLANK, XL_CELL_BOOLEAN, XL_CELL_EMPTY, XL_CELL_ERROR, XL_CELL_TEXT

    mem = book.mem
    if book.biff_version != 80 or index >= len(book._sh_abs_posn):
        return None
    pos = book._sh_abs_posn[index]
    if len(mem) < pos + 12:
        return None
    code, length, version, stream = struct.unpack_from("<4H", mem, pos)
    if code != _BOF or not 8 <= length <= 20 or version != 0x0600 or stream != _WORKSHEET:
        return None
    pos += 4 + length
    rows: list[list] = []
    merged: list[tuple[int, int, int, int]] = []
    strings, types = book._sharedstrings, book._xf_index_to_xl_type_map

    def put(r: int, c: int, cell) -> None:
        """xlrd's put_cell_ragged: a later record for the same cell replaces it."""
        while len(rows) <= r:
            rows.append([])
        row = rows[r]
        if c == len(row):
            row.append(cell)
        elif c > len(row):
            row.extend([None] * (c - len(row)))
            row.append(cell)
        else:
            row[c] = cell

    def number(r, c, xf, value) -> bool:
        kind = types.get(xf)
        if kind is None or c > 255 or xf > 0x7FFF:
            return False
        put(r, c, (kind, value, xf))
        return True

    end, n_strings, header, labelsst, mulblank1 = (
        len(mem), len(strings), _HEADER.unpack_from, _LABELSST_RECORD.unpack_from, _MULBLANK1.unpack_from)
    while True:
        if pos + 14 <= end:  # a LABELSST's header and fields in one read (any other record: its header)
            code, size, r, c, xf, i = labelsst(mem, pos)
        elif pos + 4 <= end:
            code, size = header(mem, pos)
        else:
            return None
        start, pos = pos + 4, pos + 4 + size
        if pos > end:
            return None  # cut short by the end of the stream (so a LABELSST here had its 14 bytes read)
        if code == 0x00FD:  # LABELSST, the commonest record: read in place, its cell appended where it can be
            if size != 10:
                return None
            if not 0 <= i < n_strings or c > 255 or xf > 0x7FFF:
                return None
            row = rows[r] if r < len(rows) else None
            if row is not None and c == len(row):
                row.append((XL_CELL_TEXT, strings[i], xf))
            else:
                put(r, c, (XL_CELL_TEXT, strings[i], xf))
            continue
        if code == 0x00BE and size == 8:  # MULBLANK of one cell (most of them, in merged ranges), in place
            r, c, xf, last = mulblank1(mem, start)
            if last != c or c > 255 or xf > 0x7FFF:
                return None
            row = rows[r] if r < len(rows) else None
            if row is not None and c == len(row):
                row.append(None)
            else:
                put(r, c, None)
            continue
        if code in _SKIPPED:
            if size < _SKIPPED[code]:
                return None
            continue
        data = mem[start:pos]
        if code == _MULBLANK:
            if size & 1 or size < 6:
                return None
            items = struct.unpack(f"<{size >> 1}H", data)
            r, first, last = items[0], items[1], items[-1]
            if len(items) != last + 4 - first or (last >= first and (last > 255 or max(items[2:-1]) > 0x7FFF)):
                return None
            if last >= first:
                _blank(rows, r, first, last)
        elif code == _MULRK:
            if size < 6:
                return None
            r, first = struct.unpack_from("<HH", data)
            (last,) = struct.unpack_from("<H", data, size - 2)
            if size < 4 + 6 * (last - first + 1):
                return None
            for c, at in zip(range(first, last + 1), range(4, size, 6)):
                (xf,) = struct.unpack_from("<H", data, at)
                if not number(r, c, xf, _rk(data[at + 2:at + 6])):
                    return None
        elif code == _RK:
            if size < 10:
                return None
            r, c, xf = struct.unpack_from("<HHH", data)
            if not number(r, c, xf, _rk(data[6:10])):
                return None
        elif code == _NUMBER:
            if size < 14:
                return None
            if not number(*struct.unpack_from("<HHHd", data)):
                return None
        elif code == _BLANK:
            if size < 6:
                return None
            r, c, xf = struct.unpack_from("<HHH", data)
            if c > 255 or xf > 0x7FFF:
                return None
            put(r, c, None)
        elif code == _FORMULA:
            if size < 16:
                return None
            r, c, xf, result = struct.unpack_from("<HHH8s", data)
            if result[6:8] != b"\xff\xff":
                if not number(r, c, xf, struct.unpack("<d", result)[0]):
                    return None
            elif result[0] in (1, 2) and c <= 255 and xf <= 0x7FFF:
                put(r, c, ((XL_CELL_BOOLEAN, XL_CELL_ERROR)[result[0] - 1], result[2], xf))
            elif result[0] == 3 and c <= 255 and xf <= 0x7FFF:
                put(r, c, (XL_CELL_TEXT, "", xf))
            else:
                return None  # a text result (its STRING record follows), or one xlrd refuses
        elif code == _BOOLERR:
            if size < 8:
                return None
            r, c, xf, value, is_error = struct.unpack_from("<HHHBB", data)
            if is_error > 1 or c > 255 or xf > 0x7FFF:
                return None
            put(r, c, ((XL_CELL_BOOLEAN, XL_CELL_ERROR)[is_error], value, xf))
        elif code == _MERGEDCELLS:
            if size < 2:
                return None
            (n,) = struct.unpack_from("<H", data)
            if size != 2 + 8 * n:
                return None
            merged.extend((ra, rb + 1, ca, cb + 1) for ra, rb, ca, cb in struct.iter_unpack("<4H", data[2:]))
        elif code in _DIMENSIONS:
            if rows or (size and size < 12):
                return None  # after cells, xlrd starts its row count again
        elif code in _PAGE_BREAKS:
            if size < 2 or struct.unpack_from("<H", data)[0] * 6 + 2 != size:
                return None
        elif code == _SCL:
            if size != 4:
                return None
        elif code == _EOF:
            break
        elif code in _DECLINED:
            return None
    if merged:  # xlrd's tidy_dimensions: the last merged row exists
        last = max(rhi for _, rhi, _, _ in merged)
        if last > len(rows):
            put(last - 1, 0, None)
    return rows, merged


def _blank(rows: list[list], r: int, first: int, last: int) -> None:
    """MULBLANK: styled empty cells first..last of row r (they replace what is there, as in xlrd)."""
    while len(rows) <= r:
        rows.append([])
    row = rows[r]
    if first > len(row):
        row.extend([None] * (first - len(row)))
    row[first:last + 1] = [None] * (last + 1 - first)


def _rk(rk: bytes) -> float:
    """xlrd's unpack_RK: an RK number (a 30-bit integer or the top of a double, maybe divided by 100)."""
    flags = rk[0]
    if flags & 2:
        value = float(struct.unpack("<i", rk)[0] >> 2)
    else:
        value = struct.unpack("<d", b"\0\0\0\0" + bytes((flags & 252,)) + rk[1:4])[0]
    return value / 100.0 if flags & 1 else value
