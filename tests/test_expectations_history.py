"""funding_history_matches_previous_document on hand-built tables: a document's amounts for the two
years before its fiscal year against the department's own (current) documents of those years, from
the run and from a reference (the lake)."""
from __future__ import annotations

import hashlib
import io
import random
from datetime import datetime, timezone
from decimal import Decimal as D

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from expectations import funding, run_checks
from expectations.history import current_documents
from pifu import lake
from pifu.generate import REGIONS, generate_document
from pifu.normalize import document_id
from pifu.schema import SCHEMAS

CHECK = "funding_history_matches_previous_document"
DEP, OTHER = "dep-ezhou", "dep-wuhan"
LOADED = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
EARLIER = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
AT = datetime(2025, 3, 2, tzinfo=timezone.utc)


def _digits(text: str) -> int:
    return len(text.partition(".")[2])


def lines(document_id: str, fiscal_year: int, amounts: dict, department_id: str = DEP) -> list[dict]:
    """fact_funding rows from {(flow, item, year): "amount as written" or None (an empty cell)}."""
    return [{
        "document_id": document_id, "department_id": department_id, "fiscal_year": fiscal_year,
        "flow": flow, "item": item, "year": year, "amount": None if text is None else D(text),
        "share_pct": None, "amount_digits": None if text is None else _digits(text), "share_digits": None,
        "line": line,
    } for line, ((flow, item, year), text) in enumerate(amounts.items(), start=7)]


def document(document_id: str, fiscal_year: int, *, current: bool = True, loaded_at: datetime = LOADED,
             department_id: str = DEP) -> dict:
    return {"document_id": document_id, "department_id": department_id, "fiscal_year": fiscal_year,
            "source_path": f"/in/{document_id}.txt", "sha256": document_id * 4, "format": "text",
            "encoding": "utf-8", "is_current": current, "loaded_at": loaded_at, "problem_count": 0}


def tables(documents: list[dict], rows: list[dict]) -> dict[str, pa.Table]:
    return {"fact_document": pa.Table.from_pylist(documents, schema=SCHEMAS["fact_document"]),
            "fact_funding": pa.Table.from_pylist(rows, schema=SCHEMAS["fact_funding"]),
            "dim_department": pa.Table.from_pylist(
                [{"department_id": DEP, "department_name": "鄂州市总工会", "region": "鄂州市"}],
                schema=SCHEMAS["dim_department"])}


def y2025(**history) -> dict:
    """The FY2025 document's expenditure lines: 2025 plus the history years as given (None: empty)."""
    stated = {("expenditure", "人员类项目支出", 2025): "491.42", ("expenditure", "合计", 2025): "983.71"}
    defaults = {("expenditure", "人员类项目支出", 2024): "500.1", ("expenditure", "合计", 2024): "998.71",
                ("expenditure", "人员类项目支出", 2023): "700.24", ("expenditure", "合计", 2023): "1058.85"}
    for (flow, item, year), text in defaults.items():
        stated[(flow, item, year)] = history.get(f"{'total' if item == '合计' else 'staff'}_{year}", text)
    return stated


def own(year: int, staff: str | None, total: str | None, history: str = "1.00") -> dict:
    """A document of `year` stating its own year (and one history line that nothing answers)."""
    return {("expenditure", "人员类项目支出", year): staff, ("expenditure", "合计", year): total,
            ("expenditure", "合计", year - 2): history}


def rows_of(out: pa.Table) -> list[dict]:
    return [r for r in out.to_pylist() if r["check_name"] == CHECK]


def check(documents, rows, reference=None) -> list[dict]:
    return rows_of(run_checks(tables(documents, rows), "run-1", AT, reference=reference))


# ---------------------------------------------------------------- the run's own documents

def test_a_consistent_pair_passes_and_only_the_later_document_gets_a_row():
    rows = lines("d2025", 2025, y2025()) + lines("d2024", 2024, own(2024, "500.1", "998.71"))
    [row] = check([document("d2025", 2025), document("d2024", 2024)], rows)
    assert (row["document_id"], row["passed"], row["row_ref"], row["severity"]) == ("d2025", True, None, "warning")
    assert row["observed"] == "0 of 2 failing"  # 人员类 and 合计 of 2024; 2023 has no document
    assert row["message"].startswith("鄂州市总工会 FY2025:")


def test_a_disagreeing_amount_fails_naming_both_documents():
    rows = lines("d2025", 2025, y2025()) + lines("d2024", 2024, own(2024, "500.01", "998.71"))
    [row] = check([document("d2025", 2025), document("d2024", 2024)], rows)
    assert (row["document_id"], row["passed"], row["row_ref"]) == ("d2025", False, "expenditure/人员类项目支出/2024")
    assert (row["observed"], row["expected"]) == ("500.1", "500.01 ± 0.055")
    message = row["message"]
    assert "鄂州市总工会 FY2025" in message and "人员类项目支出 for 2024" in message
    assert "/in/d2025.txt" in message and "/in/d2024.txt" in message and "document d2024" in message
    assert "off by 0.09" in message and "line 7" in message


def test_both_history_years_are_compared():
    rows = (lines("d2025", 2025, y2025(total_2023="1058.95")) + lines("d2024", 2024, own(2024, "500.1", "998.71"))
            + lines("d2023", 2023, own(2023, "700.24", "1058.85")))
    docs = [document("d2025", 2025), document("d2024", 2024), document("d2023", 2023)]
    out = check(docs, rows)
    assert [(r["document_id"], r["passed"], r["row_ref"], r["observed"], r["expected"]) for r in out] == [
        ("d2025", False, "expenditure/合计/2023", "1058.95", "1058.85 ± 0.01")]
    frame = funding.derive(tables(docs, rows))
    assert int(frame[CHECK].sum()) == 4  # 2 items × 2 years of d2025; d2024's 2022 line has no document


@pytest.mark.parametrize("stated_2023, own_2023, passed, off_by, tolerance", [
    ("1058.85", "1058.8", True, 0.05, 0.055),  # two decimals against one: 0.005 + 0.05
    ("1058.85", "1058.9", True, 0.05, 0.055),
    ("1058.86", "1058.8", False, 0.06, 0.055),
    ("1058.85", "1058.79", False, 0.06, 0.01),  # two decimals each: 0.005 + 0.005
    ("1059", "1058.5", True, 0.5, 0.55),  # whole 万元 against one decimal: 0.5 + 0.05
])
def test_tolerance_is_the_rounding_of_both_stated_digits(stated_2023, own_2023, passed, off_by, tolerance):
    rows = lines("d2025", 2025, y2025(total_2023=stated_2023)) + lines("d2023", 2023, own(2023, "700.24", own_2023))
    docs = [document("d2025", 2025), document("d2023", 2023)]
    frame = funding.derive(tables(docs, rows))
    [total] = frame[frame[CHECK] & (frame["item"] == "合计")].itertuples()
    assert (total.history_off_by, total.history_tolerance) == (off_by, tolerance)
    out = check(docs, rows)
    if passed:
        assert [(r["passed"], r["observed"]) for r in out] == [(True, "0 of 2 failing")]
    else:
        [row] = out
        assert (row["passed"], row["row_ref"], row["observed"], row["expected"]) == (
            False, "expenditure/合计/2023", stated_2023, f"{own_2023} ± {tolerance}")


# ---------------------------------------------------------------- the reference (the lake)

def test_a_previous_document_only_in_the_reference_is_compared():
    run = tables([document("d2025", 2025)], lines("d2025", 2025, y2025()))
    lake = tables([document("d2024", 2024, loaded_at=EARLIER)], lines("d2024", 2024, own(2024, "500.1", "998.17")))
    assert rows_of(run_checks(run, "run-1", AT)) == []  # nothing to compare with
    [row] = rows_of(run_checks(run, "run-1", AT, reference=lake))
    assert (row["document_id"], row["passed"], row["row_ref"], row["observed"], row["expected"]) == (
        "d2025", False, "expenditure/合计/2024", "998.71", "998.17 ± 0.01")
    assert "/in/d2024.txt" in row["message"]


def test_a_document_in_both_the_run_and_the_reference_counts_once():
    docs = [document("d2025", 2025), document("d2024", 2024)]
    rows = lines("d2025", 2025, y2025()) + lines("d2024", 2024, own(2024, "500.1", "998.71"))
    lake = tables([document("d2024", 2024, loaded_at=EARLIER)], lines("d2024", 2024, own(2024, "500.1", "998.71")))
    [row] = check(docs, rows, reference=lake)
    assert (row["document_id"], row["passed"], row["observed"]) == ("d2025", True, "0 of 2 failing")


def test_a_superseded_version_is_ignored():
    # the lake holds two FY2024 versions: the old one (no longer current) disagrees, the current one agrees
    lake = tables([document("d2024-old", 2024, current=False, loaded_at=EARLIER),
                   document("d2024", 2024, loaded_at=EARLIER)],
                  lines("d2024-old", 2024, own(2024, "1", "2")) + lines("d2024", 2024, own(2024, "500.1", "998.71")))
    run = tables([document("d2025", 2025)], lines("d2025", 2025, y2025()))
    [row] = rows_of(run_checks(run, "run-1", AT, reference=lake))
    assert (row["passed"], row["observed"]) == (True, "0 of 2 failing")
    # …and the same within one run
    docs = [document("d2025", 2025), document("d2024-old", 2024, current=False), document("d2024", 2024)]
    rows = (lines("d2025", 2025, y2025()) + lines("d2024-old", 2024, own(2024, "1", "2"))
            + lines("d2024", 2024, own(2024, "500.1", "998.71")))
    [row] = check(docs, rows)
    assert (row["passed"], row["observed"]) == (True, "0 of 2 failing")


def test_a_new_version_in_the_run_supersedes_the_current_one_in_the_reference():
    lake = tables([document("d2024-old", 2024, loaded_at=EARLIER)], lines("d2024-old", 2024, own(2024, "1", "2")))
    docs = [document("d2025", 2025), document("d2024", 2024)]
    rows = lines("d2025", 2025, y2025()) + lines("d2024", 2024, own(2024, "500.1", "998.71"))
    [row] = check(docs, rows, reference=lake)
    assert (row["passed"], row["observed"]) == (True, "0 of 2 failing")
    current = current_documents(tables(docs, rows)["fact_document"], lake["fact_document"])
    assert sorted(zip(current["document_id"].to_pylist(), current["from_reference"].to_pylist())) == [
        ("d2024", False), ("d2025", False)]
    # without the run's new version the lake's current one counts, and disagrees
    only_2025 = tables([document("d2025", 2025)], lines("d2025", 2025, y2025()))
    failed = {r["row_ref"] for r in rows_of(run_checks(only_2025, "run-1", AT, reference=lake)) if not r["passed"]}
    assert failed == {"expenditure/人员类项目支出/2024", "expenditure/合计/2024"}


def test_a_superseded_later_document_of_the_run_is_still_checked():
    docs = [document("d2025-old", 2025, current=False), document("d2025", 2025), document("d2024", 2024)]
    rows = (lines("d2025-old", 2025, y2025(staff_2024="400")) + lines("d2025", 2025, y2025())
            + lines("d2024", 2024, own(2024, "500.1", "998.71")))
    out = {(r["document_id"], r["passed"], r["row_ref"]) for r in check(docs, rows)}
    assert out == {("d2025", True, None), ("d2025-old", False, "expenditure/人员类项目支出/2024")}


# ---------------------------------------------------------------- what is not compared

def test_missing_sides_are_not_checked():
    stated = y2025(staff_2024=None)  # the FY2025 document leaves 人员类 2024 empty
    stated[("expenditure", "运转类项目支出", 2024)] = "78.58"  # the FY2024 document has no such line
    docs = [document("d2025", 2025), document("d2024", 2024)]
    rows = lines("d2025", 2025, stated) + lines("d2024", 2024, own(2024, "1.23", "998.71"))
    [row] = check(docs, rows)
    assert (row["passed"], row["observed"]) == (True, "0 of 1 failing")  # only 合计 2024 has both sides
    # the FY2024 document's own amount empty: nothing left to compare, so no row at all
    rows = lines("d2025", 2025, stated) + lines("d2024", 2024, own(2024, "1.23", None))
    assert check(docs, rows) == []


def test_another_department_or_year_is_never_compared():
    docs = [document("d2025", 2025), document("w2024", 2024, department_id=OTHER), document("d2022", 2022)]
    rows = (lines("d2025", 2025, y2025()) + lines("w2024", 2024, own(2024, "1", "2"), department_id=OTHER)
            + lines("d2022", 2022, own(2022, "1", "2")))
    assert check(docs, rows) == []


def test_no_documents_table_and_empty_reference():
    rows = lines("d2025", 2025, y2025()) + lines("d2024", 2024, own(2024, "500.01", "998.71"))
    no_docs = {"fact_funding": pa.Table.from_pylist(rows, schema=SCHEMAS["fact_funding"])}
    empty = {name: SCHEMAS[name].empty_table() for name in ("fact_document", "fact_funding")}
    # without fact_document no version is known to be current: nothing is compared
    assert rows_of(run_checks(no_docs, "run-1", AT, reference=empty)) == []


# ---------------------------------------------------------------- the pipeline reads the lake

def test_the_pipeline_compares_with_the_lakes_earlier_documents(tmp_path, monkeypatch):
    from pipelines.run import run_pipeline  # Dagster: imported only where a pipeline runs

    for name, value in (("PIFU_DATA_DIR", tmp_path / "data"), ("DAGSTER_HOME", tmp_path / "dagster"),
                        ("PIFU_LAKE_DIR", tmp_path / "lake"), ("PIFU_WORKERS", "1"),
                        ("PIFU_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")):
        monkeypatch.setenv(name, str(value))
    years = frozenset({2024, 2025, 2026})

    def write(folder: str, name: str, year: int, errors: float = 0.0, seed: str = "") -> tuple[str, dict]:
        data, truth = generate_document(random.Random(f"history:{year}:{seed}"), errors, region=REGIONS[0],
                                        agency=0, year=year, corpus_years=years)
        path = tmp_path / folder / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return document_id(hashlib.sha256(data).hexdigest()), truth

    def run(*folders) -> None:
        out = io.StringIO()
        assert run_pipeline([str(tmp_path / f) for f in folders], out=out) == 0, out.getvalue()

    write("first", "fy2024.txt", 2024)
    run("first")  # the FY2024 document is in the lake now
    # a FY2025 document whose 2024 合计 (history) is off; a clean FY2026 one in the same run
    for seed in range(500):
        wrong, truth = write("second", "fy2025.txt", 2025, errors=1.0, seed=str(seed))
        off = [p["detail"] for p in truth["planted"] if p["detail"]["kind"] == "total_mismatch"
               and p["detail"]["year"] == 2024]
        if off:
            break
    clean, _ = write("second", "fy2026.txt", 2026)
    run("first", "second")

    dq = lake.read_lake(tmp_path / "lake", "dq_result")
    dq = dq.filter(pc.equal(dq["check_name"], CHECK)).to_pylist()
    by_doc = {}
    for r in dq:
        by_doc.setdefault(r["document_id"], []).append(r)
    # FY2025 against the lake's FY2024 document: the planted 合计 disagrees
    assert {(r["passed"], r["row_ref"]) for r in by_doc[wrong]} == {(False, f"{off[0]['flow']}/合计/2024")}
    assert "fy2024.txt" in by_doc[wrong][0]["message"]
    # FY2026 against the lake's FY2024 and the run's FY2025 document: all agree
    [passed] = by_doc[clean]
    assert passed["passed"] and passed["observed"].startswith("0 of ")
    assert int(passed["observed"].split()[2]) >= 12  # both flows' items and 合计, both history years
    assert set(by_doc) == {wrong, clean}  # the FY2024 document had nothing earlier to compare with
