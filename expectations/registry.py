"""Every data-quality check by name: the table (Dagster asset and GX suite) it belongs to, its severity.

The key is the check's name everywhere: `dq_result.check_name`, the Dagster asset-check name, and
`meta["check"]` of the GX expectation(s) that decide it. Severity is 'warning' when the source
document contradicts itself (the pipeline read it faithfully; a person must look at the file) and
'error' when the pipeline broke one of its own invariants (duplicate grain keys).
"""
from __future__ import annotations

from typing import NamedTuple


class CheckSpec(NamedTuple):
    table: str  # the asset the Dagster check attaches to; also the GX suite's name
    severity: str  # 'warning' | 'error'
    description: str
    subject: str  # what the checked rows are (plural), for the passed row's message


CHECKS: dict[str, CheckSpec] = {
    "funding_components_sum_to_total": CheckSpec(
        "fact_funding", "warning",
        "Per document, flow and year the non-合计 items add up to 合计, within half a unit of the last "
        "stated digit of each item and of 合计. Groups with an item missing for that year are skipped.",
        "flow/year groups"),
    "funding_share_matches_amount": CheckSpec(
        "fact_funding", "warning",
        "Each stated share equals amount / 合计 × 100, allowing the share's own rounding (half a unit of "
        "its last digit) and whatever the rounding of the amount and of 合计 can move the quotient.",
        "stated shares"),
    "funding_shares_sum_to_100": CheckSpec(
        "fact_funding", "warning",
        "The stated shares of a flow's items (excluding 合计) add up to 100 within half a unit of each "
        "share's last digit. Skipped when an item states no share.",
        "flow/year groups"),
    "income_equals_expenditure": CheckSpec(
        "fact_funding", "warning",
        "Income 合计 equals expenditure 合计 for the document's fiscal year, within half a unit of the "
        "last stated digit of each.",
        "fiscal-year balances"),
    "funding_history_matches_previous_document": CheckSpec(
        "fact_funding", "warning",
        "Each amount a document states for an earlier year (year < fiscal_year) equals the amount the same "
        "department's current document for that year states as its own, same flow and item, within half a "
        "unit of the last stated digit of each. Earlier documents come from the run and from the lake; "
        "amounts without a counterpart are skipped.",
        "earlier-year amounts with a counterpart"),
    "fact_funding_keys_unique": CheckSpec(
        "fact_funding", "error",
        "No two fact_funding rows share document × flow × item × year.",
        "funding rows"),
    "indicator_value_in_range": CheckSpec(
        "fact_indicator_value", "warning",
        "Numeric targets in % lie in [0, 100] (a target over 100% is reported here); targets counted in "
        "people, times, units (人, 人次, 个, 次, 户, 家, 项, …) are not negative.",
        "numeric targets in % or counts"),
    "annual_contradicts_long_term": CheckSpec(
        "fact_indicator_value", "warning",
        "The fiscal year's annual target of an indicator is not looser than its long-term target in "
        "the same unit when that states a direction (long-term ≥95% with annual ≥90% fails; annual ≥98% "
        "passes; a bare long-term 100% is not compared: it may mean at least or at most).",
        "annual targets with a long-term target"),
    "fact_indicator_value_keys_unique": CheckSpec(
        "fact_indicator_value", "error",
        "No two fact_indicator_value rows share document × indicator × horizon × year.",
        "indicator rows"),
    "fact_document_keys_unique": CheckSpec(
        "fact_document", "error",
        "No two fact_document rows share a document_id.",
        "document rows"),
    "document_single_current": CheckSpec(
        "fact_document", "error",
        "At most one current document (is_current) per department and fiscal year.",
        "current documents"),
}

# GX's own scale for `Expectation.severity`.
GX_SEVERITY = {"warning": "warning", "error": "critical", "info": "info"}
