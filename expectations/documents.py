"""The GX suite `fact_document`: pipeline invariants of the document versions.

- fact_document_keys_unique, on every row: document_id (derived from the file's sha256) is unique.
- document_single_current, on current rows: at most one is_current version per department × fiscal year.
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from expectations import exact as ex
from expectations.groups import codes, per_group
from expectations.rules import compound_unique, unique
from expectations.lookup import Lookup, by_key

TABLE = "fact_document"
GX_COLUMNS = ["document_id", "department_id", "fiscal_year"]


RULES = [
    unique("fact_document_keys_unique", "document_id"),
    compound_unique("document_single_current", ["department_id", "fiscal_year"]),
]


def suite():
    """The GX suite of RULES (imports GX)."""
    from expectations.gxrun import suite_of

    return suite_of(TABLE, RULES)


def derive(tables: dict[str, pa.Table]) -> pd.DataFrame:
    t = tables[TABLE]
    doc, department = ex.categorical(t["document_id"]), ex.categorical(t["department_id"])
    fiscal = ex.numbers(t["fiscal_year"])
    current = t["is_current"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    versions = per_group(codes(department.codes, fiscal), {"current_versions": ("sum", current)})
    return pd.DataFrame({
        "document_id": doc, "department_id": department, "fiscal_year": fiscal,
        "current_versions": versions["current_versions"],
        "fact_document_keys_unique": True, "document_single_current": current,
    })


def _doc(r: dict, look: Lookup) -> str:
    return f"{look.department(r['department_id'])} FY{r['fiscal_year']}"


def _duplicates(rows: list[dict], look: Lookup) -> list[tuple]:
    out = []
    for (document_id, ref), dup in by_key(rows, lambda r: r["document_id"]).items():
        paths = ", ".join(sorted({str(x["source_path"]) for x in dup}))
        message = (f"{_doc(dup[0], look)}: fact_document holds {len(dup)} rows for document {document_id} ({paths}); "
                   f"a document is loaded once per sha256. The loader duplicated it: a pipeline bug.")
        out.append((document_id, ref, f"{len(dup)} rows", "1 row", message))
    return out


def _current(rows: list[dict], look: Lookup) -> list[tuple]:
    out = []
    for _, (r, *_) in by_key(rows, lambda r: f"{r['department_id']}/{r['fiscal_year']}").items():
        n = int(r["current_versions"])
        message = (f"{_doc(r, look)}: document {r['document_id']} ({r['source_path']}) is marked current, and so "
                   f"are {n - 1} other version(s) of the same department and year; exactly one may be. The "
                   f"loader's is_current update is broken: a pipeline bug.")
        out.append((r["document_id"], f"{r['department_id']}/{r['fiscal_year']}", f"{n} current versions",
                    "1 current version", message))
    return out


DESCRIBE = {
    "fact_document_keys_unique": _duplicates,
    "document_single_current": _current,
}
