"""Excel 97-2003 .xls workbooks (and whatever else comes in an OLE2 compound file): cells read as the
form shows them, merged ranges, the form's sheet, and a one-line reason for what is not a workbook."""
import io
import random
import re
import struct
import unicodedata
from decimal import Decimal

import pytest

import pifu
from pifu.model import DocumentError
from pifu.readers import read
from pifu.readers.spreadsheet import format_number, general

xlwt = pytest.importorskip("xlwt")

_AMOUNT = re.compile(r"^\d+(\.\d+)?$")
_SHARE = re.compile(r"^(\d+(?:\.(\d+))?)%$")
_ROW = re.compile(r"^(?:line |sheet .+ R)(\d+)")


# ---------------------------------------------------------------- building files by hand

def ole2(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding `streams` in its root storage.
    Streams are padded to 4 KB with zeros so that none lives in the mini stream."""
    sector = 512
    body, starts, sizes = b"", {}, {}
    for name, data in streams.items():
        data = data + b"\0" * (max(4096, -(-len(data) // sector) * sector) - len(data))
        starts[name], sizes[name] = len(body) // sector, len(data)
        body += data
    names = sorted(streams, key=lambda n: (len(n), n.upper()))  # the order siblings are compared in

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0"
        return (encoded.ljust(64, b"\0") + struct.pack("<HBBiii", len(encoded), kind, 1, -1, right, child)
                + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 + struct.pack("<iII", start, size, 0))

    entries = entry("Root Entry", 5, 1 if names else -1, -1, -2, 0)
    for i, name in enumerate(names, 1):
        entries += entry(name, 2, -1, i + 1 if i < len(names) else -1, starts[name], sizes[name])
    entries = entries.ljust(-(-len(entries) // sector) * sector, b"\0")
    dir_start = len(body) // sector
    dir_count = len(entries) // sector
    fat_start = dir_start + dir_count
    total = fat_start + 1
    assert total <= sector // 4, "one FAT sector is enough for these tests"
    fat = [-1] * (sector // 4)
    for name in streams:
        n = -(-max(4096, len(streams[name])) // sector)
        for k in range(n):
            fat[starts[name] + k] = starts[name] + k + 1 if k < n - 1 else -2
    for k in range(dir_count):
        fat[dir_start + k] = dir_start + k + 1 if k < dir_count - 1 else -2
    fat[fat_start] = -3  # FATSECT
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<iiiIiiii", 0, 1, dir_start, 0, 4096, -2, 0, -2) + struct.pack("<i", 0)
              + struct.pack("<i", fat_start) + struct.pack("<108i", *([-1] * 108)))
    assert len(header) == 512
    return header + body + entries + struct.pack(f"<{sector // 4}i", *fat)


def xls_book(sheets) -> bytes:
    """sheets: (name, [(row, col, value, number_format or None)], [merges r0, r1, c0, c1])."""
    book = xlwt.Workbook(encoding="utf-8")
    for name, cells, merges in sheets:
        sheet = book.add_sheet(name)
        for r, c, value, fmt in cells:
            style = xlwt.XFStyle()
            if fmt:
                style.num_format_str = fmt
            sheet.write(r, c, value, style)
        for r0, r1, c0, c1 in merges:
            sheet.merge(r0, r1, c0, c1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def workbook_stream(sheets) -> bytes:
    book = xlwt.Workbook(encoding="utf-8")
    for name, cells, _ in sheets:
        sheet = book.add_sheet(name)
        for r, c, value, _fmt in cells:
            sheet.write(r, c, value)
    return book.get_biff_data()


def xls_from_text(text: str) -> bytes:
    """The text export as Excel holds it: amounts as numbers with `#,##0.00`/`0` formats, shares as
    fractions with `0.00%`-style formats, text as text, A4:B4 merged."""
    cells = []
    for r, line in enumerate(text.split("\n")):
        for c, cell in enumerate(line.split("\t")):
            if not cell:
                continue
            if _AMOUNT.match(cell):
                decimals = len(cell.partition(".")[2])
                fmt = "#,##0." + "0" * decimals if decimals else "0"
                cells.append((r, c, float(cell), fmt))
            elif m := _SHARE.match(cell):
                decimals = len(m.group(2) or "")
                fmt = "0" + ("." + "0" * decimals if decimals else "") + "%"
                cells.append((r, c, float(Decimal(m.group(1)) / 100), fmt))
            else:
                cells.append((r, c, cell, None))
    return xls_book([("部门整体绩效目标表", cells, [(3, 3, 0, 1)])])


def comparable(doc):
    d = doc.to_dict()
    d.pop("source")
    d["problems"] = sorted((p["code"], _ROW.sub(r"row \1", p["where"])) for p in d["problems"])
    return d


# ---------------------------------------------------------------- the cells

def test_numbers_read_as_their_formats_show_them():
    accounting = '_ * #,##0.00_ ;_ * -#,##0.00_ ;_ * "-"??_ ;_ @_ '
    cells = [(0, 0, 998.71, "#,##0.00"), (0, 1, 0.4996, "0.00%"), (0, 2, 1.0, "0%"), (0, 3, 399.3, "0.0"),
             (0, 4, 0.0945, "0.00%"), (0, 5, "  文字\u3000", None), (0, 6, 1058.8500000000001, None),
             (0, 7, 12345.6, "#,##0.00"), (0, 8, 0.0, accounting), (0, 9, 49.959999999999994, None),
             (0, 10, 0.095, "0.0%"), (0, 11, 23.0, None)]
    sheet = read(xls_book([("表", cells, [])]), "x.xls")
    assert sheet.format == "xls" and sheet.encoding is None
    assert sheet.grid[0] == ["998.71", "49.96%", "100%", "399.3", "9.45%", "文字", "1058.85", "12345.60", "-",
                             "49.96", "9.5%", "23"]


def test_format_number_never_shows_float_noise():
    assert general(0.1 + 0.2) == "0.3" and general(1e-7) == "0.0000001" and general(-0.0) == "0"
    assert format_number(0.30000000000000004, "0.00%") == "30.00%"
    assert format_number(0.33335, "0.00%") == "33.34%"  # rounds half up as Excel does, from the stored digits
    assert format_number(-3, "#,##0.00;(#,##0.00)") == "(3.00)"
    assert format_number(5, '0.00"万元"') == "5.00万元"
    assert format_number(0, "#,##0.00") == "0.00"


def test_merged_labels_keep_their_text_in_the_top_left_cell():
    cells = [(0, 0, "部门总体资金情况", None), (0, 1, "收入构成", None), (0, 2, "财政拨款", None),
             (1, 2, "合计", None)]
    sheet = read(xls_book([("表", cells, [(0, 3, 0, 0), (0, 1, 1, 1)])]), "x.xls")
    assert sheet.merges == ((0, 0, 3, 0), (0, 1, 1, 1))
    assert sheet.grid[:2] == [["部门总体资金情况", "收入构成", "财政拨款"], ["", "", "合计"]]
    assert sheet.where(2, 2) == "sheet 表 R2C3"


def test_the_form_is_found_on_its_own_sheet(sample_path):
    text = sample_path.read_text(encoding="utf-8")
    form = xls_from_text(text)
    import xlrd

    book = xlrd.open_workbook(file_contents=form, formatting_info=True)
    cells = [(r, c, book.sheet_by_index(0).cell_value(r, c), None)
             for r in range(book.sheet_by_index(0).nrows) for c in range(book.sheet_by_index(0).row_len(r))
             if book.sheet_by_index(0).cell_value(r, c) != ""]
    cover = [(0, 0, "附件", None), (2, 0, "2025年部门整体绩效目标批复", None), (3, 0, "鄂州市总工会", None)]
    data = xls_book([("封面", cover, []), ("绩效目标表", cells, []), ("Sheet3", [], [])])
    doc = pifu.parse_bytes(data, "cover.xls")
    assert doc.department == "鄂州市总工会" and doc.source.format == "xls"
    assert {p.where.split(" R")[0] for p in doc.problems if p.where != "document"} == {"sheet 绩效目标表"}


def test_the_sample_as_xls_reads_as_its_text_export(sample_path):
    text = sample_path.read_text(encoding="utf-8")
    from_xls = pifu.parse_bytes(xls_from_text(text), "sample.dat")  # the name says nothing: content decides
    assert from_xls.source.format == "xls" and from_xls.source.encoding is None
    assert comparable(from_xls) == comparable(pifu.parse_bytes(text.encode(), "sample.txt"))
    assert any(p.where.startswith("sheet 部门整体绩效目标表 R") for p in from_xls.problems)


def test_a_formula_reads_as_its_cached_value():
    from pifu.generate.render.xls import _cache

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("表", cell_overwrite_ok=True)
    total_style = xlwt.easyxf(num_format_str="#,##0.00")
    sheet.write(0, 0, 491.42)
    sheet.write(1, 0, 507.29)
    sheet.write(2, 0, xlwt.Formula("SUM(A1:A2)"), total_style)
    _cache(sheet, 2, 0, 998.71)
    out = io.BytesIO()
    book.save(out)
    assert read(out.getvalue(), "f.xls").grid == [["491.42"], ["507.29"], ["998.71"]]


# ---------------------------------------------------------------- what is not a readable workbook

def test_the_ole2_writer_of_these_tests_makes_files_xlrd_reads():
    stream = workbook_stream([("表", [(0, 0, "部门整体绩效目标批复", None), (1, 1, 3.5, None)], [])])
    assert read(ole2({"Workbook": stream}), "x.xls").grid == [["部门整体绩效目标批复"], ["", "3.5"]]


def test_an_encrypted_ooxml_file_is_encrypted():
    data = ole2({"EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00" + b"\0" * 200,
                 "EncryptedPackage": b"\x10\x27\0\0\0\0\0\0" + bytes(range(256)) * 8})
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(data, "secret.xlsx")
    assert e.value.reason == "encrypted" and "password-protected" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_password_protected_xls_is_encrypted():
    stream = workbook_stream([("表", [(0, 0, "部门整体绩效目标批复", None)], [])])
    bof_end = 4 + struct.unpack("<H", stream[2:4])[0]
    filepass = struct.pack("<HH", 0x002F, 54) + struct.pack("<HHH", 1, 1, 1) + b"\0" * 48  # RC4 FILEPASS
    with pytest.raises(DocumentError) as e:
        read(ole2({"Workbook": stream[:bof_end] + filepass + stream[bof_end:]}), "locked.xls")
    assert e.value.reason == "encrypted"


def test_a_word_doc_is_not_a_workbook():
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(ole2({"WordDocument": b"\xec\xa5" + b"\0" * 600, "1Table": b"\0" * 100}), "form.xls")
    assert e.value.reason == "unsupported_format" and "Word" in str(e.value)
    with pytest.raises(DocumentError) as e:
        read(ole2({"Contents": b"\0" * 100}), "other.xls")
    assert e.value.reason == "unsupported_format"


@pytest.mark.parametrize("damage", ["truncated", "junk", "fat", "stream"])
def test_a_damaged_ole2_file_is_unreadable_never_a_traceback(damage, sample_path):
    good = xls_from_text(sample_path.read_text(encoding="utf-8"))
    rng = random.Random(damage)
    if damage == "truncated":
        data = good[:700]
    elif damage == "junk":
        data = good[:8] + bytes(rng.randrange(256) for _ in range(3000))
    elif damage == "fat":
        data = bytearray(good)
        data[76:80] = struct.pack("<i", 10_000)  # the first FAT sector lies past the end
        data = bytes(data)
    else:
        stream = workbook_stream([("表", [(0, 0, "x", None)], [])])
        data = ole2({"Workbook": stream[:30] + bytes(rng.randrange(256) for _ in range(500))})
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(data, "bad.xls")
    assert e.value.reason in ("unreadable", "truncated", "not_a_document") and "\n" not in str(e.value)


def test_every_byte_flip_fails_cleanly_or_reads(sample_path):
    """Random damage inside a real workbook: a DocumentError or a grid, never another exception."""
    from factories import byte_flip_outcomes

    outcomes = byte_flip_outcomes(xls_from_text(sample_path.read_text(encoding="utf-8")), "flip.xls", seed=7)
    assert outcomes <= {"read", "unreadable", "unsupported_format", "encrypted", "too_large"}


# ---------------------------------------------------------------- generated forms

def _norm(cell: str):
    """A cell as a fact: numbers (full-width, grouped, a dash for zero, a share) as Decimals."""
    text = unicodedata.normalize("NFKC", cell).replace(",", "")
    if text in ("-", "—"):
        return Decimal(0), ""
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)(%?)", text)
    return (Decimal(m.group(1)), m.group(2)) if m else text


def _trimmed(grid):
    grid = [list(row) for row in grid]
    for row in grid:
        while row and not row[-1]:
            row.pop()
    return grid


@pytest.mark.parametrize("fmt", ["xls", "xlsx"])
def test_generated_forms_read_back_as_their_grid(fmt, monkeypatch):
    """The reader reproduces the form's top-left grid (merged text once, numbers as the form shows them,
    wherever the renderer put the form) and its merged ranges."""
    from importlib import import_module

    from pifu.generate import generate_document
    from pifu.generate.form import grid_of

    renderer = import_module(f"pifu.generate.render.{fmt}")
    seen, damage_seen = 0, set()
    for seed in range(25):
        forms = []
        real = renderer.render
        monkeypatch.setattr(renderer, "render", lambda form, rng, damage: forms.append(form) or real(form, rng, damage))
        data, truth = generate_document(random.Random(seed), 0.0, fmt=fmt)
        monkeypatch.setattr(renderer, "render", real)
        form = forms[0]
        damage_seen |= set(truth["damage"])
        sheet = read(data, "doc.bin")
        assert sheet.format == fmt
        r0 = next(i for i, row in enumerate(sheet.grid) if any(row))
        c0 = min(next(i for i, c in enumerate(row) if c) for row in sheet.grid if any(row))
        got = [[_norm(c) for c in row[c0:]] for row in sheet.grid[r0:]]
        want = [[_norm(c) for c in row] for row in _trimmed(grid_of(form))]
        assert got == want, (seed, truth["damage"])
        assert sheet.where(r0 + 1, c0) == sheet.origins[r0] + f"C{c0 + 1}"
        assert re.fullmatch(r"sheet \S+ R\d+", sheet.origins[r0]) and sheet.origins[r0].endswith(f" R{r0 + 1}")
        assert {(a - r0, b - c0, c - r0, d - c0) for a, b, c, d in sheet.merges} == {
            (r, c, r + cell.rowspan - 1, c + cell.colspan - 1)
            for r, row in enumerate(form.rows) for c, cell in enumerate(row)
            if cell and (cell.rowspan > 1 or cell.colspan > 1)}
        seen += 1
    assert seen == 25
    # the quirks these seeds draw, so the comparison above covers them
    assert {"cover_sheet", "formula_total", "offset", "empty_sheets"} <= damage_seen


def test_every_workbook_quirk_is_drawn(monkeypatch):
    from pifu.generate import generate_document
    from pifu.generate.render import workbook, xls as render_xls

    forms = []
    real = render_xls.render
    monkeypatch.setattr(render_xls, "render", lambda form, rng, damage: forms.append(form) or real(form, rng, damage))
    generate_document(random.Random(1), 0.0, fmt="xls")
    seen = set()
    for seed in range(200):
        damage = set()
        sheets = workbook.plan(forms[0], random.Random(seed), damage)
        seen |= damage
        form_sheets = [s for s in sheets if len(s.cells) > 20]
        assert len(form_sheets) == 1 and form_sheets[0].merges and form_sheets[0].widths
        assert ("cover_sheet" in damage) == (sheets[0] is not form_sheets[0])
    assert seen == set(workbook.DAMAGE)


def test_a_huge_sheet_is_refused(monkeypatch):
    import pifu.readers

    monkeypatch.setattr(pifu.readers, "MAX_CELLS", 100)
    data = xls_book([("表", [(r, c, f"c{r}x{c}", None) for r in range(20) for c in range(12)], [])])
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(data, "huge.xls")
    assert e.value.reason == "too_large"
