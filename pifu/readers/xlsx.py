"""Excel .xlsx workbooks: the form's sheet as the cells a person sees, with its merged ranges.

The parts are read with the standard library's expat, straight from the zip (`pifu.safety` has checked
the central directory before we get here): workbook, relationships, shared strings, styles (cell formats
-> number formats) and the worksheets. A worksheet written in the usual shapes is read with one
regular-expression scan instead (`_scan_sheet`, which gives the same cells or declines), and the small
parts that every workbook of one generator shares are parsed once (`_Workbook._part`). Why not openpyxl: its read-only mode does not expose merged cells
and a full load costs ~10 ms per form (5.5 ms read-only), against ~1 ms here — the goal is 300 forms/s
per core, layout included. Any DTD is refused (no entity is ever expanded or fetched).

- Numbers as the cell's format shows them (`pifu.readers.spreadsheet.format_number`): 0.4996 with
  `0.00%` is 49.96%, an amount with `#,##0.00` keeps two decimals, General is the shortest exact form.
- Formulas read as the value Excel cached when it saved the file (a formula never calculated is empty).
- The form is found on whichever sheet holds it (a cover sheet and empty sheets are skipped).
- A merged range's text stands in its top-left cell, the rest of the range is empty (as in a text
  export); `Sheet.merges` lists the ranges. Grid row i is sheet row i + 1: `sheet 部门整体绩效目标表 R12`.
"""
from __future__ import annotations

import functools
import posixpath
import re
from operator import itemgetter
import zipfile
import zlib
from xml.parsers import expat

from pifu.model import DocumentError
from pifu.values import Memo, memo
from pifu.safety import zip_of
from pifu.readers import STRIP, Grid, Sheet, check_cells
from pifu.readers.spreadsheet import (
    BUILTIN_FORMATS, DATE_FORMAT_IDS, blank_covered, cell_text, format_number, is_date_format, pick_sheet, serial_date, trim,
)

_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")  # OOXML's escape for control characters: _x000D_
_REF = re.compile(r"([A-Z]{1,3})(\d+)")
_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, KeyError, EOFError, OSError, ValueError,
           NotImplementedError, RuntimeError, expat.ExpatError, IndexError, UnicodeError)


class _Refused(Exception):
    pass


def read(data: bytes, path: str) -> Sheet:
    try:
        book = zip_of(data)
        workbook = _Workbook(book, path)
        return pick_sheet(workbook.sheets(), "xlsx")
    except _Refused as e:
        raise DocumentError(path, f"not a readable .xlsx workbook: {e}", "unreadable") from None
    except _ERRORS as e:
        raise DocumentError(path, f"not a readable .xlsx workbook ({type(e).__name__}: {str(e)[:120]})",
                            "unreadable") from None


def xlsx_grid(data: bytes, path: str) -> Grid:
    """The form sheet's grid (kept for callers of the old reader)."""
    return read(data, path).grid


def _parse(source: zipfile.ZipFile | bytes, name: str, start, end=None, text=None) -> None:
    """Run expat over a part (streamed from the zip, or its bytes) with handlers taking local names (a prefix
    such as `x:c` is dropped, for the writers that use one); a DTD stops it."""
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def refuse(*_):
        raise _Refused(f"{name} declares a DTD; entities are never expanded")

    def first(tag, attrs):
        if ":" in tag:  # prefixed names throughout: strip them for the handlers
            parser.StartElementHandler = lambda t, a: start(t.rpartition(":")[2], a)
            if end is not None:
                parser.EndElementHandler = lambda t: end(t.rpartition(":")[2])
        else:
            parser.StartElementHandler = start
            if end is not None:
                parser.EndElementHandler = end
        start(tag.rpartition(":")[2], attrs)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = first
    if end is not None:
        parser.EndElementHandler = lambda tag: end(tag.rpartition(":")[2])
    if text is not None:
        parser.CharacterDataHandler = text
    if isinstance(source, bytes):
        parser.Parse(source, True)
        return
    with source.open(name) as stream:
        parser.ParseFile(stream)


def _attr(attrs: dict, local: str) -> str | None:
    """An attribute by local name, whatever its prefix (r:id, or a strict-OOXML namespace's)."""
    if local in attrs:
        return attrs[local]
    for key, value in attrs.items():
        if key.rpartition(":")[2] == local:
            return value
    return None


class _Workbook:
    def __init__(self, book: zipfile.ZipFile, path: str):
        self.book, self.path = book, path
        self.names = set(book.namelist())
        self.workbook = self._workbook_part()
        if self.workbook.endswith(".bin"):
            raise DocumentError(path, "an Excel binary workbook (.xlsb), which pifu does not read: save it as .xlsx",
                                "unsupported_format")
        self.sheet_list: list[tuple[str, str]] = []  # (name, part)
        self._read_workbook()
        self.strings = self._read_strings()
        self.formats = self._read_styles()

    def _workbook_part(self) -> str:
        if "_rels/.rels" in self.names:
            found = self._part("_rels/.rels", _office_documents)
            if found:
                part = posixpath.normpath(found[0].lstrip("/"))
                if part in self.names:
                    return part
        return "xl/workbook.xml"

    def _read_workbook(self) -> None:
        sheets, self.date1904 = self._part(self.workbook, _workbook_sheets)
        base = posixpath.dirname(self.workbook)
        rels_part = posixpath.join(base, "_rels", posixpath.basename(self.workbook) + ".rels")
        rels = dict(self._part(rels_part, _relationships)) if rels_part in self.names else {}
        for name, rid in sheets:
            target = rels.get(rid, "")
            part = posixpath.normpath(target.lstrip("/") if target.startswith("/") else posixpath.join(base, target))
            if part in self.names:
                self.sheet_list.append((name, part))
        self.rels = rels
        self.base = base

    def _part(self, name: str, reader):
        """`reader(parse)` for the part `name`, where `parse(start, end=None)` runs expat over it. A small part
        is parsed from its bytes and what it gives is cached by content: a generator writes the same
        relationships, workbook and styles parts into each of its workbooks, and parsing them was a tenth
        of reading a form. A part that fails is read again streamed, to fail in its own words."""
        raw = self._small_part(name, _CACHED_PART)
        if raw is not None:
            try:
                return _parsed(reader, raw)
            except Exception:  # noqa: BLE001 - the streamed parse below raises what the part deserves
                pass
        return reader(functools.partial(_parse, self.book, name))

    def _related(self, kind: str, default: str) -> str | None:
        for target in self.rels.values():
            if target.rpartition("/")[2].startswith(kind):
                part = posixpath.normpath(target.lstrip("/") if target.startswith("/") else posixpath.join(self.base, target))
                if part in self.names:
                    return part
        return default if default in self.names else None

    def _read_strings(self) -> list[str]:
        part = self._related("sharedStrings", "xl/sharedStrings.xml")
        if part is None:
            return []
        strings: list[str] = []
        state = {"in_t": False, "skip": 0, "buf": []}

        def start(tag, attrs):
            if tag == "si":
                state["buf"] = []
            elif tag == "t":
                state["in_t"] = True
            elif tag == "rPh":  # phonetic guide: not part of the text
                state["skip"] += 1

        def end(tag):
            if tag == "si":
                strings.append("".join(state["buf"]))
                check_cells(len(strings), self.path, "the shared strings")
            elif tag == "t":
                state["in_t"] = False
            elif tag == "rPh":
                state["skip"] -= 1

        def text(data):
            if state["in_t"] and not state["skip"]:
                state["buf"].append(data)

        _parse(self.book, part, start, end, text)
        return strings

    def _read_styles(self) -> tuple[str | None, ...]:
        """Per cell-format index, its number format code (None for General)."""
        part = self._related("styles", "xl/styles.xml")
        return () if part is None else self._part(part, _number_formats)

    def sheets(self):
        for name, part in self.sheet_list:
            grid, merges = self._read_sheet(part)
            yield name, grid, merges

    def _read_sheet(self, part: str) -> tuple[Grid, list]:
        scanned = _scan_sheet(self._small_part(part), self.strings, self.formats, self.date1904)
        cells, merges = scanned if scanned is not None else self._stream_sheet(part)
        check_cells(len(cells), self.path)
        return _grid(cells, merges, self.path), merges

    def _small_part(self, part: str, limit: int = 0) -> bytes | None:
        """The part's bytes when it is no bigger than `limit` (for a sheet: small enough that no cell limit
        can be reached in it), else None; a damaged member is None too, for the streaming parser to fail on
        with its own words."""
        try:
            if self.book.getinfo(part).file_size > (limit or _SCAN_LIMIT):
                return None
            return self.book.read(part)
        except _ERRORS:
            return None

    def _stream_sheet(self, part: str) -> tuple[dict, list]:
        """The sheet's cells and merged ranges through expat's callbacks: any sheet, however written."""
        cells: dict[tuple[int, int], str] = {}
        merges: list[tuple[int, int, int, int]] = []
        strings, formats, path, date1904 = self.strings, self.formats, self.path, self.date1904
        row = col = -1
        kind = style = None
        into: list | None = None  # where character data goes: the <v> or the inline <t> of this cell
        v: list[str] = []
        inline: list[str] = []
        skip = 0

        def start(tag, attrs):
            nonlocal row, col, kind, style, into, v, inline, skip
            if tag == "c":
                ref = attrs.get("r")
                at = _cell_ref(ref) if ref else None
                if at:
                    row, col = at
                else:
                    col += 1
                kind, style = attrs.get("t"), attrs.get("s")
                v, inline = [], []
            elif tag == "v":
                into = v
            elif tag == "t":
                into = inline
            elif tag == "row":
                r = attrs.get("r")
                row = int(r) - 1 if r and r.isdigit() else row + 1
                col = -1
            elif tag == "rPh":
                skip += 1
            elif tag == "mergeCell":
                merge = _merge_ref(attrs.get("ref") or "")
                if merge:
                    merges.append(merge)
                    check_cells(len(merges), path, "the merged ranges")

        def end(tag):
            nonlocal into, skip
            if tag == "c":
                if v or inline:
                    text = _value(kind, "".join(v), "".join(inline), style, strings, formats, date1904)
                    if text and row >= 0 and col >= 0:
                        cells[row, col] = text
                        if len(cells) % 1024 == 0:
                            check_cells(len(cells), path)
            elif tag == "v" or tag == "t":
                into = None
            elif tag == "rPh":
                skip -= 1

        def text(data):
            if into is not None and not skip:
                into.append(data)

        _parse(self.book, part, start, end, text)
        return cells, merges


# ---------------------------------------------------------------- the parts read before the sheets
# Each takes `parse(start, end=None)` (see `_Workbook._part`) and returns something immutable: it is cached.

_CACHED_PART = 64 << 10  # parts up to 64 KB are cached by content (styles are ~3-30 KB, the rest < 2 KB)


@functools.lru_cache(maxsize=64)
def _parsed(reader, raw: bytes):
    return reader(functools.partial(_parse, raw, "part"))


def _office_documents(parse) -> tuple[str, ...]:
    """The package relationships' officeDocument targets (the workbook part)."""
    found = []

    def start(tag, attrs):
        if tag == "Relationship" and (attrs.get("Type") or "").endswith("/officeDocument"):
            found.append(attrs.get("Target") or "")

    parse(start)
    return tuple(found)


def _workbook_sheets(parse) -> tuple[tuple[tuple[str, str | None], ...], bool]:
    """The workbook's sheets as (name, relationship id), and whether its dates count from 1904."""
    sheets, date1904 = [], False

    def start(tag, attrs):
        nonlocal date1904
        if tag == "sheet":
            sheets.append((attrs.get("name") or "", _attr(attrs, "id")))
        elif tag == "workbookPr":
            date1904 = (attrs.get("date1904") or "").lower() in ("1", "true")

    parse(start)
    return tuple(sheets), date1904


def _relationships(parse) -> tuple[tuple[str | None, str], ...]:
    """A part's relationships as (id, target), in order (a repeated id: the last one counts, as in a dict)."""
    rels = []

    def start(tag, attrs):
        if tag == "Relationship":
            rels.append((attrs.get("Id"), attrs.get("Target") or ""))

    parse(start)
    return tuple(rels)


def _number_formats(parse) -> tuple[str | None, ...]:
    """Per cell-format index of the styles part, its number format code (None for General)."""
    custom: dict[int, str] = {}
    xfs: list[int] = []
    in_cell_xfs = False

    def start(tag, attrs):
        nonlocal in_cell_xfs
        if tag == "numFmt":
            try:
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode") or ""
            except ValueError:
                pass
        elif tag == "cellXfs":
            in_cell_xfs = True
        elif tag == "xf" and in_cell_xfs:
            try:
                xfs.append(int(attrs.get("numFmtId") or 0))
            except ValueError:
                xfs.append(0)

    def end(tag):
        nonlocal in_cell_xfs
        if tag == "cellXfs":
            in_cell_xfs = False

    parse(start, end)
    out: list[str | None] = []
    for fid in xfs:
        code = custom.get(fid) or BUILTIN_FORMATS.get(fid)
        if code is None and fid in DATE_FORMAT_IDS:
            code = "yyyy-mm-dd"
        out.append(None if code in (None, "General") else code)
    return tuple(out)


# ---------------------------------------------------------------- the sheet read in one scan
#
# Writers (Excel, LibreOffice, openpyxl, WPS) write a sheet's cells in a few fixed shapes. A sheet made
# only of these is read with one regular-expression scan of its text instead of expat's ~1,200 Python
# callbacks a form (about half of reading a workbook). The scan gives what `_Workbook._stream_sheet`
# gives for the same part, or None (then the streaming parser reads it), so it declines anything else:
# a part too big to hold, not UTF-8, with a DTD, comment, CDATA or processing instruction, prefixed
# names, an unknown attribute or attribute order, whitespace or rich text inside a cell, a cell, row or
# text tag outside sheetData. Every `<` is then a tag and no attribute value holds one, so the patterns
# below see tags as expat does.
#
# It also declines a part expat would refuse (the streaming parser then fails in its own words). The
# cells it takes are well-formed by their pattern (fixed names, unique attributes of plain ASCII values)
# once their texts are (`_xml_text`: only characters XML allows, raw or referred to, no `]]>`, no bare &);
# expat checks the rest, the part with its cells taken out: what is left of a well-formed part is
# well-formed, and putting well-formed elements back between its tags keeps it so. That text is a few
# KB (the rows, merges, page setup) against ~35 KB, most of it character references, for the whole part.

_SCAN_LIMIT = 4 << 20  # 4 MB holds < 400,000 cells or merges: below MAX_CELLS, so no cell check can fire
_PROLOG = re.compile(r"""\ufeff?(?:<\?xml version=["']1\.0["'](?: encoding=["'](?i:utf-8)["'])?"""
                     r"""(?: standalone=["'](?:yes|no)["'])?[ \t\r\n]*\?>)?[ \t\r\n]*<worksheet[ \t\r\n>]""")
_SHEET_DATA = re.compile(r"<sheetData(/?)>")
_CELL_TAGS = re.compile(r"<(?:c|v|t|row|rPh)[ \t\r\n/>]")  # the tags `_stream_sheet` acts on, less mergeCell
_MERGE_TAG = re.compile(r"<mergeCell[ \t\r\n/>]")
_MERGE = re.compile(r'<mergeCell ref="([A-Z0-9:]*)"/>')
_TOKEN = re.compile(
    # a cell: r, s and t in the order writers put them; an inline string, or a value with or without a formula
    r'<c r="([A-Z]{1,3}[0-9]+)"(?: s="([0-9]+)")?(?: t="([a-zA-Z]+)")?'
    r'(?:><is><t(?: xml:space="preserve")?>([^<]*)</t></is></c>|/>'
    r'|>(?:<f(?: t="(?:shared|array)")?(?: ref="[A-Z0-9:]+")?(?: si="[0-9]+")?(?:/>|>([^<]*)</f>))?'
    r"(?:<v>([^<]*)</v>)?</c>)"
    # row tags (kept for expat to check) and whitespace: positions come from the cells' own r (a row's r
    # is ASCII, as int() takes it)
    r"|(<row(?:[ \t\r\n][^>&\x80-\U0010FFFF]*)?>|</row>)|[ \t\r\n]+"
    r"|([\s\S]+)")  # anything else: the rest of the sheet, which the streaming parser reads
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|]]>")  # in character data
# a run of decimal character references (a Chinese text written as such), or one reference
_REFERENCE = re.compile(r"((?:&#[0-9]{1,7};)+)|&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(amp|lt|gt|quot|apos));")
_BARE_AMP = re.compile(r"&(?!#[0-9]+;|#x[0-9A-Fa-f]+;|(?:amp|lt|gt|quot|apos);)")
_CACHED = 256  # texts up to this long are cached (labels); longer ones would only fill the caches
_PREDEFINED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _scan_sheet(raw: bytes | None, strings: list[str], formats: list, date1904: bool):
    """The sheet's cells and merged ranges as `_Workbook._stream_sheet` reads them, or None when the part is
    not one of the shapes this scan knows (see above)."""
    try:
        text = raw.decode("utf-8")  # None (too big, unreadable) fails here too
    except (AttributeError, UnicodeError):
        return None
    prolog = _PROLOG.match(text)
    data = _SHEET_DATA.search(text)
    if not prolog or not data:
        return None
    if data.group(1):
        end = data.end()
        body, tail = "", text[end:]
    else:
        end = text.find("</sheetData>", data.end())
        if end < 0:
            return None
        body, tail = text[data.end():end], text[end + 12:]
    # (the body's tokens leave no room for markup but tags: the rest is checked here)
    if "<!" in tail or "<?" in tail or "<sheetData" in tail or text.find("<!", 0, data.start()) >= 0 \
            or text.find("<?", prolog.end(), data.start()) >= 0:
        return None
    if _CELL_TAGS.search(text, 0, data.start()) or _MERGE_TAG.search(text, 0, data.start()) or _CELL_TAGS.search(tail):
        return None
    refs = _MERGE.findall(tail)
    # every mergeCell tag is one the pattern read: counted in C when no other tag starts so (mergeCells)
    if tail.count("<mergeCell") != len(refs) + tail.count("<mergeCells") and len(refs) != len(_MERGE_TAG.findall(tail)):
        return None
    tokens = _TOKEN.findall(body)
    if tokens and tokens[-1][-1]:
        return None
    if not _well_formed((text[:data.end()] + "".join(map(_ROW_TAG, tokens)) + text[end:]).encode()):
        return None
    cells: dict[tuple[int, int], str] = {}
    for ref, style, kind, inline, formula, v, _, _ in tokens:
        if kind == "inlineStr" and not v and not formula:  # most cells: an inline text (a cell token: a ref)
            value = _INLINE[inline]
        elif not ref:
            continue
        else:
            if formula and _xml_text(formula) is None:
                return None
            if not v and not inline:
                continue
            if kind == "inlineStr" and not v:
                value = _INLINE[inline]
            else:
                v, inline = _xml_text(v), _xml_text(inline)
                if v is None or inline is None:
                    return None
                value = _value(kind, v, inline, style, strings, formats, date1904)
        if value is None:
            return None
        if value and (at := _CELL(ref))[0] >= 0:
            cells[at] = value
    merges = list(filter(None, map(_merge_ref, refs)))
    return cells, merges


def _well_formed(raw: bytes) -> bool:
    """Whether expat parses the part (less its cells) without error (no handler: C speed)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(raw, True)
    except expat.ExpatError:
        return False
    return True


def _xml_text(raw: str) -> str | None:
    """Character data as expat gives it: line ends normalised to \\n, then the references resolved; None
    when expat would refuse it (a character XML does not allow, raw or referred to, `]]>`, a bare &, an
    unknown entity)."""
    if "&" not in raw and "\r" not in raw and raw.isprintable() and "]]>" not in raw:
        return raw  # (printable: no control character, surrogate or non-character)
    return _resolved(raw) if len(raw) <= _CACHED else _resolved.__wrapped__(raw)


@functools.lru_cache(maxsize=1 << 12)
def _resolved(raw: str) -> str | None:
    """Cached for short texts: a form's labels are the same in every workbook."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in raw:
        if _BARE_AMP.search(raw):
            return None
        try:
            raw = _REFERENCE.sub(_characters, raw)
        except ValueError:  # past U+10FFFF
            return None
    # a character XML does not allow, raw or referred to (a referred ]]> is allowed: declined all the same)
    return None if _NOT_XML.search(raw) else raw


def _characters(m: re.Match) -> str:
    run, hexadecimal, decimal, name = m.groups()
    if run:
        return "".join(map(chr, map(int, run[2:-1].split(";&#"))))
    if name:
        return _PREDEFINED[name]
    digits = (hexadecimal or decimal).lstrip("0") or "0"
    if len(digits) > 7:
        raise ValueError("past U+10FFFF")
    return chr(int(digits, 16 if hexadecimal else 10))  # past U+10FFFF: ValueError too


def _inline_value(raw: str) -> str | None:
    """An inline string cell's text: `_value` of it, which needs nothing of the workbook; None as for
    `_xml_text`."""
    text = _xml_text(raw)
    return None if text is None else _value("inlineStr", "", text, None, [], [], False)


# `_inline_value` by the raw text, looked up in C (`_INLINE[raw]`, no call on a hit): a form's labels recur in
# every workbook; long texts are answered but not kept
_INLINE = Memo(_inline_value, maxsize=1 << 12, longest=_CACHED)
_ROW_TAG = itemgetter(6)  # a token's row tag (kept for expat to check)


@functools.lru_cache(maxsize=1 << 14)
def _cell_ref(ref: str) -> tuple[int, int] | None:
    """`C12` -> (11, 2): 0-based row and column; None when it is not a cell reference. Cached: the cells of
    one form are named alike in every workbook."""
    m = _REF.fullmatch(ref)
    if not m:
        return None
    letters = m.group(1)
    return int(m.group(2)) - 1, ord(letters) - 65 if len(letters) == 1 else _col(letters)


_CELL = memo(maxsize=1 << 14)(_cell_ref.__wrapped__)  # `_cell_ref` looked up in C, for the scan's cells


@functools.lru_cache(maxsize=1 << 12)
def _merge_ref(ref: str) -> tuple[int, int, int, int] | None:
    """`A1:H2` -> (0, 0, 1, 7): first row, first column, last row, last column; None when unreadable."""
    ends = [_REF.fullmatch(x) for x in ref.split(":")]
    if len(ends) == 2 and all(ends):
        (c0, r0), (c1, r1) = [(_col(m.group(1)), int(m.group(2)) - 1) for m in ends]
        return min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1)
    return None


def _col(letters: str) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return col - 1


def _value(kind, v: str, inline: str, style, strings: list[str], formats: list, date1904: bool) -> str:
    if kind == "s":
        try:
            text = strings[int(v)]
        except (ValueError, IndexError):
            return ""
    elif kind == "inlineStr":
        text = inline
    elif kind in ("str", "e"):
        text = v
    elif kind == "b":
        return "TRUE" if v.strip() in ("1", "true") else "FALSE" if v.strip() else ""
    elif kind == "d":
        text = v[:-9] if v.endswith("T00:00:00") else v
    else:
        if not v:
            return ""
        try:
            number = float(v)
        except ValueError:
            return v.strip(STRIP)
        fmt = None
        if style:
            try:
                fmt = formats[int(style)]
            except (ValueError, IndexError):
                fmt = None
        if fmt and is_date_format(fmt):
            return serial_date(number, date1904)
        return format_number(number, fmt)
    if "_x" in text:
        text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
    return cell_text(text)


def _grid(cells: dict[tuple[int, int], str], merges: list, path: str) -> Grid:
    if not cells:
        return []
    last = max(cells)[0]
    check_cells(last + 1, path)
    ends = dict(sorted(cells))  # row -> its last column (cells come row by row: the sort has little to do)
    check_cells(sum(ends.values()) + len(ends), path)
    grid: Grid = [[""] * (ends[r] + 1) if r in ends else [] for r in range(last + 1)]
    for (r, c), text in cells.items():
        grid[r][c] = text
    blank_covered(grid, merges)
    return trim(grid)
