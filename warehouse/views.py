"""BI views: short CTE chains, one SQL text for DuckDB and PostgreSQL.

Every view reads current documents only and is self-contained (no view reads another), so any one
can be replaced without touching the rest.

Funding is compared across templates by `item_class` (contract §4), not by item name: personnel =
人员类项目支出, operating = 运转类项目支出, project = 特定目标类项目支出 (specific_purpose) plus 项目支出 (project);
basic = 基本支出, the sum of personnel and operating in the Hubei software's split. A form that states only
基本支出/项目支出 (Fujian, Hubei 2021) has null personnel and operating shares and its basic share in
`basic_share_pct`, which for the Hubei split is personnel + operating. Rows loaded before item_class
existed are classed by the Hubei item names.

Shares are recomputed from amounts: 100 * part / 合计, rounded to 4 decimals. PostgreSQL divides
NUMERIC exactly; DuckDB divides DECIMAL in DOUBLE, so the two may differ in the 4th decimal when the
exact quotient ends in a 5 right after it.
"""
from __future__ import annotations

import sqlalchemy as sa

TOTAL = "合计"
PERSONNEL, OPERATING, PROJECT = "人员类项目支出", "运转类项目支出", "特定目标类项目支出"


def _class(name: str, item: str | None = None) -> str:
    by_item = f" OR (item_class IS NULL AND item = '{item}')" if item else ""
    return f"(item_class = '{name}'{by_item})"


def _share(part: str, total: str) -> str:
    # NUMERIC(38,4): a garbage total near zero must not make the whole view fail on overflow.
    return f"CAST(ROUND(100 * {part} / NULLIF({total}, 0), 4) AS NUMERIC(38, 4))"


_CURRENT = """current_doc AS (
    SELECT document_id, department_id, fiscal_year
    FROM fact_document
    WHERE is_current
)"""

# Each current document's amounts for its own fiscal year (a document with no funding keeps its row).
_AMOUNTS = _CURRENT + f""",
own_year AS (
    SELECT c.document_id, c.department_id, c.fiscal_year, f.flow, f.item, f.item_class, f.amount
    FROM current_doc c
    LEFT JOIN fact_funding f ON f.document_id = c.document_id AND f.year = c.fiscal_year
),
amounts AS (
    SELECT document_id, department_id, fiscal_year,
        SUM(CASE WHEN flow = 'income' AND {_class('total', TOTAL)} THEN amount END) AS income_total,
        SUM(CASE WHEN flow = 'expenditure' AND {_class('total', TOTAL)} THEN amount END) AS expenditure_total,
        SUM(CASE WHEN flow = 'expenditure' AND {_class('personnel', PERSONNEL)} THEN amount END) AS personnel_amount,
        SUM(CASE WHEN flow = 'expenditure' AND {_class('operating', OPERATING)} THEN amount END) AS operating_amount,
        SUM(CASE WHEN flow = 'expenditure' AND ({_class('specific_purpose', PROJECT)} OR {_class('project')})
            THEN amount END) AS project_amount,
        SUM(CASE WHEN flow = 'expenditure' AND ({_class('basic')} OR {_class('personnel', PERSONNEL)}
            OR {_class('operating', OPERATING)}) THEN amount END) AS basic_amount
    FROM own_year
    GROUP BY document_id, department_id, fiscal_year
),
by_department AS (
    SELECT a.*, d.department_name, d.region
    FROM amounts a
    LEFT JOIN dim_department d ON d.department_id = a.department_id
)"""

V_FUNDING_BY_DEPARTMENT = f"""WITH {_AMOUNTS}
SELECT department_id, department_name, region, fiscal_year AS year,
    income_total, expenditure_total,
    {_share('personnel_amount', 'expenditure_total')} AS personnel_share_pct,
    {_share('operating_amount', 'expenditure_total')} AS operating_share_pct,
    {_share('project_amount', 'expenditure_total')} AS project_share_pct,
    personnel_amount, operating_amount, project_amount, document_id,
    basic_amount, {_share('basic_amount', 'expenditure_total')} AS basic_share_pct
FROM by_department"""

V_FUNDING_BY_REGION = f"""WITH {_AMOUNTS},
region_sums AS (
    SELECT region, fiscal_year AS year,
        COUNT(DISTINCT department_id) AS departments,
        SUM(income_total) AS income_total,
        SUM(expenditure_total) AS expenditure_total,
        SUM(personnel_amount) AS personnel_amount,
        SUM(operating_amount) AS operating_amount,
        SUM(project_amount) AS project_amount,
        SUM(basic_amount) AS basic_amount
    FROM by_department
    GROUP BY region, fiscal_year
)
SELECT region, year, departments, income_total, expenditure_total,
    {_share('personnel_amount', 'expenditure_total')} AS personnel_share_pct,
    {_share('operating_amount', 'expenditure_total')} AS operating_share_pct,
    {_share('project_amount', 'expenditure_total')} AS project_share_pct,
    personnel_amount, operating_amount, project_amount,
    basic_amount, {_share('basic_amount', 'expenditure_total')} AS basic_share_pct
FROM region_sums"""

# One target per current document and indicator: the annual value of the document's own year when it
# is numeric, else the long-term one; qualitative targets only when neither is numeric.
# A current document's candidate targets, and the order its first one is picked in (shared by TARGETS and
# the report's own picks below, so that they cannot drift apart).
_CANDIDATES = """FROM current_doc c
    JOIN fact_indicator_value v ON v.document_id = c.document_id
    WHERE v.horizon = 'long_term' OR (v.horizon = 'annual' AND v.year = c.fiscal_year)"""
_PICK_ORDER = """CASE WHEN v.value IS NULL THEN 1 ELSE 0 END,
                CASE WHEN v.horizon = 'annual' THEN 0 ELSE 1 END,
                v.line, v.raw"""

TARGETS = _CURRENT + f""",
candidate AS (
    SELECT c.document_id, c.department_id, c.fiscal_year, v.indicator_id, v.horizon,
        v.raw, v.comparator, v.value, v.unit, v.basis, v.category, v.lv1_class,
        ROW_NUMBER() OVER (
            PARTITION BY v.document_id, v.indicator_id
            ORDER BY {_PICK_ORDER}
        ) AS pick
    {_CANDIDATES}
),
target AS (
    SELECT * FROM candidate WHERE pick = 1
)"""

# TARGETS' pick in DuckDB's own terms, for pifu.report (the views keep TARGETS): the first row of each
# (document, indicator) in the window's order, taken by arg_min over that order as a struct (value IS NULL,
# not annual, line's NULLS LAST spelled out, raw), in one hash aggregation instead of a sorted window
# (at 10,000 documents ~0.08 CPU s of the report's ~0.23 s indicator statement, every run). Only the
# columns the report reads. Its rows must be TARGETS' (tests/test_report.py compares them).
TARGETS_DUCKDB = _CURRENT + """,
picked AS (
    SELECT v.indicator_id, arg_min(
            {'department_id': c.department_id, 'unit': v.unit, 'value': v.value},
            {'no_value': CASE WHEN v.value IS NULL THEN 1 ELSE 0 END,
             'not_annual': CASE WHEN v.horizon = 'annual' THEN 0 ELSE 1 END,
             'no_line': CASE WHEN v.line IS NULL THEN 1 ELSE 0 END, 'line': COALESCE(v.line, 0), 'raw': v.raw}
        ) AS t
    """ + _CANDIDATES + """
    GROUP BY v.document_id, v.indicator_id
),
target AS (
    SELECT indicator_id, t.department_id AS department_id, t.unit AS unit, t.value AS value FROM picked
)"""

# TARGETS' pick in PostgreSQL's terms, for pifu.report as TARGETS_DUCKDB is on DuckDB: DISTINCT ON in the
# window's order (ASC puts NULL lines last there too), carrying only the columns the report reads. TARGETS'
# window sorts every candidate with all its columns (~390 bytes a row, 250,000 rows at 10,000 documents):
# 0.78-0.89 s of the report's statement, 0.58-0.59 s with this (same rows; tests/test_report.py compares).
TARGETS_POSTGRES = _CURRENT + f""",
target AS (
    SELECT DISTINCT ON (v.document_id, v.indicator_id) v.indicator_id, c.department_id, v.unit, v.value
    {_CANDIDATES}
    ORDER BY v.document_id, v.indicator_id, {_PICK_ORDER}
)"""

V_INDICATOR_TARGETS = f"""WITH {TARGETS}
SELECT t.department_id, d.department_name, d.region, t.fiscal_year, t.document_id,
    t.indicator_id, i.lv1, i.lv2, i.lv3, t.horizon AS target_horizon,
    t.raw, t.comparator, t.value, t.unit, t.basis, t.category,
    COALESCE(t.lv1_class, i.lv1_class) AS lv1_class
FROM target t
LEFT JOIN dim_department d ON d.department_id = t.department_id
LEFT JOIN dim_indicator i ON i.indicator_id = t.indicator_id"""

# The median is the lower middle target (PERCENTILE_DISC): an actual stated value, exact in both engines.
# pifu.report ranks the indicators as this view does, over TARGETS (TARGETS_DUCKDB on DuckDB).
USAGE = """SELECT t.indicator_id, i.lv1, i.lv2, i.lv3, t.unit, i.lv1_class,
    COUNT(DISTINCT t.department_id) AS departments,
    COUNT(*) AS documents,
    COUNT(t.value) AS numeric_targets,
    MIN(t.value) AS min_value,
    MAX(t.value) AS max_value,
    CAST(AVG(t.value) AS NUMERIC(24, 6)) AS avg_value,
    PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY t.value) AS median_value
FROM target t
LEFT JOIN dim_indicator i ON i.indicator_id = t.indicator_id
GROUP BY t.indicator_id, i.lv1, i.lv2, i.lv3, t.unit, i.lv1_class"""
V_INDICATOR_USAGE = f"""WITH {TARGETS}
{USAGE}"""

# Indicators by standard first-level class across both vocabularies (运行成本… and 产出指标…).
V_INDICATOR_BY_CLASS = f"""WITH {TARGETS}
SELECT COALESCE(t.lv1_class, i.lv1_class) AS lv1_class, t.fiscal_year AS year,
    COUNT(DISTINCT t.department_id) AS departments,
    COUNT(DISTINCT t.document_id) AS documents,
    COUNT(*) AS targets,
    COUNT(t.value) AS numeric_targets,
    COUNT(DISTINCT t.indicator_id) AS indicators
FROM target t
LEFT JOIN dim_indicator i ON i.indicator_id = t.indicator_id
GROUP BY COALESCE(t.lv1_class, i.lv1_class), t.fiscal_year"""

VIEWS = {
    "v_funding_by_department": V_FUNDING_BY_DEPARTMENT,
    "v_funding_by_region": V_FUNDING_BY_REGION,
    "v_indicator_targets": V_INDICATOR_TARGETS,
    "v_indicator_usage": V_INDICATOR_USAGE,
    "v_indicator_by_class": V_INDICATOR_BY_CLASS,
}

from warehouse.report_views import REPORT_VIEWS  # noqa: E402  (v_funding_items, v_findings: pifu.report's)

VIEWS.update(REPORT_VIEWS)


def create_views(engine: sa.Engine, replace: bool = False) -> None:
    """Create the views that are missing; `replace` recreates all (after their SQL changed)."""
    with engine.begin() as conn:
        existing = set(sa.inspect(conn).get_view_names())
        for name, sql in VIEWS.items():
            if name in existing and replace:
                conn.exec_driver_sql(f"DROP VIEW {name}")
            if name not in existing or replace:
                conn.exec_driver_sql(f"CREATE VIEW {name} AS\n{sql}")
