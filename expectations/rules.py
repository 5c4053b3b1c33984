"""The expectations of every suite as plain data: what GX validates (expectations.gxrun builds the GX
suite from them) and what expectations.fast evaluates with numpy when the run needs only the verdicts.

Keeping the rules GX-free lets a run decide its checks without importing great_expectations (seconds);
tests/test_expectations_fast.py proves the two evaluations give the same failing rows.
"""
from __future__ import annotations

from typing import NamedTuple

CHECK = "check"  # the default condition: the rows where the check's own boolean column is true


class Rule(NamedTuple):
    check: str
    kind: str  # "pair_ge" (column_A >= column_B), "between", "unique", "compound_unique"
    args: dict
    where: object = CHECK  # CHECK, None (every row), or (column, value): rows where column == value


def pair_ge(check: str, a: str, b: str) -> Rule:
    return Rule(check, "pair_ge", {"column_A": a, "column_B": b})


def between(check: str, column: str, min_value=None, max_value=None, where=CHECK) -> Rule:
    args = {"column": column}
    if min_value is not None:
        args["min_value"] = min_value
    if max_value is not None:
        args["max_value"] = max_value
    return Rule(check, "between", args, where)


def unique(check: str, column: str, where=None) -> Rule:
    return Rule(check, "unique", {"column": column}, where)


def compound_unique(check: str, columns: list[str], where=CHECK) -> Rule:
    return Rule(check, "compound_unique", {"column_list": list(columns)}, where)
