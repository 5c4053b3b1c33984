"""run_checks: derive each table's check frame, evaluate its rules, write dq_result rows.

The verdicts come from expectations.fast (numpy over the rules of expectations.rules: no GX import,
milliseconds); when the caller asks for GX validation results (`validations`, for the Data Docs) the
frame is validated by GX too, and GX's failing rows must be the same (they are: the rules are one
definition; tests/test_expectations_fast.py compares them on every corpus).

Per check and document: one passed=True row (row_ref null) when every row the check looked at
passes; otherwise one passed=False row per failing row_ref (a group such as expenditure/2023, a
stated share, a duplicated key). A document the check could not look at gets no row.
"""
from __future__ import annotations

import functools
import time
import re
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations import documents, funding, indicators
from expectations import fast
from expectations.lookup import Lookup, lookup_of
from expectations.registry import CHECKS
from pifu import attribution
from pifu.schema import SCHEMAS

MODULES = (funding, indicators, documents)
_COLUMNS = ["check_name", "document_id", "row_ref", "severity", "passed", "observed", "expected", "message",
            "source_cell", "attribution", "problem_code"]
_ROW_SCHEMA = pa.schema([SCHEMAS["dq_result"].field(name) for name in _COLUMNS])


@functools.cache
def _suite(module):
    """Each GX suite built once per process (GX imported on first use)."""
    return module.suite()


def run_checks(tables: dict[str, pa.Table], run_id: str, checked_at: datetime,
               reference: dict[str, pa.Table] | None = None, validations: list | None = None,
               frames: dict | None = None, timings: dict | None = None) -> pa.Table:
    """`validations`: when a list, receives each suite's GX validation result (for the Data Docs; imports
    GX). `frames`: a dict that receives each suite's checked frame by suite name, or a callable given
    (suite, frame) as each is checked (so the Data Docs can be built later, elsewhere). `timings`: when a dict, receives seconds spent deriving, evaluating,
    validating with GX and describing."""
    clock = timings if timings is not None else {}
    for key in ("derive", "evaluate", "gx_validate", "describe"):
        clock.setdefault(key, 0.0)
    look = lookup_of(tables)
    problems = _Problems(tables.get("fact_problem"))
    parts: list[pa.Table] = []  # dq_result rows, in the order they are found
    for module in MODULES:
        source = tables.get(module.TABLE)
        if source is None:
            continue
        # Only fact_funding looks beyond the run: its history check compares with earlier documents.
        t = time.perf_counter()
        frame = funding.derive(tables, reference) if module is funding else module.derive(tables)
        checks = [c for c, spec in CHECKS.items() if spec.table == module.TABLE]
        checked = frame[module.GX_COLUMNS + checks]
        t, clock["derive"] = time.perf_counter(), clock["derive"] + time.perf_counter() - t
        failing = fast.unexpected_rows(module.RULES, checked)
        t, clock["evaluate"] = time.perf_counter(), clock["evaluate"] + time.perf_counter() - t
        if validations is not None:
            from expectations.gxrun import unexpected_rows

            by_gx = unexpected_rows(_suite(module), checked, validations)
            if {c: set(v) for c, v in by_gx.items() if v} != {c: set(v) for c, v in failing.items() if v}:
                raise RuntimeError(f"GX and expectations.fast disagree on {module.TABLE}: a rule's semantics "
                                   "differ; report this as a pifu bug")
            t, clock["gx_validate"] = time.perf_counter(), clock["gx_validate"] + time.perf_counter() - t
        if callable(frames):
            frames(module.TABLE, checked)  # e.g. expectations.datadocs.Pending: written now, not kept
        elif frames is not None:
            frames[module.TABLE] = checked
        docs = _documents(source, frame, look)
        # Every check's failing rows read at once: most columns cost the same for 1 row or 200.
        records = _failing_rows(source, frame, sorted(set().union(*failing.values())))
        problems.read({r["document_id"] for r in records.values()})
        for check in checks:
            rows = [dict(records[i]) for i in sorted(failing.get(check, ()))]
            parts += _results(check, frame, rows, module.DESCRIBE[check], look, docs, problems.found)
        clock["describe"] += time.perf_counter() - t
        del frame, checked  # before the next table's frame is derived: one at a time in memory
    return _table(parts, run_id, checked_at, tables.get("fact_document"))


class _Documents(NamedTuple):
    """The table's documents by code (the frame's document_id categories)."""
    codes: np.ndarray  # per row: its document's code, -1 for none
    ids: pa.Array  # per code: the document_id
    prefixes: pa.Array  # per code: "<department name> FY<fiscal year>: ", the passed row's message opening


def _documents(source: pa.Table, frame: pd.DataFrame, look: Lookup) -> _Documents:
    """Per document code: its id, and its department and fiscal year (from its first row) as the message
    opening of its passed rows."""
    doc_codes = frame["document_id"].cat.codes.to_numpy()
    ids = pa.array(frame["document_id"].cat.categories, pa.string())
    first = np.full(len(ids), 0, dtype=np.int64)
    valid = doc_codes >= 0
    present, idx = np.unique(doc_codes[valid], return_index=True)
    first[present] = np.nonzero(valid)[0][idx]
    take = pa.array(first)
    openings = _openings(look, source["department_id"].take(take), source["fiscal_year"].take(take))
    return _Documents(doc_codes, ids, openings)


def _openings(look: Lookup, departments: pa.ChunkedArray, years: pa.ChunkedArray) -> pa.Array:
    """f"{look.department(d)} FY{y}: " for each department_id d and fiscal year y, with Arrow."""
    known = look.cache.get("departments")
    if known is None:
        known = look.cache["departments"] = (pa.array(list(look.departments), pa.string()),
                                            pa.array(list(look.departments.values()), pa.string()))
    names = pc.take(known[1], pc.index_in(departments, value_set=known[0]))
    named = pc.fill_null(pc.not_equal(names, ""), False)  # Lookup.department: a name, if not empty
    unnamed = pc.binary_join_element_wise("department ", pc.fill_null(departments, "None"), "")
    years = pc.fill_null(pc.cast(years, pa.string()), "None")
    return pc.binary_join_element_wise(pc.if_else(named, names, unnamed), " FY", years, ": ", "").combine_chunks()


def _results(check, frame, failing: list[dict], describe, look: Lookup, docs: _Documents, problems) -> list[pa.Table]:
    """The check's dq_result rows (less run_id, checked_at, source_path, result_no): its failing rows
    (`failing`: as dicts, _failing_rows) as `describe` words them, then one passed row per document it
    looked at that has none failing, in document code order."""
    spec = CHECKS[check]
    out = []
    if failing:
        for document_id, row_ref, observed, expected, message, *cells in describe(failing, look):
            cells = list(dict.fromkeys(c for c in (cells[0] if cells else ()) if c))  # distinct, in order
            code = next((problems[document_id, c] for c in cells if (document_id, c) in problems), None)
            who = attribution.EXTRACTION if code or spec.severity == "error" else attribution.SOURCE
            out.append((check, document_id, row_ref, spec.severity, False, observed, expected, message,
                        "; ".join(cells) or None, who, code))
    applies = frame[check].to_numpy(dtype=bool) & (docs.codes >= 0)
    counts = np.bincount(docs.codes[applies], minlength=len(docs.ids))
    passed = counts > 0
    if out:
        failed = pa.array({r[1] for r in out}, pa.string())
        passed &= ~pc.is_in(docs.ids, value_set=failed).to_numpy(zero_copy_only=False)
    tables = [_rows_table(out)] if out else []
    if passed.any():
        tables.append(_passed_table(check, spec, docs, np.nonzero(passed)[0], counts))
    return tables


def _failing_rows(source: pa.Table, frame: pd.DataFrame, failing: list[int]) -> dict[int, dict]:
    """The failing rows as dicts by row number: the frame's derived columns, then the source table's
    columns (a source column wins over a derived one of the same name). Column by column: pandas'
    to_dict("records") spends its time per row and cell."""
    if not failing:  # a clean table: no column to read
        return {}
    src = source.take(pa.array(failing, pa.int64()))
    names = [c for c in frame.columns if c not in src.column_names]
    columns = [_values(frame[c], failing) for c in names]
    names += src.column_names
    columns += [src[c].to_pylist() for c in src.column_names]
    return {i: dict(zip(names, values)) for i, values in zip(failing, zip(*columns))}


def _values(column: pd.Series, rows: list[int]) -> list:
    """column[rows] as Python values, as to_dict("records") gives them (a missing category: NaN)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array.take(rows).tolist()
    return column.to_numpy()[rows].tolist()


def _rows_table(rows: list[tuple]) -> pa.Table:
    schema = _ROW_SCHEMA
    return pa.table([pa.array(values, schema.field(name).type) for name, values in zip(_COLUMNS, zip(*rows))],
                    schema=schema)


def _passed_table(check: str, spec, docs: _Documents, which: np.ndarray, counts: np.ndarray) -> pa.Table:
    """Rows passed=True for the documents `which` (codes): "0 of n failing", built column-wise."""
    k = len(which)
    take = pa.array(which)
    n = pc.cast(pa.array(counts[which]), pa.string())
    message = pc.binary_join_element_wise(docs.prefixes.take(take), f"{spec.subject} checked: ", n,
                                          ", failing: 0.", "")
    null = pa.nulls(k, pa.string())
    columns = {
        "check_name": pa.repeat(pa.scalar(check, pa.string()), k), "document_id": docs.ids.take(take),
        "row_ref": null, "severity": pa.repeat(pa.scalar(spec.severity, pa.string()), k),
        "passed": pa.repeat(pa.scalar(True), k),
        "observed": pc.binary_join_element_wise("0 of ", n, " failing", ""),
        "expected": pa.repeat(pa.scalar("0 failing", pa.string()), k), "message": message,
        "source_cell": null, "attribution": null, "problem_code": null,
    }
    return pa.table([columns[name] for name in _COLUMNS], schema=_ROW_SCHEMA)


def _order(keys: list[pa.ChunkedArray]) -> np.ndarray:
    """The rows in the order of sort_by(ascending, nulls last; stable) on string keys: each key ranked
    through its few distinct values, then one numpy lexsort on the integer ranks (Arrow compares the
    long strings of every row otherwise)."""
    ranks = []
    for key in keys:
        encoded = key.combine_chunks().dictionary_encode()
        rank = np.empty(len(encoded.dictionary) + 1, dtype=np.int64)  # the last: null, after every value
        rank[pc.sort_indices(encoded.dictionary).to_numpy()] = np.arange(len(encoded.dictionary))
        rank[-1] = len(encoded.dictionary)
        ranks.append(rank[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)])
    return np.lexsort(ranks[::-1])


class _Problems:
    """(document_id, location) -> the first problem pifu recorded there that can explain a finding
    (pifu.attribution.explains), in `found`; only the documents `read` asks for (those with failing
    rows: a few percent of them) go through Python."""

    def __init__(self, fact_problem: pa.Table | None):
        self.found: dict[tuple[str, str], str] = {}
        self._read: set = set()
        self._source = fact_problem
        self._table = None  # the problems that can explain a finding, on the first read (none if all pass)

    def read(self, document_ids: set) -> None:
        new = document_ids - self._read
        if not new or self._source is None or not self._source.num_rows:
            return
        self._read |= new
        if self._table is None:
            self._table = self._explaining(self._source)
        t = self._table.filter(pc.is_in(self._table["document_id"], value_set=pa.array(list(new), pa.string())))
        for doc, where, code in zip(*(t[c].to_pylist() for c in ("document_id", "location", "code"))):
            self.found.setdefault((doc, where), code)
            self.found.setdefault((doc, _ROW_OF_CELL.sub(r"\1", where)), code)  # a cell's problem is on its row

    @staticmethod
    def _explaining(fact_problem: pa.Table) -> pa.Table:
        # Only the problems that can explain a finding, found on the few distinct codes, not per row.
        codes = fact_problem["code"].combine_chunks()
        explaining = pa.array([c for c in pc.unique(codes).to_pylist() if attribution.explains(c)], codes.type)
        where = fact_problem["location"]
        keep = pc.and_(pc.is_in(codes, value_set=explaining), pc.and_(pc.is_valid(where), pc.not_equal(where, "")))
        # First by problem_no within each document (the keys hold the document: documents never mix).
        return fact_problem.filter(pc.fill_null(keep, False)).sort_by([("problem_no", "ascending")])


# A cell's provenance less its column: "sheet 表 R12C3" -> "sheet 表 R12", "page 2 row 7 col 3" -> "page 2 row 7".
_ROW_OF_CELL = re.compile(r"((?:\bR\d+)|(?:\brow \d+))(?:C\d+| col \d+)$")


def _source_paths(fact_document: pa.Table | None, document_ids: pa.ChunkedArray) -> pa.Array:
    """Each row's document's source_path (the last fact_document row of that id wins, as a dict would)."""
    if fact_document is None:
        return pa.nulls(len(document_ids), pa.string())
    ids, paths = (fact_document[c].combine_chunks()[::-1] for c in ("document_id", "source_path"))
    return pc.cast(paths.take(pc.index_in(document_ids, value_set=ids)), pa.string())


def _table(parts: list[pa.Table], run_id: str, checked_at: datetime, fact_document: pa.Table | None) -> pa.Table:
    schema = SCHEMAS["dq_result"]
    if checked_at.tzinfo is None:
        checked_at = checked_at.replace(tzinfo=timezone.utc)
    rows = pa.concat_tables(parts) if parts else _ROW_SCHEMA.empty_table()
    n = rows.num_rows
    data = {name: rows[name] for name in _COLUMNS}
    data["run_id"] = pa.repeat(pa.scalar(run_id, pa.string()), n)
    data["checked_at"] = pa.repeat(pa.scalar(checked_at, schema.field("checked_at").type), n)
    data["source_path"] = _source_paths(fact_document, rows["document_id"])
    data["result_no"] = pa.nulls(n, pa.int32())
    t = pa.table(data, schema=schema)
    t = t.take(_order([t["check_name"], t["document_id"], t["row_ref"]]))
    # Numbered after sorting: (run_id, result_no) is the row's key in the lake and the warehouse.
    return t.set_column(schema.get_field_index("result_no"), "result_no", pa.array(np.arange(1, n + 1, dtype=np.int32)))
