"""Data-quality checks of the pifu tables, as Great Expectations (1.x) suites.

    from expectations import run_checks, CHECKS
    dq = run_checks({"fact_funding": ..., "fact_indicator_value": ..., "fact_document": ...,
                     "dim_department": ..., "dim_indicator": ...}, run_id, checked_at,
                    reference={"fact_document": ..., "fact_funding": ...})  # optional: earlier documents

`run_checks` returns a table shaped as `pifu.schema.SCHEMAS["dq_result"]`. Tables not given are not
checked; the dims only lend names to the messages. `CHECKS` (expectations.registry) maps every check
name, which is also its Dagster asset-check name, to its table, severity and description.

Layout: one module per table, each with its GX suite (`suite()`, named after the table), `derive()`
(a pandas DataFrame aligned row for row with the table: per check, a boolean column named after the
check marking the rows it looks at, plus the measures its expectations read), and `DESCRIBE` (the
dq_result text of failing rows). GX validates the derived frame through a pandas data source
(`whole_dataframe` batch); its unexpected index list gives the failing rows (expectations.runner).
Group values are computed with numpy on integer codes (expectations.groups), sums exactly (expectations.exact).

  funding.py    suite fact_funding          components sum, shares, shares sum, income = expenditure, keys,
                                            earlier years = the department's own document of that year
  history.py    (for funding.py)            the earlier documents' amounts, joined to the history rows
  indicators.py suite fact_indicator_value  value ranges, annual vs long-term targets, keys
  documents.py  suite fact_document         document keys, one current version per department-year

Adding a check takes a few lines, in the registry and the table's module:
  1. registry.CHECKS["my_check"] = CheckSpec("fact_funding", "warning", "what it asserts", "things checked")
  2. in derive(): d["my_check"] = <bool mask of the rows it looks at>; d["my_measure"] = <float column>,
     and add "my_measure" to GX_COLUMNS;
  3. in suite(): expect("my_check", gx.expectations.ExpectColumnValuesToBeBetween, column="my_measure",
     max_value=0)  (`expect` restricts it to the masked rows and sets meta["check"] and the severity);
  4. DESCRIBE["my_check"] = a function (rows, lookup) -> [(document_id, row_ref, observed, expected, message,
     cells)], cells: the source_cell of each row the finding involves, the failing row's first (they give
     dq_result.source_cell, and the problems pifu recorded on them its attribution: pifu.attribution).
  tests/test_expectations.py checks that every CHECKS entry has an expectation and a DESCRIBE.
"""
from __future__ import annotations

from datetime import datetime

from expectations.registry import CHECKS, CheckSpec

__all__ = ["CHECKS", "CheckSpec", "run_checks", "warm_up"]


def warm_up() -> None:
    """Import GX and build its context ahead of use (~3 s). Only from the thread that will run the
    checks: importing GX in a second thread while another imported SQLAlchemy failed runs with
    "partially initialized module 'sqlalchemy.orm.exc'"."""
    from expectations.gxrun import _context

    _context()


def run_checks(tables, run_id: str, checked_at: datetime, reference=None, validations=None, frames=None,
               timings=None):
    """dq_result rows for the given tables (see module doc). `reference`: optional {"fact_document",
    "fact_funding"} of documents loaded before (e.g. the lake's current snapshot), which
    funding_history_matches_previous_document compares with besides the run's own documents; only the
    run's documents get rows. `validations`: a list that receives each suite's GX validation result
    (expectations.datadocs stores them for the Data Docs; this imports GX, ~4 s, once per process).
    Without `validations` the verdicts come from expectations.fast and GX is not imported. `frames`: a
    dict that receives each suite's checked frame (expectations.datadocs can validate them later, in
    another process). `timings`: a dict that receives seconds per phase."""
    from expectations.runner import run_checks as run

    return run(tables, run_id, checked_at, reference, validations, frames, timings)
