"""Word .docx: the form's tables on their grid (gridSpan, vMerge, gridBefore), joined over several tables
in document order, paragraphs around them as one-cell rows; the sample rendered as .docx reads back as
its text export."""
import io
import random
import zipfile
from collections import defaultdict

import pytest
from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

import pifu
from pifu.generate.form import Cell, build_form, grid_of
from pifu.generate.render import docx as render_docx
from pifu.model import DocumentError
from pifu.readers import MAX_CELLS, read
from pifu.readers import docx as docx_reader
from test_roundtrip import canonical

W = nsdecls("w")


def docx_of(body: str) -> bytes:
    """A real .docx (python-docx's package) whose body holds `body` (WordprocessingML, w: prefix)."""
    doc = Document()
    target = doc.element.body
    for el in parse_xml(f"<w:body {W}>{body}</w:body>"):
        target.insert(len(target) - 1, el)  # before the section properties
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def p(text: str = "") -> str:
    return f"<w:p><w:r><w:t xml:space='preserve'>{text}</w:t></w:r></w:p>" if text else "<w:p/>"


def tc(text: str = "", span: int = 1, vmerge: str | None = None, body: str | None = None) -> str:
    pr = (f"<w:gridSpan w:val='{span}'/>" if span > 1 else "") + (
        "" if vmerge is None else "<w:vMerge w:val='restart'/>" if vmerge == "restart" else "<w:vMerge/>")
    return f"<w:tc><w:tcPr><w:tcW w:w='900' w:type='dxa'/>{pr}</w:tcPr>{body if body is not None else p(text)}</w:tc>"


def tr(*cells: str, before: int = 0) -> str:
    pr = f"<w:trPr><w:gridBefore w:val='{before}'/></w:trPr>" if before else ""
    return f"<w:tr>{pr}{''.join(cells)}</w:tr>"


def tbl(columns: int, *rows: str) -> str:
    grid = "".join("<w:gridCol w:w='900'/>" for _ in range(columns))
    return f"<w:tbl><w:tblPr><w:tblW w:w='0' w:type='auto'/></w:tblPr><w:tblGrid>{grid}</w:tblGrid>{''.join(rows)}</w:tbl>"


def test_vertical_merges_leave_their_covered_cells_empty_and_are_recorded():
    data = docx_of(tbl(
        4,
        tr(tc("长期绩效指标", vmerge="restart"), tc("运行成本", vmerge="restart"), tc("公用经费控制率"), tc("100%")),
        tr(tc(vmerge="continue"), tc(vmerge="continue"), tc("会议费控制率"), tc("≤100%")),
        tr(tc(vmerge="continue"), tc("管理效率"), tc("预算执行率"), tc("100%")),
    ))
    sheet = read(data, "v.docx")
    assert sheet.format == "docx" and sheet.encoding is None
    assert sheet.grid == [["长期绩效指标", "运行成本", "公用经费控制率", "100%"],
                          ["", "", "会议费控制率", "≤100%"],
                          ["", "管理效率", "预算执行率", "100%"]]
    assert set(sheet.merges) == {(0, 0, 2, 0), (0, 1, 1, 1)}
    assert sheet.origins == ("table 1 row 1", "table 1 row 2", "table 1 row 3")
    assert sheet.where(2, 3) == "table 1 row 2 col 4"


def test_spans_and_skipped_columns_place_cells_on_the_table_grid():
    data = docx_of(tbl(
        9,
        tr(tc("年度绩效指标", vmerge="restart"), tc("一级指标"), tc("二级指标"), tc("三级指标"),
           tc("指标值", span=3), tc("指标值确定依据"), tc("指标分类")),
        tr(tc("近两年指标值", span=2), tc("预期当年实现值"), before=4),  # a row that starts at column 5
        tr(tc(vmerge="continue"), tc("2023年", span=3), tc("x", span=2), tc("y"), tc("z"), tc("w")),
    ))
    sheet = read(data, "s.docx")
    assert sheet.grid == [["年度绩效指标", "一级指标", "二级指标", "三级指标", "指标值", "", "", "指标值确定依据", "指标分类"],
                          ["", "", "", "", "近两年指标值", "", "预期当年实现值", "", ""],
                          ["", "2023年", "", "", "x", "", "y", "z", "w"]]
    # a row without a cell in column 1 (gridBefore) ends the vertical merge there, as Word draws it: the
    # continuation below has nothing to continue and stands alone
    assert set(sheet.merges) == {(0, 4, 0, 6), (1, 4, 1, 5), (2, 1, 2, 3), (2, 4, 2, 5)}


def test_python_docx_merges_read_back():
    doc = Document()
    table = doc.add_table(rows=3, cols=3)
    table.cell(0, 0).merge(table.cell(2, 0)).text = "部门总体资金情况"
    table.cell(0, 1).merge(table.cell(0, 2)).text = "总体资金情况"
    table.cell(1, 1).text, table.cell(1, 2).text = "收入构成", "财政拨款"
    out = io.BytesIO()
    doc.save(out)
    sheet = read(out.getvalue(), "m.docx")
    assert sheet.grid == [["部门总体资金情况", "总体资金情况", ""], ["", "收入构成", "财政拨款"], ["", "", ""]]
    assert set(sheet.merges) == {(0, 0, 2, 0), (0, 1, 0, 2)}


def test_a_form_over_three_tables_with_paragraphs_around_them():
    data = docx_of(
        p("附件1") + p() + p("2025年部门整体绩效目标批复")
        + tbl(2, tr(tc("部门（单位）名称"), tc("鄂州市总工会")))
        + p()  # Word needs a paragraph between two tables
        + tbl(3, tr(tc("长期绩效指标", vmerge="restart"), tc("运行成本"), tc("100%")),
              tr(tc(vmerge="continue"), tc("管理效率"), tc("合理")))
        + p("（续表）")
        + tbl(3, tr(tc(vmerge="restart"), tc("产出指标"), tc("≥23人")),
              tr(tc(vmerge="continue"), tc("效益指标"), tc("明显")))
        + p("注：本表金额单位为万元。") + p("鄂州市财政局")
    )
    sheet = read(data, "three.docx")
    assert sheet.grid == [["附件1"], ["2025年部门整体绩效目标批复"], ["部门（单位）名称", "鄂州市总工会"],
                          ["长期绩效指标", "运行成本", "100%"], ["", "管理效率", "合理"],
                          ["", "产出指标", "≥23人"], ["", "效益指标", "明显"]]
    assert sheet.origins == ("paragraph 1", "paragraph 3", "table 1 row 1", "table 2 row 1", "table 2 row 2",
                             "table 3 row 1", "table 3 row 2")
    # a vertical merge never crosses a table: each table's part is its own merge
    assert set(sheet.merges) == {(3, 0, 4, 0), (5, 0, 6, 0)}


def test_cover_page_then_the_form_and_the_year_is_found(sample_path):
    text_doc = pifu.parse(sample_path)
    form = _sample_form(text_doc)
    rng = _rng_drawing(form, "cover_page")
    data, suffix = render_docx.render(form, rng, damage := set())
    assert suffix == ".docx" and "cover_page" in damage
    sheet = read(data, "c.docx")
    assert sheet.grid[0] == ["2025年部门整体绩效目标批复"] and sheet.origins[0].startswith("paragraph ")
    assert pifu.parse_bytes(data, "c.docx").fiscal_year == 2025


def test_a_hand_built_cover_page_is_preamble():
    """Title, department and date on a cover page ended by a page break (or a section break), then the form."""
    page_break = "<w:p><w:r><w:t>2025年3月10日</w:t></w:r><w:r><w:br w:type='page'/></w:r></w:p>"
    section_break = "<w:p><w:pPr><w:sectPr><w:type w:val='nextPage'/></w:sectPr></w:pPr></w:p>"
    for brk in (page_break, p("2025年3月10日") + section_break):
        data = docx_of(p() + p("2025年部门整体绩效目标批复") + p("编制单位：鄂州市总工会") + brk
                       + p("2025年部门整体绩效目标批复")
                       + tbl(2, tr(tc("部门（单位）名称"), tc("鄂州市总工会"))))
        sheet = read(data, "cover.docx")
        assert sheet.grid == [["2025年部门整体绩效目标批复"], ["编制单位：鄂州市总工会"], ["2025年3月10日"],
                              ["2025年部门整体绩效目标批复"], ["部门（单位）名称", "鄂州市总工会"]]
        assert sheet.origins[:3] == ("paragraph 2", "paragraph 3", "paragraph 4")


def test_cell_text_from_paragraphs_runs_tabs_and_breaks():
    rich = (
        "<w:p><w:pPr><w:tabs><w:tab w:val='left' w:pos='420'/></w:tabs></w:pPr>"
        "<w:r><w:rPr><w:b/></w:rPr><w:t>1. 持续</w:t></w:r><w:r><w:t>强化思想政治引领；</w:t></w:r></w:p>"
        "<w:p><w:r><w:tab/><w:t>2.</w:t><w:tab/><w:t>深化</w:t></w:r><w:r><w:br/><w:t>改革。</w:t></w:r>"
        "<w:r><w:br w:type='page'/></w:r>"
        "<w:del w:id='1' w:author='x'><w:r><w:delText>删掉的</w:delText></w:r></w:del>"
        "<w:r><w:fldChar w:fldCharType='begin'/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r>"
        "<w:r><w:fldChar w:fldCharType='end'/></w:r></w:p>"
        "<w:p/><w:p><w:r><w:t xml:space='preserve'>\u3000 </w:t></w:r></w:p>"
    )
    nested = tc(body=p("外") + tbl(1, tr(tc("内"))) + p("尾"))
    data = docx_of(tbl(3, tr(tc("年度工作任务"), tc(body=rich), nested)))
    sheet = read(data, "rich.docx")
    assert sheet.grid == [["年度工作任务", "1. 持续强化思想政治引领；\n2.\t深化\n改革。", "外\n内\n尾"]]
    # each paragraph is stripped (the leading tab is an indent); the tab between words stays
    assert sheet.origins == ("table 1 row 1",)  # the nested table's row is not a row of the form


def test_a_cell_with_several_pieces_of_text_is_read_again_with_its_paragraphs():
    # The table pass leaves paragraphs out and reads such a cell again: every text from the cell's start
    # to the next cell, row or the table's end, a new line where a paragraph starts (a text box's
    # paragraph inside a run too), however oddly placed the text is.
    box = ("<w:p><w:r><w:t>A</w:t><w:pict><w:txbxContent>" + p("B") + "<w:p/></w:txbxContent></w:pict>"
           "<w:t>C</w:t></w:r><w:r><w:t xml:space='preserve'> D</w:t></w:r></w:p>")
    data = docx_of(tbl(
        3,
        tr(tc(body=box), tc("x") + "<w:r><w:t>y</w:t></w:r>", tc("u") + p("v") + "<w:p><w:r><w:t>w</w:t></w:r></w:p>"),
        tr(tc(body=p("1") + "<w:p><w:r><w:t/></w:r></w:p>" + p("2")), tc("s"), tc("t")),
        "<w:p><w:r><w:t>after</w:t></w:r></w:p>"))
    assert read(data, "pieces.docx").grid == [["A\nB\nC D", "xy", "u\nv\nw"], ["1\n2", "s", "t\nafter"]]


def test_word_list_paragraphs_are_numbered_as_the_form_shows_them():
    def item(text: str, num_id: int = 5) -> str:
        return (f"<w:p><w:pPr><w:pStyle w:val='ListParagraph'/><w:numPr><w:ilvl w:val='0'/>"
                f"<w:numId w:val='{num_id}'/></w:numPr></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>")

    data = docx_of(tbl(5, tr(
        tc(body=item("领导全市工人运动；") + item("维护职工合法权益；") + item("参与调查研究。")),
        tc(body=item("只有一项")),  # one list paragraph: one item either way
        tc(body=item("1. 已有编号；") + item("2. 不再加。")),  # the numbers were typed as well
        tc(body=item("不是列表", num_id=0) + item("也不是", num_id=0)),  # numId 0 switches numbering off
        tc(body=p("说明") + item("甲；") + item("乙。")),
    )))
    assert read(data, "list.docx").grid == [[
        "1. 领导全市工人运动；\n2. 维护职工合法权益；\n3. 参与调查研究。", "只有一项", "1. 已有编号；\n2. 不再加。",
        "不是列表\n也不是", "说明\n1. 甲；\n2. 乙。"]]


def test_content_controls_and_tracked_row_deletions():
    data = docx_of(
        "<w:sdt><w:sdtPr/><w:sdtContent>" + p("2025年部门整体绩效目标批复") + "</w:sdtContent></w:sdt>"
        + tbl(2, tr(tc("a"), tc("b")),
              "<w:tr><w:trPr><w:del w:id='3' w:author='x'/></w:trPr>" + tc("gone") + tc("gone") + "</w:tr>",
              "<w:sdt><w:sdtContent>" + tr(tc("c"), "<w:sdt><w:sdtContent>" + tc("d") + "</w:sdtContent></w:sdt>")
              + "</w:sdtContent></w:sdt>"))
    sheet = read(data, "sdt.docx")
    assert sheet.grid == [["2025年部门整体绩效目标批复"], ["a", "b"], ["c", "d"]]
    assert sheet.origins[1:] == ("table 1 row 1", "table 1 row 3")


def test_strict_ooxml_is_read_like_transitional():
    strict = "http://purl.oclc.org/ooxml/wordprocessingml/main"
    body = p("2025年部门整体绩效目标批复") + tbl(3, tr(tc("长期绩效指标", vmerge="restart"), tc("运行成本", span=2)),
                                              tr(tc(vmerge="continue"), tc("a"), tc("b")))
    xml = f"<w:document xmlns:w='{strict}'><w:body>{body}</w:body></w:document>"
    sheet = read(_zip({"word/document.xml": xml.encode()}), "strict.docx")
    assert sheet.grid == [["2025年部门整体绩效目标批复"], ["长期绩效指标", "运行成本", ""], ["", "a", "b"]]
    assert set(sheet.merges) == {(1, 0, 2, 0), (1, 1, 1, 2)}


def test_a_document_without_a_form_is_refused():
    with pytest.raises(DocumentError) as e:
        read(docx_of(p("关于印发2025年部门预算的通知") + p("各单位：")), "letter.docx")
    assert e.value.reason == "not_a_document"
    with pytest.raises(DocumentError) as e:
        pifu.parse_bytes(docx_of(p("会议纪要") + tbl(2, tr(tc("姓名"), tc("单位")))), "minutes.docx")
    assert e.value.reason == "not_a_document"


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_damaged_packages_are_unreadable_not_tracebacks():
    for members in ({"word/document.xml": b"<w:document xmlns:w='x'><w:body>"},  # cut short
                    {"word/styles.xml": b"<x/>"},  # no main document
                    {"word/document.xml": b"<html><body/></html>"}):  # not WordprocessingML
        with pytest.raises(DocumentError) as e:
            read(_zip(members), "bad.docx")
        assert e.value.reason == "unreadable", members


def test_entities_and_dtds_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    xml = (f"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY inner 'EXPANDED'><!ENTITY file SYSTEM '{secret.as_uri()}'>]>"
           f"<w:document {W}><w:body>{p('2025年部门整体绩效目标批复')}"
           f"{tbl(2, tr(tc(body='<w:p><w:r><w:t>a&inner;b&file;c</w:t></w:r></w:p>'), tc('x')))}</w:body></w:document>")
    members = {"[Content_Types].xml": b"<Types/>", "word/document.xml": xml.encode()}
    try:
        sheet = read(_zip(members), "xxe.docx")
    except DocumentError as e:  # refusing the file is as good as not expanding
        assert "TOPSECRET" not in str(e)
        return
    cells = " ".join(c for row in sheet.grid for c in row)
    assert "EXPANDED" not in cells and "TOPSECRET" not in cells


def test_python_docx_parses_without_resolving_entities(tmp_path):
    """The renderer (and anyone reading parts with python-docx) relies on its parser staying safe."""
    from docx.oxml.parser import parse_xml as docx_parse

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    xml = f"<!DOCTYPE d [<!ENTITY e 'EXPANDED'><!ENTITY f SYSTEM '{secret.as_uri()}'>]><t>a&e;b&f;c</t>"
    text = "".join(docx_parse(xml.encode()).itertext())
    assert "EXPANDED" not in text and "TOPSECRET" not in text


def test_a_huge_span_is_refused_before_it_is_held():
    data = docx_of(tbl(1, tr(tc("x", span=10 ** 9))))
    with pytest.raises(DocumentError) as e:
        read(data, "wide.docx")
    assert e.value.reason == "too_large"
    rows = "".join(tr(tc("x", span=1000)) for _ in range(MAX_CELLS // 1000 + 2))
    with pytest.raises(DocumentError) as e:
        read(docx_of(tbl(1000, rows)), "tall.docx")
    assert e.value.reason == "too_large"


# ---------------------------------------------------------------- the real sample as .docx

def _sample_form(doc):
    """The form of a parsed document, built as the generator builds its forms."""
    year = doc.fiscal_year
    cur = {(f.flow, f.item): f for f in doc.funding if f.year == year}
    hist = {(f.flow, f.item, f.year): f.amount for f in doc.funding if f.year != year}

    def amount(value) -> Cell:
        return Cell("" if value is None else str(value), kind="amount", number=value)

    rows = [(flow, item, amount(f.amount), Cell(f"{f.share_pct}%", kind="share", number=f.share_pct),
             amount(hist.get((flow, item, year - 2))), amount(hist.get((flow, item, year - 1))))
            for (flow, item), f in cur.items()]
    long_term = [(i.lv1, i.lv2, i.lv3, i.raw, i.basis, i.category) for i in doc.indicators if i.horizon == "long_term"]
    annual: dict[tuple, dict] = defaultdict(dict)
    meta = {}
    for i in doc.indicators:
        if i.horizon == "annual":
            annual[i.lv1, i.lv2, i.lv3][i.year] = i.raw
            meta[i.lv1, i.lv2, i.lv3] = (i.basis, i.category)
    annual_rows = [(*k, [v.get(y, "") for y in (year - 2, year - 1, year)], *meta[k]) for k, v in annual.items()]
    return build_form(f"{year}年部门整体绩效目标批复", doc.department, year, rows, doc.texts, long_term, annual_rows)


def _rng_drawing(form, code: str, tries: int = 300) -> random.Random:
    """A seeded rng whose rendering of `form` draws the quirk `code`."""
    for seed in range(tries):
        damage: set[str] = set()
        render_docx.render(form, random.Random(seed), damage)
        if code in damage:
            return random.Random(seed)
    raise AssertionError(f"no seed below {tries} draws {code}")


def test_the_sample_form_grid_is_the_text_samples_facts(sample_path):
    """The form built from the sample reads back as the sample before any .docx is involved."""
    text_doc = pifu.parse(sample_path)
    grid = grid_of(_sample_form(text_doc))
    data = "\n".join("\t".join(row) for row in grid).encode()
    assert canonical(pifu.parse_bytes(data, "grid.txt").to_dict()) == canonical(text_doc.to_dict())


QUIRKS = ("title_paragraph", "cover_page", "tables_per_section", "table_split", "group_split", "header_repeated",
          "labels_repeated", "grid_before", "section_heading", "jagged_grid", "cell_paragraphs",
          "cell_line_breaks", "list_numbering", "split_runs", "tab_indent", "notes_after", "continuation_note", "page_break_paragraph")


@pytest.mark.parametrize("quirk", QUIRKS)
def test_the_sample_rendered_as_docx_reads_back_as_the_text_sample(sample_path, quirk):
    text_doc = pifu.parse(sample_path)
    form = _sample_form(text_doc)
    damage: set[str] = set()
    data, _ = render_docx.render(form, _rng_drawing(form, quirk), damage)
    assert quirk in damage
    doc = pifu.parse_bytes(data, "ezhou-trade-union-2025.docx")
    assert doc.source.format == "docx"
    assert canonical(doc.to_dict()) == canonical(text_doc.to_dict()), sorted(damage)
    assert all(not p.where.startswith("line ") for p in doc.problems)


def test_grid_rows_of_a_rendered_form_are_the_form_rows():
    """Without table quirks the reader's grid is exactly the form's grid (title row included)."""
    form = build_form("2024年部门整体绩效目标批复", "某某局", 2024,
                      [("income", "财政拨款", Cell("1"), Cell("100%"), Cell("1"), Cell("1")),
                       ("income", "合计", Cell("1"), Cell("100%"), Cell("1"), Cell("1"))],
                      {"functions": ["职能"], "annual_tasks": ["任务"], "long_term_goal": ["长期"], "annual_goal": ["年度"]},
                      [("产出指标", "数量指标", "人数", "≥1人", "计划标准", "绩效基本型")],
                      [("产出指标", "数量指标", "人数", ["1人", "1人", "≥1人"], "计划标准", "绩效基本型")])
    for seed in range(200):
        damage: set[str] = set()
        data, _ = render_docx.render(form, random.Random(seed), damage)
        table_quirks = {"title_paragraph", "tables_per_section", "table_split", "jagged_grid", "cover_page",
                        "attachment_label", "unit_paragraph", "blank_paragraphs", "notes_after"}
        if damage & table_quirks:
            continue
        sheet = read(data, "g.docx")
        assert sheet.grid == grid_of(form)
        assert len(sheet.merges) == sum(1 for row in form.rows for c in row if c and (c.rowspan > 1 or c.colspan > 1))
        return
    raise AssertionError("no plain rendering in 200 seeds")


def test_a_docx_written_by_libreoffice_reads_as_the_text_sample(sample_path):
    """tests/data/ezhou-trade-union-2025.libreoffice.docx: the sample's form as an HTML table (rowspan,
    colspan) converted by LibreOffice 7.4 Writer (`soffice --convert-to docx`), a writer pifu never
    rendered with: its own table grid, vMerge/gridSpan and paragraph properties."""
    data = (sample_path.parents[1] / "tests" / "data" / "ezhou-trade-union-2025.libreoffice.docx").read_bytes()
    sheet = read(data, "lo.docx")
    assert sheet.format == "docx" and len(sheet.merges) > 50
    doc = pifu.parse_bytes(data, "ezhou-trade-union-2025.docx")
    assert canonical(doc.to_dict()) == canonical(pifu.parse(sample_path).to_dict())
    assert {p.where for p in doc.problems} <= {s for s in sheet.origins}


# --- the run and paragraph properties cut before the parse (pifu.readers.docx._without_properties) ---

def _outcome(data: bytes) -> str:
    try:
        return repr(read(data, "cut.docx"))
    except DocumentError as e:
        return f"{e.reason}: {e}"


def _with_xml(data: bytes, edit) -> bytes:
    """`data` with its word/document.xml passed through `edit`."""
    src = zipfile.ZipFile(io.BytesIO(data))
    return _zip({n: edit(src.read(n)) if n == "word/document.xml" else src.read(n) for n in src.namelist()})


def _as_before(data: bytes, monkeypatch) -> str:
    """What the reader makes of `data` parsing the whole part (the cut turned off)."""
    with monkeypatch.context() as m:
        m.setattr(docx_reader, "_without_properties", lambda xml: None)
        return _outcome(data)


def _styled_form() -> bytes:
    run = "<w:r><w:rPr><w:rFonts w:ascii='宋体' w:hAnsi='宋体'/><w:b/><w:sz w:val='21'/></w:rPr><w:t>{}</w:t></w:r>"
    cell = ("<w:tc><w:tcPr><w:tcW w:w='900' w:type='dxa'/>{}<w:vAlign w:val='center'/></w:tcPr><w:p><w:pPr>"
            "<w:jc w:val='center'/></w:pPr>" + run + "</w:p></w:tc>")
    body = ("<w:p><w:pPr><w:jc w:val='center'/></w:pPr>" + run.format("2025年部门整体绩效目标批复") + "</w:p>"
            + tbl(3, tr(cell.format("<w:gridSpan w:val='2'/>", "部门名称"), cell.format("", "某某局")),
                  tr(cell.format("<w:vMerge w:val='restart'/>", "年度"), cell.format("", "a"), cell.format("", "b")),
                  tr(cell.format("<w:vMerge/>", ""), cell.format("", "c"), cell.format("", "d"))))
    return docx_of(body.replace("'", '"'))


def test_the_properties_are_cut_before_the_parse_and_the_sheet_is_the_same(monkeypatch, tmp_path, sample_path):
    from pifu.generate import generate

    generate(6, tmp_path, seed=3, fmt="docx")
    files = [f.read_bytes() for f in sorted(tmp_path.glob("*.docx"))]
    files += [_styled_form(), (sample_path.parents[1] / "tests/data/ezhou-trade-union-2025.libreoffice.docx").read_bytes()]
    for data in files:
        xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
        assert docx_reader._without_properties(xml) is not None
        assert _outcome(data) == _as_before(data, monkeypatch)


SLY = '<w:sz w:val="21"/>'
CUT_EDITS = {  # what a cut piece could hide or change, and the cut must not
    "duplicate attribute": (SLY, '<w:sz w:val="21" w:val="22"/>'),
    "undeclared prefix": (SLY, '<w:sz x:val="21"/>'),
    "undefined entity": (SLY, '<w:sz w:val="&x;"/>'),
    "invalid character reference": (SLY, '<w:sz w:val="&#0;"/>'),
    "control character": (SLY, '<w:sz w:val="\x01"/>'),
    "duplicate xml:id": (SLY, '<w:sz xml:id="a"/>'),
    "a line break in the run properties": (SLY, "<w:br/>"),
    "a paragraph in the paragraph properties": ('<w:jc w:val="center"/>', "<w:p/>"),
    "a span in properties held by the cell": ("<w:tcPr>", '<w:rPr><w:gridSpan w:val="3"/></w:rPr><w:tcPr>'),
    "text after the properties": ("</w:rPr><w:t>", "</w:rPr>x<w:t>"),
    "properties inside the text": ("<w:t>", "<w:t>a<w:rPr><w:b/></w:rPr>"),
    "a namespace declared below the root": ("<w:tbl>", '<w:tbl xmlns:x="urn:x">'),
    "a comment": ("<w:tbl>", "<!-- x --><w:tbl>"),
    "nested run properties": ("<w:rPr>", '<w:rPr><w:rPrChange w:id="1"><w:rPr><w:i/></w:rPr></w:rPrChange>'),
    "a cell cut short": ("</w:tc>", ""),
    "content after the root": ("</w:document>", "</w:document><w:rPr><w:b/></w:rPr>"),
}


@pytest.mark.parametrize("edit", CUT_EDITS)
def test_cutting_the_properties_never_changes_what_the_reader_makes_of_a_part(edit, monkeypatch):
    old, new = CUT_EDITS[edit]
    data = _with_xml(_styled_form(), lambda xml: xml.decode().replace(old, new, 3).encode())
    assert _outcome(data) == _as_before(data, monkeypatch)


@pytest.mark.parametrize("depth", range(249, 255))
def test_the_parse_depth_limit_holds_as_on_the_whole_part(depth, monkeypatch):
    """libxml2 refuses more than 256 levels; a cut w:pPr (two levels) must not let a deeper part through."""
    deep = "<w:sdt>" * depth + '<w:p><w:pPr><w:jc w:val="center"/></w:pPr></w:p>' + "</w:sdt>" * depth
    data = _with_xml(_styled_form(), lambda xml: xml.replace(b"<w:tbl>", deep.encode() + b"<w:tbl>", 1))
    assert _outcome(data) == _as_before(data, monkeypatch)


@pytest.mark.parametrize("depth", range(244, 252))
def test_the_depth_limit_holds_for_cell_properties_emptied_by_the_cut(depth, monkeypatch):
    """A w:tcPr the cut leaves empty goes too, with what it held: three levels here."""
    cell = "<w:tbl><w:tr><w:tc><w:tcPr><w:rPr><w:b/></w:rPr></w:tcPr></w:tc></w:tr></w:tbl>"
    deep = "<w:sdt>" * depth + cell + "</w:sdt>" * depth
    data = _with_xml(_styled_form(), lambda xml: xml.replace(b"<w:tbl>", deep.encode() + b"<w:tbl>", 1))
    assert _outcome(data) == _as_before(data, monkeypatch)
