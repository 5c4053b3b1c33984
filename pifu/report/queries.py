"""Everything the report shows, read from the warehouse's views (the same ones BI tools query).

SELECTs over views: v_funding_items, v_funding_by_department, v_findings; the indicators ranked as
v_indicator_usage ranks them, over v_indicator_targets' rows (warehouse.views.TARGETS; the same rows picked
by TARGETS_DUCKDB on DuckDB and TARGETS_POSTGRES on PostgreSQL), in one statement.
Amounts are Decimal as the engines return them.

The sums are the database's (GROUP BY, exact over DECIMAL / NUMERIC): the report runs at the end of
every pipeline run over the whole warehouse, and fetching each funding row to add it up in Python was
most of its cost. Only what the page draws comes back: item mixes by region-year, funding totals by
department-year, the item mixes of the departments the chart shows.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from warehouse.views import TARGETS, TARGETS_DUCKDB, TARGETS_POSTGRES

TOTAL = "合计"
INCOME, EXPENDITURE = "income", "expenditure"
# The contract's items in the form's order; other items a document files under a flow follow, sorted.
ITEMS = {
    INCOME: ["财政拨款", "财政专户管理资金", "单位资金"],
    EXPENDITURE: ["人员类项目支出", "运转类项目支出", "特定目标类项目支出"],
}
TOP_INDICATORS = 12
TOP_DEPARTMENTS = 30

# v_funding_items' items (合计 rows and missing amounts left out), summed by the database.
_ITEM_ROWS = "FROM v_funding_items WHERE item <> :total AND amount IS NOT NULL"


@dataclass
class ReportData:
    years: list[int] = field(default_factory=list)
    items: dict[str, list[str]] = field(default_factory=dict)  # flow -> items in order
    # (year,) / (region, year) / (department_id, year) -> flow -> item -> amount (items, no 合计);
    # by_department only for top_departments
    by_year: dict = field(default_factory=dict)
    by_region: dict = field(default_factory=dict)
    by_department: dict = field(default_factory=dict)
    # (department_id, year) -> income / expenditure -> sum of its items, for every department-year with items
    department_flows: dict = field(default_factory=dict)
    # (department_id, latest year with items): the TOP_DEPARTMENTS largest by expenditure, largest first
    top_departments: list[tuple] = field(default_factory=list)
    departments: dict[str, dict] = field(default_factory=dict)  # department_id -> name, region
    department_totals: dict = field(default_factory=dict)  # (department_id, year) -> v_funding_by_department row
    indicators: list[dict] = field(default_factory=list)  # v_indicator_usage rows + "value_counts"
    findings: list[dict] = field(default_factory=list)  # v_findings rows
    documents: int = 0


def load(conn: sa.Connection) -> ReportData:
    data = ReportData()
    _load_mix(conn, data)
    _load_department_flows(conn, data)
    data.top_departments = _top_departments(data.department_flows, TOP_DEPARTMENTS)
    data.by_department = _department_mix(conn, data.top_departments)
    amounts = ("income_total", "expenditure_total", "personnel_share_pct", "operating_share_pct", "project_share_pct")
    for r in _rows(conn, "SELECT department_id, department_name, region, year, "
                         f"{', '.join(map(_as_text, amounts))} FROM v_funding_by_department"):
        for k in amounts:
            r[k] = _decimal(r[k])
        data.department_totals[r["department_id"], r["year"]] = r
        data.departments[r["department_id"]] = {"name": r["department_name"], "region": r["region"]}
    data.years = sorted({y for _, y in data.department_totals})
    data.documents = len(data.department_totals)
    data.indicators = _indicators(conn)
    data.findings = _rows(conn, "SELECT * FROM v_findings ORDER BY department_name, department_id, fiscal_year, "
                                "source_path, check_name, row_ref")
    return data


# ---------------------------------------------------------------- funding

def _load_mix(conn: sa.Connection, data: ReportData) -> None:
    """Item mixes by region-year from the database, by year added up here (a few rows per region-year)."""
    by_year, by_region = (defaultdict(lambda: defaultdict(dict)) for _ in range(2))
    seen: dict[str, set[str]] = defaultdict(set)
    for region, year, flow, item, amount in _tuples(
            conn, f"SELECT region, year, flow, item, SUM(amount) {_ITEM_ROWS} GROUP BY region, year, flow, item"):
        seen[flow].add(item)
        by_region[region, year][flow][item] = amount
        cell = by_year[(year,)][flow]
        cell[item] = cell.get(item, Decimal(0)) + amount
    data.by_year, data.by_region = by_year, by_region
    data.items = {flow: [i for i in known if i in seen[flow]] + sorted(seen[flow] - set(known))
                  for flow, known in ITEMS.items()}


def _load_department_flows(conn: sa.Connection, data: ReportData) -> None:
    """Each department-year's items summed per flow (0 for a flow without items): the like-for-like
    changes and the department ranking. A department-year with items of another flow only is listed too."""
    zero = Decimal(0)
    rows = _tuples(conn, "SELECT department_id, year, "
                         f"{_as_text(f'SUM(CASE WHEN flow = {INCOME!r} THEN amount END)', 'income')}, "
                         f"{_as_text(f'SUM(CASE WHEN flow = {EXPENDITURE!r} THEN amount END)', 'expenditure')} "
                         f"{_ITEM_ROWS} GROUP BY department_id, year")
    data.department_flows = {(dep, year): {INCOME: zero if income is None else Decimal(income),
                                           EXPENDITURE: zero if expenditure is None else Decimal(expenditure)}
                             for dep, year, income, expenditure in rows}


def _top_departments(flows: dict[tuple, dict], n: int) -> list[tuple]:
    """The `n` departments with the largest expenditure in their latest year (ties by id), as (id, year)."""
    latest: dict[str, int] = {}
    for dep, year in flows:
        latest[dep] = max(year, latest.get(dep, year))
    return sorted(latest.items(), key=lambda k: (-flows[k][EXPENDITURE], k[0]))[:n]


def _department_mix(conn: sa.Connection, keys: list[tuple]) -> dict:
    """The item mixes of the department-years in `keys` (the chart's few, not every department's)."""
    mix: dict = {k: defaultdict(dict) for k in keys}
    if not keys:
        return mix
    ids = sa.bindparam("ids", expanding=True)
    sql = sa.text(f"SELECT department_id, year, flow, item, SUM(amount) {_ITEM_ROWS} AND department_id IN :ids "
                  "GROUP BY department_id, year, flow, item").bindparams(ids)
    for dep, year, flow, item, amount in conn.execute(sql, {"total": TOTAL, "ids": sorted({d for d, _ in keys})}):
        if (dep, year) in mix:
            mix[dep, year][flow][item] = amount
    return mix


# ---------------------------------------------------------------- indicators

# The top of v_indicator_usage (its ranking, over the same `target` rows) and the top indicators' numeric
# targets counted by value, in one statement. Ranked first on the counts alone: the view's other
# aggregates (the median above all) and its dim_indicator join are left to the few indicators shown,
# not computed for every indicator and unit. Grouping by (indicator_id, unit) groups as the view does:
# dim_indicator's columns follow from its key.
_TOP_INDICATORS = """,
ranked AS (
    SELECT indicator_id, unit, COUNT(DISTINCT department_id) AS departments, COUNT(*) AS documents,
        COUNT(value) AS numeric_targets
    FROM target
    GROUP BY indicator_id, unit
),
top AS (
    SELECT * FROM ranked
    WHERE numeric_targets > 0
    ORDER BY departments DESC, numeric_targets DESC, indicator_id, unit
    LIMIT :n
),
top_target AS (
    SELECT t.indicator_id, t.unit, t.value
    FROM target t
    JOIN top ON top.indicator_id = t.indicator_id AND top.unit IS NOT DISTINCT FROM t.unit
),
stats AS (
    SELECT indicator_id, unit, MIN(value) AS min_value, MAX(value) AS max_value,
        PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY value) AS median_value
    FROM top_target
    GROUP BY indicator_id, unit
),
spread AS (
    SELECT indicator_id, unit, value, COUNT(*) AS n
    FROM top_target
    WHERE value IS NOT NULL
    GROUP BY indicator_id, unit, value
)
SELECT top.indicator_id, i.lv1, i.lv2, i.lv3, top.unit, top.departments, top.documents, top.numeric_targets,
    st.min_value, st.max_value, st.median_value, s.value AS target_value, s.n AS target_count
FROM top
JOIN stats st ON st.indicator_id = top.indicator_id AND st.unit IS NOT DISTINCT FROM top.unit
LEFT JOIN dim_indicator i ON i.indicator_id = top.indicator_id
LEFT JOIN spread s ON s.indicator_id = top.indicator_id AND s.unit IS NOT DISTINCT FROM top.unit
ORDER BY top.departments DESC, top.numeric_targets DESC, top.indicator_id, top.unit"""


def top_indicators_sql(dialect: str) -> str:
    targets = {"duckdb": TARGETS_DUCKDB, "postgresql": TARGETS_POSTGRES}.get(dialect, TARGETS)
    return f"WITH {targets}{_TOP_INDICATORS}"


def _indicators(conn: sa.Connection) -> list[dict]:
    """The indicators most departments state a numeric target for, with their current target values as
    (value, how many targets state it), ascending."""
    top: dict[tuple, dict] = {}  # in the ranking's order
    for r in _rows(conn, top_indicators_sql(conn.dialect.name), n=TOP_INDICATORS):
        value, count = r.pop("target_value"), r.pop("target_count")
        t = top.setdefault((r["indicator_id"], r["unit"]), {**r, "value_counts": []})
        if value is not None:
            t["value_counts"].append((value, count))
    for t in top.values():
        t["value_counts"].sort()
    return list(top.values())


def _as_text(amount: str, name: str | None = None) -> str:
    """An exact amount fetched as its text, for _decimal: DuckDB's own conversion of a DECIMAL to Python
    costs about twice its text and Decimal(text) (v_funding_by_department at 10,000 documents, 26,000
    amounts: 63 -> 46 ms). Both engines write every digit of the scale: the value and scale the driver gives."""
    return f"CAST({amount} AS VARCHAR) AS {name or amount}"


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _rows(conn: sa.Connection, sql: str, **params) -> list[dict]:
    # all() fetches in one call: row by row, DuckDB's fetchone cost ~15 us a row (70,000 funding rows)
    result = conn.execute(sa.text(sql), params)
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result.all()]


def _tuples(conn: sa.Connection, sql: str) -> list[tuple]:
    return conn.execute(sa.text(sql), {"total": TOTAL}).all()
