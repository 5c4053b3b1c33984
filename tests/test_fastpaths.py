"""The readers' fast paths against the slow paths they stand in for.

`xlsx._scan_sheet` (a regular-expression scan of a sheet part) and `xls._scan_sheet` (a BIFF8 record
scan) may decline (None), and then the old path reads the sheet: expat's callbacks
(`_Workbook._stream_sheet`) and xlrd's `Sheet.read`. Whenever a scan does not decline it must give
exactly what the old path gives, or raise what it raises. Checked here differentially, on real sheets
(the sample, generated forms of every family) and on seeded mutations of them; the plain generated
sheets must also be taken by the scans, or a scan that silently declined everything would pass.

`docx._scan` (a .docx main part read from its bytes) stands in for the pass over its tree
(`docx._read_body`) the same way, checked through `docx.read` with and without it.
"""
from __future__ import annotations

import io
import random
import re
import struct
import zipfile
from pathlib import Path

import pytest
import xlrd

from pifu.generate import FAMILIES, generate
from pifu.model import DocumentError
from pifu.readers import docx, html, xls, xlsx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "ezhou-trade-union-2025"
HUBEI_DOCS = 20  # generated forms of the default family; 2 more of each other family


def _outcome(call):
    """What `call()` gives, or ("raised", exception type, message) so raising paths compare too."""
    try:
        return call()
    except Exception as e:  # noqa: BLE001 - any failure must be the same failure on both paths
        return ("raised", type(e).__name__, str(e))


def _raised(outcome) -> bool:
    return isinstance(outcome, tuple) and len(outcome) == 3 and outcome[0] == "raised"


def _generated(tmp_path_factory, fmt: str) -> list[Path]:
    paths = []
    for family in FAMILIES:
        out = tmp_path_factory.mktemp(f"{fmt}-{family}")
        paths += generate(HUBEI_DOCS if family == "hubei" else 2, out, seed=11, fmt=fmt, family=family)
    return paths


# ---------------------------------------------------------------- xlsx

def _xlsx_slow(raw: bytes, strings, formats, date1904: bool):
    """`_Workbook._stream_sheet` over `raw`: a workbook object holding just that part (the rest of
    `_Workbook.__init__` reads the other parts, which the scan is given as arguments)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("sheet.xml", raw)
    wb = xlsx._Workbook.__new__(xlsx._Workbook)
    wb.book = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    wb.strings, wb.formats, wb.path, wb.date1904 = strings, formats, "sheet.xlsx", date1904
    return wb._stream_sheet("sheet.xml")


def _xlsx_check(raw: bytes, strings, formats, date1904: bool = False) -> bool:
    """Asserts the scan agrees with the stream on `raw`; whether the scan took the sheet (did not decline)."""
    strings, formats = list(strings), list(formats)
    fast = _outcome(lambda: xlsx._scan_sheet(raw, strings, formats, date1904))
    if fast is None:
        return False
    slow = _outcome(lambda: _xlsx_slow(raw, strings, formats, date1904))
    if _raised(fast) or _raised(slow):
        assert fast == slow, raw[:2000]
        return not _raised(fast)
    # The cells' order matters too (the grid is built from the dict): compare items as lists.
    assert list(fast[0].items()) == list(slow[0].items()), raw[:2000]
    assert fast[1] == slow[1], raw[:2000]
    return True


def _xlsx_sheets(path: Path):
    """(part bytes, shared strings, number formats, date1904) per sheet of the workbook."""
    with zipfile.ZipFile(path) as z:
        wb = xlsx._Workbook(z, str(path))
        return [(z.read(part), wb.strings, wb.formats, wb.date1904) for _, part in wb.sheet_list]


# A sheet in shapes writers rarely use: phonetic runs, rich inline text, errors, booleans, dates, shared
# formulas, character references and _x000D_ escapes, a row without r, merges after the data.
_HAND_SHEET = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<worksheet xmlns="x"><dimension ref="A1:C3"/>'
    '<sheetData><row r="1" spans="1:3"><c r="A1" s="1" t="s"><v>0</v></c><c r="B1" s="2"><v>0.4996</v></c>'
    '<c r="C1" s="3"/></row>\n <row r="2"><c r="A2" t="str"><f>A1</f><v>x &amp; y&#13;&#10;z</v></c>'
    '<c r="B2" t="b"><v>1</v></c><c r="C2" t="e"><v>#N/A</v></c><c r="D2" t="inlineStr"><is><t xml:space="preserve">'
    ' a_x000D_b </t></is></c><c r="E2" s="4"><v>43831</v></c><c r="F2" t="d"><v>2020-01-01T00:00:00</v></c>'
    '<c r="G2" t="n" s="9"><v>12</v></c></row><row r="3"/><row><c r="A4"><f t="shared" si="0"/><v>3</v></c></row>'
    '</sheetData><mergeCells count="2"><mergeCell ref="A1:B1"/><mergeCell ref="C2:D3"/></mergeCells>'
    '<pageMargins left="0.7"/></worksheet>').encode()
_HAND_BASE = (_HAND_SHEET, ["s0\r\n", "s1"], [None, None, "0.00%", "0.00", "yyyy-mm-dd"], False)

# Snippets inserted anywhere: markup the scan must decline or read as expat does (references, CDATA,
# comments, prefixed tags, odd refs and attributes, characters XML forbids, stray tags).
_SNIPPETS = [
    "<", ">", "&", "&#13;", "&#x41;", "&amp;", "&lt;", "&foo;", "\r\n", "\r", "\n", " ", "\t", '"', "'",
    "<!-- c -->", "<![CDATA[x]]>", "<?pi x?>", "<v>1</v>", "<v>&#178;</v>", "<t>x</t>", '<c r="Z9"><v>5</v></c>',
    '<c><v>7</v></c>', '<c r="a1"><v>7</v></c>', '<c r="A0"><v>7</v></c>', '<c r="AAAA1"><v>7</v></c>',
    "<c>", "</c>", '<row r="²">', '<row r="&#178;">', '<row r="٣"/>', '<row r="&#1635;"/>', '<row r="x"/>',
    "<row/>", "<row>", "</row>", '<x:c r="A1"><x:v>1</x:v></x:c>', "<rPh><t>p</t></rPh>",
    '<mergeCell ref="A1:B2"/>', '<mergeCell ref="A1:B&#50;"/>', '<mergeCell ref=" A1:B2"/>', '<mergeCell/>',
    "<sheetData/>", "<sheetData>", "</sheetData>", "\ufeff", "\udcff",
    '<c r="B7" t="s"><v>1</v></c>', '<c r="B7" t="s"><v>99</v></c>', '<c r="B7" s="2" t="n"><v> 5 </v></c>',
    '<c r="B8" t="inlineStr"><is><r><t>a</t></r><r><t>b</t></r></is></c>',
    '<c r="B8" t="inlineStr"><is><t>a</t><rPh><t>b</t></rPh></is></c>',
    '<c r="B9" s="1" t="s" cm="1"><v>1</v></c>', '<c t="s" r="B9"><v>1</v></c>', '<c r="B9" s="-1"><v>1</v></c>',
    '<c r="B9" t="inlineStr"><is><t>a&#x0D;b&#13;&#10;c&gt;</t></is></c>',
    '<c r="B9" t="inlineStr"><is><t>\r\nq\rw</t></is></c>',
    '<c r="C9"><v></v></c>', '<c r="C9"><v/></c>', '<c r="C9" t="inlineStr"><v>1</v></c>',
    '<c r="C9" t="s"><is><t>1</t></is></c>', '<c r="C9" s="1"><f>SUM(A1:A2)&lt;3</f><v>3</v></c>',
    '<c r="C9" s="1"><f a=">"/><v>3</v></c>', '<c r="C9"> <v>3</v></c>', '<c r="C9"><v>3</v> </c>',
    '<v>9</v>', '<t>9</t>', '<is><t>q</t></is>', '<c r="D1" t="inlineStr"><is><t>dup</t></is></c>',
    "<f>x</f>", '<f/>', '<c r="E9" s="4"><v>1e308</v></c>', '<c r="E9" s="4"><v>nan</v></c>',
    '<c r="E9" s="1"><v>-0.0</v></c>', '<c r="E9" t="b"><v>true</v></c>',
    '<c r="E9" t="d"><v>2020-01-01T00:00:00</v></c>', '<row r="1" x="a>b">', '<c r="XFD1048577"><v>1</v></c>',
    '<dimension ref="A1"/>', '<cols><col min="1" max="2"/></cols>', '<worksheet>', '</worksheet>',
    "<c r=\"A1\" s='1'><v>1</v></c>", '<c r="A1" s="1" t="s" ><v>1</v></c>', '<c  r="A1"><v>1</v></c>',
    "\x00", "\x01", "&#0;", "&#xD800;", "&#xFFFE;", "]]>",
]


def _edited(rng: random.Random, text: str, snippets: list[str], insert: float, after_tag: float, delete: float,
            root: tuple[float, str, list[str]] = (0.0, "", [])) -> str:
    """One edit of a part's markup, by where a draw falls: below `root[0]` one of `root[2]` added to the start
    tag `root[1]`; below `insert` a snippet inserted (after a tag with probability `after_tag`, else
    anywhere); below `delete` a span of 1-30 characters deleted; else a span between tags duplicated."""
    op = rng.random()
    tags = [m.end() for m in re.finditer(">", text)] or [0]
    if op < root[0]:
        at = text.index(root[1]) + len(root[1])
        return text[:at] + rng.choice(root[2]) + text[at:]
    if op < insert:
        at = rng.choice(tags) if rng.random() < after_tag else rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(snippets) + text[at:]
    if op < delete:
        a = rng.randrange(len(text))
        return text[:a] + text[a + rng.randint(1, 30):]
    a, b = sorted(rng.sample(tags, 2)) if len(tags) > 1 else (0, 0)
    at = rng.choice(tags)
    return text[:at] + text[a:b][:500] + text[at:]


def _mutated_markup(rng: random.Random, raw: bytes) -> bytes:
    """1-3 edits anywhere: a snippet inserted (mostly after a tag), a span deleted, a span duplicated;
    now and then the result in UTF-16 (the scan reads UTF-8 only)."""
    text = raw.decode("utf-8")
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        text = _edited(rng, text, _SNIPPETS, insert=0.7, after_tag=0.8, delete=0.85)
    if rng.random() < 0.02:
        return text.encode("utf-16", "replace")
    return text.encode("utf-8", "surrogatepass")


# Values for well-formed cells: numbers in many spellings, references of every kind (valid or not as
# characters), characters XML forbids or discourages, long runs of references (the scan's bulk decode).
_VALUES = [
    "", "1", " 2 ", "0.4996", "-0", "1e5", "abc", "&amp;", "&#13;&#10;x", "\r\nx\r", "_x000D_", "_x0041_b",
    "&#x5E74;", "年", " ", "\t", "43831.5", "99", "0", "3", "true", "TRUE", "#N/A", "2020-01-01T00:00:00",
    "&lt;&gt;&quot;&apos;", "&#8203;", "inf", "1,000", "%", "&#1;", "&#0;", "&#00000000065;", "&#x110000;",
    "&#1114111;", "&#65534;", "&#xFFFD;", "&#xD800;", "&#X41;", "&bogus;", "a & b", "a ]]> b", "\x01", "\x7f",
    "\ufffe", "\uffff", "\ufdd0", "&#9;&#xA;&#xd;", "&#12345678;", "&#x0000000041;", "&#;", "&#x;", "&amp", "]]",
    "\x85", "&#133;", "&#24180;" * 40, "&#24180;" * 40 + "&#1;", "&#24180;&#65306;x" * 30 + " & ",
    "&#24180;" * 35 + "&#xFF0C;&#13;\r\n" * 5, "&#12345678;" + "a" * 300, "&#0000024180;" * 30,
]
_ROW_TAGS = [
    '<row r="5">', '<row>', '<row r="7" spans="1:3" ht="12.8">', '<row r="x">', '<row r="1" r="2">',
    '<row r="1" a="1" a="2">', '<row r="1"\x01>', '<row r="1" a="\x01">', '<row r="1" a="]]>">',
    '<row r="1" a=\'x\'>', '<row r="1" a="x" >', '<row r="1" a>', '<row r="1" 1a="x">', '<row r="1" a:b="x">',
    '<row r="1" xmlns:q="u" q:a="1">',
]
_STRAYS = [" ", "\n", "\r\n", '<mergeCell ref="A1:C3"/>', "<v>1</v>", "<row>", "</row>", "<row/>", "\x01",
           "\ufffe", "]]>"]
# Extra number formats appended to a base's, so the styles s="0".."4" and beyond hit more codes.
_EXTRA_FORMATS = [None, "0.00", "General", "#,##0.00_);(#,##0.00)"]


def _cell(rng: random.Random) -> str:
    ref = rng.choice(["A", "B", "Z", "AA", "XFD", "ZZZ"]) + rng.choice(["1", "2", "0", "01", "100", "999999"])
    style = rng.choice(["", ' s="0"', ' s="1"', ' s="2"', ' s="3"', ' s="4"', ' s="77"', ' s="007"'])
    kind = rng.choice(["", ' t="s"', ' t="n"', ' t="str"', ' t="e"', ' t="b"', ' t="d"', ' t="inlineStr"', ' t="x"'])
    x = rng.choice(_VALUES)
    body = rng.choice([
        "/>", "></c>", f"><v>{x}</v></c>", f"><f>A1</f><v>{x}</v></c>", f'><f t="shared" si="0"/><v>{x}</v></c>',
        f"><f>{x}</f><v>1</v></c>", f'><f t="shared" ref="A1:A2" si="0">{x}</f><v>1</v></c>',
        f'><f t="array" ref="A1">{x}</f></c>', '><f si="0" t="shared"/><v>2</v></c>', f"><is><t>{x}</t></is></c>",
        f'><is><t xml:space="preserve">{x}</t></is></c>', "><f>1</f></c>"])
    return f'<c r="{ref}"{style}{kind}{body}'


def _mutated_cells(rng: random.Random, raw: bytes) -> bytes:
    """1-2 or 1-6 insertions between the cells of sheetData, mostly cells (the shapes the scan takes, to test
    what it reads rather than what it declines; fewer insertions, fewer declines), some in a new row, some
    stray markup; now and then merges the scan must parse as expat does."""
    text = raw.decode("utf-8")
    a, b = text.index("<sheetData>") + len("<sheetData>"), text.index("</sheetData>")
    body = text[a:b]
    for _ in range(rng.randint(1, rng.choice([2, 6]))):
        ends = [m.end() for m in re.finditer(r"</c>|/>|<row[^>]*>|</row>", body)] + [0]
        at = rng.choice(ends)
        k = rng.random()
        if k < 0.7:
            insert = _cell(rng)
        elif k < 0.85:
            insert = rng.choice(_ROW_TAGS) + _cell(rng) + "</row>"
        else:
            insert = rng.choice(_STRAYS)
        body = body[:at] + insert + body[at:]
    tail = text[b:]
    if rng.random() < 0.3:
        tail = tail.replace("</worksheet>", '<mergeCells><mergeCell ref="B2:A1"/><mergeCell ref="A1"/>'
                                            '<mergeCell ref="AAAA1:B2"/></mergeCells></worksheet>')
    return (text[:a] + body + tail).encode()


@pytest.fixture(scope="module")
def xlsx_generated(tmp_path_factory) -> list[Path]:
    return _generated(tmp_path_factory, "xlsx")


def test_xlsx_scan_takes_and_matches_real_sheets(xlsx_generated):
    for path in xlsx_generated:
        for raw, strings, formats, date1904 in _xlsx_sheets(path):
            assert _xlsx_check(raw, strings, formats, date1904), f"the scan declined a generated sheet: {path.name}"
    for path in [SAMPLE.with_suffix(".xlsx"), *sorted((ROOT / "tests" / "data").glob("*.xlsx"))]:
        for raw, strings, formats, date1904 in _xlsx_sheets(path):
            _xlsx_check(raw, strings, formats, date1904)
    _xlsx_check(*_HAND_BASE)  # rare shapes: the scan may decline it


@pytest.mark.parametrize("seed", range(3))
def test_xlsx_scan_matches_stream_on_mutations(seed, xlsx_generated):
    bases = [_HAND_BASE, *_xlsx_sheets(SAMPLE.with_suffix(".xlsx"))[:1]]
    bases += [sheets[0] for sheets in map(_xlsx_sheets, xlsx_generated[::6])]
    rng = random.Random(seed)
    taken = 0
    for _ in range(200):  # markup anywhere: mostly declined, must never disagree
        raw, strings, formats, date1904 = rng.choice(bases)
        taken += _xlsx_check(_mutated_markup(rng, raw), strings, formats, date1904)
    for _ in range(300):  # well-formed cells: mostly taken, so the values are compared
        raw, strings, formats, date1904 = rng.choice(bases)
        taken += _xlsx_check(_mutated_cells(rng, raw), strings, [*formats, *_EXTRA_FORMATS], date1904)
    assert taken >= 50, "the scan took too few mutated sheets for the comparison to mean much"


# ---------------------------------------------------------------- xls

def _open_book(data: bytes):
    """The book as `xls.read` opens it (on demand: the sheets are read when asked for)."""
    xls._skip_colour_checks()
    return xlrd.open_workbook(file_contents=data, formatting_info=True, ragged_rows=True, logfile=io.StringIO(),
                              on_demand=True)


def _xls_slow(book, index: int):
    """xlrd's own read of the sheet, as `xls._sheets` takes it when the scan declines."""
    book._sheet_list[index] = None  # on demand: forget any earlier read so the sheet is read again
    sheet = book.sheet_by_index(index)
    try:
        return [list(row) for row in xls._cells_of(sheet)], list(sheet.merged_cells)
    finally:
        book.unload_sheet(index)


def _filled(rows) -> str:
    """The rows with empty and blank cells as None (`xls._sheets` reads neither's value nor XF index), as
    a repr so that a NaN equals a NaN."""
    empty = (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)
    return repr([[None if cell is None or cell[0] in empty else cell for cell in row] for row in rows])


def _xls_check(book, index: int) -> bool:
    """Asserts the record scan agrees with xlrd on sheet `index`; whether the scan took it."""
    fast = _outcome(lambda: xls._scan_sheet(book, index))
    if fast is None:
        return False
    slow = _outcome(lambda: _xls_slow(book, index))
    if _raised(fast) or _raised(slow):
        assert fast == slow
        return not _raised(fast)
    (rows, merged), (slow_rows, slow_merged) = fast, slow
    assert [len(row) for row in rows] == [len(row) for row in slow_rows]
    assert _filled(rows) == _filled(slow_rows)
    assert merged == slow_merged
    return True


def _records(mem: bytes, pos: int) -> tuple[list[list], int]:
    """The [code, data] records from `pos` through EOF, and where they end."""
    out = []
    while pos + 4 <= len(mem):
        code, length = struct.unpack_from("<HH", mem, pos)
        out.append([code, bytes(mem[pos + 4:pos + 4 + length])])
        pos += 4 + length
        if code == 0x000A:
            break
    return out, pos


# Cell records the scan reads (NUMBER, LABELSST, RK, MULRK, BLANK, MULBLANK, BOOLERR, FORMULA), the ones it
# passes over or must decline (DIMENSIONS, ROW, COLINFO, LABEL, STRING, ...), EOF and made-up codes.
_RECORD_CODES = [0x203, 0xFD, 0x27E, 0xBD, 0x201, 0xBE, 0x205, 0x06, 0x200, 0x00, 0xE5, 0x208, 0x7D, 0x55, 0x99,
                 0x225, 0x23E, 0x41, 0x1B, 0x1A, 0xA0, 0x0A, 0x204, 0x207, 0x809, 0x1234, 0x0C, 0xEC, 0x5D]


def _record_data(rng: random.Random, code: int) -> bytes:
    """A record body for `code`: its layout with edge values (rows, columns beyond xlrd's limits, unknown
    XF indexes, inconsistent counts), random bytes for the others; a tenth cut short."""
    r, c = rng.choice([0, 1, 5, 40, 65535]), rng.choice([0, 1, 3, 255, 256, 300])
    xf = rng.choice([0, 15, 16, 17, 20, 21, 22, 62, 1000, 0x7FFF, 0x8000])
    if code == 0x203:
        data = struct.pack("<HHHd", r, c, xf, rng.choice([1.5, 0.4996, -3.0, float("nan"), 1e300, 43831.0]))
    elif code == 0xFD:
        data = struct.pack("<HHHi", r, c, xf, rng.choice([0, 1, 5, -1, 10**6]))
    elif code == 0x27E:
        data = struct.pack("<HHHi", r, c, xf, rng.randrange(-2**31, 2**31))
    elif code == 0xBD:
        m, first = rng.randint(0, 3), rng.choice([0, 2, 254])
        cells = b"".join(struct.pack("<Hi", rng.choice([15, 16, 17, 0x8000]), rng.randrange(-2**31, 2**31))
                         for _ in range(m))
        data = struct.pack("<HH", r, first) + cells + struct.pack("<H", max(0, first + m - 1 + rng.choice([0, 0, 0, 1, -1])))
    elif code == 0x201:
        data = struct.pack("<HHH", r, c, xf)
    elif code == 0xBE:
        m, first = rng.randint(0, 4), rng.choice([0, 2, 254])
        cells = b"".join(struct.pack("<H", rng.choice([15, 0x8000])) for _ in range(m))
        data = struct.pack("<HH", r, first) + cells + struct.pack("<H", max(0, first + m - 1 + rng.choice([0, 0, 0, 1])))
    elif code == 0x205:
        data = struct.pack("<HHHBB", r, c, xf, rng.choice([0, 1, 7, 0x2A]), rng.choice([0, 1, 2]))
    elif code == 0x06:
        result = rng.choice([struct.pack("<d", 2.5), bytes([rng.choice([0, 1, 2, 3, 4]), 0, rng.choice([0, 1, 7]),
                                                            0, 0, 0, 0xFF, 0xFF])])
        data = struct.pack("<HHH", r, c, xf) + result + b"\0\0" + b"\0" * rng.choice([0, 6])
    elif code == 0xE5:
        m = rng.randint(0, 3)
        ranges = b"".join(struct.pack("<4H", rng.choice([0, 3, 100, 65535]), rng.choice([0, 4, 200, 65535]),
                                      rng.choice([0, 2]), rng.choice([1, 5, 300])) for _ in range(m))
        data = struct.pack("<H", m + rng.choice([0, 0, 0, 1])) + ranges
    elif code in (0x1B, 0x1A):
        m = rng.randint(0, 2)
        data = struct.pack("<H", m + rng.choice([0, 0, 1])) + b"\0" * 6 * m
    else:
        data = bytes(rng.randrange(256) for _ in range(rng.choice([0, 2, 4, 6, 9, 10, 12, 14, 16, 20])))
    if rng.random() < 0.1:
        data = data[:rng.randrange(len(data) + 1)]
    return data


def _mutated_records(rng: random.Random, records: list[list]) -> bytes:
    """1-4 edits of a sheet's records: one inserted, deleted, duplicated, or a byte changed; rarely the
    stream cut short."""
    records = [list(record) for record in records]
    for _ in range(rng.randint(1, 4)):
        op, k = rng.random(), rng.randrange(len(records) + 1)
        if op < 0.6:
            code = rng.choice(_RECORD_CODES)
            records.insert(k, [code, _record_data(rng, code)])
        elif not records:
            continue
        elif op < 0.75:
            del records[min(k, len(records) - 1)]
        elif op < 0.9:
            records.insert(k, list(rng.choice(records)))
        else:
            record = rng.choice(records)
            if record[1]:
                p = rng.randrange(len(record[1]))
                record[1] = record[1][:p] + bytes([rng.randrange(256)]) + record[1][p + 1:]
    body = b"".join(struct.pack("<HH", code, len(data)) + data for code, data in records)
    if rng.random() < 0.05:
        body = body[:-rng.randint(1, 6)]
    return body


@pytest.fixture(scope="module")
def xls_books(tmp_path_factory) -> list:
    return [_open_book(path.read_bytes()) for path in _generated(tmp_path_factory, "xls")]


def test_xls_scan_takes_and_matches_real_sheets(xls_books):
    for book in xls_books:
        for index in range(book.nsheets):
            assert _xls_check(book, index), "the record scan declined a generated sheet"
    sample = _open_book(SAMPLE.with_suffix(".xls").read_bytes())
    for index in range(sample.nsheets):
        _xls_check(sample, index)


@pytest.mark.parametrize("seed", range(2))
def test_xls_scan_matches_xlrd_on_mutations(seed, xls_books):
    rng = random.Random(seed)
    books = [*xls_books, _open_book(SAMPLE.with_suffix(".xls").read_bytes())]
    taken = 0
    for _ in range(500):
        book = rng.choice(books)
        index = rng.randrange(book.nsheets)
        # The sheet's records (after its BOF) replaced in the book's stream: xlrd and the scan both read
        # the sheet from `book.mem` at its BOF's offset, and only this sheet is read.
        mem = book.mem
        start = book._sh_abs_posn[index]
        body_start = start + 4 + struct.unpack_from("<HH", mem, start)[1]
        records, end = _records(mem, body_start)
        book.mem = mem[:body_start] + _mutated_records(rng, records) + mem[end:]
        try:
            taken += _xls_check(book, index)
        finally:
            book.mem = mem
    assert taken >= 80, "the record scan took too few mutated sheets for the comparison to mean much"


# ---------------------------------------------------------------- html

# `_Page` reads a cell holding one childless element it knows (`<span>a</span>`, `<p>a</p>`) itself, in
# its loop; `_text_of` reads every other cell with markup, and read all of them before. With `_LEAVES`
# emptied the loop hands every such cell to `_text_of`: the slow path, compared here.

def _html_page(data: bytes, fast: bool):
    """The page's tables as `_Page` reads them (texts, spans, nested tables by number, labels), or what
    reading raised; `fast=False` without the loop's own reading of one-element cells."""
    def read():
        text, encoding = html.decode(data, "page.html")
        markup = data if encoding == "utf-8" and not data.startswith(b"\xef\xbb\xbf") else text.encode("utf-8")
        root, _ = html._parse(markup, "page.html")
        page = html._Page(root, "page.html")
        numbers = {t.el: t.number for t in page.tables}
        return [([[c if type(c) is str else (c.text, c.rowspan, c.colspan, [numbers[e] for e in c.nested])
                   for c in row] for row in t.rows], t.plain, sorted(t.labels), t.headers, t.first, t.last)
                for t in page.tables]
    saved = html._LEAVES
    html._LEAVES = saved if fast else {}
    try:
        return _outcome(read)
    finally:
        html._LEAVES = saved


def _html_read(data: bytes, fast: bool):
    """`html.read` (the whole reader: grid, origins, merges, title), or what it raised."""
    saved = html._LEAVES
    html._LEAVES = saved if fast else {}
    try:
        return _outcome(lambda: html.read(data, "page.html"))
    finally:
        html._LEAVES = saved


def _leaf_cells(data: bytes) -> int:
    """Cells the loop reads itself: one childless child whose name is in `_LEAVES`."""
    text, encoding = html.decode(data, "page.html")
    root, _ = html._parse(text.encode("utf-8"), "page.html")
    return sum(1 for td in root.iter("td", "th")
               if len(td) == 1 and td[0].tag in html._LEAVES and not len(td[0]))


def _html_check(data: bytes) -> None:
    assert _html_page(data, True) == _html_page(data, False), data[:3000]
    assert _html_read(data, True) == _html_read(data, False), data[:3000]


# What a cell's one element and the text around it may hold: every kind of white space the reading
# collapses or strips, no-break and full-width spaces, runs meeting across the element's edges.
_HTML_PIECES = ["", "a", " a", "a ", "  a", "a  b", " ", "  ", "\n", "a\nb", "\t", "&nbsp;", "a&nbsp;", "&nbsp;&nbsp;",
                "\u3000", "\u3000a\u3000", "\ufeff", "\x0b", "\x0c", "\r", "年度绩效指标", " 长期目标 ", "一级指标",
                "部门（单位）名称", "1,058.85", "&amp;", "&#12288;", "\xa0x\xa0"]
_HTML_LEAVES = [*html._LEAVES, "br", "img", "table", "td", "script", "select", "h1", "li", "SPAN", "o:p", "xyz"]


def _leaf_cell(rng: random.Random) -> str:
    def piece() -> str:  # mostly none: the element alone in its cell is the most common cell with markup
        return rng.choice(_HTML_PIECES) if rng.random() < 0.5 else ""
    tag = rng.choice(_HTML_LEAVES)
    attrs = rng.choice(["", "", ' rowspan="2"', ' colspan="3"', ' rowspan="0" colspan="2"', ' class="x"'])
    inner = rng.choice(_HTML_PIECES) if rng.random() < 0.9 else f"<b>{rng.choice(_HTML_PIECES)}</b>"
    return (f"<td{attrs}>{piece()}<{tag}>{inner}</{tag}>{piece()}</td>"
            if rng.random() < 0.9 else f"<td>{piece()}<{tag}>{rng.choice(_HTML_PIECES)}</td>")


def _mutated_page(rng: random.Random, raw: bytes) -> bytes:
    """1-12 cells holding one element inserted after cells of the page, some snippets of markup anywhere."""
    text = raw.decode("utf-8")
    for _ in range(rng.randint(1, 12)):
        ends = [m.end() for m in re.finditer(r"</t[dh]>|<tr[^>]*>", text, re.IGNORECASE)] or [0]
        at = rng.choice(ends) if rng.random() < 0.85 else rng.randrange(len(text) + 1)
        insert = _leaf_cell(rng) if rng.random() < 0.85 else rng.choice(
            ["<tr>", "</tr>", "<table>", "</table>", "<td>", "</td>", "<br>", "<p>", "</span>", "&nbsp;", "  "])
        text = text[:at] + insert + text[at:]
    return text.encode("utf-8")


def _html_pages(paths: list[Path]) -> list[bytes]:
    """The generated pages in UTF-8 (the mutations insert UTF-8 text)."""
    out = []
    for path in paths:
        data = path.read_bytes()
        text, _ = html.decode(data, str(path))
        out.append(text.encode("utf-8"))
    return out


@pytest.fixture(scope="module")
def html_generated(tmp_path_factory) -> list[Path]:
    return _generated(tmp_path_factory, "html")


def test_html_leaf_cells_taken_and_match_real_pages(html_generated):
    taken = 0
    for path in html_generated:
        data = path.read_bytes()
        taken += _leaf_cells(data)
        _html_check(data)
    for path in [SAMPLE.with_suffix(".html"), *sorted((ROOT / "tests" / "data").glob("*.htm*"))]:
        if path.exists():
            _html_check(path.read_bytes())
    assert taken >= 100, "the generated pages have too few one-element cells for the comparison to mean much"


@pytest.mark.parametrize("seed", range(3))
def test_html_leaf_cells_match_text_of_on_mutations(seed, html_generated):
    pages = _html_pages(html_generated[::4])
    rng = random.Random(seed)
    raised = 0
    for _ in range(60):
        data = _mutated_page(rng, rng.choice(pages))
        _html_check(data)
        raised += _raised(_html_read(data, True))
    assert raised < 60, "every mutated page was refused: nothing was compared"


# `_Builder.add_table` places a row of str cells that spans from above cover by `_with_blanks`, with one
# check for its cells; the loop it stands in for is what every row takes when no row is marked plain.

def _random_table(rng: random.Random) -> str:
    """A table of a few rows: cells spanning rows and columns (sometimes past the table's end, with 0 or
    junk), rows of plain cells under them, empty rows."""
    rows = []
    for _ in range(rng.randint(1, 9)):
        cells = []
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6])):
            if rng.random() < 0.25:
                span = rng.choice([f'rowspan="{rng.choice([2, 3, 5, 0, 40])}"', f'colspan="{rng.choice([2, 3])}"',
                                   'rowspan="2" colspan="2"', 'rowspan="x"', 'rowspan="1"'])
                cells.append(f"<td {span}>s{len(cells)}</td>")
            else:
                cells.append(f"<td>{rng.choice(['', 'a', '长期目标', '1.5'])}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _built(tables: list, page, plain: bool, limit: int):
    """The builder's grid, origins and merges for `tables`, or what it raised, with `limit` cells allowed;
    `plain=False` takes every row through the general loop."""
    import pifu.readers as readers

    saved = [t.plain for t in tables], html.MAX_CELLS, readers.MAX_CELLS
    html.MAX_CELLS = readers.MAX_CELLS = limit
    try:
        if not plain:
            for t in tables:
                t.plain = [False] * len(t.plain)

        def build():
            out = html._Builder(page)
            for t in tables:
                out.add_table(t)
            return out.grid, out.origins, out.merges
        return _outcome(build)
    finally:
        for t, flags in zip(tables, saved[0]):
            t.plain = flags
        html.MAX_CELLS, readers.MAX_CELLS = saved[1], saved[2]


@pytest.mark.parametrize("seed", range(2))
def test_html_rows_under_spans_match_the_loop(seed):
    rng = random.Random(seed)
    taken = 0
    for _ in range(150):
        markup = "<html><body>" + "".join(_random_table(rng) for _ in range(rng.randint(1, 3))) + "</body></html>"
        root, _ = html._parse(markup.encode(), "page.html")
        page = html._Page(root, "page.html")
        taken += sum(1 for t in page.tables for flag in t.plain if flag)
        size = sum(len(row) for table in page.tables for row in table.rows) * 4  # more than the grid holds
        for limit in range(size + 2):  # the cell limit reached at every cell, and not reached
            assert _built(page.tables, page, True, limit) == _built(page.tables, page, False, limit), markup
    assert taken >= 150, "too few plain rows for the comparison to mean much"


def test_html_generated_rows_match_the_loop(html_generated):
    for path in html_generated[::3]:
        text, _ = html.decode(path.read_bytes(), str(path))
        root, _ = html._parse(text.encode("utf-8"), str(path))
        page = html._Page(root, str(path))
        run = page.form_run()
        assert _built(run, page, True, html.MAX_CELLS) == _built(run, page, False, html.MAX_CELLS), path.name




def test_content_values_are_the_constructors_objects(tmp_path):
    """The content reading stores every IndicatorValue field itself (no class call, see layout._values):
    each value must equal the constructor's, and a field added to IndicatorValue must be stored there too
    (an unset slot raises AttributeError here)."""
    import dataclasses

    from pifu.api import parse
    from pifu.model import IndicatorValue

    names = [f.name for f in dataclasses.fields(IndicatorValue)]
    values = [v for path in generate(5, tmp_path, seed=3, fmt="text") for v in parse(path).indicators]
    assert values
    for v in values:
        assert v == IndicatorValue(*[getattr(v, name) for name in names])


# ---------------------------------------------------------------- docx

def _docx_with(data: bytes, xml: bytes) -> bytes:
    """The package `data` with `xml` as its word/document.xml."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            z.writestr(name, xml if name == "word/document.xml" else src.read(name))
    return out.getvalue()


def _docx_check(data: bytes, monkeypatch) -> bool:
    """Asserts `docx.read` gives the same with the byte scan (`docx._scan`) as with the tree pass alone, or
    raises the same; whether the scan took the part (did not decline)."""
    scan, taken = docx._scan, []

    def recorded(slim, path):
        sheet = _outcome(lambda: scan(slim, path))
        taken.append(sheet is not None)
        if _raised(sheet):
            raise DocumentError(path, sheet[2].split(": ", 1)[-1], "too_large")  # (as it raised)
        return sheet

    with monkeypatch.context() as m:
        m.setattr(docx, "_scan", recorded)
        fast = _outcome(lambda: docx.read(data, "form.docx"))
    with monkeypatch.context() as m:
        m.setattr(docx, "_scan", lambda slim, path: None)
        slow = _outcome(lambda: docx.read(data, "form.docx"))
    assert fast == slow, zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")[:3000]
    return any(taken) and not _raised(fast)


@pytest.fixture(scope="module")
def docx_generated(tmp_path_factory) -> list[Path]:
    return _generated(tmp_path_factory, "docx")


def _docx_real() -> list[Path]:
    return [SAMPLE.with_suffix(".docx"), *sorted((ROOT / "tests" / "data").glob("*.docx"))]


def test_docx_scan_takes_and_matches_real_parts(docx_generated, monkeypatch):
    for path in docx_generated:
        assert _docx_check(path.read_bytes(), monkeypatch), f"the scan declined a generated form: {path.name}"
    for path in _docx_real():
        _docx_check(path.read_bytes(), monkeypatch)


# Snippets inserted anywhere: markup the scan must decline or read as the tree pass does (texts with
# references and line ends, tabs, breaks, list numbers, merges, deleted rows, nested tables, content
# controls, drawings' fallbacks, other prefixes, attributes on rows and cells, comments, odd attributes).
_DOCX_SNIPPETS = [
    "<", ">", "&", "&amp;", "&gt;", "&#10;", "&#x41;", "&#13;", "&foo;", "\r\n", "\r", "\n", " ", "\t", "\u3000",
    "<!-- c -->", "<![CDATA[x]]>", "<?pi x?>", "x", "<w:t>x</w:t>", "<w:t/>", "<w:t></w:t>",
    '<w:t xml:space="preserve"> a </w:t>', '<w:t xml:space="default">a</w:t>', '<w:t w:x="1">a</w:t>',
    "<w:br/>", '<w:br w:type="page"/>', '<w:br w:type="textWrapping"/>', '<w:br w:type="column"/>', "<w:tab/>",
    "<w:cr/>", "<w:noBreakHyphen/>", '<w:sym w:char="F0FC"/>', "<w:p/>", "<w:p>", "</w:p>", "<w:r>", "</w:r>",
    "<w:p><w:r><w:t>a</w:t></w:r></w:p>", "<w:p><w:r><w:t>（续表）</w:t></w:r></w:p>",
    "<w:r><w:t>b</w:t><w:tab/><w:t>c</w:t></w:r>", "<w:r><w:br/><w:t>d</w:t></w:r>",
    '<w:r w:rsidR="00A1"><w:rPr><w:b/></w:rPr><w:t>e</w:t></w:r>', "<w:r><w:instrText>PAGE</w:instrText></w:r>",
    "<w:r><w:delText>gone</w:delText></w:r>", '<w:del w:id="1"><w:r><w:t>del</w:t></w:r></w:del>',
    '<w:ins w:id="2"><w:r><w:t>ins</w:t></w:r></w:ins>', '<w:hyperlink r:id="x"><w:r><w:t>h</w:t></w:r></w:hyperlink>',
    "<w:bookmarkStart w:id=\"0\" w:name=\"a\"/>", '<w:bookmarkEnd w:id="0"/>', "<w:proofErr/>",
    '<w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr>',
    '<w:numPr><w:numId w:val="0"/></w:numPr>', '<w:numPr><w:numId w:val="2"/><w:numId w:val="0"/></w:numPr>',
    '<w:numPr><w:ilvl w:val="0"/></w:numPr>', '<w:numId w:val="1"/>',
    "<w:tcPr>", "</w:tcPr>", '<w:gridSpan w:val="3"/>', '<w:gridSpan w:val="0"/>', '<w:gridSpan w:val="x"/>',
    '<w:gridSpan w:val=" 2"/>', '<w:gridSpan w:val="&#50;"/>', "<w:gridSpan/>", "<w:vMerge/>",
    '<w:vMerge w:val="restart"/>', '<w:vMerge w:val="continue"/>', '<w:hMerge w:val="restart"/>', "<w:hMerge/>",
    '<w:tcPr><w:gridSpan w:val="2"/><w:vMerge/></w:tcPr>', '<w:tcPr><w:tcBorders><w:top w:val="nil"/></w:tcBorders></w:tcPr>',
    '<w:trPr><w:gridBefore w:val="1"/></w:trPr>', '<w:trPr><w:del w:id="1" w:author="a"/></w:trPr>',
    '<w:gridBefore w:val="2"/>', '<w:del w:id="3"/>', "<w:tblPrEx><w:tblW w:w=\"0\"/></w:tblPrEx>",
    "<w:tc><w:p/></w:tc>", "<w:tc><w:p><w:r><w:t>f</w:t></w:r></w:p></w:tc>", "<w:tc/>", "<w:tc>", "</w:tc>",
    '<w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr><w:p><w:r><w:t>g</w:t></w:r></w:p></w:tc>',
    "<w:tr><w:tc><w:p/></w:tc></w:tr>", "<w:tr/>", "<w:tr>", "</w:tr>", '<w:tr w:rsidR="1">', '<w:tc w:x="1">',
    "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>in</w:t></w:r></w:p></w:tc></w:tr></w:tbl>", "<w:tbl>", "</w:tbl>",
    "<w:tblGrid><w:gridCol/></w:tblGrid>", '<w:gridCol w:w="1"/>', "<w:tblGrid>",
    "<w:sdt><w:sdtContent>", "</w:sdtContent></w:sdt>", "<w:sdt><w:sdtContent><w:p><w:r><w:t>s</w:t></w:r></w:p>"
    "</w:sdtContent></w:sdt>", "<w:customXml><w:p/></w:customXml>",
    '<mc:AlternateContent><mc:Choice Requires="w14"><w:r><w:t>c</w:t></w:r></mc:Choice><mc:Fallback><w:r><w:t>f'
    '</w:t></w:r></mc:Fallback></mc:AlternateContent>', "<x:t>y</x:t>", '<w:t x:y="1">z</w:t>', "<t>u</t>",
    '<w:p xmlns:q="urn:q"/>', '<w:p xml:id="a"/>', "<w:rPr><w:b/></w:rPr>", '<w:pPr><w:jc w:val="center"/></w:pPr>',
    '<w:tcW w:w="1" w:type="dxa"/>', '<w:vAlign w:val="center"/>', "<w:body>", "</w:body>", "<w:document>",
    '<w:jc w:val=">"/>', "<w:jc w:val='1'/>", '<w:jc\nw:val="1"/>', '<w:jc  w:val="1"/>', '<w:b w:val="1" w:val="2"/>',
    '<w:b q:val="1"/>', '<w:rPr><w:b q:val="1"/></w:rPr>', '<w:rPr><w:b xml:space="preserve"/></w:rPr>',
    '<w:tcW q:w="1"/>', '<w:rPr><w:b w:val="a:b"/></w:rPr>', "\x01", "&#0;", "]]>", "\ufeff",
]
# Attributes added to the root's start tag: namespaces declared (or not) as a tree takes them or refuses them
_DOCX_ROOT = [' xmlns:q="urn:q"', ' q:a="1"', ' xmlns:q=""', ' xmlns:xml="urn:x"', ' xmlns:xmlns="urn:x"', ' xmlns="urn:d"',
              ' xmlns:q="http://www.w3.org/XML/1998/namespace"', ' xmlns:w2="' + docx._TRANSITIONAL + '"',
              ' xmlns:q="urn:q" xmlns:p2="urn:q" q:a="1" p2:a="2"', ' w:x="1"', ' xml:lang="zh"', " q:b='1'"]


def _docx_mutated(rng: random.Random, raw: bytes) -> bytes:
    """1-3 edits: a snippet inserted (mostly after a tag), a span deleted or duplicated."""
    text = raw.decode("utf-8")
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        text = _edited(rng, text, _DOCX_SNIPPETS, insert=0.75, after_tag=0.85, delete=0.88,
                       root=(0.08, "<w:document", _DOCX_ROOT))
    return text.encode("utf-8", "surrogatepass")


# Well-formed insertions (where each is allowed: after the tag named) and texts, so that most mutated parts
# are taken and what the scan reads is compared, not only what it declines.
_DOCX_TEXTS = ["", " ", "a", " 年 ", "a\tb", "&amp;", "&lt;5%", "x&#10;y", "x&#13;&#10;y", "\r\nz\r", "（续表）",
               "续表", "1. a", "\u3000b\u3000", "&#x3000;", "c &gt; d", "e>f", "\ufeffg\u2003", "&#xA0;h\x85"]
_DOCX_INSERTS = {
    "</w:tc>": ["<w:tc><w:p/></w:tc>", "<w:tc><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc>",
                '<w:tc><w:tcPr><w:gridSpan w:val="{n}"/></w:tcPr><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc>',
                '<w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc>',
                "<w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc>", '<w:tc><w:tcPr><w:hMerge w:val="restart"/>'
                '</w:tcPr><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc>', "<w:tc><w:tcPr><w:hMerge/></w:tcPr><w:p/></w:tc>",
                "<w:tc><w:p><w:r><w:t>{}</w:t></w:r></w:p><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc>",
                "<w:tc>" + '<w:p><w:pPr><w:numPr><w:numId w:val="{n}"/></w:numPr></w:pPr><w:r><w:t>{}</w:t></w:r></w:p>' * 2
                + "</w:tc>"],
    "<w:body>": ["<w:p><w:r><w:t>{}</w:t></w:r></w:p>", "<w:p/>"],
    "</w:tr>": ["<w:tr><w:tc><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc></w:tr>", "<w:tr></w:tr>",
                '<w:tr><w:trPr><w:gridBefore w:val="{n}"/></w:trPr><w:tc><w:p/></w:tc></w:tr>',
                '<w:tr><w:trPr><w:del w:id="1"/></w:trPr><w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc></w:tr>'],
    "</w:p>": ["<w:p/>", "<w:p><w:r><w:t>{}</w:t></w:r></w:p>", '<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/>'
               '<w:numId w:val="{n}"/></w:numPr></w:pPr><w:r><w:t>{}</w:t></w:r></w:p>',
               '<w:p w:rsidR="1"><w:r><w:t xml:space="preserve">{}</w:t></w:r></w:p>'],
    "</w:r>": ["<w:r><w:t>{}</w:t></w:r>", "<w:r><w:tab/></w:r>", "<w:r><w:br/></w:r>", '<w:r><w:br w:type="page"/></w:r>',
               "<w:r><w:cr/><w:noBreakHyphen/><w:t/></w:r>", "<w:r><w:rPr><w:b/></w:rPr><w:t>{}</w:t></w:r>",
               '<w:r><w:rPr><w:b q:val="1"/></w:rPr><w:t>{}</w:t></w:r>', '<w:r w:x="1"><w:t>{}</w:t></w:r>',
               '<w:r><w:t>a</w:t><w:br w:type="page"/><w:t>b</w:t></w:r>', '<w:r><w:t>c</w:t><w:br w:type="column"/>'
               '<w:t>d</w:t></w:r>', '<w:r><w:t>e</w:t><w:br w:type="textWrapping"/><w:tab/><w:t>f</w:t></w:r>',
               '<w:bookmarkStart w:id="9" w:name="b"/>'],
    "<w:tcPr>": ['<w:gridSpan w:val="{n}"/>', "<w:vMerge/>", '<w:vMerge w:val="restart"/>', '<w:hMerge w:val="x"/>',
                 '<w:shd w:fill="auto"/>'],
    "<w:tblGrid>": ['<w:gridCol w:w="{n}"/>'],
}


def _docx_inserted(rng: random.Random, raw: bytes) -> bytes:
    """1-4 well-formed edits: an element inserted where it may stand, or a text replaced."""
    text = raw.decode("utf-8")
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.3:
            spots = [m.span(1) for m in re.finditer(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", text)]
            if spots:
                a, b = rng.choice(spots)
                text = text[:a] + rng.choice(_DOCX_TEXTS) + text[b:]
            continue
        after = rng.choice(list(_DOCX_INSERTS))
        spots = [m.end() for m in re.finditer(re.escape(after), text)]
        if spots:
            snippet = rng.choice(_DOCX_INSERTS[after]).replace("{n}", rng.choice(["0", "1", "2", "3", "x", "01"]))
            while "{}" in snippet:
                snippet = snippet.replace("{}", rng.choice(_DOCX_TEXTS), 1)
            at = rng.choice(spots)
            text = text[:at] + snippet + text[at:]
    return text.encode("utf-8")


@pytest.mark.parametrize("seed", range(3))
def test_docx_scan_matches_tree_pass_on_mutations(seed, docx_generated, monkeypatch):
    bases = [path.read_bytes() for path in [*docx_generated[::4], *_docx_real()]]
    rng = random.Random(seed)
    taken = 0
    for _ in range(200):  # markup anywhere: mostly declined, must never disagree
        data = rng.choice(bases)
        xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
        taken += _docx_check(_docx_with(data, _docx_mutated(rng, xml)), monkeypatch)
    for _ in range(200):  # well-formed edits: mostly taken, so the texts and merges are compared
        data = rng.choice(bases)
        xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
        taken += _docx_check(_docx_with(data, _docx_inserted(rng, xml)), monkeypatch)
    assert taken >= 150, "the scan took too few mutated parts for the comparison to mean much"


def test_docx_scan_refusing_a_form_leaves_the_namespace_errors_to_the_tree(docx_generated, monkeypatch):
    """The scan runs after a parse that builds no tree (and so checks no prefix): a form it would refuse
    (a span past the cell limit) with an undeclared prefix further on must fail as the tree pass fails."""
    data = docx_generated[0].read_bytes()
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    huge = xml.replace("</w:tcPr>", '<w:gridSpan w:val="600000"/></w:tcPr>', 1)
    for tail in ("", '<w:p><w:r q:a="1"><w:t>x</w:t></w:r></w:p>', '<w:p><w:r><w:rPr><w:b q:val="1"/></w:rPr></w:r></w:p>'):
        edited = huge.replace("</w:tbl>", "</w:tbl>" + tail, 1)
        _docx_check(_docx_with(data, edited.encode()), monkeypatch)


# What libxml2 refuses (or takes) inside the body's content, which the scan checks itself (libxml2 checks the
# part less that content): in a cell's text, and in a cell's markup. True: the part is well-formed.
_DOCX_IN_TEXT = [
    (b"a\x01b", False), (b"a\x1fb", False), (b"\x00", False), ("a\ufffeb".encode(), False), ("\uffff".encode(), False),
    (b"a\xffb", False), (b"\xc0\xaf", False), (b"\xed\xa0\x80", False), (b"\xe4\xb8", False), (b"&foo;", False),
    (b"&#0;", False), (b"&#xD800;", False), (b"&#x110000;", False), (b"a & b", False), (b"a]]>b", False),
    (b"a\x7fb\xc2\x85c", True), ("\ufffd\uffe5\U0001F600\u3000".encode(), True), (b"&#x1F600;&amp;&#9;", True),
    (b"a>b", True), (b"\ta\r\nb\rc", True),
]
_DOCX_IN_CELL = [
    (b'<w:p w:a="1" w:a="2"/>', False), (b'<w:p a="1" a="2"/>', False), (b'<w:p><w:r xml:space="preserve" '
     b'xml:space="preserve"/></w:p>', False), (b'<w:p w:a="1"></w:p w:b="2">', False), (b"<w:p></w:p/>", False),
    (b"<w:p></w:p >", True), (b"<w:1p/>", False), (b'<w:p w:1a="1"/>', False), (b"<w:" + b"p" * 70 + b"/>", True),
    (b'<w:p w:a="<"/>', False), (b'<w:p w:a="&"/>', False), (b'<w:p w:a="&amp;"/>', True), (b'<w:p w:a="\x01"/>', False),
    (b'<w:p w:a="\xff"/>', False), (b'<w:p w:a="\tx>"/>', True), ('<w:p w:a="\ufffe"/>'.encode(), False),
    (b"<w:p>", False), (b"</w:p>", False), (b"<w:p></w:r>", False), (b"<w:p><w:r></w:p></w:r>", False),
    (b"<w:x>" * 300 + b"</w:x>" * 300, False), (b"<w:x>" * 30 + b"</w:x>" * 30, True), (b"<w:p/ >", False),
    (b"<w:p/><w:p/>x", True), (b"<w:p/>\x01", False), (b'<w:p w:a="1"w:b="2"/>', False),
    (b"<w:p" + b"".join(b' w:a%d="%d"' % (i, i) for i in range(60)) + b' w:a7="x"/>', False),
    (b"<w:p" + b"".join(b' w:a%d="%d"' % (i, i) for i in range(60)) + b' a7="x"/>', True),
    (b'<w:p xmlns="urn:x"/>', True), (b'<w:p xmlns="http://www.w3.org/2000/xmlns/"/>', False),
    (b'<w:p w:xmlns="1"/>', True), (b'<w:p><w:pPr><w:rPr><w:del w:id="1"/></w:rPr></w:pPr></w:p>', True),
    # cells' widths (cut before the scan where written as Word writes them)
    (b'<w:tcW w:w="12" w:type="pct"/><w:p/>', True), (b'<w:p><w:r><w:t>a<w:tcW w:w="1" w:type="dxa"/>b</w:t></w:r></w:p>',
     True), (b'<w:p><w:r><w:t>a<w:tcW w:w="1" w:type="dxa"/></w:t></w:r></w:p>', True),
    (b'<w:tcW w:w="1x" w:type="dxa"/><w:p/>', True), (b'<w:tcW w:w="" w:type="dxa"/><w:p/>', True),
    (b'<w:tcW w:w="1" w:type="dxa" w:x="2"/><w:p/>', True), (b'<w:tcW w:w="1" w:type="dxa"/>x<w:p/>', True),
    (b'<w:tcW w:w="1<w:tcW w:w="2" w:type="dxa"/><w:p/>', False), (b'<w:tcW w:w="1" w:type="dxa"/><', False),
    (b'<w:tcW w:w="1" w:type="dxa"/><w:tcW w:w="2" w:type="dxa"/><w:tcW w:w="\xff" w:type="dxa"/><w:p/>', False),
    (b'<w:tcW w:w="1" w:type="dxa"/>\x01<w:p/>', False), (b'<w:tcW w:w="1&#50;" w:type="dxa"/><w:p/>', True),
    (b'<w:tcW w:w="12"3" w:type="dxa"/><w:p/>', False), (b'<w:tcW w:w="12\x01" w:type="dxa"/><w:p/>', False),
    (b'<w:tcW w:w="12" w:w="3"/><w:p/>', False), (b'<w:p><w:r><w:t><w:tcW w:w="1"/>x</w:t></w:r></w:p>', True), (b'<w:tcW w:w="1" w:type="dxa"></w:tcW><w:p/>', True),
]
# The part around the body (libxml2 checks it): its prolog and what follows the root.
_DOCX_AROUND = [
    (lambda x: b"\xef\xbb\xbf" + x, True), (lambda x: x.replace(b"<?xml", b"<!-- c --><?xml", 1), False),
    (lambda x: x.replace(b"?>", b"?><!-- c -->", 1), True), (lambda x: x.replace(b"?>", b"?><!DOCTYPE w:document>", 1), True),
    (lambda x: x.replace(b"?>", b"?><?pi x?>", 1), True), (lambda x: x.replace(b"1.0", b"1.1", 1), True),
    (lambda x: x.replace(b"1.0", b"2.0", 1), False), (lambda x: x.replace(b"UTF-8", b"ISO-8859-1", 1), True),
    (lambda x: x.replace(b" standalone='yes'", b" standalone='maybe'", 1), False),
    (lambda x: x.replace(b"?>", b" ?>", 1), True), (lambda x: x.replace(b"?>", b"\x01?>", 1), False),
    (lambda x: x + b"<!-- c -->\n<?pi?>  ", True), (lambda x: x + b"<w:p/>", False), (lambda x: x + b"x", False),
    (lambda x: x + b"\x01", False), (lambda x: x + b"<!--", False), (lambda x: x.replace(b"</w:body>", b"</w:body> ", 1), True),
    (lambda x: x.replace(b"</w:body>", b"</w:body><w:p/>", 1), True),
    (lambda x: x.replace(b"</w:document>", b"</w:document >", 1), True),
    (lambda x: x.replace(b"</w:document>", b"</w:documentx>", 1), False),
    (lambda x: x.replace(b"</w:body>", b"</w:body></w:body>", 1), False),
    (lambda x: x.replace(b"<w:body>", b"<w:body>" * 2, 1).replace(b"</w:body>", b"</w:body>" * 2, 1), True),
    (lambda x: x.replace(b"<w:body>", b"<w:body >", 1), True), (lambda x: x.replace(b"<w:body>", b"<w:body/>", 1), False),
    (lambda x: x.replace(b'mc:Ignorable="', b'mc:Ignorable="\x01', 1), False),
    (lambda x: x.replace(b'mc:Ignorable="', b'mc:Ignorable="<', 1), False),
    (lambda x: x.replace(b'mc:Ignorable="', b'mc:Ignorable="\xef\xbf\xbe', 1), False),
]


def _docx_edited(data: bytes, text: bytes | None = None, cell: bytes | None = None) -> bytes:
    """A generated form with the first cell's first text replaced by `text`, or `cell` put at its start."""
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
    at = xml.index(b"<w:tc>") + len(b"<w:tc>")
    if text is not None:
        start = xml.index(b"<w:t>", at) + len(b"<w:t>")
        xml = xml[:start] + text + xml[xml.index(b"</w:t>", start):]
    else:
        start = xml.index(b"</w:tcPr>", at) + len(b"</w:tcPr>")
        xml = xml[:start] + cell + xml[start:]
    return _docx_with(data, xml)


def test_docx_scan_refuses_what_libxml2_refuses_in_the_body(docx_generated, monkeypatch):
    data = docx_generated[0].read_bytes()
    assert _docx_check(data, monkeypatch)
    cases = [(_docx_edited(data, text=t), good, t) for t, good in _DOCX_IN_TEXT]
    cases += [(_docx_edited(data, cell=c), good, c) for c, good in _DOCX_IN_CELL]
    for edited, good, what in cases:
        _docx_check(edited, monkeypatch)
        outcome = _outcome(lambda: docx.read(edited, "form.docx"))
        assert _raised(outcome) != good, (what, outcome)  # (the case is what it says: libxml2 takes it or not)
        if _raised(outcome):
            assert outcome[1] == "DocumentError" and "not well-formed" in outcome[2], (what, outcome)


def test_docx_scan_takes_well_formed_texts_and_values(docx_generated, monkeypatch):
    """The checks of characters and values do not decline the texts and values a form may hold."""
    data = docx_generated[0].read_bytes()
    for text, good in _DOCX_IN_TEXT:
        if good and b">" not in text:
            assert _docx_check(_docx_edited(data, text=text), monkeypatch), text
    for cell in (b'<w:p w:a="1" a="1" w:b="\xe5\xae\x8b"/>', b'<w:p><w:r><w:t xml:space="preserve">x</w:t></w:r></w:p>'):
        assert _docx_check(_docx_edited(data, cell=cell), monkeypatch), cell


def test_docx_scan_reads_the_part_around_the_body_as_libxml2_does(docx_generated, monkeypatch):
    data = docx_generated[0].read_bytes()
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
    for n, (edit, good) in enumerate(_DOCX_AROUND):
        edited = _docx_with(data, edit(xml))
        _docx_check(edited, monkeypatch)
        outcome = _outcome(lambda: docx.read(edited, "form.docx"))
        assert (_raised(outcome) and "not well-formed" in outcome[2]) != good, (n, outcome)  # (the case is what it says)


def test_docx_widths_dropped_from_the_cells_width_values():
    """`_without_widths` drops the digits that start the value after each `<w:tcW w:w="`, and nothing else."""
    body = (b'<w:tc><w:tcPr><w:tcW w:w="12" w:type="dxa"/><w:vMerge w:val="2"/></w:tcPr><w:tcW w:w="7"/>'
            b'<w:tcW w:w="5" w:type="pct"/><w:tcW w:w="x1"/><w:tcW w:w="3.5"/>x<w:tblW w:w="9"/><w:tcW w:w="0')
    expected = (b'<w:tc><w:tcPr><w:tcW w:w="" w:type="dxa"/><w:vMerge w:val="2"/></w:tcPr><w:tcW w:w=""/>'
                b'<w:tcW w:w="" w:type="pct"/><w:tcW w:w="x1"/><w:tcW w:w=".5"/>x<w:tblW w:w="9"/><w:tcW w:w="')
    assert docx._without_widths(body) == expected
    assert docx._without_widths(b"<w:p/>") == b"<w:p/>"


# ---------------------------------------------------------------- the shared parts of the spreadsheet readers

def _blank_covered_cell_by_cell(grid, merges) -> None:
    """`spreadsheet.blank_covered` as it was: each row of a range cleared within the row's own length."""
    for r0, c0, r1, c1 in merges:
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            row = grid[r]
            first, end = c0 + 1 if r == r0 else c0, min(c1 + 1, len(row))
            if first < end:
                row[first:end] = [""] * (end - first)


@pytest.mark.parametrize("seed", range(4))
def test_blank_covered_then_trim_as_cell_by_cell(seed):
    """Ranges past a row's end, past the grid, upside down or one cell wide: once trimmed, the grid is
    what clearing each covered cell within its row gives."""
    from pifu.readers.spreadsheet import blank_covered, trim

    rng = random.Random(seed)
    for _ in range(400):
        grid = [[rng.choice(["", "", "a", "合计", "1.5"]) for _ in range(rng.randrange(0, 9))]
                for _ in range(rng.randrange(0, 8))]
        merges = [(r0, c0, r0 + rng.randrange(-1, 4), c0 + rng.randrange(-1, 4))
                  for r0, c0 in ((rng.randrange(0, 10), rng.randrange(0, 10)) for _ in range(rng.randrange(0, 6)))]
        old, new = [list(row) for row in grid], [list(row) for row in grid]
        _blank_covered_cell_by_cell(old, merges)
        blank_covered(new, merges)
        assert trim(new) == trim(old), (grid, merges)


def test_form_score_counts_each_section_once():
    from pifu.layout import section_of
    from pifu.readers.spreadsheet import form_score

    rng = random.Random(5)
    labels = ["部门名称", "长期目标：（截止2025年）", "年度目标", "年度 目标", "合计", "abc", "", "1.0",
              "部门职能概述" * 8, "部门总体资金情况", "ＡＢＣ"]
    for _ in range(300):
        grid = [[rng.choice(labels) for _ in range(rng.randrange(0, 6))] for _ in range(rng.randrange(0, 6))]
        seen = {section_of(c) for row in grid for c in row if c and len(c) <= 40 and not c.isascii()}
        assert form_score(grid) == len(seen - {None}), grid


def test_cell_texts_are_cell_text_and_keep_short_ones_only():
    from pifu.readers.spreadsheet import cell_text, cell_texts

    for raw in (" a\r\nb ", "\u3000合计\r", "x" * 300, "\n", ""):
        assert cell_texts[raw] == cell_text(raw)
    assert "x" * 300 not in cell_texts and " a\r\nb " in cell_texts


def test_xlsx_inline_texts_are_inline_values_and_keep_short_ones_only():
    for raw in ("&#21512;&#35745;", "a&amp;b_x000D_", "&#0;", "y" * 300, ""):
        assert xlsx._INLINE[raw] == xlsx._inline_value(raw)
    assert "y" * 300 not in xlsx._INLINE and "&#21512;&#35745;" in xlsx._INLINE


@pytest.mark.parametrize("merge", ['<mergeCell ref="A1:B1" />', '<mergeCell  ref="A1:B1"/>', '<mergeCellX/>', ""])
def test_xlsx_scan_counts_the_merge_tags_it_did_not_read(merge):
    """A mergeCell tag in another shape than the scan's pattern: the scan declines or agrees with expat
    (a tag that only starts like one, mergeCellX, is no merge)."""
    raw = ('<worksheet xmlns="x"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
           f'</sheetData><mergeCells count="2"><mergeCell ref="C3:D4"/>{merge}</mergeCells></worksheet>').encode()
    taken = _xlsx_check(raw, [], [])
    assert taken == (merge in ("", "<mergeCellX/>"))


def test_xls_scan_declines_a_sheet_cut_short_anywhere():
    """Records read whole or not at all: cut anywhere before its EOF, a sheet is declined, never misread
    (a LABELSST's header and fields are read together when 14 bytes are left)."""
    from types import SimpleNamespace

    bof = struct.pack("<4H", 0x0809, 16, 0x0600, 0x0010) + bytes(12)
    cells = b"".join(struct.pack("<HHHHHi", 0x00FD, 10, r, 0, 15, 0) for r in range(3))
    blank = struct.pack("<6H", 0x00BE, 8, 3, 1, 15, 1)
    stream = bof + cells + blank + struct.pack("<HH", 0x000A, 0)

    def scan(mem: bytes):
        book = SimpleNamespace(mem=mem, biff_version=80, _sh_abs_posn=[0], _sharedstrings=["合计"],
                               _xf_index_to_xl_type_map={15: 1})
        return xls._scan_sheet(book, 0)

    rows, merged = scan(stream)
    assert [len(row) for row in rows] == [1, 1, 1, 2] and merged == []
    for cut in range(len(bof), len(stream)):
        assert scan(stream[:cut]) is None, cut
