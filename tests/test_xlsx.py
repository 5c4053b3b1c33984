"""An Excel export reads as the same document as the text export of the same sheet."""
import io
import re
from decimal import Decimal

import pytest
from openpyxl import Workbook

import pifu
from pifu.model import DocumentError
from pifu.readers.xlsx import xlsx_grid

_AMOUNT = re.compile(r"^\d+(\.\d+)?$")
_SHARE = re.compile(r"^(\d+(?:\.(\d+))?)%$")


def workbook_from_text(text: str) -> bytes:
    """The sheet as Excel holds it: numbers as numbers (shares as fractions with a % format)."""
    book = Workbook()
    sheet = book.active
    for r, line in enumerate(text.split("\n"), 1):
        for c, cell in enumerate(line.split("\t"), 1):
            if not cell:
                continue
            target = sheet.cell(row=r, column=c)
            if _AMOUNT.match(cell):
                target.value = float(cell) if "." in cell else int(cell)
                target.number_format = "0.00" if "." in cell else "0"
            elif m := _SHARE.match(cell):
                decimals = len(m.group(2) or "")
                target.value = float(Decimal(m.group(1)) / 100)
                target.number_format = "0" + ("." + "0" * decimals if decimals else "") + "%"
            else:
                target.value = cell
    sheet.merge_cells("A4:B4")  # merged label cells, as in the original workbook
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_ROW = re.compile(r"^(?:line |sheet .+ R)(\d+)")


def comparable(doc):
    """The document less its source; a problem's place as its row number (`line 32` in the text export is
    `sheet Sheet R32` in the workbook written from it)."""
    d = doc.to_dict()
    d.pop("source")
    d["problems"] = sorted((p["code"], _ROW.sub(r"row \1", p["where"])) for p in d["problems"])
    return d


def test_xlsx_sample_reads_as_its_text_export(sample_path):
    text = sample_path.read_text(encoding="utf-8")
    data = workbook_from_text(text)
    from_xlsx = pifu.parse_bytes(data, "sample.xlsx")
    assert from_xlsx.source.format == "xlsx" and from_xlsx.source.encoding is None
    assert comparable(from_xlsx) == comparable(pifu.parse_bytes(text.encode(), "sample.txt"))
    assert from_xlsx.problems and all(p.where.startswith("sheet Sheet R") for p in from_xlsx.problems
                                      if p.where != "document")


def test_cells_read_as_written():
    book = Workbook()
    sheet = book.active
    sheet.append([998.71, 0.4996, 1, 399.3, 0.0945, "  文字 ", None, 1058.85])
    for col, fmt in zip("ABCDEH", ["0.00", "0.00%", "0%", "0.0", "0.00%", "#,##0.00"]):
        sheet[f"{col}1"].number_format = fmt
    out = io.BytesIO()
    book.save(out)
    assert xlsx_grid(out.getvalue(), "x.xlsx")[0] == ["998.71", "49.96%", "100%", "399.3", "9.45%", "文字", "",
                                                     "1058.85"]


def test_a_workbook_is_routed_to_its_fiscal_year(tmp_path, sample_path):
    from pifu.ingest import sniff_year

    book = tmp_path / "union.xlsx"
    book.write_bytes(workbook_from_text(sample_path.read_text(encoding="utf-8")))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert sniff_year(book) == "2025" and sniff_year(broken) == "unknown"


def _book(*sheets) -> bytes:
    """sheets: (title, rows of values, {A1 ref: number format}, merged ranges)."""
    book = Workbook()
    book.remove(book.active)
    for title, rows, formats, merges in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for ref, fmt in formats.items():
            sheet[ref].number_format = fmt
        for ref in merges:
            sheet.merge_cells(ref)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_merged_cells_are_real_ranges_with_the_text_top_left():
    from pifu.readers import read

    data = _book(("部门整体绩效目标表", [["部门总体资金情况", "收入构成", "财政拨款", 998.71], [None, None, "合计", 998.71]],
                  {"D1": "#,##0.00", "D2": "#,##0.00"}, ["A1:A2", "B1:B2"]))
    sheet = read(data, "m.xlsx")
    assert sheet.format == "xlsx" and sheet.merges == ((0, 0, 1, 0), (0, 1, 1, 1))
    assert sheet.grid == [["部门总体资金情况", "收入构成", "财政拨款", "998.71"], ["", "", "合计", "998.71"]]
    assert sheet.where(2, 3) == "sheet 部门整体绩效目标表 R2C4"


def test_numbers_show_as_their_format_says():
    accounting = '_ * #,##0.00_ ;_ * -#,##0.00_ ;_ * "-"??_ ;_ @_ '
    data = _book(("表", [[12345.6, 0, 1058.8500000000001, 0.095, 49.959999999999994, 3, 45658]],
                  {"A1": "#,##0.00", "B1": accounting, "D1": "0.0%", "F1": "0.00", "G1": "yyyy-mm-dd"}, []))
    assert xlsx_grid(data, "n.xlsx")[0] == ["12345.60", "-", "1058.85", "9.5%", "49.96", "3.00", "2025-01-01"]


def test_the_form_is_found_after_a_cover_sheet(sample_path):
    text = sample_path.read_text(encoding="utf-8")
    form = load_rows(workbook_from_text(text))
    data = _book(("封面", [["附件"], [], ["2025年部门整体绩效目标批复"], ["鄂州市总工会"]], {}, []),
                 ("部门整体绩效目标表", form, {}, []), ("Sheet3", [], {}, []))
    doc = pifu.parse_bytes(data, "cover.xlsx")
    assert doc.department == "鄂州市总工会" and doc.fiscal_year == 2025
    assert {p.where.split(" R")[0] for p in doc.problems if p.where != "document"} == {"sheet 部门整体绩效目标表"}


def load_rows(data: bytes) -> list[list]:
    from openpyxl import load_workbook

    return [list(r) for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]


def test_a_formula_reads_as_the_value_excel_cached():
    from pifu.generate.render.xlsx import _cache_formulas

    data = _book(("表", [[491.42], [507.29], ["=SUM(A1:A2)"], ["=A1*2"]], {"A3": "#,##0.00"}, []))
    data = _cache_formulas(data, {(0, "A3"): "998.71"})
    assert xlsx_grid(data, "f.xlsx") == [["491.42"], ["507.29"], ["998.71"]]  # A4 never calculated: empty


def test_a_dtd_is_refused_and_never_expanded():
    import zipfile

    data = _book(("表", [["部门整体绩效目标批复"]], {}, []))
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>' + body
            dst.writestr(info, body)
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(out.getvalue(), "dtd.xlsx")
    assert e.value.reason == "unsafe_xml"  # pifu.safety refuses it before any reader runs
    from pifu.readers import xlsx

    with pytest.raises(DocumentError) as e:  # and the reader on its own would refuse it too
        xlsx.read(out.getvalue(), "dtd.xlsx")
    assert e.value.reason == "unreadable" and "DTD" in str(e.value)


def test_a_workbook_without_its_parts_is_unreadable():
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData><row><c><v>1</v></c>")  # cut short
        z.writestr("xl/workbook.xml", "<workbook><sheets><sheet name='a' r:id='rId1' xmlns:r='x'/></sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels", "<Relationships><Relationship Id='rId1' Target='worksheets/sheet1.xml'/>"
                   "</Relationships>")
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(out.getvalue(), "cut.xlsx")
    assert e.value.reason == "unreadable" and "\n" not in str(e.value)


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def excel_like(sheet_xml: str, prefix: str = "") -> bytes:
    """A workbook written the way Excel writes one (shared strings with rich runs and phonetic guides,
    styles with a custom number format), by hand, so no library's writer shapes the test."""
    import zipfile

    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="{_MAIN}"'
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types/>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                       'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                       'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><{p}workbook {ns} xmlns:r="{_REL}"><{p}workbookPr/>'
                           f'<{p}sheets><{p}sheet name="封面" sheetId="1" r:id="rId1"/>'
                           f'<{p}sheet name="部门整体绩效目标表" sheetId="2" r:id="rId2"/></{p}sheets></{p}workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                                      'openxmlformats.org/package/2006/relationships">'
                                      '<Relationship Id="rId1" Type="x/worksheet" Target="worksheets/sheet1.xml"/>'
                                      '<Relationship Id="rId2" Type="x/worksheet" Target="/xl/worksheets/sheet2.xml"/>'
                                      '<Relationship Id="rId3" Type="x/styles" Target="styles.xml"/>'
                                      '<Relationship Id="rId4" Type="x/sharedStrings" Target="sharedStrings.xml"/>'
                                      '</Relationships>',
        "xl/styles.xml": f'<{p}styleSheet {ns}><{p}numFmts count="2"><{p}numFmt numFmtId="176" formatCode="0.00%"/>'
                         f'<{p}numFmt numFmtId="177" formatCode="#,##0.00_ "/></{p}numFmts>'
                         f'<{p}cellStyleXfs count="1"><{p}xf numFmtId="10"/></{p}cellStyleXfs>'
                         f'<{p}cellXfs count="4"><{p}xf numFmtId="0"/><{p}xf numFmtId="176"/><{p}xf numFmtId="177"/>'
                         f'<{p}xf numFmtId="4"/></{p}cellXfs></{p}styleSheet>',
        "xl/sharedStrings.xml": f'<{p}sst {ns} count="4" uniqueCount="4">'
                                f'<{p}si><{p}t>部门总体资金情况</{p}t></{p}si>'
                                f'<{p}si><{p}r><{p}rPr/><{p}t>收入</{p}t></{p}r><{p}r><{p}t xml:space="preserve">构成 </{p}t>'
                                f'</{p}r><{p}rPh sb="0" eb="2"><{p}t>ショウニュウ</{p}t></{p}rPh></{p}si>'
                                f'<{p}si><{p}t>财政&amp;拨款_x000D_</{p}t></{p}si><{p}si><{p}t>附件</{p}t></{p}si></{p}sst>',
        "xl/worksheets/sheet1.xml": f'<{p}worksheet {ns}><{p}sheetData><{p}row r="1"><{p}c r="A1" t="s"><{p}v>3</{p}v>'
                                    f'</{p}c></{p}row></{p}sheetData></{p}worksheet>',
        "xl/worksheets/sheet2.xml": sheet_xml.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}").replace(
            f"<{p}worksheet", f"<{p}worksheet {ns}"),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    return out.getvalue()


@pytest.mark.parametrize("prefix", ["", "x"])
def test_a_workbook_as_excel_writes_it(prefix):
    from pifu.readers import read

    sheet_xml = ('<worksheet><dimension ref="A1:E3"/><sheetData>'
                 '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
                 '<c r="D1" s="2"><v>998.70000000000005</v></c><c r="E1" s="1"><v>0.49959999999999999</v></c></row>'
                 '<row r="2"><c r="A2" s="3"/><c r="B2" s="3"/><c s="3"><v>12</v></c><c r="E2" t="str"><f>A1</f>'
                 '<v>部门总体资金情况</v></c></row>'
                 '<row r="3"><c r="A3"/><c r="B3" t="inlineStr"><is><t>合计</t></is></c><c r="C3" t="b"><v>1</v></c>'
                 '<c r="D3" s="2"><f>SUM(D1:D2)</f><v>1010.7</v></c><c r="E3" t="e"><v>#DIV/0!</v></c></row>'
                 '</sheetData><mergeCells count="1"><mergeCell ref="A1:A3"/></mergeCells></worksheet>')
    sheet = read(excel_like(sheet_xml, prefix), "excel.xlsx")
    assert sheet.grid == [["部门总体资金情况", "收入构成", "财政&拨款", "998.70", "49.96%"],
                          ["", "", "12.00", "", "部门总体资金情况"],
                          ["", "合计", "TRUE", "1010.70", "#DIV/0!"]]
    assert sheet.merges == ((0, 0, 2, 0),)
    assert sheet.origins == ("sheet 部门整体绩效目标表 R1", "sheet 部门整体绩效目标表 R2", "sheet 部门整体绩效目标表 R3")


def test_every_byte_flip_fails_cleanly_or_reads(sample_path):
    """Random damage inside a workbook: a DocumentError or a grid, never another exception."""
    from factories import byte_flip_outcomes

    outcomes = byte_flip_outcomes(workbook_from_text(sample_path.read_text(encoding="utf-8")), "flip.xlsx", seed=11)
    assert outcomes <= {"read", "unreadable", "unsupported_format", "too_large", "unsafe_archive", "unsafe_xml"}


def test_a_binary_workbook_and_a_huge_sheet_are_refused(monkeypatch):
    import zipfile

    import pifu.readers

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("_rels/.rels", '<Relationships><Relationship Id="r" Type="x/officeDocument" '
                                  'Target="xl/workbook.bin"/></Relationships>')
        z.writestr("xl/workbook.bin", b"\x83\x01\x00")
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(out.getvalue(), "b.xlsb")
    assert e.value.reason == "unsupported_format" and ".xlsb" in str(e.value)

    monkeypatch.setattr(pifu.readers, "MAX_CELLS", 100)
    data = _book(("表", [[f"c{r}x{c}" for c in range(12)] for r in range(20)], {}, []))
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(data, "huge.xlsx")
    assert e.value.reason == "too_large"
