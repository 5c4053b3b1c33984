"""PDF: the printed form's quirks each read back to the form's grid, the real sample printed as PDF reads as
its text export, and PDFs that cannot be read are refused with their reason."""
import io
import random
import re

import pypdfium2 as pdfium
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

import pifu
from pifu.generate import generate_document
from pifu.generate.form import Cell, Form, build_form, grid_of
from pifu.generate.render import pdf as render_pdf
from pifu.model import DocumentError
from pifu.readers import read as read_sheet
from pifu.readers.pdf import fold, read
from test_roundtrip import canonical


# ----------------------------------------------------------------------------------------------- helpers

def form_of(doc) -> Form:
    """The form a document was printed from (the inverse of layout, for the sample)."""
    fy = doc.fiscal_year

    def amount(line) -> Cell:  # the sample's 财政拨款 row states no history (its year header shares the row)
        return Cell(format(line.amount, "f"), kind="amount", number=line.amount) if line else Cell("", kind="amount")

    funding = []
    for flow in ("income", "expenditure"):
        items = list(dict.fromkeys(f.item for f in doc.funding if f.flow == flow))
        for item in items:
            by_year = {f.year: f for f in doc.funding if f.flow == flow and f.item == item}
            share = by_year[fy].share_pct
            funding.append((flow, item, amount(by_year[fy]), Cell(f"{share}%", kind="share", number=share),
                            amount(by_year.get(fy - 2)), amount(by_year.get(fy - 1))))
    long_term = [(i.lv1, i.lv2, i.lv3, i.raw, i.basis, i.category) for i in doc.indicators if i.horizon == "long_term"]
    annual: dict[tuple, dict] = {}
    for i in doc.indicators:
        if i.horizon == "annual":
            annual.setdefault((i.lv1, i.lv2, i.lv3), {"basis": i.basis, "category": i.category})[i.year] = i.raw
    annual_rows = [(*k, [v.get(y, "") for y in (fy - 2, fy - 1, fy)], v["basis"], v["category"])
                   for k, v in annual.items()]
    return build_form(f"{fy}年部门整体绩效目标批复", doc.department, fy, funding, doc.texts, long_term, annual_rows)


def rendered(seed: int, **kw):
    """A generated document as PDF, with the form it was drawn from."""
    seen = {}
    original = render_pdf.render

    def spy(form, rng, damage):
        seen["form"] = form
        return original(form, rng, damage, **kw)

    render_pdf.render, saved = spy, render_pdf.render
    try:
        data, truth = generate_document(random.Random(f"pdf-test:{seed}"), 0.0, fmt="pdf")
    finally:
        render_pdf.render = saved
    return data, truth, seen["form"]


def body(grid):
    """Non-empty rows from the form's title on (a cover letter stands before it)."""
    rows = [r for r in grid if any(r)]
    title = next(i for i, r in enumerate(rows) if re.fullmatch(r"\d{4}年部门整体绩效目标批复", r[0]))
    return rows[title:]


@pytest.fixture(scope="module")
def corpus():
    """Rendered documents until every quirk has shown up at least twice (deterministic seeds)."""
    docs, counts = [], {}
    for seed in range(400):
        data, truth, form = rendered(seed)
        docs.append((data, truth, form))
        for d in truth["damage"]:
            counts[d] = counts.get(d, 0) + 1
        if len(docs) >= 30 and all(counts.get(q, 0) >= 2 for q in QUIRKS):
            break
    return docs


QUIRKS = ("header_repeated", "group_split", "cell_cut", "text_split", "cover_page", "page_numbers",
          "radical_glyphs", "rules_as_rects")


def with_quirk(corpus, quirk):
    found = [(d, t, f) for d, t, f in corpus if quirk in t["damage"]]
    assert found, f"no rendered document has {quirk}"
    return found


# ----------------------------------------------------------------------------------------------- quirks

@pytest.mark.parametrize("quirk", QUIRKS)
def test_each_print_quirk_reads_back_as_the_form_grid(corpus, quirk):
    for data, truth, form in with_quirk(corpus, quirk):
        sheet = read(data, "x.pdf")
        assert body(sheet.grid) == [r for r in grid_of(form) if any(r)], truth["damage"]


def test_repeated_column_headers_are_dropped(corpus):
    for data, truth, form in with_quirk(corpus, "header_repeated"):
        pages = len(pdfium.PdfDocument(data))
        raw = "".join(pdfium.PdfDocument(data)[i].get_textpage().get_text_range() for i in range(pages))
        grid = read(data, "x.pdf").grid
        # printed more often than it is in the form, read once per table
        assert raw.count("一级指标") > 2
        assert sum(1 for row in grid for t in row if t == "一级指标") == 2


def test_a_group_split_by_a_page_break_keeps_its_label_on_the_first_page(corpus):
    for data, truth, form in with_quirk(corpus, "group_split"):
        sheet = read(data, "x.pdf")
        pages = {int(re.match(r"page (\d+) row \d+$", o).group(1)) for o in sheet.origins}
        assert len(pages) >= 2
        assert body(sheet.grid) == [r for r in grid_of(form) if any(r)]
        doc = pifu.parse_bytes(data, "x.pdf")
        assert canonical(doc.to_dict()) == canonical(truth)


def test_a_paragraph_cut_across_a_page_is_one_cell(corpus):
    for data, truth, form in with_quirk(corpus, "text_split"):
        grid = read(data, "x.pdf").grid
        texts = [c.text for row in form.rows for c in row if c is not None and c.kind == "text"]
        cells = {t for row in grid for t in row}
        assert all(t in cells for t in texts if t)


def test_a_cell_cut_at_the_foot_of_the_page_without_its_bottom_rule_is_read():
    """Rows 2-3: column 1 (a merged label) has no rule below it, column 3 has no bottom rule at all;
    the vertical rules and the text still bound them."""
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    render_pdf._font()
    pdf.setFont(render_pdf.FONT, 9)
    xs, ys = [50, 150, 250, 350], [700, 680, 660, 640]
    for y in ys[:2]:
        pdf.line(xs[0], y, xs[-1], y)
    pdf.line(xs[1], ys[2], xs[3], ys[2])  # between rows 2 and 3 in columns 2 and 3
    pdf.line(xs[1], ys[3], xs[2], ys[3])  # bottom rule only under column 2
    for x in xs:
        pdf.line(x, ys[-1], x, ys[0])
    for c, t in enumerate(("一级指标", "二级指标", "三级指标")):
        pdf.drawString(xs[c] + 5, 686, t)
    pdf.drawString(xs[0] + 5, 666, "运行成本")
    pdf.drawString(xs[1] + 5, 666, "甲")
    pdf.drawString(xs[1] + 5, 646, "乙")
    pdf.drawString(xs[2] + 5, 646, "丙丙")
    pdf.showPage()
    pdf.save()
    grid = read(out.getvalue(), "x.pdf").grid
    assert grid == [["一级指标", "二级指标", "三级指标"], ["运行成本", "甲", ""], ["", "乙", "丙丙"]]


def _two_pages(first: list[list[str]], second: list[list[str]]) -> bytes:
    """Two pages with one ruled table each, every row closed by rules (as Writer prints a row split by a
    page break: rules on both sides of the break); a cell's lines are drawn from its left padding."""
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    render_pdf._font()
    xs = [50, 100, 200, 300]  # columns 50, 100 and 100 points wide; 9 pt ideographs, 5 pt padding
    for rows in (first, second):
        pdf.setFont(render_pdf.FONT, 9)
        ys = [780 - 40 * r for r in range(len(rows) + 1)]
        for y in ys:
            pdf.line(xs[0], y, xs[-1], y)
        for x in xs:
            pdf.line(x, ys[-1], x, ys[0])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                for k, line in enumerate(text.split("/") if text else []):
                    pdf.drawString(xs[c] + 5, ys[r] - 12 - 11 * k, line)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def test_a_row_split_by_a_page_break_with_rules_on_both_sides_is_one_row():
    """Writer closes both parts of a row that breaks across pages with rules; the part on the next page
    has text only where the lines above ran to the cell's right edge (wrapped lines that go on)."""
    full = "一二三四五六七八九十"  # 90 pt: the whole width of a 100 pt column less its padding
    data = _two_pages([["序号", "名称", "说明"], ["1", full, "甲乙/" + full]],
                      [["", "十一", "丙丁"], ["2", "下一行", "短"]])
    grid = read(data, "x.pdf").grid
    assert grid == [["序号", "名称", "说明"], ["1", full + "十一", "甲乙" + full + "丙丁"], ["2", "下一行", "短"]]
    # a row whose text stopped short of the edge is a row of its own, and so is one with text in a column
    # that ended on the page before
    for second in ([["", "十一", "丙丁"]], [["3", "十一", "丙丁"]]):
        first = [["序号", "名称", "说明"], ["1", full, "短行"]] if second[0][0] == "" else \
            [["序号", "名称", "说明"], ["1", full, full]]
        grid = read(_two_pages(first, second), "x.pdf").grid
        assert len(grid) == 3 and grid[2] == second[0]
    # a character with the punctuation after it (which may not start a line) wraps as one: room for one
    # character is not room for both, but room for three is
    nine, seven = full[:9], full[:7]
    grid = read(_two_pages([["1", nine, ""]], [["", "十，完", ""]]), "x.pdf").grid
    assert grid == [["1", nine + "十，完", ""]]
    grid = read(_two_pages([["1", seven, ""]], [["", "十，完", ""]]), "x.pdf").grid
    assert grid == [["1", seven, ""], ["", "十，完", ""]]


def test_a_wrapped_label_is_one_cell():
    label = "三级指标名称很长需要在单元格里换行才能放下"
    assert len(render_pdf.wrap(label, render_pdf.COLS[3] - 2 * render_pdf.PAD)) >= 2
    form = build_form("2025年部门整体绩效目标批复", "某部门", 2025,
                      [("income", "合计", Cell("1", kind="amount"), Cell("100%", kind="share"),
                        Cell("1", kind="amount"), Cell("1", kind="amount"))],
                      {"functions": ["职能"], "annual_tasks": ["任务"], "long_term_goal": ["目标"], "annual_goal": ["目标"]},
                      [("产出指标", "数量指标", label, "≥23人", "计划标准", "绩效基本型")],
                      [("产出指标", "数量指标", label, ["1", "2", "3"], "计划标准", "绩效基本型")])
    data, _ = render_pdf.render(form, random.Random(1), set())
    grid = read(data, "x.pdf").grid
    assert sum(row.count(label) for row in grid) == 2
    assert body(grid) == [r for r in grid_of(form) if any(r)]


def test_radical_code_points_are_folded_back():
    assert fold("⼈⼒资源和社会保障局⻔户⺠⽣") == "人力资源和社会保障局门户民生"
    assert fold("≥２３人 ９９．５％") == "≥２３人 ９９．５％"  # nothing else is normalized
    data, truth, form = rendered(7, radicals=1.0)
    assert "radical_glyphs" in truth["damage"]
    page = pdfium.PdfDocument(data)[0]
    raw = page.get_textpage().get_text_range()
    assert any(0x2E80 <= ord(ch) <= 0x2FD5 for ch in raw), "the text layer holds radicals"
    grid = read(data, "x.pdf").grid
    assert not any(0x2E80 <= ord(ch) <= 0x2FD5 for row in grid for t in row for ch in t)
    assert body(grid) == [r for r in grid_of(form) if any(r)]


def test_origins_name_page_and_row(corpus):
    data, truth, form = with_quirk(corpus, "header_repeated")[0]
    sheet = read_sheet(data, "x.pdf")
    assert sheet.format == "pdf" and len(sheet.origins) == len(sheet.grid)
    assert all(re.fullmatch(r"page \d+ row \d+", o) for o in sheet.origins)
    assert sheet.where(len(sheet.grid), 3) == sheet.origins[-1] + " col 4"
    assert sheet.origins[0].startswith("page 1 ") and not sheet.origins[-1].startswith("page 1 ")
    # merged labels are reported as merges in grid coordinates
    assert any(r1 > r0 for r0, c0, r1, c1 in sheet.merges)
    for r0, c0, r1, c1 in sheet.merges:
        assert sheet.grid[r0][c0] or all(not sheet.grid[r][c] for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))


# ----------------------------------------------------------------------------------------------- the sample

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_sample_printed_as_pdf_reads_as_its_text_export(sample_path, seed):
    text_doc = pifu.parse(sample_path)
    form = form_of(text_doc)
    damage: set[str] = set()
    data, suffix = render_pdf.render(form, random.Random(seed), damage)
    assert suffix == ".pdf"
    pdf_doc = pifu.parse_bytes(data, "ezhou.pdf")
    assert pdf_doc.source.format == "pdf"
    assert canonical(pdf_doc.to_dict()) == canonical(text_doc.to_dict()), damage
    assert not any(p.where.startswith("line ") for p in pdf_doc.problems)


# ----------------------------------------------------------------------------------------------- refused

def _reason(data: bytes) -> str:
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(data, "x.pdf")
    assert "\n" not in str(e.value)
    return e.value.reason


def test_a_scanned_pdf_has_no_text_layer():
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    image = Image.new("L", (200, 100), 255)
    image.paste(0, (20, 20, 180, 30))  # a ruled line on a "scan"
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    pdf.drawImage(ImageReader(image), 50, 500, 400, 200)
    pdf.showPage()
    pdf.save()
    assert _reason(out.getvalue()) == "no_text_layer"


def test_a_password_protected_pdf_is_refused():
    data, _, form = rendered(3)
    locked, _ = render_pdf.render(form, random.Random(3), set(), encrypt="secret")
    assert b"/Encrypt" in locked
    assert _reason(locked) == "encrypted"


def _minimal_pdf(content: bytes, fonts: list[bytes]) -> bytes:
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
            b"/Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream", *fonts]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def test_glyphs_without_unicode_are_refused():
    """A Type0 font (Identity-H) without ToUnicode: pdfminer reads it as (cid:18)(cid:52)…"""
    type0 = (b"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /Identity-H /DescendantFonts [6 0 R] >>")
    cid = (b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /CIDSystemInfo << /Registry (Adobe) "
           b"/Ordering (Identity) /Supplement 0 >> /DW 1000 >>")
    rows = b"".join(b"BT /F1 12 Tf 50 %d Td <0012003400560078009a0bcd> Tj ET\n" % (800 - 20 * i) for i in range(20))
    assert _reason(_minimal_pdf(rows, [type0, cid])) == "unmapped_glyphs"


def test_damaged_pdfs_are_refused_with_a_reason():
    data, _, _ = rendered(5)
    assert _reason(b"%PDF-1.7\n" + bytes(range(256)) * 4) == "unreadable"
    rng = random.Random(0)
    for cut in (len(data) // 3, len(data) // 2, len(data) - 200):
        try:
            pifu.parse_bytes(data[:cut], "x.pdf")
        except DocumentError as e:
            assert e.reason in ("unreadable", "truncated", "no_text_layer", "not_a_document")
    for _ in range(10):  # flipped bytes: read, or refused with a reason, never another exception
        broken = bytearray(data)
        for _ in range(20):
            broken[rng.randrange(200, len(broken))] = rng.randrange(256)
        try:
            pifu.parse_bytes(bytes(broken), "x.pdf")
        except DocumentError as e:
            assert e.reason


def test_the_rendered_form_spans_pages_with_real_rules(corpus):
    data, truth, form = corpus[0]
    doc = pdfium.PdfDocument(data)
    assert 2 <= len(doc) <= 4
    assert doc[0].get_size() == pytest.approx(A4, abs=1)
    paths = [o for o in doc[len(doc) - 1].get_objects() if o.type == pdfium.raw.FPDF_PAGEOBJ_PATH]
    assert paths


# ----------------------------------------------------------------------------------------------- extraction

def test_path_points_read_at_once_equal_pdfiums_answers_per_segment(corpus, monkeypatch):
    from pifu.readers import pdf

    R = pdfium.raw
    seen = 0
    for data, _, _ in corpus[:3]:
        doc = pdfium.PdfDocument(data)
        for page in doc:
            for obj in page.get_objects():
                n = R.FPDFPath_CountSegments(obj.raw) if obj.type == R.FPDF_PAGEOBJ_PATH else 0
                if n:  # the page's big stroked path, and thin lines and rectangles of 2 and 5 segments
                    seen += n > 5
                    one_by_one = [pdf._point(R, obj.raw, j) for j in range(n)]
                    calls = []
                    monkeypatch.setattr(pdf, "_point", lambda *a: calls.append(a) or one_by_one[a[2]])
                    assert pdf._points(R, obj.raw, n) == one_by_one
                    assert len(calls) <= 3  # the check, not a call per segment
                    monkeypatch.undo()
                    # a point laid out otherwise than PDFium's: the check falls back to one call per value
                    monkeypatch.setattr(pdf, "_POINT", __import__("struct").Struct("=ffBBxxxx"))
                    assert pdf._points(R, obj.raw, n) == one_by_one
                    monkeypatch.undo()
    assert seen


def test_suspect_characters_are_whitespace_and_code_points_no_text_holds():
    from pifu.readers.pdf import _SUSPECT, _bad

    for cp in range(0x110000):
        ch = chr(cp)
        assert bool(_SUSPECT.match(ch)) == (ch.isspace() or _bad(cp)), hex(cp)


def test_kept_characters_follow_the_rule_character_by_character():
    from pifu.readers.pdf import _bad, _kept

    def one_by_one(text, generated, errors, found):
        keep, bad = [], 0
        for i, ch in enumerate(text):
            if ch in "\r\n" and generated[i]:
                continue
            if _bad(ord(ch)) or errors[i] == 1:
                bad += 1
                continue
            if ch.isspace() and generated[i]:
                continue
            if found[i]:
                keep.append(i)
        return keep, bad

    rng = random.Random(4)
    alphabet = "部门a1 \r\n\t\u3000\x07\ue001\ufffd\U000f0001，"
    for _ in range(300):
        n = rng.randrange(0, 40)
        text = "".join(rng.choice(alphabet) for _ in range(n))
        generated = [rng.random() < 0.5 for _ in range(n)]
        errors = [rng.choice((-1, 0, 0, 0, 1)) for _ in range(n)]
        found = [int(rng.random() < 0.9) for _ in range(n)]
        keep, bad = _kept(lambda tp, i: generated[i], None, text, errors, found)
        kept = list(range(n)) if keep is None else [i for i in range(n) if keep[i]]
        assert (kept, bad) == one_by_one(text, generated, errors, found)


# ----------------------------------------------------------------------------------------------- the grid

def _reference_lines(chars):
    """A cell's lines walked character by character (the rule `_cell_lines` keeps)."""
    lines, y = [], None
    for ch in sorted(chars, key=lambda c: -c[2]):
        if y is None or abs(ch[2] - y) > max(ch[3], 2.0) / 2:
            lines.append([])
            y = ch[2]
        lines[-1].append(ch)
    return [sorted(ln, key=lambda c: c[1]) for ln in lines]


def test_cell_lines_follow_the_line_walk():
    from pifu.readers.pdf import _cell_lines

    rng = random.Random(5)
    nan = float("nan")
    for _ in range(2000):
        n = rng.randrange(1, 12)
        base = rng.choice((700.0, 100.5))
        chars = [(str(i), rng.choice((10.0, 20.0, 20.0, 31.5, nan)) if rng.random() < 0.3 else 10.0 + i,
                  base + rng.choice((0.0, 0.0, 0.4, -0.6, 3.0, -7.0, 12.0, nan)) * (rng.random() < 0.5),
                  rng.choice((12.0, 1.0, 5.0, nan)), 10.0) for i in range(n)]
        assert _cell_lines(chars) == _reference_lines(chars)  # tuples hold the same float objects


def test_merged_cells_and_characters_by_cell_follow_the_cell_by_cell_rule():
    from bisect import bisect_right

    from pifu.readers.pdf import _by_cell, _roots, _spans

    rng = random.Random(6)
    for _ in range(300):
        nrows, ncols = rng.randrange(1, 7), rng.randrange(1, 6)
        h = [[rng.random() < 0.7 for _ in range(ncols)] for _ in range(nrows + 1)]
        v = [[rng.random() < 0.7 for _ in range(nrows)] for _ in range(ncols + 1)]
        parent = list(range(nrows * ncols))

        def find(k):
            while parent[k] != k:
                k = parent[k]
            return k

        def union(a, b):
            ra, rb = find(a), find(b)
            parent[max(ra, rb)] = min(ra, rb)

        for r in range(nrows):
            for c in range(ncols):
                if c + 1 < ncols and not v[c + 1][r]:
                    union(r * ncols + c, r * ncols + c + 1)
                if r + 1 < nrows and not h[r + 1][c]:
                    union(r * ncols + c, (r + 1) * ncols + c)
        roots = [find(k) for k in range(nrows * ncols)]
        assert _roots(h, v, nrows, ncols) == roots
        spans = {}
        for k, root in enumerate(roots):
            s = spans.setdefault(root, [*divmod(root, ncols)] * 2)
            s[2], s[3] = max(s[2], k // ncols), max(s[3], k % ncols)
        assert _spans(roots, ncols) == {k: s for k, s in spans.items() if s[2] > s[0] or s[3] > s[1]}
        xs = sorted(rng.sample(range(0, 500, 10), ncols + 1))
        neg = sorted(-y for y in rng.sample(range(0, 800, 10), nrows + 1))
        chars = [(str(i), rng.uniform(-20, 520), rng.uniform(-20, 820), 10.0, 10.0) for i in range(40)]
        chars += [(str(i), float(rng.choice(xs)), -float(rng.choice(neg)), 10.0, 10.0) for i in range(10)]
        texts = {}
        for ch in chars:
            c = min(max(bisect_right(xs, ch[1]) - 1, 0), ncols - 1)
            r = min(max(bisect_right(neg, -ch[2]) - 1, 0), nrows - 1)
            texts.setdefault(roots[r * ncols + c], []).append(ch)
        got = _by_cell(chars, xs, neg, roots, ncols)
        assert list(got.items()) == list(texts.items())


def test_rules_snap_to_their_boundary_once_per_place():
    from pifu.readers.pdf import TOL, _at, _snap

    rng = random.Random(7)
    bounds = [0.0, 50.0, 120.5, 300.0]
    for _ in range(200):
        rules = [(rng.choice((0.0, -0.0, 1.5, 49.0, 51.9, 52.5, 120.0, 299.0, 400.0, float("nan"))),
                  rng.uniform(0, 100), rng.uniform(100, 200)) for _ in range(rng.randrange(0, 20))]
        at = {}
        for y, a, b in rules:
            i = _snap(y, bounds)
            if i is not None:
                at.setdefault(i, []).append((a - TOL, b + TOL))
        assert _at(rules, [y for y, _, _ in rules], bounds) == at


def test_fold_looks_for_every_code_point_it_changes():
    from pifu.readers.pdf import _FOLDED, FOLD

    for cp in range(0x110000):
        ch = chr(cp)
        assert bool(_FOLDED.match(ch)) == (ch.translate(FOLD) != ch), hex(cp)
    assert fold("⼈员⻔户 and text") == "人员门户 and text"


def test_path_points_read_at_once_carry_types_and_close_flags():
    from pifu.readers import pdf

    R = pdfium.raw
    doc = pdfium.PdfDocument.new()
    doc.new_page(200, 200)
    obj = R.FPDFPageObj_CreateNewPath(10, 20)
    assert pdf._points(R, obj, 1) == [(10.0, 20.0, R.FPDF_SEGMENT_MOVETO, 0)]
    R.FPDFPath_LineTo(obj, 30, 20)
    R.FPDFPath_BezierTo(obj, 31, 21, 32, 22, 33, 23)
    R.FPDFPath_Close(obj)
    R.FPDFPath_MoveTo(obj, 50, 60)
    R.FPDFPath_LineTo(obj, 50, 90)
    R.FPDFPath_Close(obj)
    R.FPDFPath_MoveTo(obj, 70, 70)
    R.FPDFPath_LineTo(obj, 80, 70)
    n = R.FPDFPath_CountSegments(obj)
    points = pdf._points(R, obj, n)
    assert points == [pdf._point(R, obj, j) for j in range(n)]
    assert [p[3] for p in points].count(1) == 2
    R.FPDFPageObj_Destroy(obj)
