"""A form as an Excel 97-2003 .xls workbook (xlwt, BIFF8): real merged cells, amounts and shares stored as
numbers with their number formats (XF records), 合计 sometimes a SUM formula with its value cached, a
cover sheet and empty sheets now and then (see `pifu.generate.render.workbook`)."""
from __future__ import annotations

import io
from struct import pack

from pifu.generate.form import Form
from pifu.generate.render.workbook import plan


def render(form: Form, rng, damage: set[str]) -> tuple[bytes, str]:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    styles: dict[tuple[str | None, bool], object] = {}

    def style(fmt: str | None, wrap: bool):
        key = (fmt, wrap)
        if key not in styles:
            s = xlwt.XFStyle()
            if fmt:
                s.num_format_str = fmt
            s.alignment.vert = xlwt.Alignment.VERT_CENTER
            if wrap:
                s.alignment.wrap = xlwt.Alignment.WRAP_AT_RIGHT
            styles[key] = s
        return styles[key]

    for sheet_plan in plan(form, rng, damage):
        sheet = book.add_sheet(sheet_plan.name, cell_overwrite_ok=True)
        for (r, c), v in sorted(sheet_plan.cells.items()):
            st = style(v.fmt, isinstance(v.value, str) and len(v.value) > 30)
            if v.formula:
                sheet.write(r, c, xlwt.Formula(v.formula), st)
                _cache(sheet, r, c, float(v.value))
            else:
                sheet.write(r, c, v.value, st)
        for r0, c0, r1, c1 in sheet_plan.merges:
            sheet.merge(r0, r1, c0, c1)
        for c, width in sheet_plan.widths.items():
            sheet.col(c).width = int(width * 256)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), ".xls"


def _cache(sheet, r: int, c: int, value: float) -> None:
    """xlwt writes a formula's result as an empty string; Excel saves the computed number. Swap the
    cell for one whose FORMULA record carries it."""
    from xlwt.Cell import FormulaCell

    class CachedFormulaCell(FormulaCell):
        __slots__ = ("cached",)

        def get_biff_data(self):
            body = pack("<3HdHL", self.rowx, self.colx, self.xf_idx, self.cached, self.calc_flags & 3, 0)
            body += self.frmla.rpn()
            return pack("<2H", 0x0006, len(body)) + body  # FORMULA record

    row = sheet.row(r)
    old = row._Row__cells[c]
    cell = CachedFormulaCell(old.rowx, old.colx, old.xf_idx, old.frmla, old.calc_flags)
    cell.cached = value
    row.insert_cell(c, cell)
