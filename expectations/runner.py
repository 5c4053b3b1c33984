"""run_checks: derive each table's check frame, validate it with its GX suite, write dq_result rows.

Per check and document: one passed=True row (row_ref null) when every row the check looked at
passes; otherwise one passed=False row per failing row_ref (a group such as expenditure/2023, a
stated share, a duplicated key). A document the check could not look at gets no row.
"""
from __future__ import annotations

import functools
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from expectations import documents, funding, indicators
from expectations.gxrun import unexpected_rows
from expectations.lookup import Lookup, lookup_of
from expectations.registry import CHECKS
from pifu import attribution
from pifu.schema import SCHEMAS

MODULES = (funding, indicators, documents)
_COLUMNS = ["check_name", "document_id", "row_ref", "severity", "passed", "observed", "expected", "message",
            "source_cell", "attribution", "problem_code"]


@functools.cache
def _suite(module):
    return module.suite()


def run_checks(tables: dict[str, pa.Table], run_id: str, checked_at: datetime,
               reference: dict[str, pa.Table] | None = None, validations: list | None = None) -> pa.Table:
    """`validations`: when a list, receives each suite's GX validation result (for the Data Docs)."""
    look = lookup_of(tables)
    problems = _extraction_problems(tables.get("fact_problem"))
    rows: list[tuple] = []
    for module in MODULES:
        source = tables.get(module.TABLE)
        if source is None:
            continue
        # Only fact_funding looks beyond the run: its history check compares with earlier documents.
        frame = funding.derive(tables, reference) if module is funding else module.derive(tables)
        checks = [c for c, spec in CHECKS.items() if spec.table == module.TABLE]
        failing = unexpected_rows(_suite(module), frame[module.GX_COLUMNS + checks], validations)
        docs = _documents(source, frame)
        for check in checks:
            rows += _results(check, source, frame, sorted(failing.get(check, ())), module.DESCRIBE[check], look, docs,
                             problems)
    return _table(rows, run_id, checked_at, _source_paths(tables.get("fact_document")))


def _documents(source: pa.Table, frame: pd.DataFrame) -> tuple[np.ndarray, list, list, list]:
    """Per document code: its id, department and fiscal year (from its first row)."""
    doc_codes = frame["document_id"].cat.codes.to_numpy()
    ids = list(frame["document_id"].cat.categories)
    first = np.full(len(ids), 0, dtype=np.int64)
    valid = doc_codes >= 0
    present, idx = np.unique(doc_codes[valid], return_index=True)
    first[present] = np.nonzero(valid)[0][idx]
    take = pa.array(first)
    return doc_codes, ids, source["department_id"].take(take).to_pylist(), source["fiscal_year"].take(take).to_pylist()


def _results(check, source, frame, failing, describe, look: Lookup, docs, problems) -> list[tuple]:
    spec = CHECKS[check]
    doc_codes, ids, departments, years = docs
    out = []
    if failing:
        derived = frame.iloc[failing].to_dict("records")
        src = source.take(pa.array(failing, pa.int64())).to_pylist()
        for document_id, row_ref, observed, expected, message, *cells in describe(
                [{**d, **s} for d, s in zip(derived, src)], look):
            cells = list(dict.fromkeys(c for c in (cells[0] if cells else ()) if c))  # distinct, in order
            code = next((problems[document_id, c] for c in cells if (document_id, c) in problems), None)
            who = attribution.EXTRACTION if code or spec.severity == "error" else attribution.SOURCE
            out.append((check, document_id, row_ref, spec.severity, False, observed, expected, message,
                        "; ".join(cells) or None, who, code))
    failed = {r[1] for r in out}
    applies = frame[check].to_numpy(dtype=bool) & (doc_codes >= 0)
    counts = np.bincount(doc_codes[applies], minlength=len(ids))
    for code in np.nonzero(counts)[0]:
        if ids[code] in failed:
            continue
        n = int(counts[code])
        out.append((check, ids[code], None, spec.severity, True, f"0 of {n} failing", "0 failing",
                    f"{look.department(departments[code])} FY{years[code]}: {spec.subject} checked: {n}, failing: 0.",
                    None, None, None))
    return out


def _extraction_problems(fact_problem: pa.Table | None) -> dict[tuple[str, str], str]:
    """(document_id, location) -> the first problem pifu recorded there that can explain a finding
    (pifu.attribution.explains)."""
    if fact_problem is None or not fact_problem.num_rows:
        return {}
    t = fact_problem.sort_by([("document_id", "ascending"), ("problem_no", "ascending")])
    out: dict[tuple[str, str], str] = {}
    for doc, where, code in zip(*(t[c].to_pylist() for c in ("document_id", "location", "code"))):
        if where and attribution.explains(code):
            out.setdefault((doc, where), code)
            out.setdefault((doc, _ROW_OF_CELL.sub(r"\1", where)), code)  # a cell's problem is on its row
    return out


# A cell's provenance less its column: "sheet 表 R12C3" -> "sheet 表 R12", "page 2 row 7 col 3" -> "page 2 row 7".
_ROW_OF_CELL = re.compile(r"((?:\bR\d+)|(?:\brow \d+))(?:C\d+| col \d+)$")


def _source_paths(fact_document: pa.Table | None) -> dict[str, str]:
    if fact_document is None:
        return {}
    return dict(zip(fact_document["document_id"].to_pylist(), fact_document["source_path"].to_pylist()))


def _table(rows: list[tuple], run_id: str, checked_at: datetime, paths: dict[str, str]) -> pa.Table:
    schema = SCHEMAS["dq_result"]
    if checked_at.tzinfo is None:
        checked_at = checked_at.replace(tzinfo=timezone.utc)
    columns = list(zip(*rows)) if rows else [()] * len(_COLUMNS)
    data = {name: pa.array(values, schema.field(name).type) for name, values in zip(_COLUMNS, columns)}
    data["run_id"] = pa.array([run_id] * len(rows), pa.string())
    data["checked_at"] = pa.array([checked_at] * len(rows), schema.field("checked_at").type)
    data["source_path"] = pa.array([paths.get(r[1]) for r in rows], pa.string())
    data["result_no"] = pa.nulls(len(rows), pa.int32())
    t = pa.table(data, schema=schema)
    t = t.sort_by([("check_name", "ascending"), ("document_id", "ascending"), ("row_ref", "ascending")])
    # Numbered after sorting: (run_id, result_no) is the row's key in the lake and the warehouse.
    return t.set_column(schema.get_field_index("result_no"), "result_no", pa.array(range(1, len(rows) + 1), pa.int32()))
