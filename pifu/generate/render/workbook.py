"""What a spreadsheet export of a form holds, whatever the file format (.xlsx or .xls): the sheets, each
cell's stored value and number format, merged ranges and column widths. `plan(form, rng, damage)` draws
the quirks real workbooks have; `pifu.generate.render.xlsx` and `.xls` write the plan in their format.

Quirks (codes added to `damage`):
- cover_sheet: a cover sheet (附件, the title, the department) before the form sheet
- empty_sheets: the empty Sheet2/Sheet3 that Excel and WPS leave after it
- offset: the form starts one row down and/or one column right
- formula_total: the 合计 amounts are SUM formulas (with their value cached, as Excel saves them)
- thousands_format: amounts formatted `#,##0.00`
- general_format: amounts without a number format (General: Excel shows the shortest form)
- accounting_format: the accounting format Chinese templates use, whose zero section prints a dash
- numbers_as_text: amounts and shares stored as the text the form shows (数字以文本形式存储)
Shares are fractions with a `0.00%`-style format whose decimals cover the stated digits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pifu.generate.form import Form, department_of

DAMAGE = ("cover_sheet", "empty_sheets", "offset", "formula_total", "thousands_format", "general_format",
          "accounting_format", "numbers_as_text")
SHEET_NAMES = ("部门整体绩效目标表", "部门整体绩效目标表", "部门整体绩效目标批复表", "绩效目标表", "附件2", "Sheet1")
ACCOUNTING = '_ * #,##0.00_ ;_ * -#,##0.00_ ;_ * "-"??_ ;_ @_ '
WIDTHS = (14, 12, 14, 22, 12, 12, 12, 16, 12)  # characters per column of the 9-column form


@dataclass
class Value:
    value: str | float  # a string cell, or a number (amounts in 万元, shares as fractions)
    fmt: str | None = None  # Excel number format; None: General
    formula: str | None = None  # A1-style formula (without "="), `value` being its cached result


@dataclass
class SheetPlan:
    name: str
    cells: dict[tuple[int, int], Value] = field(default_factory=dict)  # (row, col), 0-based
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r0, c0, r1, c1 inclusive
    widths: dict[int, float] = field(default_factory=dict)


def col_name(col: int) -> str:
    name = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        name = chr(65 + rem) + name
    return name


def plan(form: Form, rng, damage: set[str]) -> list[SheetPlan]:
    sheets = []
    department = department_of(form)
    if rng.random() < 0.3:
        damage.add("cover_sheet")
        cover = SheetPlan(rng.choice(("封面", "说明", "目录")))
        for r, text in enumerate(("附件", "", form.title, department, "")):
            if text:
                cover.cells[r, 0] = Value(text)
        cover.widths[0] = 40
        sheets.append(cover)

    sheet = SheetPlan(rng.choice(SHEET_NAMES))
    r0 = c0 = 0
    if rng.random() < 0.2:
        damage.add("offset")
        r0, c0 = rng.choice(((1, 0), (0, 1), (1, 1), (2, 0)))
    amount_style = rng.choices(("fixed", "thousands", "general", "accounting", "digits"), (3, 3, 2, 1, 2))[0]
    if amount_style in ("thousands", "general", "accounting"):
        damage.add(f"{amount_style}_format")
    as_text = rng.random() < 0.12
    if as_text:
        damage.add("numbers_as_text")
    share_fixed = rng.random() < 0.5

    for r, row in enumerate(form.rows):
        for c, cell in enumerate(row):
            if cell is None:
                continue
            at = (r0 + r, c0 + c)
            if cell.rowspan > 1 or cell.colspan > 1:
                sheet.merges.append((at[0], at[1], at[0] + cell.rowspan - 1, at[1] + cell.colspan - 1))
            if cell.kind in ("amount", "share") and cell.number is not None and not (as_text and rng.random() < 0.7):
                sheet.cells[at] = _number(cell, amount_style, share_fixed)
            elif cell.text:
                sheet.cells[at] = Value(cell.text)
    for c in range(form.width):
        sheet.widths[c0 + c] = WIDTHS[c] if c < len(WIDTHS) else 12
    if rng.random() < 0.3:
        _total_formulas(form, sheet, r0, c0, damage)
    sheets.append(sheet)

    if rng.random() < 0.3:
        damage.add("empty_sheets")
        sheets += [SheetPlan(f"Sheet{n}") for n in range(len(sheets) + 1, len(sheets) + rng.randint(2, 3))]
    return sheets


def _number(cell, amount_style: str, share_fixed: bool) -> Value:
    digits = cell.digits or 0
    if cell.kind == "share":
        decimals = max(digits, 2) if share_fixed else digits
        return Value(float(cell.number / 100), "0" + ("." + "0" * decimals if decimals else "") + "%")
    value = float(cell.number)
    if amount_style == "general":
        return Value(value)
    if amount_style == "accounting":
        return Value(value, ACCOUNTING)
    if amount_style == "thousands":
        return Value(value, "#,##0.00")
    if amount_style == "digits":
        return Value(value, "0" + ("." + "0" * digits if digits else ""))
    return Value(value, "0.00")


def _total_formulas(form: Form, sheet: SheetPlan, r0: int, c0: int, damage: set[str]) -> None:
    """Each flow's 合计 amounts as SUM over the items above, where the stated total is that sum."""
    rows = form.rows
    if "funding" not in form.sections:
        return  # a family without a funding block (Hunan 2023)
    first, last = form.sections["funding"]
    groups, current = [], []
    for r in range(first, last + 1):
        labels = [cell for cell in rows[r] if cell is not None and cell.kind == "label"]
        if not labels:
            continue
        current.append(r)
        if labels[-1].text == "合计":  # the item is the row's last label, whatever its column
            groups.append(current)
            current = []
    for group in groups:
        *parts, total = group
        for c, cell in enumerate(rows[total]):
            if cell is None or cell.kind != "amount" or cell.number is None:
                continue
            above = [rows[p][c] for p in parts]
            if any(a is None or a.number is None for a in above) or sum(a.number for a in above) != cell.number:
                continue  # a total that is not its items' sum would not survive Excel recalculating
            target = sheet.cells.get((r0 + total, c0 + c))
            if target is None or isinstance(target.value, str):
                continue
            ref = col_name(c0 + c)
            target.formula = f"SUM({ref}{r0 + parts[0] + 1}:{ref}{r0 + parts[-1] + 1})"
            damage.add("formula_total")
