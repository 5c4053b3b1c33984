"""A form as its publisher lays it out: the structure every non-text renderer draws from.

A text export flattens a form and loses its merged cells; the other formats (xlsx, xls, docx, html,
pdf) keep them. `Form` is the clean table those formats render, built from a document's truth
(`form_from_truth`), so every format round-trips against the same facts. Each renderer lives in
`pifu.generate.render.<format>` as `render(form, rng, damage) -> bytes`: it draws the form with its
format's real quirks (a page break inside a group, repeated headers, a cover page, HTML saved as .xls,
extra tables) and adds the quirk's code to `damage`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Cell:
    text: str  # what the form shows, e.g. "998.71", "49.96%", "≥23人", "运行成本"
    rowspan: int = 1
    colspan: int = 1
    kind: str = "text"  # title | section | header | label | text | amount | share | value
    number: Decimal | None = None  # amount in 万元, or share in percent (49.96), for formats that store numbers
    digits: int | None = None  # decimals the form shows for `number`


@dataclass
class Form:
    title: str  # e.g. 2025年部门整体绩效目标批复
    width: int
    # Rectangular: every row has `width` entries; None where a merged cell above or to the left covers it.
    rows: list[list[Cell | None]] = field(default_factory=list)
    # Section name (funding, functions, annual_tasks, long_term_goal, long_term, annual_goal, annual) ->
    # (first row, last row), inclusive; a renderer repeats a table's header rows after a page break.
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)
    header_rows: dict[str, list[int]] = field(default_factory=dict)  # section -> its column-header rows
