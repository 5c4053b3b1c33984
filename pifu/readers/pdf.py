"""PDF: the form's table from its text layer, by ruling lines and character positions (PDFium via pypdfium2).

A printed approval is one ruled table over two or three pages. Per page, the rules (stroked lines, thin
filled rectangles, rectangle edges) give the row and column boundaries; a merged cell is a run of
elementary cells with no rule between them; each character goes to the cell its box centre lies in and a
cell's lines are joined (a wrapped label is one cell). Where a rule is missing at the foot of a page (a cell
cut by the page break) the vertical rules and the text still bound the row. Across pages:
- the column boundaries are shared (the union over all pages), so the pages stack into one grid;
- column-header rows repeated at the top of a page are dropped;
- a row cut at the foot of a page with no bottom rule anywhere, continued at the top of the next with no top
  rule (a long paragraph wrapped across the break), is one row;
- a merged label cut by the break continues on the next page as an empty cell: the top-left convention of
  the grid already says the rows below belong to its group.
Text outside the ruled table (the title, a cover letter) becomes rows of its own; page numbers are dropped.
Kangxi radicals and CJK radical-supplement characters (⼈ for 人, ⻔ for 门) are folded to the unified
ideographs. Why PDFium and not pdfplumber: docs/pdf.md.
"""
from __future__ import annotations

import ctypes
import re
import unicodedata
from bisect import bisect_right

from pifu.model import DocumentError
from pifu.readers import STRIP, Sheet, check_cells

MAX_PAGES = 200  # an approval prints on two or three pages
MAX_OBJECTS = 200_000  # drawing objects on one page; a printed form has a few hundred
TOL = 2.0  # points: rules closer than this are one rule
# CJK radical supplement -> unified ideograph, for the radicals fonts map common characters to
# (the Kangxi radicals U+2F00-U+2FD5 all fold by NFKC).
_SUPPLEMENT = {
    "⺟": "母", "⺠": "民", "⻄": "西", "⻅": "见", "⻆": "角", "⻈": "讠", "⻉": "贝", "⻋": "车", "⻑": "長",
    "⻓": "长", "⻔": "门", "⻘": "青", "⻙": "韦", "⻚": "页", "⻛": "风", "⻜": "飞", "⻠": "饣", "⻢": "马",
    "⻣": "骨", "⻥": "鱼", "⻦": "鸟", "⻧": "卤", "⻨": "麦", "⻩": "黄", "⻪": "黾", "⻬": "齐", "⻮": "齿",
    "⻰": "龙", "⻳": "龟",
}
FOLD = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in range(0x2F00, 0x2FD6)}
FOLD.update({ord(k): v for k, v in _SUPPLEMENT.items()})
_PAGE_NUMBER = re.compile(r"^(?:第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|[-—–]*\s*\d+\s*[-—–]*|\d+\s*/\s*\d+|"
                          r"page\s*\d+(?:\s*of\s*\d+)?)$", re.IGNORECASE)


def fold(text: str) -> str:
    """⼈ -> 人, ⻔ -> 门: radical code points a text layer gives for unified ideographs."""
    return text.translate(FOLD)


def _bad(cp: int) -> bool:
    """A code point no real text holds: a control character, private use, or the replacement character."""
    return cp < 0x20 or 0xE000 <= cp <= 0xF8FF or cp == 0xFFFD or 0xF0000 <= cp


def read(data: bytes, path: str) -> Sheet:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if getattr(e, "err_code", None) in (4, 6):  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY
            raise DocumentError(path, "the PDF is password-protected", "encrypted") from None
        raise DocumentError(path, f"not a readable PDF ({e})".replace("\n", " "), "unreadable") from None
    except Exception as e:  # noqa: BLE001 - PDFium on hostile bytes: anything is a damaged file
        raise DocumentError(path, f"not a readable PDF ({type(e).__name__})", "unreadable") from None
    try:
        pages = _pages(doc, path)
    except DocumentError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DocumentError(path, f"a damaged PDF ({type(e).__name__}: {e})".replace("\n", " "),
                            "unreadable") from None
    finally:
        doc.close()
    grid, origins, merges = _assemble(pages, path)
    return Sheet(grid=grid, format="pdf", encoding=None, origins=tuple(origins), merges=tuple(merges),
                 col_label=" col {}")


# ------------------------------------------------------------------------------------------ extraction

class Page:
    __slots__ = ("number", "chars", "hs", "vs")

    def __init__(self, number: int):
        self.number = number
        self.chars: list[tuple[str, float, float, float]] = []  # (char, centre x, centre y, height)
        self.hs: list[tuple[float, float, float]] = []  # (y, x0, x1)
        self.vs: list[tuple[float, float, float]] = []  # (x, y0, y1)


def _pages(doc, path: str) -> list[Page]:
    import pypdfium2.raw as R

    n = len(doc)
    if n == 0:
        raise DocumentError(path, "a PDF without pages", "unreadable")
    if n > MAX_PAGES:
        raise DocumentError(path, f"{n} pages; a 批复 prints on a few", "too_large")
    pages, total, bad = [], 0, 0
    for i in range(n):
        page = doc[i]
        try:
            text = page.get_textpage()
            try:
                p, b = _chars(R, text.raw, i + 1, path)
            finally:
                text.close()
            _rules(R, page.raw, p, path)
        finally:
            page.close()
        pages.append(p)
        total += len(p.chars)
        bad += b
    if bad and (total == 0 or bad > max(3, total // 20)):
        raise DocumentError(path, f"{bad} of {total + bad} characters have no Unicode mapping "
                            "(fonts without ToUnicode, (cid:NN)): the text cannot be read", "unmapped_glyphs")
    if total == 0:
        raise DocumentError(path, f"no text layer on its {n} page(s): a scanned PDF", "no_text_layer")
    return pages


def _chars(R, tp, number: int, path: str) -> tuple[Page, int]:
    p = Page(number)
    n = R.FPDFText_CountChars(tp)
    if n <= 0:
        return p, 0
    check_cells(n, path, f"page {number}")
    buf = ctypes.create_string_buffer(2 * (n + 1))
    got = R.FPDFText_GetText(tp, 0, n, ctypes.cast(buf, ctypes.POINTER(ctypes.c_ushort)))
    text = buf.raw[: 2 * max(got - 1, 0)].decode("utf-16-le", "replace")
    if len(text) != n:  # surrogate pairs: one char per index the slow way
        text = None
    box = R.FS_RECTF()
    ref = ctypes.byref(box)
    # the loose box (font ascent to descent) is the same height for every character of a line, so a comma
    # and an ideograph of one line share their centre
    get_box, generated, unicode_of, map_error = (R.FPDFText_GetLooseCharBox, R.FPDFText_IsGenerated,
                                                 R.FPDFText_GetUnicode, R.FPDFText_HasUnicodeMapError)
    out = p.chars
    bad = 0
    for i in range(n):
        ch = text[i] if text is not None else chr(unicode_of(tp, i) or 0xFFFD)
        if ch in "\r\n" and generated(tp, i):
            continue
        cp = ord(ch)
        if _bad(cp) or map_error(tp, i) == 1:
            bad += 1
            continue
        if ch.isspace():
            if generated(tp, i):
                continue
        if not get_box(tp, i, ref):
            continue
        out.append((ch, (box.left + box.right) / 2, (box.bottom + box.top) / 2, box.top - box.bottom))
    return p, bad


def _rules(R, page, p: Page, path: str) -> None:
    """Horizontal and vertical rules from the page's path objects: segments of stroked paths, and thin
    filled rectangles (one path each, as WPS prints borders)."""
    count = R.FPDFPage_CountObjects(page)
    if count > MAX_OBJECTS:
        raise DocumentError(path, f"page {p.number} holds {count:,} drawing objects; a printed form has a few "
                            "hundred", "too_large")
    PATH, LINETO, MOVETO = R.FPDF_PAGEOBJ_PATH, R.FPDF_SEGMENT_LINETO, R.FPDF_SEGMENT_MOVETO
    l, b, r, t = (ctypes.c_float() for _ in range(4))
    x, y = ctypes.c_float(), ctypes.c_float()
    matrix = R.FS_MATRIX()
    hs, vs = p.hs, p.vs
    for i in range(count):
        obj = R.FPDFPage_GetObject(page, i)
        if R.FPDFPageObj_GetType(obj) != PATH:
            continue
        if not R.FPDFPageObj_GetBounds(obj, l, b, r, t):
            continue
        w, h = r.value - l.value, t.value - b.value
        if w < TOL and h > TOL:
            vs.append(((l.value + r.value) / 2, b.value, t.value))
            continue
        if h < TOL and w > TOL:
            hs.append(((b.value + t.value) / 2, l.value, r.value))
            continue
        segments = R.FPDFPath_CountSegments(obj)
        if segments <= 0 or segments > 100_000:
            continue
        R.FPDFPageObj_GetMatrix(obj, matrix)
        a, bb, c, d, e, f = matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f
        start = last = None
        for j in range(segments):
            seg = R.FPDFPath_GetPathSegment(obj, j)
            R.FPDFPathSegment_GetPoint(seg, x, y)
            pt = (a * x.value + c * y.value + e, bb * x.value + d * y.value + f)
            kind = R.FPDFPathSegment_GetType(seg)
            if kind == MOVETO:
                start = last = pt
                continue
            if kind == LINETO and last is not None:
                _edge(last, pt, hs, vs)
            last = pt
            if R.FPDFPathSegment_GetClose(seg) and start is not None:
                _edge(last, start, hs, vs)
                last = start


def _edge(p0, p1, hs, vs) -> None:
    (x0, y0), (x1, y1) = p0, p1
    if abs(y1 - y0) < 0.5 and abs(x1 - x0) > TOL:
        hs.append(((y0 + y1) / 2, min(x0, x1), max(x0, x1)))
    elif abs(x1 - x0) < 0.5 and abs(y1 - y0) > TOL:
        vs.append(((x0 + x1) / 2, min(y0, y1), max(y0, y1)))


# ------------------------------------------------------------------------------------------ the grid

def _cluster(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if out and v - out[-1] < TOL:
            continue
        out.append(v)
    return out


def _snap(v: float, bounds: list[float]) -> int | None:
    i = bisect_right(bounds, v + TOL) - 1
    if i >= 0 and abs(bounds[i] - v) < TOL:
        return i
    if i + 1 < len(bounds) and abs(bounds[i + 1] - v) < TOL:
        return i + 1
    return None


class PageRows:
    """One page's rows: (cells, origin, open_top, open_bottom, in_table)."""

    def __init__(self):
        self.rows: list[list[str]] = []
        self.origins: list[str] = []
        self.table: list[bool] = []
        self.merges: list[tuple[int, int, int, int]] = []  # page-local rows
        self.open_top = self.open_bottom = False
        self.first_table = self.last_table = None


def _assemble(pages: list[Page], path: str):
    from pifu.layout import section_of

    xs = _cluster([x for p in pages for x, _, _ in p.vs])
    width = max(1, len(xs) - 1)
    grid: list[list[str]] = []
    origins: list[str] = []
    merges: list[tuple[int, int, int, int]] = []
    section = None  # the section label last seen, and the signatures of the table rows under it
    sigs: set[tuple[str, ...]] = set()
    last_raw: list[str] = []
    tail_open = False  # the grid's last row was cut at the foot of its page (no bottom rule anywhere)
    for page in pages:
        pr = _page_rows(page, xs, width)
        keep = [k for k in range(len(pr.rows)) if pr.table[k] or not _PAGE_NUMBER.match(pr.rows[k][0])]
        joined = None
        if pr.first_table is not None:
            # column headers repeated at the top of the page: rows equal to earlier rows of the same
            # section's table (the section label in them, if printed again, is that section's)
            k = pr.first_table
            while k <= pr.last_table:
                cells = [t.strip(STRIP) for t in pr.rows[k]]
                label = next((x for x in (section_of(t) for t in cells if t) if x), None)
                sig = _signature(cells)
                if not sig or sig not in sigs or label not in (None, section):
                    break
                keep.remove(k)
                k += 1
            if (tail_open and k == pr.first_table and pr.open_top
                    and all(pr.table[x] for x in keep if x < k)):
                joined = k  # a row cut at the foot of the previous page, continued here
        index = {}
        for k in keep:
            cells = pr.rows[k]
            if k == joined:  # the raw texts joined: a space at the break stays
                last_raw = [a + b for a, b in zip(last_raw, cells)]
                grid[-1] = [t.strip(STRIP) for t in last_raw]
                index[k] = len(grid) - 1
                continue
            last_raw = cells
            cells = [t.strip(STRIP) for t in cells]
            for t in cells:
                found = section_of(t) if t else None
                if found:
                    if found != section:
                        section, sigs = found, set()
                    break
            if pr.table[k]:
                sigs.add(_signature(cells))
            index[k] = len(grid)
            grid.append(cells)
            origins.append(f"page {page.number} row {k + 1}")
            check_cells(len(grid) * width, path)
        tail_open = bool(keep) and pr.open_bottom and keep[-1] == pr.last_table
        for r0, c0, r1, c1 in pr.merges:
            rows = [index[k] for k in range(r0, r1 + 1) if k in index]
            if rows and (len(set(rows)) > 1 or c1 > c0):
                merges.append((rows[0], c0, rows[-1], c1))
    return grid, origins, merges


def _signature(cells: list[str]) -> tuple[str, ...]:
    from pifu.layout import section_of

    return tuple(t for t in cells if t and not section_of(t))


def _page_rows(page: Page, xs: list[float], width: int) -> PageRows:
    pr = PageRows()
    table_chars, loose = [], []
    if page.vs and len(xs) > 1:
        x_lo, x_hi = xs[0] - TOL, xs[-1] + TOL
        ys_all = [y for y, x0, x1 in page.hs if x1 > x_lo and x0 < x_hi]
        ys_all += [y for _, y0, y1 in page.vs for y in (y0, y1)]
        ys = _cluster(ys_all)[::-1]  # top-down
    else:
        ys = []
    if len(ys) < 2:
        loose = page.chars
    else:
        top, bottom = ys[0], ys[-1]
        neg = [-y for y in ys]
        for ch in page.chars:
            _, cx, cy, _ = ch
            if x_lo <= cx <= x_hi and bottom <= cy <= top:
                table_chars.append(ch)
            else:
                loose.append(ch)
    above = [ch for ch in loose if not ys or ch[2] > ys[0]]
    below = [ch for ch in loose if ys and ch[2] <= ys[0]]
    for line in _lines(above):
        pr.rows.append([line] + [""] * (width - 1))
        pr.table.append(False)
    if len(ys) >= 2:
        first = len(pr.rows)
        rows, merges, open_top, open_bottom = _table(page, table_chars, xs, ys, neg, width)
        for cells in rows:
            pr.rows.append(cells)
            pr.table.append(True)
        pr.merges = [(r0 + first, c0, r1 + first, c1) for r0, c0, r1, c1 in merges]
        if rows:
            pr.first_table, pr.last_table = first, first + len(rows) - 1
            pr.open_top, pr.open_bottom = open_top, open_bottom
    for line in _lines(below):
        pr.rows.append([line] + [""] * (width - 1))
        pr.table.append(False)
    return pr


def _lines(chars) -> list[str]:
    """Loose text as lines, top-down."""
    if not chars:
        return []
    out, line, y = [], [], None
    for ch in sorted(chars, key=lambda c: -c[2]):
        if y is not None and abs(ch[2] - y) > max(ch[3], 2.0) / 2:
            out.append(line)
            line = []
        line.append(ch)
        y = ch[2]
    out.append(line)
    texts = ["".join(c[0] for c in sorted(ln, key=lambda c: c[1])).strip(STRIP) for ln in out]
    return [fold(t) for t in texts if t]


def _table(page: Page, chars, xs: list[float], ys: list[float], neg: list[float], width: int):
    nrows, ncols = len(ys) - 1, width
    # rules per boundary
    h_at: dict[int, list[tuple[float, float]]] = {}
    for y, x0, x1 in page.hs:
        i = _snap(-y, neg)
        if i is not None:
            h_at.setdefault(i, []).append((x0 - TOL, x1 + TOL))
    v_at: dict[int, list[tuple[float, float]]] = {}
    for x, y0, y1 in page.vs:
        j = _snap(x, xs)
        if j is not None:
            v_at.setdefault(j, []).append((y0 - TOL, y1 + TOL))
    mid_x = [(xs[c] + xs[c + 1]) / 2 for c in range(ncols)]
    mid_y = [(ys[r] + ys[r + 1]) / 2 for r in range(nrows)]
    # h[i][c]: a rule at row boundary i crosses the middle of column c; v[j][r] likewise
    h = [_covered(h_at.get(i), mid_x) for i in range(nrows + 1)]
    v = [_covered(v_at.get(j), mid_y) for j in range(ncols + 1)]

    def h_rule(i: int, c: int) -> bool:
        return h[i][c]

    def v_rule(j: int, r: int) -> bool:
        return v[j][r]

    parent = list(range(nrows * ncols))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the root stays the top-left cell

    for r in range(nrows):
        for c in range(ncols):
            if c + 1 < ncols and not v_rule(c + 1, r):
                union(r * ncols + c, r * ncols + c + 1)
            if r + 1 < nrows and not h_rule(r + 1, c):
                union(r * ncols + c, (r + 1) * ncols + c)
    open_top = not any(h_rule(0, c) for c in range(ncols))
    open_bottom = not any(h_rule(nrows, c) for c in range(ncols))

    texts: dict[int, list] = {}
    for ch in chars:
        c = min(max(bisect_right(xs, ch[1]) - 1, 0), ncols - 1)
        r = min(max(bisect_right(neg, -ch[2]) - 1, 0), nrows - 1)
        texts.setdefault(find(r * ncols + c), []).append(ch)
    rows = [[""] * ncols for _ in range(nrows)]
    for root, cs in texts.items():
        r, c = divmod(root, ncols)
        rows[r][c] = _cell_text(cs)
    spans: dict[int, list[int]] = {}
    for k in range(nrows * ncols):
        root = find(k)
        r, c = divmod(k, ncols)
        s = spans.setdefault(root, [r, c, r, c])
        s[2], s[3] = max(s[2], r), max(s[3], c)
    merges = [tuple(s) for s in spans.values() if s[2] > s[0] or s[3] > s[1]]
    # rows without any cell of their own and without text (a sliver between two close rules) go
    return rows, merges, open_top, open_bottom


def _covered(intervals, points: list[float]) -> list[bool]:
    """Per point, whether one of the intervals holds it."""
    if not intervals:
        return [False] * len(points)
    merged: list[list[float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    starts = [a for a, _ in merged]
    out = []
    for x in points:
        i = bisect_right(starts, x) - 1
        out.append(i >= 0 and x <= merged[i][1])
    return out


def _cell_text(chars) -> str:
    """A cell's characters in reading order; the lines of a wrapped cell joined without a break."""
    lines: list[list] = []
    y = None
    for ch in sorted(chars, key=lambda c: -c[2]):
        if y is None or abs(ch[2] - y) > max(ch[3], 2.0) / 2:
            lines.append([])
            y = ch[2]
        lines[-1].append(ch)
    return fold("".join(c[0] for ln in lines for c in sorted(ln, key=lambda c: c[1])))
