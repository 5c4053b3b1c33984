"""The form as a PDF printed from Excel or WPS: a ruled table over two or three A4 pages.

Quirks, each recorded in `damage` when it happens:
- `header_repeated`: the table's column-header rows are printed again at the top of the next page (the
  section label in them repeated or blank);
- `group_split`: a page break falls inside a group, so a merged lv1/lv2 (or section) label is cut at the
  foot of the page and continues, without text, at the top of the next;
- `cell_cut`: a cell cut at the foot of a page has no bottom rule (`group_split` always does);
- `text_split`: a long paragraph wraps in its cell and is cut across a page (no bottom rule at the foot,
  no top rule on the next page);
- `cover_page`: a cover letter page before the table;
- `page_numbers`: a page footer (第 1 页 共 3 页, - 1 -);
- `radical_glyphs`: some labels are written with Kangxi radicals / CJK radical supplement code points
  (⼈ for 人, ⻔ for 门), as Noto CJK text layers often read;
- `rules_as_rects`: the rules are thin filled rectangles (WPS) instead of stroked lines; otherwise they are
  either one stroked path per page or one path per cell edge.

The font is reportlab's built-in CID font STSong-Light (no font file; pdfplumber and pypdfium2 extract
it). `radicals=` and `encrypt=` are for tests.
"""
from __future__ import annotations

import io
import random

from pifu.generate.form import Cell, Form, department_of, year_of

FONT = "STSong-Light"
SIZE, LEAD, PAD = 8.0, 10.0, 3.0
LEFT, TOP, BOTTOM = 36.0, 800.0, 50.0  # A4 is 595 x 842 pt
COLS = (56.0, 58.0, 62.0, 100.0, 50.0, 50.0, 50.0, 50.0, 47.0)  # 523 pt, as the form's 9 columns
MIN_ROW = 16.0
# Unified ideograph -> the radical code point a Noto CJK text layer gives for it.
RADICALS = {"人": "⼈", "工": "⼯", "大": "⼤", "力": "⼒", "口": "⼝", "日": "⽇", "水": "⽔", "心": "⼼", "门": "⻔",
            "长": "⻓", "车": "⻋", "马": "⻢", "见": "⻅", "风": "⻛", "民": "⺠", "页": "⻚", "龙": "⻰"}

_registered = False
_widths: dict[str, float] = {}


def _font() -> None:
    global _registered
    if not _registered:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True


def _width(text: str, size: float = SIZE) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    total = 0.0
    for ch in text:
        w = _widths.get(ch)
        if w is None:
            w = _widths[ch] = stringWidth(ch, FONT, 1.0)
        total += w
    return total * size


def wrap(text: str, width: float, size: float = SIZE) -> list[str]:
    """Lines of `text` within `width` points, broken anywhere (as CJK text is); a space at a break stays
    at the end of its line."""
    lines, line, used = [], "", 0.0
    for ch in text:
        w = _width(ch, size)
        if line and used + w > width and ch != " ":
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += w
    if line or not lines:
        lines.append(line)
    return lines


def render(form: Form, rng: random.Random, damage: set[str], *, radicals: float | None = None,
           encrypt: str | None = None) -> tuple[bytes, str]:
    _font()
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    xs = [LEFT]
    for w in column_widths(form):
        xs.append(xs[-1] + w)

    radical_share = radicals if radicals is not None else (0.4 if rng.random() < 0.15 else 0.0)
    cells = _cells(form)
    lines = {}
    for (r, c), cell in cells.items():
        text = cell.text
        if radical_share and cell.kind in ("label", "text") and rng.random() < radical_share:
            swapped = "".join(RADICALS.get(ch, ch) for ch in text)
            if swapped != text:
                damage.add("radical_glyphs")
                text = swapped
        lines[r, c] = wrap(text, xs[c + cell.colspan] - xs[c] - 2 * PAD)
    heights = _heights(form, cells, lines)
    pages = _paginate(form, cells, lines, heights, rng, damage)
    label_again = rng.random() < 0.5  # a repeated header prints its section label again

    out = io.BytesIO()
    kwargs = {}
    if encrypt is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        kwargs["encrypt"] = StandardEncryption(encrypt, canPrint=1)
    pdf = canvas.Canvas(out, pagesize=A4, pageCompression=1, **kwargs)
    pdf.setTitle(form.title)
    style = rng.choices(("path", "segments", "rects"), (5, 3, 2))[0]
    if style == "rects":
        damage.add("rules_as_rects")
    numbering = rng.choice((None, None, "第 {n} 页 共 {m} 页", "- {n} -", "第{n}页"))
    cover = rng.random() < 0.3
    total = len(pages) + cover
    if cover:
        damage.add("cover_page")
        _cover(pdf, form, rng)
        _footer(pdf, numbering, 1, total, damage)
        pdf.showPage()
    for n, page in enumerate(pages, 1 + cover):
        _draw_page(pdf, page, cells, lines, xs, style, label_again)
        _footer(pdf, numbering, n, total, damage)
        pdf.showPage()
    pdf.save()
    return out.getvalue(), ".pdf"


def column_widths(form: Form) -> tuple[float, ...]:
    """Points per column, 523 in all (A4 less its margins): the Hubei form's own widths for its nine
    columns; another family's columns share the width by what they hold (the widest one-column text up
    to 14 characters, at least 3), as a spreadsheet's columns are fitted before printing."""
    if form.width == len(COLS):
        return COLS
    total = sum(COLS)
    want = [3.0] * form.width
    for row in form.rows:
        for c, cell in enumerate(row):
            if cell is not None and cell.colspan == 1 and cell.kind != "title":
                want[c] = max(want[c], min(len(cell.text), 14))
    scale = total / sum(want)
    return tuple(w * scale for w in want)


def _cells(form: Form) -> dict[tuple[int, int], Cell]:
    return {(r, c): cell for r, row in enumerate(form.rows) for c, cell in enumerate(row) if cell is not None}


def _need(n_lines: int) -> float:
    return max(MIN_ROW, n_lines * LEAD + 2 * PAD)


def _heights(form: Form, cells, lines) -> list[float]:
    heights = [MIN_ROW] * len(form.rows)
    for (r, c), cell in cells.items():
        if cell.rowspan == 1 and cell.kind != "title":
            heights[r] = max(heights[r], _need(len(lines[r, c])))
    for (r, c), cell in sorted(cells.items()):
        if cell.rowspan > 1:
            short = _need(len(lines[r, c])) - sum(heights[r:r + cell.rowspan])
            if short > 0:
                heights[r + cell.rowspan - 1] += short
    return heights


class Piece:
    """One form row (or part of a text row) placed on a page."""

    def __init__(self, row: int, top: float, height: float, line_from: int = 0, line_to: int | None = None,
                 repeat: bool = False, open_top: bool = False, open_bottom: bool = False):
        self.row, self.top, self.height = row, top, height
        self.line_from, self.line_to = line_from, line_to
        self.repeat, self.open_top, self.open_bottom = repeat, open_top, open_bottom


def _section_of(form: Form, r: int) -> str | None:
    for key, (a, b) in form.sections.items():
        if a <= r <= b and key in form.header_rows:
            return key
    return None


def _paginate(form: Form, cells, lines, heights, rng, damage) -> list[list[Piece]]:
    """Rows onto pages, top-down. The title stands above the table on page 1."""
    pages: list[list[Piece]] = [[]]
    y = TOP - 28.0  # below the title
    n = len(form.rows)
    r = 1  # row 0 is the title
    spans = {(r0, c): cell for (r0, c), cell in cells.items() if cell.rowspan > 1}

    def new_page(before: int) -> None:
        nonlocal y
        pages.append([])
        y = TOP
        key = _section_of(form, before)
        if key and before not in form.header_rows[key] and before > form.header_rows[key][0]:
            damage.add("header_repeated")
            for h in form.header_rows[key]:
                pages[-1].append(Piece(h, y, heights[h], repeat=True))
                y -= heights[h]

    # now and then the page ends inside a long paragraph (a manual break, or a taller header above)
    long_rows = [r for r in range(n) if any((r, c) in cells and cells[r, c].kind == "text" and len(lines[r, c]) >= 4
                                            for c in range(form.width))]
    forced = rng.choice(long_rows) if long_rows and rng.random() < 0.3 else None

    while r < n:
        h = heights[r]
        if r == forced and pages[-1]:
            total = max(len(lines[r, c]) for c in range(form.width) if (r, c) in cells and cells[r, c].kind == "text")
            cut = rng.randint(1, total - 1)
            if y - _need(cut) >= BOTTOM:
                damage.update(("text_split", "cell_cut"))
                pages[-1].append(Piece(r, y, _need(cut), 0, cut, open_bottom=True))
                pages.append([])
                y = TOP - _need(total - cut)
                pages[-1].append(Piece(r, TOP, _need(total - cut), cut, None, open_top=True))
                r += 1
                continue
        if y - h >= BOTTOM:
            pages[-1].append(Piece(r, y, h))
            y -= h
            r += 1
            continue
        room = y - BOTTOM
        text_cells = [c for c in range(form.width) if (r, c) in cells and cells[r, c].kind == "text"
                      and len(lines[r, c]) > 2]
        fit = int((room - 2 * PAD) // LEAD)
        if text_cells and pages[-1] and fit >= 2:
            # a long paragraph: as many lines as fit here, the rest on the next page
            damage.update(("text_split", "cell_cut"))
            pages[-1].append(Piece(r, y, room, 0, fit, open_bottom=True))
            pages.append([])
            y = TOP
            rest = max(len(lines[r, c]) for c in text_cells) - fit
            pages[-1].append(Piece(r, y, _need(rest), fit, None, open_top=True))
            y -= _need(rest)
            r += 1
            continue
        # break before row r; keep column headers with the first body row, and give a cut merged label
        # room for its text on this page
        b = _break_point(form, pages[-1], r, spans, lines, heights)
        if b < r:
            del pages[-1][len(pages[-1]) - (r - b):]
            r = b
        if any(r0 < r < r0 + cell.rowspan for (r0, c), cell in spans.items()):
            damage.add("cell_cut")
            if any(cell.kind == "label" and r0 < r < r0 + cell.rowspan for (r0, c), cell in spans.items()):
                damage.add("group_split")
        new_page(r)
    return [p for p in pages if p]


def _break_point(form: Form, page: list[Piece], r: int, spans, lines, heights) -> int:
    first = page[0].row if page else r
    b = r
    for _ in range(len(form.rows)):
        moved = False
        key = _section_of(form, b)
        if key:
            hdr = form.header_rows[key]
            if hdr[0] < b <= hdr[-1] + 1 and hdr[0] > first:
                b, moved = hdr[0], True  # no header at the foot of a page without a body row below it
        for (r0, c), cell in spans.items():
            if r0 < b < r0 + cell.rowspan and r0 >= first and not moved:
                if _need(len(lines[r0, c])) > sum(heights[r0:b]) and r0 > first:
                    b, moved = r0, True  # the label's text would not fit above the break
        if not moved:
            return b
    return b


def _cover(pdf, form: Form, rng) -> None:
    dept = department_of(form)
    year = year_of(form)
    y = TOP - 60
    pdf.setFont(FONT, 16)
    pdf.drawCentredString(297.5, y, f"关于批复{year}年部门整体绩效目标的通知")
    pdf.setFont(FONT, 11)
    y -= 50
    for line in (f"{dept}：", f"    现将你单位{year}年部门整体绩效目标批复如下，请严格按照批复的绩效目标组织实施，",
                 "加强绩效运行监控，确保目标如期实现。", "", f"    附件：{form.title}"):
        pdf.drawString(LEFT + 20, y, line)
        y -= 22
    pdf.drawString(380, y - 60, f"{year}年{rng.randint(1, 4)}月{rng.randint(1, 28)}日")


def _footer(pdf, numbering: str | None, n: int, m: int, damage: set[str]) -> None:
    if numbering:
        damage.add("page_numbers")
        pdf.setFont(FONT, 9)
        pdf.drawCentredString(297.5, 28, numbering.format(n=n, m=m))


def _draw_page(pdf, page: list[Piece], cells, lines, xs, style: str, label_again: bool) -> None:
    if page[0].row == 1:
        pdf.setFont(FONT, 15)
        pdf.drawCentredString((xs[0] + xs[-1]) / 2, TOP - 18, cells[0, 0].text)
    repeated = {p.row: p for p in page if p.repeat}
    body = {}
    for p in page:
        if not p.repeat:
            body.setdefault(p.row, p)
    hsegs: list[tuple[float, float, float]] = []
    vsegs: list[tuple[float, float, float]] = []
    pdf.setFont(FONT, SIZE)
    for (r, c), cell in cells.items():
        if r == 0:
            continue
        rows = range(r, r + cell.rowspan)
        x0, x1 = xs[c], xs[c + cell.colspan]
        parts = []
        if r in repeated:  # a repeated header, clipped to the header rows
            shown = [repeated[x] for x in rows if x in repeated]
            text = lines[r, c] if cell.kind != "section" or label_again else []
            parts.append((shown, True, True, text))
        shown = [body[x] for x in rows if x in body]
        if shown:
            starts = shown[0].row == r and shown[0].line_from == 0
            text = lines[r, c] if starts else []
            if cell.kind == "text" and shown[0].row == r:
                text = lines[r, c][shown[0].line_from:shown[0].line_to]
            parts.append((shown, starts and not shown[0].open_top,
                          shown[-1].row == rows[-1] and not shown[-1].open_bottom, text))
        for shown, closed_top, closed_bottom, text in parts:
            top, bottom = shown[0].top, shown[-1].top - shown[-1].height
            if closed_top:
                hsegs.append((x0, x1, top))
            if closed_bottom:
                hsegs.append((x0, x1, bottom))
            vsegs.append((x0, bottom, top))
            vsegs.append((x1, bottom, top))
            if not text:
                continue
            room, used = top - bottom, len(text) * LEAD
            y = top - PAD - SIZE + 1 if cell.kind == "text" and len(text) > 1 else top - (room - used) / 2 - SIZE + 1
            for line in text:
                if len(text) > 1 and cell.kind in ("text", "label"):
                    pdf.drawString(x0 + PAD, y, line)
                else:
                    pdf.drawCentredString((x0 + x1) / 2, y, line)
                y -= LEAD
    _rules(pdf, hsegs, vsegs, style)


def _rules(pdf, hsegs, vsegs, style: str) -> None:
    pdf.setLineWidth(0.6)
    if style == "rects":
        for x0, x1, y in hsegs:
            pdf.rect(x0 - 0.3, y - 0.3, x1 - x0 + 0.6, 0.6, stroke=0, fill=1)
        for x, y0, y1 in vsegs:
            pdf.rect(x - 0.3, y0 - 0.3, 0.6, y1 - y0 + 0.6, stroke=0, fill=1)
    elif style == "segments":
        for x0, x1, y in hsegs:
            pdf.line(x0, y, x1, y)
        for x, y0, y1 in vsegs:
            pdf.line(x, y0, x, y1)
    else:
        path = pdf.beginPath()
        for x0, x1, y in hsegs:
            path.moveTo(x0, y)
            path.lineTo(x1, y)
        for x, y0, y1 in vsegs:
            path.moveTo(x, y0)
            path.lineTo(x, y1)
        pdf.drawPath(path, stroke=1, fill=0)
