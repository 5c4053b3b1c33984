"""A form as an Excel .xlsx workbook (openpyxl): real merged cells, amounts and shares stored as numbers
with their number formats, 合计 sometimes a SUM formula with its value cached, a cover sheet and empty
sheets now and then (see `pifu.generate.render.workbook` for the quirks and their damage codes)."""
from __future__ import annotations

import io
import re
import zipfile

from pifu.generate.form import Form
from pifu.generate.render.workbook import col_name, plan


def render(form: Form, rng, damage: set[str]) -> tuple[bytes, str]:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    book = Workbook()
    book.remove(book.active)
    cached: dict[tuple[int, str], str] = {}  # (sheet index, A1 ref) -> cached value of a formula
    wrap = Alignment(wrap_text=True, vertical="center")
    for index, sheet_plan in enumerate(plan(form, rng, damage)):
        sheet = book.create_sheet(sheet_plan.name)
        for (r, c), v in sheet_plan.cells.items():
            cell = sheet.cell(row=r + 1, column=c + 1)
            if v.formula:
                cell.value = "=" + v.formula
                cached[index, f"{col_name(c)}{r + 1}"] = repr(v.value)
            else:
                cell.value = v.value
            if v.fmt:
                cell.number_format = v.fmt
            if isinstance(v.value, str) and len(v.value) > 30:
                cell.alignment = wrap
        for r0, c0, r1, c1 in sheet_plan.merges:
            sheet.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
        for c, width in sheet_plan.widths.items():
            sheet.column_dimensions[col_name(c)].width = width
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    return (_cache_formulas(data, cached) if cached else data), ".xlsx"


def _cache_formulas(data: bytes, cached: dict[tuple[int, str], str]) -> bytes:
    """openpyxl cannot compute formulas and leaves their value empty; Excel saves it. Write it in."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            m = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", info.filename)
            if m:
                index = int(m.group(1)) - 1
                refs = {ref: value for (i, ref), value in cached.items() if i == index}
                if refs:
                    def fill(match: re.Match) -> bytes:
                        value = refs.get(match.group(2).decode())
                        return match.group(0) if value is None else match.group(1) + f"<v>{value}</v></c>".encode()
                    # openpyxl writes the empty value as <v/>, <v /> or <v></v> depending on its version
                    body = re.sub(rb'(<c r="([A-Z]+\d+)"[^>]*><f>[^<]*</f>)(?:<v ?/>|<v></v>)</c>',
                                  fill, body)
            dst.writestr(info, body)
    return out.getvalue()
