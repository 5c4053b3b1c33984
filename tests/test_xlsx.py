"""An Excel export reads as the same document as the text export of the same sheet."""
import io
import re
from decimal import Decimal

from openpyxl import Workbook

import pifu
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


def comparable(doc):
    d = doc.to_dict()
    d.pop("source")
    d["problems"] = sorted((p["code"], p["where"]) for p in d["problems"])
    return d


def test_xlsx_sample_reads_as_its_text_export(sample_path):
    text = sample_path.read_text(encoding="utf-8")
    data = workbook_from_text(text)
    from_xlsx = pifu.parse_bytes(data, "sample.xlsx")
    assert from_xlsx.source.format == "xlsx" and from_xlsx.source.encoding is None
    assert comparable(from_xlsx) == comparable(pifu.parse_bytes(text.encode(), "sample.txt"))


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
