"""What messages need beyond the failing row: department and indicator names, other rows."""
from __future__ import annotations

from typing import Callable, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc


class Lookup(NamedTuple):
    departments: dict[str, str]
    indicators: dict[str, tuple[str, str, str]]
    tables: dict[str, pa.Table]
    cache: dict  # what lookups found, kept for the run's other checks

    def department(self, department_id: str | None) -> str:
        return self.departments.get(department_id) or f"department {department_id}"

    def indicator(self, indicator_id: str | None) -> str:
        lv = self.indicators.get(indicator_id)
        if not lv:
            return f"indicator {indicator_id}"
        lv1, lv2, lv3 = lv
        return f"{lv3} ({lv1}/{lv2})"

    def row(self, table: str, index: int) -> dict:
        return self.tables[table].slice(int(index), 1).to_pylist()[0]

    def funding_cells(self, rows: list[dict]) -> dict[tuple, list[tuple[str, str]]]:
        """(document_id, flow, year) of each row -> [(item, source_cell)] of that group's rows, in file
        order: the cells a group finding (items vs 合计, shares) involves. One filter for the documents
        not looked up before in this run (several checks describe rows of the same documents)."""
        f = self.tables.get("fact_funding")
        if f is None or not rows:
            return {}
        known = self.cache.setdefault("funding_cells", {})  # document_id -> its groups
        wanted = {r["document_id"] for r in rows}
        new = sorted(wanted - known.keys())
        if new:
            has_cell = pc.fill_null(pc.not_equal(f["source_cell"], ""), False)
            f = f.filter(pc.and_(pc.is_in(f["document_id"], pa.array(new, pa.string())), has_cell))
            # File order: by line (unknown last), ties in table order (Arrow's sort is stable).
            f = f.sort_by([("line", "ascending")])
            known.update((d, {}) for d in new)
            columns = (f[c].to_pylist() for c in ("document_id", "flow", "year", "item", "source_cell"))
            for doc, flow, year, item, cell in zip(*columns):
                known[doc].setdefault((doc, flow, year), []).append((item, cell))
        out: dict[tuple, list] = {}
        for doc in wanted:
            out.update(known[doc])
        return out


def cell_of(r: dict) -> str:
    """Where a row is in its file, in the file's own terms (line 12, sheet 表 R12C3); its grid line if unknown."""
    return r.get("source_cell") or f"line {r['line']}"


def lookup_of(tables: dict[str, pa.Table]) -> Lookup:
    """Names from dim_department / dim_indicator when given; ids stand in for names otherwise."""
    dep, ind = tables.get("dim_department"), tables.get("dim_indicator")
    departments = {}
    if dep is not None:
        departments = dict(zip(dep["department_id"].to_pylist(), dep["department_name"].to_pylist()))
    indicators = {}
    if ind is not None:
        cols = [ind[c].to_pylist() for c in ("indicator_id", "lv1", "lv2", "lv3")]
        indicators = {i: (a, b, c) for i, a, b, c in zip(*cols)}
    return Lookup(departments, indicators, tables, {})


def by_key(rows: list[dict], ref: Callable[[dict], str]) -> dict[tuple[str, str], list[dict]]:
    """Failing rows grouped by (document_id, row_ref), in order: one dq_result row per duplicated key."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["document_id"], ref(r)), []).append(r)
    return groups
