"""`pifu report`: one static HTML page of what the warehouse says and what is wrong with it.

    from pifu.report import build_report
    path = build_report("duckdb:///data/warehouse.duckdb", "data/report")   # -> data/report/report.html

The page needs no server and no network: charts are SVG drawn here (pifu.report.charts), styles and
the few lines of script are inline. It reads the warehouse through its views (pifu.report.queries):
funding by year, region and department (stacked income and expenditure mixes, change on the year
before), the indicators most departments share with their target distributions, and the findings of
the data-quality checks grouped by department, each with its file (a file:// link) and cells.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from markupsafe import Markup, escape

from pifu.model import PifuError
from pifu.report import charts
from pifu.report.queries import EXPENDITURE, INCOME, TOP_DEPARTMENTS, ReportData, load

FILE_NAME = "report.html"
FLOW_TITLE = {INCOME: "income (收入构成)", EXPENDITURE: "expenditure (支出构成)"}


@dataclass
class Built:
    path: Path
    seconds: float
    findings: int
    documents: int


def build_report(warehouse_url: str, out_dir: str | os.PathLike) -> Built:
    """Query the warehouse at `warehouse_url` and write `<out_dir>/report.html` (atomically)."""
    from warehouse.engine import engine_for

    started = time.perf_counter()
    shown = _display(warehouse_url)
    _must_exist(warehouse_url, shown)
    with engine_for(warehouse_url) as engine:
        _views(engine, shown)
        with engine.connect() as conn:
            data = load(conn)
    html = render(data, source=shown)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return Built(path.resolve(), time.perf_counter() - started, len(data.findings), data.documents)


def _must_exist(url: str, shown: str) -> None:
    """A DuckDB file that is not there is a typo or a warehouse not built yet: do not create it."""
    import sqlalchemy as sa

    u = sa.make_url(url)
    if u.get_backend_name() == "duckdb" and u.database not in (None, "", ":memory:") and not Path(u.database).exists():
        raise PifuError(shown, "no such warehouse file; run `pifu run` first", "no_warehouse")


def _views(engine, shown: str) -> None:
    """The views the report reads; a warehouse loaded before they existed gets them (as bi_views does).
    One query of information_schema (both engines have it): SQLAlchemy's inspector took several."""
    from warehouse.views import VIEWS, create_views

    with engine.connect() as conn:
        have = dict(conn.exec_driver_sql(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_catalog = current_database()").all())
    if not {"fact_document", "dq_result"} <= {name for name, kind in have.items() if kind == "BASE TABLE"}:
        raise PifuError(shown, "no pifu tables in this warehouse; run `pifu run` first", "no_warehouse")
    if set(VIEWS) - {name for name, kind in have.items() if kind == "VIEW"}:
        create_views(engine)


def render(data: ReportData, source: str = "") -> str:
    colour = charts.colours([*data.items.get(INCOME, []), *data.items.get(EXPENDITURE, [])])
    like_for_like = _like_for_like(data)
    return _template().render(
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), source=source, data=data,
        flows=[(f, FLOW_TITLE[f], data.items.get(f, [])) for f in (INCOME, EXPENDITURE)],
        legend={f: charts.legend(data.items.get(f, []), colour) for f in (INCOME, EXPENDITURE)},
        year_charts=_charts(data, "year", colour, like_for_like),
        region_charts=_charts(data, "region", colour, like_for_like),
        department_charts=_charts(data, "department", colour, like_for_like),
        department_count=len(data.department_totals), department_table=_department_table(data),
        indicator_chart=_indicator_chart(data),
        findings=_findings(data), counts=_counts(data), top_departments=TOP_DEPARTMENTS,
    )


def _template():
    return _environment().get_template("report.html.j2")


@functools.cache
def _environment():
    """One a process: its cache keeps the compiled template (compiling took ~0.05 s, as long as rendering
    the rest of the page), and recompiles it when the file changes."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = charts.number
    return env


# ---------------------------------------------------------------- funding

def _sum(values: dict) -> Decimal:
    return sum(values.values(), Decimal(0))


def _pct(now: Decimal, before: Decimal | None) -> float | None:
    if before is None or before == 0:
        return None
    return float((now - before) / before * 100)


def _like_for_like(data: ReportData) -> dict[str, dict[tuple, list]]:
    """Per year and per region-year: over the departments with items that year and the year before, how
    many they are and their summed income and expenditure, that year and the year before
    ([n, {flow: sum}, {flow: sum before}]). One pass for all the year and region charts."""
    flows = data.department_flows
    out: dict[str, dict[tuple, list]] = {"year": {}, "region": {}}
    for (dep, year), now in flows.items():
        before = flows.get((dep, year - 1))
        if before is None:
            continue
        region = data.departments.get(dep, {}).get("region")
        for by, key in (("year", (year,)), ("region", (region, year))):
            acc = out[by].get(key)
            if acc is None:
                acc = out[by][key] = [0, dict.fromkeys(now, Decimal(0)), dict.fromkeys(now, Decimal(0))]
            acc[0] += 1
            for flow in now:
                acc[1][flow] += now[flow]
                acc[2][flow] += before[flow]
    return out


def _bars(data: ReportData, by: str, flow: str, like_for_like: dict[str, dict[tuple, list]]) -> list[dict]:
    """One bar per year / region-year / department (its latest year). The note: the total, and its change
    on the year before like for like: over the departments that have items both years (a sum over a
    different set of departments would mostly show who filed)."""
    if by == "year":
        source, keys = data.by_year, sorted(data.by_year)
        label = lambda k: str(k[0])  # noqa: E731
    elif by == "region":
        source = data.by_region
        keys = sorted(source, key=lambda k: (k[0] or "", k[1]))
        label = lambda k: f"{k[0] or '(no region)'} {k[1]}"  # noqa: E731
    else:
        source, keys = data.by_department, data.top_departments
        label = lambda k: f"{data.departments.get(k[0], {}).get('name') or k[0]} {k[1]}"  # noqa: E731
    bars = []
    for k in keys:
        values = source[k].get(flow, {})
        total = _sum(values)
        pair = _one_department(data, k) if by == "department" else like_for_like[by].get(k)
        pct, n = (_pct(pair[1][flow], pair[2][flow]), pair[0]) if pair else (None, 0)
        note = f"{charts.number(total)} 万元"
        if pct is not None:
            note += f" ({charts.change(pct)} on {k[-1] - 1}" + (f", {n} depts)" if by != "department" else ")")
        bars.append({"label": label(k), "values": values, "note": note, "key": k, "change": pct})
    return bars


def _one_department(data: ReportData, key: tuple) -> list | None:
    """_like_for_like's entry for one department-year: itself, when it has items the year before too."""
    before = data.department_flows.get((key[0], key[1] - 1))
    return None if before is None else [1, data.department_flows[key], before]


def _charts(data: ReportData, by: str, colour: dict, like_for_like: dict[str, dict[tuple, list]]) -> dict:
    return {flow: charts.stacked_bars(_bars(data, by, flow, like_for_like), data.items.get(flow, []), colour,
                                      chart_id=f"chart-{by}-{flow}", title=f"{FLOW_TITLE[flow]} by {by}")
            for flow in (INCOME, EXPENDITURE)}


def _department_table(data: ReportData) -> Markup:
    """The rows of the department table, one f-string each: with 10,000 documents, 5,000 rows through
    the template's loop and filters were a third of the report's cost. Text is escaped as the template's
    autoescape would (None shows as "None" there too); numbers, years and their formats need none."""
    num = charts.number
    names: dict[tuple, tuple] = {}  # escaped once a department, not once a year
    out = []
    for (dep, year), r in sorted(data.department_totals.items(),
                                 key=lambda kv: (kv[1]["region"] or "", kv[1]["department_name"] or "", kv[0][1])):
        text = (dep, r["department_name"], r["region"] or "")
        dep_html, name_html, region_html = names.get(text) or names.setdefault(text, tuple(map(escape, text)))
        income, expenditure = r["income_total"], r["expenditure_total"]
        before = data.department_totals.get((dep, year - 1))
        change = charts.change(_pct(expenditure, before["expenditure_total"] if before else None)
                               if expenditure is not None else None)
        out.append(
            f'<tr data-department="{dep_html}" data-year="{year}" '
            f'data-income="{"" if income is None else income}" '
            f'data-expenditure="{"" if expenditure is None else expenditure}">\n'
            f'<td>{name_html}</td><td>{region_html}</td><td>{year}</td>\n'
            f'<td class="n">{num(income)}</td><td class="n">{num(expenditure)}</td>\n'
            f'<td class="n">{num(r["personnel_share_pct"])}</td><td class="n">{num(r["operating_share_pct"])}</td>'
            f'<td class="n">{num(r["project_share_pct"])}</td>\n'
            f'<td class="n">{change}</td></tr>\n')
    return Markup("".join(out))


# ---------------------------------------------------------------- indicators

def _indicator_chart(data: ReportData):
    if not data.indicators:
        return None
    rows = [{"indicator_id": t["indicator_id"], "unit": t["unit"], "value_counts": t["value_counts"],
             "label": f"{t['lv3']} ({t['departments']} depts)"} for t in data.indicators]
    return charts.distribution(rows, chart_id="chart-indicators", title="target distributions")


# ---------------------------------------------------------------- findings

def _findings(data: ReportData) -> list[dict]:
    """Findings grouped by department, in the view's order."""
    groups: dict[str, dict] = {}
    for f in data.findings:
        g = groups.setdefault(f["department_id"] or "", {
            "department_id": f["department_id"], "name": f["department_name"] or f["department_id"],
            "region": f["region"], "rows": [], "source": 0, "extraction": 0})
        g["rows"].append({**f, "file_url": _file_url(f["source_path"]), "file_name": _file_name(f["source_path"])})
        if f["attribution"] in ("source", "extraction"):
            g[f["attribution"]] += 1
    for g in groups.values():
        g["table"] = _finding_rows(g["rows"])
    return list(groups.values())


def _finding_rows(rows: list[dict]) -> Markup:
    """A department's findings, two <tr> each, one f-string a finding (as _department_table, for a
    warehouse with thousands of them); escaped as the template's autoescape would."""
    e = escape
    out = []
    for f in rows:
        attribution = e(f["attribution"])
        file = (f'<a href="{e(f["file_url"])}">{e(f["file_name"])}</a>' if f["file_url"] else e(f["file_name"]))
        problem = f'<br>({e(f["problem_code"])})' if f["problem_code"] else ""
        out.append(
            f'<tr class="finding {attribution}" data-document="{e(f["document_id"])}" '
            f'data-check="{e(f["check_name"])}" data-row-ref="{e(f["row_ref"] or "")}" '
            f'data-file="{e(f["source_path"] or "")}" data-cell="{e(f["source_cell"] or "")}" '
            f'data-attribution="{e(f["attribution"] or "")}">\n'
            f'<td>{file}<br><span class="cell">{e(f["source_cell"] or "(whole document)")}</span></td>\n'
            f'<td>{e(f["fiscal_year"])}</td><td>{e(f["check_name"])}</td>'
            f'<td class="ref">{e(f["row_ref"] or "")}</td>\n'
            f'<td class="v">{e(f["observed"] or "")}</td><td class="v">{e(f["expected"] or "")}</td>\n'
            f'<td class="{attribution}">{e(f["attribution"] or "")}{problem}</td></tr>\n'
            f'<tr class="finding-message {attribution}"><td colspan="7">{e(f["message"])}</td></tr>\n')
    return Markup("".join(out))


def _counts(data: ReportData) -> dict:
    by = {"source": 0, "extraction": 0}
    for f in data.findings:
        if f["attribution"] in by:
            by[f["attribution"]] += 1
    return {"departments": len(data.departments), "documents": data.documents, "findings": len(data.findings),
            **by, "years": ", ".join(map(str, data.years))}


def _file_url(path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    return p.as_uri() if p.is_absolute() else None


def _file_name(path: str | None) -> str:
    return Path(path).name if path else "(unknown file)"


def _display(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (only for display)
        return "warehouse"
