"""The report (pifu.report), findings traced to the cell, the GX Data Docs, and `pifu report`.

The report's numbers are checked against the warehouse's base tables (not the views it reads), on
DuckDB and PostgreSQL, for generated documents with planted errors plus the real sample; every finding
names its file and cells; the page is opened in a real headless Chromium (tests/browser.py)."""
from __future__ import annotations

import io
import os
import re
import shutil
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal as D
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

import browser
from expectations import run_checks
from pifu import attribution
from pifu.api import parse
from pifu.generate import generate
from pifu.normalize import normalize
from pifu.report import build_report
from pifu.schema import SCHEMAS
from storage_fixtures import (_drop_session_schemas, drop_pg_schema, new_pg_schema, pg_url_for,  # noqa: F401
                              warehouse_url)
from warehouse.engine import engine_for
from warehouse.load import load

AT = datetime(2025, 6, 1, tzinfo=timezone.utc)
TOTAL = "合计"


# ---------------------------------------------------------------- a warehouse with findings

@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sample_path) -> Path:
    box = tmp_path_factory.mktemp("corpus")
    generate(40, box / "generated", seed=13, errors=0.2)
    shutil.copy(sample_path, box / sample_path.name)
    return box


@pytest.fixture(scope="module")
def tables(corpus):
    paths = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.endswith(".truth.json"))
    t = normalize([parse(p) for p in paths], AT)
    t["dq_result"] = run_checks(t, "run-report", AT)
    return t


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def warehouse(request, tables, tmp_path_factory):
    if request.param == "duckdb":
        url, schema = f"duckdb:///{tmp_path_factory.mktemp('wh') / 'warehouse.duckdb'}", None
    else:
        schema = new_pg_schema()
        url = pg_url_for(schema)
    try:
        load(url, tables, run_id="run-report")
        yield url
    finally:
        if schema:
            drop_pg_schema(schema)


@pytest.fixture(scope="module")
def report(warehouse, tmp_path_factory):
    built = build_report(warehouse, tmp_path_factory.mktemp("report"))
    return built, Page.parse(built.path.read_text(encoding="utf-8"))


def query(url: str, sql: str, **params) -> list[dict]:
    with engine_for(url) as engine, engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


class Page(HTMLParser):
    """The report's marks with their data-* attributes: bars (with their segments) per chart, table rows,
    findings, indicator distributions."""

    def __init__(self):
        super().__init__()
        self.charts: dict[str, list[dict]] = defaultdict(list)  # svg id -> bars / distributions
        self.rows: dict[str, list[dict]] = defaultdict(list)  # table id -> rows' attributes
        self.findings: list[dict] = []
        self.links: dict[str, str] = {}  # document -> href of its file link
        self._svg = self._table = None
        self._group = self._finding = None

    @classmethod
    def parse(cls, html: str) -> "Page":
        p = cls()
        p.feed(html)
        return p

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in (a.get("class") or ""):
            self._svg = a["id"]
        elif tag == "g" and self._svg and a.get("class") in ("bar", "distribution"):
            self._group = {**a, "segments": {}, "targets": []}
            self.charts[self._svg].append(self._group)
        elif tag == "rect" and self._group is not None and a.get("class") == "segment":
            self._group["segments"][a["data-series"]] = D(a["data-value"])
        elif tag == "circle" and self._group is not None and a.get("class") == "target":
            self._group["targets"].append(float(a["data-value"]))
        elif tag == "line" and self._group is not None and a.get("class") == "median":
            self._group["median"] = float(a["data-value"])
        elif tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and "finding" in (a.get("class") or "").split():
            self._finding = a
            self.findings.append(a)
        elif tag == "tr" and self._table and ("data-department" in a or "data-indicator" in a):
            self.rows[self._table].append(a)
        elif tag == "a" and self._finding is not None:
            f = self._finding
            self.links[f["data-document"] + f["data-check"] + f["data-row-ref"]] = a["href"]

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None
        elif tag == "g":
            self._group = None
        elif tag == "table":
            self._table = None
        elif tag == "tr":
            self._finding = None


# ---------------------------------------------------------------- numbers against the warehouse

OWN_YEAR_ITEMS = """
    SELECT {keys}, f.flow, f.item, SUM(f.amount) AS amount
    FROM fact_funding f
    JOIN fact_document d ON d.document_id = f.document_id AND d.is_current AND f.year = d.fiscal_year
    JOIN dim_department p ON p.department_id = d.department_id
    WHERE f.item <> '合计' AND f.amount IS NOT NULL
    GROUP BY {keys}, f.flow, f.item"""


def expected_mix(url: str, keys: str) -> dict[tuple, dict[str, dict[str, D]]]:
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in query(url, OWN_YEAR_ITEMS.format(keys=keys)):
        key = tuple(r[k.split(".")[-1].split(" AS ")[-1]] for k in keys.split(", "))
        out[key][r["flow"]][r["item"]] = r["amount"]
    return out


def test_funding_by_year_matches_the_warehouse(report, warehouse):
    built, page = report
    mix = expected_mix(warehouse, "d.fiscal_year")
    for flow in ("income", "expenditure"):
        bars = page.charts[f"chart-year-{flow}"]
        assert [b["data-label"] for b in bars] == [str(y) for (y,) in sorted(mix)]
        for bar in bars:
            expected = mix[(int(bar["data-label"]),)][flow]
            assert bar["segments"] == {k: v for k, v in expected.items() if v > 0}
            assert D(bar["data-total"]) == sum(expected.values(), D(0))


def test_funding_by_region_matches_the_warehouse(report, warehouse):
    built, page = report
    mix = expected_mix(warehouse, "p.region, d.fiscal_year")
    for flow in ("income", "expenditure"):
        bars = page.charts[f"chart-region-{flow}"]
        assert len(bars) == len(mix)
        for bar in bars:
            region, year = bar["data-label"].rsplit(" ", 1)
            expected = mix[(region, int(year))][flow]
            assert bar["segments"] == {k: v for k, v in expected.items() if v > 0}


def test_funding_by_department_and_year_over_year_change_match_the_warehouse(report, warehouse):
    built, page = report
    mix = expected_mix(warehouse, "d.department_id, p.department_name, d.fiscal_year")
    by_label = {f"{name} {year}": (dep, year) for dep, name, year in mix}
    totals = {(dep, year): sum(v["expenditure"].values(), D(0)) for (dep, _, year), v in mix.items()}
    bars = page.charts["chart-department-expenditure"]
    assert bars and len(bars) == min(30, len({dep for dep, _, _ in mix}))
    changes = 0
    for bar in bars:
        dep, year = by_label[bar["data-label"]]
        assert year == max(y for d, y in totals if d == dep)  # each department in its latest year
        assert D(bar["data-total"]) == totals[dep, year]
        before = totals.get((dep, year - 1))
        if before:
            changes += 1
            change = float((totals[dep, year] - before) / before * 100)
            assert float(bar["data-change"]) == pytest.approx(change, abs=1e-3)
        else:
            assert "data-change" not in bar
    # the table lists every department-year with the 合计 amounts as stated
    rows = {(r["data-department"], int(r["data-year"])): r for r in page.rows["department-table"]}
    stated = query(warehouse, """
        SELECT d.department_id, d.fiscal_year, f.flow, f.amount FROM fact_document d
        JOIN fact_funding f ON f.document_id = d.document_id AND f.year = d.fiscal_year AND f.item = '合计'
        WHERE d.is_current""")
    assert len(rows) == len(query(warehouse, "SELECT document_id FROM fact_document WHERE is_current"))
    for s in stated:
        assert D(rows[s["department_id"], s["fiscal_year"]][f"data-{s['flow']}"]) == s["amount"]


def test_year_over_year_change_is_like_for_like(report, warehouse):
    """The by-year change compares only departments with a current document in both years."""
    built, page = report
    per_dep = expected_mix(warehouse, "d.department_id, d.fiscal_year")
    totals = {k: sum(v["income"].values(), D(0)) for k, v in per_dep.items()}
    for bar in page.charts["chart-year-income"]:
        year = int(bar["data-label"])
        both = [dep for dep, y in totals if y == year and (dep, year - 1) in totals]
        if not both:
            assert "data-change" not in bar
            continue
        now, before = (sum(totals[d, y] for d in both) for y in (year, year - 1))
        assert float(bar["data-change"]) == pytest.approx(float((now - before) / before * 100), abs=1e-3)


def test_shared_indicators_and_their_target_distributions_match_the_warehouse(report, warehouse):
    built, page = report
    usage = query(warehouse, """
        SELECT t.indicator_id, t.unit, COUNT(DISTINCT t.department_id) AS departments
        FROM v_indicator_targets t WHERE t.value IS NOT NULL GROUP BY t.indicator_id, t.unit""")
    most = max(u["departments"] for u in usage)
    shown = page.charts["chart-indicators"]
    assert len(shown) == min(12, len(usage))
    assert int(page.rows["indicator-table"][0]["data-departments"]) == most  # the most shared first
    for dist in shown:
        values = sorted(float(r["value"]) for r in query(
            warehouse, "SELECT value FROM v_indicator_targets WHERE indicator_id = :i AND value IS NOT NULL "
                       "AND COALESCE(unit, '') = :u", i=dist["data-indicator"], u=dist["data-unit"]))
        assert sorted(dist["targets"]) == pytest.approx(values)
        assert dist["median"] == pytest.approx(values[(len(values) + 1) // 2 - 1])  # PERCENTILE_DISC(0.5)


def test_amounts_fetched_as_text_are_the_drivers_decimals_digit_for_digit(warehouse):
    """The department-years' amounts come back as text (pifu.report.queries._as_text): the same values with
    the same scale as the driver's Decimals (the page prints them as they are, e.g. data-income)."""
    from pifu.report.queries import load

    with engine_for(warehouse) as engine, engine.connect() as conn:
        data = load(conn)
    amounts = ("income_total", "expenditure_total", "personnel_share_pct", "operating_share_pct", "project_share_pct")
    rows = query(warehouse, f"SELECT department_id, year, {', '.join(amounts)} FROM v_funding_by_department")
    assert len(rows) == len(data.department_totals)
    for r in rows:
        got = data.department_totals[r["department_id"], r["year"]]
        assert [repr(got[k]) for k in amounts] == [repr(r[k]) for k in amounts]
    flows = query(warehouse, "SELECT department_id, year, flow, SUM(amount) AS amount FROM v_funding_items "
                             "WHERE item <> '合计' AND amount IS NOT NULL GROUP BY department_id, year, flow")
    assert flows and all(repr(data.department_flows[f["department_id"], f["year"]][f["flow"]]) == repr(f["amount"])
                         for f in flows)

def test_the_reports_indicators_are_v_indicator_usages_top_with_v_indicator_targets_values(warehouse):
    """The report ranks in its own statement (and on DuckDB picks the targets by TARGETS_DUCKDB): the same
    rows as the views give, column for column."""
    from pifu.report.queries import TOP_INDICATORS, _indicators

    top = query(warehouse, """
        SELECT indicator_id, lv1, lv2, lv3, unit, departments, documents, numeric_targets,
            min_value, max_value, median_value
        FROM v_indicator_usage WHERE numeric_targets > 0
        ORDER BY departments DESC, numeric_targets DESC, indicator_id, unit LIMIT :n""", n=TOP_INDICATORS)
    counts = defaultdict(list)
    for r in query(warehouse, "SELECT indicator_id, unit, value, COUNT(*) AS n FROM v_indicator_targets "
                              "WHERE value IS NOT NULL GROUP BY indicator_id, unit, value"):
        counts[r["indicator_id"], r["unit"]].append((r["value"], r["n"]))
    expected = [{**t, "value_counts": sorted(counts[t["indicator_id"], t["unit"]])} for t in top]
    with engine_for(warehouse) as engine, engine.connect() as conn:
        assert _indicators(conn) == expected
    assert len(expected) == TOP_INDICATORS


def test_the_reports_pick_of_a_documents_target_is_v_indicator_targets(warehouse_url):
    """Each ordering key of TARGETS' window decides a case here, and the report's own pick on each engine
    (TARGETS_DUCKDB, TARGETS_POSTGRES) must decide it alike."""
    from warehouse.schema import create_all
    from warehouse.views import TARGETS_DUCKDB, TARGETS_POSTGRES

    url = warehouse_url
    own = TARGETS_DUCKDB if url.startswith("duckdb") else TARGETS_POSTGRES
    docs = [("d1", "p1", 2024, True), ("d2", "p2", 2024, True), ("old", "p1", 2024, False)]
    # (document, indicator, horizon, year, raw, value, unit, line): per (document, indicator), the row
    # the window picks is the one with unit "pick"
    values = [
        ("d1", "annual_first", "long_term", None, "90", 90, "no", 1),
        ("d1", "annual_first", "annual", 2024, "95", 95, "pick", 1),
        ("d1", "value_first", "annual", 2024, "高", None, "no", 1),
        ("d1", "value_first", "long_term", None, "80", 80, "pick", 2),
        ("d1", "own_year_only", "annual", 2023, "70", 70, "no", 1),
        ("d1", "own_year_only", "long_term", None, "71", 71, "pick", 9),
        ("d1", "lower_line", "annual", 2024, "5", 5, "no", 7),
        ("d1", "lower_line", "annual", 2024, "6", 6, "pick", -3),
        ("d1", "line_before_none", "annual", 2024, "1", 1, "no", None),
        ("d1", "line_before_none", "annual", 2024, "2", 2, "pick", 4),
        ("d1", "zero_line_before_none", "annual", 2024, "1", 1, "no", None),
        ("d1", "zero_line_before_none", "annual", 2024, "2", 2, "pick", 0),
        ("d2", "raw_decides", "annual", 2024, "b", 1, "no", 3),
        ("d2", "raw_decides", "annual", 2024, "a", 2, "pick", 3),
        ("d2", "raw_decides_no_line", "long_term", None, "z", 1, "no", None),
        ("d2", "raw_decides_no_line", "long_term", None, "y", 2, "pick", None),
        ("d2", "no_values", "long_term", None, "好", None, "no", 1),
        ("d2", "no_values", "annual", 2024, "较好", None, "pick", 2),
        ("old", "annual_first", "annual", 2024, "99", 99, "no", 1),
    ]
    with engine_for(url) as engine:
        create_all(engine)
        with engine.begin() as conn:
            for doc, dep, year, current in docs:
                conn.execute(sa.text(
                    "INSERT INTO fact_document (document_id, department_id, fiscal_year, source_path, sha256, "
                    "is_current, current_key, loaded_at) VALUES (:d, :p, :y, 'x', :d, :c, :k, :t)"),
                    {"d": doc, "p": dep, "y": year, "c": current, "k": f"{dep}/{year}" if current else None, "t": AT})
            for no, (doc, ind, horizon, year, raw, value, unit, line) in enumerate(values):
                conn.execute(sa.text(
                    "INSERT INTO fact_indicator_value (document_id, department_id, fiscal_year, indicator_id, "
                    "horizon, year, raw, value, unit, line, value_no) "
                    "VALUES (:d, 'p', 2024, :i, :h, :y, :r, :v, :u, :l, :n)"),
                    {"d": doc, "i": ind, "h": horizon, "y": year, "r": raw, "v": value, "u": unit, "l": line, "n": no})
    view = query(url, "SELECT department_id, indicator_id, unit, value FROM v_indicator_targets")
    picked = query(url, f"WITH {own} SELECT department_id, indicator_id, unit, value FROM target")
    assert {r["unit"] for r in view} == {"pick"} and len(view) == len({v[:2] for v in values if v[0] != "old"})
    key = lambda r: (r["department_id"], r["indicator_id"])  # noqa: E731
    assert sorted(picked, key=key) == sorted(view, key=key)


# ---------------------------------------------------------------- findings: file, cells, attribution

def test_every_finding_names_its_file_and_cells(report, warehouse):
    built, page = report
    failing = query(warehouse, """
        SELECT q.document_id, q.check_name, COALESCE(q.row_ref, '') AS row_ref, d.source_path, q.source_cell,
            q.attribution
        FROM dq_result q JOIN fact_document d ON d.document_id = q.document_id AND d.is_current
        WHERE NOT q.passed""")
    assert len(failing) >= 10  # errors=0.2 and the sample: enough findings to mean something
    assert {(f["data-document"], f["data-check"], f["data-row-ref"]) for f in page.findings} == {
        (r["document_id"], r["check_name"], r["row_ref"]) for r in failing}
    by_key = {(r["document_id"], r["check_name"], r["row_ref"]): r for r in failing}
    for f in page.findings:
        r = by_key[f["data-document"], f["data-check"], f["data-row-ref"]]
        assert f["data-file"] == r["source_path"] and Path(f["data-file"]).is_file()
        assert page.links[f["data-document"] + f["data-check"] + f["data-row-ref"]] == Path(r["source_path"]).as_uri()
        assert f["data-cell"] and f["data-cell"] == r["source_cell"]
        assert all(c.startswith("line ") for c in f["data-cell"].split("; "))  # text exports: lines
        assert f["data-attribution"] in ("source", "extraction") and f["data-attribution"] == r["attribution"]


def test_the_samples_findings_point_at_their_lines_and_are_the_departments(warehouse, sample_path):
    lines = sample_path.read_text(encoding="utf-8").splitlines()
    share = query(warehouse, """
        SELECT q.source_cell, q.attribution, q.problem_code, q.source_path FROM dq_result q
        WHERE q.check_name = 'funding_share_matches_amount' AND NOT q.passed
          AND q.row_ref = 'expenditure/特定目标类项目支出/2025'""")
    assert len(share) == 1
    cell, total = share[0]["source_cell"].split("; ")
    assert lines[int(cell.split()[1]) - 1].startswith("特定目标类项目支出\t\t399.3\t40.95%")
    assert lines[int(total.split()[1]) - 1].startswith("合计\t\t983.71")
    # a row read by content (row_shifted) is not a doubt: the 40.95% is the form's own typo
    assert (share[0]["attribution"], share[0]["problem_code"]) == ("source", None)
    assert share[0]["source_path"].endswith(sample_path.name)


def _share_finding(problems: list[tuple[str, str]], cell: str = "line {}") -> dict:
    """The sample's failing share (line 13, 合计 on line 14) with the given (code, location) problems;
    `cell`: how a row's provenance is written."""
    from test_expectations import sample_tables

    t = sample_tables()
    cells = pa.array([cell.format(n) for n in t["fact_funding"]["line"].to_pylist()], pa.string())
    t["fact_funding"] = t["fact_funding"].set_column(t["fact_funding"].schema.get_field_index("source_cell"),
                                                     "source_cell", cells)
    t["fact_problem"] = pa.Table.from_pylist(
        [{"document_id": "doc-ezhou-2025", "problem_no": i, "code": c, "severity": "warning", "location": w,
          "message": "", "attribution": attribution.of_problem(c)} for i, (c, w) in enumerate(problems, 1)],
        schema=SCHEMAS["fact_problem"])
    out = run_checks(t, "run-1", AT)
    return next(r for r in out.to_pylist() if r["check_name"] == "funding_share_matches_amount" and not r["passed"])


@pytest.mark.parametrize("problems, expected", [
    ([], ("source", None)),
    ([("row_shifted", "line 13")], ("source", None)),  # certain: read by content
    ([("missing_basis", "line 13")], ("source", None)),  # the form's, not pifu's
    ([("label_completed", "line 12")], ("source", None)),  # a row the finding does not involve
    ([("label_completed", "line 13")], ("extraction", "label_completed")),
    ([("row_shifted", "line 14"), ("ambiguous_row", "line 14")], ("extraction", "ambiguous_row")),  # 合计's row
])
def test_a_finding_is_an_extraction_doubt_when_pifu_guessed_on_its_rows(problems, expected):
    r = _share_finding(problems)
    assert r["source_cell"] == "line 13; line 14"
    assert (r["attribution"], r["problem_code"]) == expected


def test_a_problem_placed_at_a_cell_explains_a_finding_on_its_row():
    """Sheets and pages name cells (R13C3, row 13 col 3); funding rows carry their row."""
    r = _share_finding([("ambiguous_row", "sheet 表 R13C3")], cell="sheet 表 R{}")
    assert (r["source_cell"], r["attribution"], r["problem_code"]) == ("sheet 表 R13; sheet 表 R14", "extraction",
                                                                       "ambiguous_row")
    r = _share_finding([("ambiguous_row", "page 1 row 14 col 2")], cell="page 1 row {}")
    assert (r["attribution"], r["problem_code"]) == ("extraction", "ambiguous_row")
    r = _share_finding([("ambiguous_row", "sheet 表 R113C3")], cell="sheet 表 R{}")  # R113 is not R13
    assert (r["attribution"], r["problem_code"]) == ("source", None)
    assert "(sheet 表 R13) states a share of 40.95%" in r["message"]  # messages name the row as the file does


def test_broken_invariants_are_pifus(tables):
    dup = tables["fact_funding"].slice(0, 1)
    t = {**tables, "fact_funding": pa.concat_tables([tables["fact_funding"], dup])}
    out = run_checks(t, "run-dup", AT)
    row = next(r for r in out.to_pylist() if r["check_name"] == "fact_funding_keys_unique" and not r["passed"])
    assert row["attribution"] == "extraction" and row["source_cell"] == dup["source_cell"][0].as_py()


def test_fact_problem_rows_carry_their_attribution(tables):
    p = tables["fact_problem"]
    assert p.num_rows > 0
    for code, who in zip(p["code"].to_pylist(), p["attribution"].to_pylist()):
        assert who == attribution.of_problem(code) and who in ("source", "extraction")


# ---------------------------------------------------------------- a real browser

needs_chromium = pytest.mark.skipif(browser.executable() is None and not os.environ.get("PIFU_REQUIRE_BROWSER"),
                                    reason="no chromium (apt-get install -y chromium)")


@needs_chromium
def test_the_report_renders_offline_in_chromium_with_its_charts(report):
    built, parsed = report
    with browser.Chromium(width=1200, height=1600) as chromium:
        page = chromium.open(built.path.as_uri())
        assert page.errors == []
        assert page.requests == [built.path.as_uri()]  # nothing from the network, nothing else at all
        assert page.evaluate("document.querySelectorAll('svg.chart').length") == 7
        assert page.evaluate("document.querySelectorAll('svg.chart rect.segment').length") > 50
        assert page.evaluate("document.querySelectorAll('svg.chart circle.target').length") > 50
        # the charts have a size on the page (a broken SVG renders as 0 × 0)
        assert page.evaluate("Math.min(...[...document.querySelectorAll('svg.chart')].map("
                             "s => s.getBoundingClientRect().width * s.getBoundingClientRect().height))") > 1000
        findings = page.evaluate("document.querySelectorAll('tr.finding').length")
        assert findings == len(parsed.findings) > 0
        pixels, colours, ink = browser.png_stats(page.screenshot())
        assert pixels == 1200 * 1600 and colours > 50 and ink > 0.03, (colours, ink)
        # the filter shows only the form's own contradictions
        page.evaluate("document.querySelector('button[data-show=source]').click()")
        hidden = page.evaluate("document.querySelectorAll('tr.finding.hidden').length")
        assert hidden == sum(f["data-attribution"] == "extraction" for f in parsed.findings)
        assert page.errors == []


@needs_chromium
def test_the_browser_check_sees_script_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>console.error('boom'); notAFunction();</script></body></html>")
    with browser.Chromium(width=400, height=300) as chromium:
        page = chromium.open(bad.as_uri())
        assert any("boom" in e for e in page.errors) and any("notAFunction" in e for e in page.errors)
        pixels, colours, ink = browser.png_stats(page.screenshot())
        assert ink < 0.03  # a near-blank page is told apart from the report


# ---------------------------------------------------------------- the CLI, the pipeline, the Data Docs

def test_pifu_report_cli(warehouse, tmp_path, capsys):
    from pifu.cli import main

    assert main(["report", "--warehouse", warehouse, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"report: {(tmp_path / 'out' / 'report.html').resolve()}" in out
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8").count('class="chart"') == 7
    missing = tmp_path / "nowhere" / "w.duckdb"
    assert main(["report", "--warehouse", f"duckdb:///{missing}", "--out", str(tmp_path / "o2")]) == 2
    assert "no_warehouse" in capsys.readouterr().err and not missing.exists()


def test_pifu_run_prints_the_data_docs_and_the_report_and_links_them_in_the_checks(tmp_path, monkeypatch, sample_path):
    import pipelines.summary
    from pipelines.run import run_pipeline

    data = tmp_path / "data"
    for k, v in {"PIFU_DATA_DIR": data, "DAGSTER_HOME": tmp_path / "dagster", "PIFU_LAKE_DIR": tmp_path / "lake",
                 "PIFU_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}", "PIFU_WORKERS": "1",
                 "PIFU_DATA_DOCS": "inline"}.items():  # built in the run: the pages exist when it returns
        monkeypatch.setenv(k, str(v))
    results = []
    summarize = pipelines.summary.summarize
    monkeypatch.setattr(pipelines.summary, "summarize",
                        lambda result, *a: results.append(result) or summarize(result, *a))
    runs = []
    for batch in ("one", "two"):
        box = tmp_path / batch
        generate(3, box, seed=len(runs) + 21, errors=1.0)
        if batch == "one":
            shutil.copy(sample_path, box / sample_path.name)
        out = io.StringIO()
        assert run_pipeline([str(box)], out=out) == 0, out.getvalue()
        runs.append(results[-1].run_id)
        text = out.getvalue()
        docs = data / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
        assert f"data docs: {docs} (" in text and f"report: {(data / 'report' / 'report.html').resolve()}" in text
    index = docs.read_text(encoding="utf-8")
    assert all(run in index for run in runs)  # the latest run and the earlier one
    # runs.html, for viewing offline: plain links, newest run first, each to a page that exists
    listing = (docs.parent / "runs.html").read_text(encoding="utf-8")
    assert listing.index(runs[1]) < listing.index(runs[0]) and "<script" not in listing
    links = [link for link in re.findall(r'href="([^"]+)"', listing) if link != "index.html"]
    assert len(links) == 6 and all((docs.parent / link).is_file() for link in links)
    page = next((docs.parent / "validations" / "fact_funding" / runs[0]).rglob("*.html")).read_text(encoding="utf-8")
    assert "__none__" not in page and runs[0] in page  # the page names its run
    for run in runs:
        pages = list((docs.parent / "validations").glob(f"*/{run}/*/*.html"))
        assert {p.parts[-4] for p in pages} == {"fact_funding", "fact_indicator_value", "fact_document"}
    checks = {e.check_name: e for e in results[-1].get_asset_check_evaluations()}
    link = checks["funding_share_matches_amount"].metadata["data_docs"].value
    assert link.startswith("file://") and runs[-1] in link and Path(link.removeprefix("file://")).is_file()
    assert checks["funding_share_matches_amount"].metadata["data_docs_index"].value == str(docs)
    lake_meta = next(e.materialization for e in results[-1].get_asset_materialization_events()
                     if e.materialization.asset_key.to_user_string() == "lake_tables").metadata
    assert lake_meta["data_docs"].value == docs.as_uri()
    # the findings of the run are in the report with their cells
    html = (data / "report" / "report.html").read_text(encoding="utf-8")
    assert "data-check=\"funding_share_matches_amount\"" in html and "line 13; line 14" in html
