"""Everything the report shows, read from the warehouse's views (the same ones BI tools query).

Only SELECTs over views: v_funding_by_department, v_funding_by_region, v_funding_items,
v_indicator_usage, v_indicator_targets, v_findings. Amounts are Decimal as the engines return them.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

TOTAL = "合计"
INCOME, EXPENDITURE = "income", "expenditure"
# The contract's items in the form's order; other items a document files under a flow follow, sorted.
ITEMS = {
    INCOME: ["财政拨款", "财政专户管理资金", "单位资金"],
    EXPENDITURE: ["人员类项目支出", "运转类项目支出", "特定目标类项目支出"],
}
TOP_INDICATORS = 12


@dataclass
class ReportData:
    years: list[int] = field(default_factory=list)
    items: dict[str, list[str]] = field(default_factory=dict)  # flow -> items in order
    # (year,) / (region, year) / (department_id, year) -> flow -> item -> amount (items, no 合计)
    by_year: dict = field(default_factory=dict)
    by_region: dict = field(default_factory=dict)
    by_department: dict = field(default_factory=dict)
    departments: dict[str, dict] = field(default_factory=dict)  # department_id -> name, region
    department_totals: dict = field(default_factory=dict)  # (department_id, year) -> v_funding_by_department row
    region_totals: dict = field(default_factory=dict)  # (region, year) -> v_funding_by_region row
    indicators: list[dict] = field(default_factory=list)  # v_indicator_usage rows + "values"
    findings: list[dict] = field(default_factory=list)  # v_findings rows
    documents: int = 0


def load(conn: sa.Connection) -> ReportData:
    data = ReportData()
    mix = _rows(conn, "SELECT department_id, department_name, region, year, flow, item, amount "
                      "FROM v_funding_items WHERE item <> :total AND amount IS NOT NULL", total=TOTAL)
    by_year, by_region, by_dep = (defaultdict(lambda: defaultdict(dict)) for _ in range(3))
    seen: dict[str, set[str]] = defaultdict(set)
    for r in mix:
        seen[r["flow"]].add(r["item"])
        for bucket, key in ((by_year, (r["year"],)), (by_region, (r["region"], r["year"])),
                            (by_dep, (r["department_id"], r["year"]))):
            cell = bucket[key][r["flow"]]
            cell[r["item"]] = cell.get(r["item"], Decimal(0)) + r["amount"]
    data.by_year, data.by_region, data.by_department = by_year, by_region, by_dep
    data.items = {flow: [i for i in known if i in seen[flow]] + sorted(seen[flow] - set(known))
                  for flow, known in ITEMS.items()}
    for r in _rows(conn, "SELECT * FROM v_funding_by_department"):
        data.department_totals[r["department_id"], r["year"]] = r
        data.departments[r["department_id"]] = {"name": r["department_name"], "region": r["region"]}
    for r in _rows(conn, "SELECT * FROM v_funding_by_region"):
        data.region_totals[r["region"], r["year"]] = r
    data.years = sorted({y for _, y in data.department_totals})
    data.documents = len(data.department_totals)
    data.indicators = _indicators(conn)
    data.findings = _rows(conn, "SELECT * FROM v_findings ORDER BY department_name, department_id, fiscal_year, "
                                "source_path, check_name, row_ref")
    return data


def _indicators(conn: sa.Connection) -> list[dict]:
    """The indicators most departments state a numeric target for, with every current target value."""
    top = _rows(conn, "SELECT indicator_id, lv1, lv2, lv3, unit, departments, documents, numeric_targets, "
                      "min_value, max_value, median_value FROM v_indicator_usage WHERE numeric_targets > 0 "
                      "ORDER BY departments DESC, numeric_targets DESC, indicator_id, unit LIMIT :n", n=TOP_INDICATORS)
    if not top:
        return []
    values: dict[tuple, list] = defaultdict(list)
    ids = sa.bindparam("ids", expanding=True)
    rows = conn.execute(sa.text("SELECT indicator_id, unit, value FROM v_indicator_targets "
                                "WHERE value IS NOT NULL AND indicator_id IN :ids").bindparams(ids),
                        {"ids": sorted({t["indicator_id"] for t in top})}).all()
    for indicator, unit, value in rows:
        values[indicator, unit].append(value)
    for t in top:
        t["values"] = sorted(values[t["indicator_id"], t["unit"]])
    return top


def _rows(conn: sa.Connection, sql: str, **params) -> list[dict]:
    # all() fetches in one call: row by row, DuckDB's fetchone cost ~15 us a row (70,000 funding rows)
    result = conn.execute(sa.text(sql), params)
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result.all()]
