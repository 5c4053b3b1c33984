"""Views the report (pifu.report) reads besides the BI views, for BI tools too: current documents only,
one SQL text for DuckDB and PostgreSQL, each self-contained like those of warehouse.views.

- v_funding_items: each current document's funding items for its own fiscal year (合计 rows too), with
  department and region: the income and expenditure mix by department, region and year.
- v_findings: every failing data-quality check of a current document, with where it is in the source
  (file and cells), its attribution (source | extraction) and the problem code that explains it.
"""
from __future__ import annotations

_CURRENT = """current_doc AS (
    SELECT document_id, department_id, fiscal_year, source_path, format
    FROM fact_document
    WHERE is_current
)"""

V_FUNDING_ITEMS = f"""WITH {_CURRENT}
SELECT c.department_id, d.department_name, d.region, c.fiscal_year AS year, f.flow, f.item,
    f.amount, f.share_pct, c.document_id, f.source_cell
FROM current_doc c
JOIN fact_funding f ON f.document_id = c.document_id AND f.year = c.fiscal_year
LEFT JOIN dim_department d ON d.department_id = c.department_id"""

V_FINDINGS = f"""WITH {_CURRENT}
SELECT c.department_id, d.department_name, d.region, c.fiscal_year, c.document_id,
    COALESCE(q.source_path, c.source_path) AS source_path, c.format,
    q.check_name, q.severity, q.row_ref, q.source_cell, q.observed, q.expected,
    q.attribution, q.problem_code, q.message, q.run_id, q.checked_at
FROM dq_result q
JOIN current_doc c ON c.document_id = q.document_id
LEFT JOIN dim_department d ON d.department_id = c.department_id
WHERE NOT q.passed"""

REPORT_VIEWS = {
    "v_funding_items": V_FUNDING_ITEMS,
    "v_findings": V_FINDINGS,
}
